"""Bad input to models: a clear ModelError naming the model and the terms, never a stack trace
from deep inside numpy or silently huge standard errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from social_licence.design.design import SurveyDesign
from social_licence.errors import ConfigError, ModelError
from social_licence.models.fit import svyglm, svyolr


def _frame(n=300, seed=1):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "g": pd.Categorical(rng.choice(["a", "b", "c"], size=n), categories=["a", "b", "c"]),
        }
    )
    d["y"] = (rng.random(n) < 1 / (1 + np.exp(-d["x"]))).astype(float)
    d["ord"] = pd.cut(
        d["x"] + rng.logistic(size=n),
        [-np.inf, -1, 0, 1, np.inf],
        labels=["1", "2", "3", "4"],
        ordered=True,
    )
    return d


def test_unknown_variable_names_the_model_and_the_term():
    d = _frame()
    with pytest.raises(
        ConfigError, match=r"model 'main'.*term 'C\(ethnic\)'.*'ethnic'.*not a column"
    ):
        svyglm(SurveyDesign(d), "y ~ x + C(ethnic)", name="main")
    with pytest.raises(ConfigError, match=r"model 'main'.*'z'.*not a column"):
        svyolr(SurveyDesign(d), "ord ~ x + z", name="main")


def test_perfect_separation_names_the_term_and_level():
    d = _frame()
    d.loc[d["g"] == "c", "y"] = 1.0  # every row of level c is a success
    with pytest.raises(
        ModelError,
        match=r"model 'sep'.*separation.*g\[T\.c\].*all \d+ rows with g\[T\.c\] have outcome 1",
    ):
        svyglm(SurveyDesign(d), "y ~ x + g", name="sep")


def test_complete_separation_by_a_numeric_term():
    d = _frame()
    d["y"] = (d["x"] > 0).astype(float)
    with pytest.raises(ModelError, match=r"model 'sep'.*separation.*\bx\b"):
        svyglm(SurveyDesign(d), "y ~ x + g", name="sep")


def test_empty_level_is_named():
    d = _frame()
    d = d[d["g"] != "b"].reset_index(drop=True)  # level b stays in the categories, with no rows
    with pytest.raises(ModelError, match=r"model 'm'.*g\[T\.b\].*no observations.*empty level"):
        svyglm(SurveyDesign(d), "y ~ x + g", name="m")


def test_rank_deficient_design_names_the_aliased_term():
    d = _frame()
    d["x2"] = 2 * d["x"] + 1
    with pytest.raises(ModelError, match=r"model 'm'.*rank deficient.*\bx2\b.*aliased"):
        svyglm(SurveyDesign(d), "y ~ x + g + x2", name="m")
    with pytest.raises(ModelError, match=r"model 'm'.*rank deficient"):
        svyolr(SurveyDesign(d), "ord ~ x + x2", name="m")


def test_non_convergence_names_the_terms():
    d = _frame()
    with pytest.raises(
        ModelError, match=r"model 'm'.*did not converge in 1 iterations.*still changing"
    ):
        svyglm(SurveyDesign(d), "y ~ x + g", name="m", maxiter=1)
    with pytest.raises(ModelError, match=r"model 'o'.*did not converge"):
        svyolr(SurveyDesign(d), "ord ~ x + g", name="o", maxiter=1)


def test_near_separation_with_huge_standard_error_is_reported():
    d = _frame(n=2000)
    d["rare"] = pd.Categorical(
        np.where(np.arange(len(d)) < 3, "rare", "common"), categories=["common", "rare"]
    )
    d.loc[:2, "y"] = [1.0, 1.0, 0.0]
    d.loc[d["rare"] == "rare", "x"] = [50.0, 60.0, -50.0]  # x separates the rare rows
    with pytest.raises(ModelError, match=r"model 'm'"):
        svyglm(SurveyDesign(d), "y ~ x * rare", name="m")


def test_ordinal_outcome_must_be_ordered_and_every_level_present():
    d = _frame()
    with pytest.raises(ModelError, match=r"ordinal outcome 'x' must be an ordered categorical"):
        svyolr(SurveyDesign(d), "x ~ g", name="m")
    d["ord"] = d["ord"].cat.add_categories(["5"])
    with pytest.raises(ModelError, match=r"outcome level\(s\) \['5'\].*never occur"):
        svyolr(SurveyDesign(d), "ord ~ x", name="m")


def test_binomial_outcome_outside_zero_one_and_bad_subset():
    d = _frame()
    d["y3"] = d["y"] * 3
    with pytest.raises(ModelError, match=r"binomial outcome must be 0/1"):
        svyglm(SurveyDesign(d), "y3 ~ x", name="m")
    with pytest.raises(ConfigError, match=r"model 'm': subset 'nope > 1'.*'nope' is not declared"):
        svyglm(SurveyDesign(d), "y ~ x", name="m", subset="nope > 1")
    with pytest.raises(ModelError, match=r"selects no rows"):
        svyglm(SurveyDesign(d), "y ~ x", name="m", subset="x > 100")


def test_more_parameters_than_design_degrees_of_freedom():
    d = _frame()
    d["psu"] = np.arange(len(d)) % 3
    with pytest.raises(ModelError, match=r"model 'm'.*4 parameters but only 2 design degrees"):
        svyglm(SurveyDesign(d, psu="psu"), "y ~ x + g", name="m")
