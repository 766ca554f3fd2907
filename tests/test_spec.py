"""Formulas and subsets from config are data: the grammar, the evaluator, and hostile payloads
through every library entry point (svyglm, svyolr, SurveyDesign.glm/ordinal, fit_model,
parse_models, evaluate_subset). Each payload would create a marker file if it ran; the tests
assert a ConfigError naming the model and that the file was never created.

The expected subset masks come from pandas' own ``DataFrame.query`` on the same benign
expressions (an independent implementation of the same comparisons), and from hand counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_ingest_support import ROOT

from social_licence.design.design import SurveyDesign
from social_licence.errors import ConfigError
from social_licence.models.fit import fit_model, svyglm, svyolr
from social_licence.models.formula import evaluate_subset, parse_formula, parse_subset
from social_licence.models.spec import ModelSpec, parse_models
from social_licence.survey.instrument import load_instrument


def _frame(n=200, seed=4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["a", "b", "c"])
    d = pd.DataFrame(
        {
            "x": x,
            "z": rng.uniform(1, 5, n),
            "g": g,
            "flag": rng.random(n) < 0.5,
            "y": (x + rng.logistic(size=n) > 0).astype(float),
        }
    )
    d["ord"] = pd.cut(d["x"], [-np.inf, -0.5, 0.5, np.inf], labels=["lo", "mid", "hi"])
    d.loc[::17, "g"] = None
    return d


def formula_payloads(marker) -> list[str]:
    """Formulas that would create ``marker`` (or do other harm) if any part of them ran."""
    cmd = f"'touch {marker}'"
    return [
        f"y ~ x + __import__('os').system({cmd})",  # the payload
        f"y ~ x + os.system({cmd})",
        f"y ~ C(x, Treatment(__import__('os').system({cmd})))",  # a call nested in C()
        f"y ~ C(__import__('os').system({cmd}))",
        f"y ~ I(__import__('os').system({cmd}))",
        f"y ~ np.log(__import__('os').system({cmd}))",
        f"y ~ (lambda: __import__('os').system({cmd}))()",
        f"y ~ [__import__('os').system({cmd}) for _ in [1]]",
        f"y ~ x + {{__import__('os').system({cmd})}}",
        f"y ~ x + f'{{__import__(\"os\").system({cmd})}}'",
        f"y ~ x + (q := __import__('os').system({cmd}))",
        f"y ~ x + getattr(__import__('os'), 'system')({cmd})",
        "y ~ x + x.__class__.__base__.__subclasses__()",
        f"y ~ x + np.os.system({cmd})",
        f"y ~ x + np.lib.npyio.os.system({cmd})",
        f"y ~ x + [*__import__('os').system({cmd})]",
        f"y ~ x + C(*[__import__('os').system({cmd})])",
        "y ~ x + __builtins__",
        f"y ~ x + @os.system({cmd})",
        f"y ~ x + x[__import__('os').system({cmd})]",
        f"__import__('os').system({cmd}) ~ x",
        f"y ~ x; __import__('os').system({cmd})",
        "y ~ I(2 ** 2 ** 2 ** 40)",  # arithmetic that would never finish
    ]


def subset_payloads(marker) -> list[str]:
    cmd = f"'touch {marker}'"
    return [
        f"@pd.io.common.os.system({cmd})",  # the payload
        f"x > 0 & @pd.io.common.os.system({cmd})",
        f"__import__('os').system({cmd}) == 0",
        f"x > __import__('os').system({cmd})",
        f"g in [__import__('os').system({cmd})]",
        "x.__class__ == 1",
        f"(lambda: __import__('os').system({cmd}))() == 0",
        f"[__import__('os').system({cmd}) for _ in [1]] == 0",
        f"f'{{__import__(\"os\").system({cmd})}}' == 'a'",
        f"(q := __import__('os').system({cmd})) == 0",
        f"g in [*__import__('os').system({cmd})]",
        "getattr(x, 'sum')() > 0",
        "x[0] > 1",
        "x > 0 and flag",
        "not flag",
        "x + 1 > 2",
    ]


# -- the grammar --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("formula", "lhs", "rhs"),
    [
        (
            "acceptable ~ data_type * purpose + ethnicity + lone_parent",
            ["acceptable"],
            ["data_type", "purpose", "ethnicity", "lone_parent"],
        ),
        ("y ~ C(g, Treatment('b')) + x:g - 1", ["y"], ["g", "x"]),
        ("y ~ C(g, Treatment(reference='b')) + np.log(z) + I(x**2 + 1)", ["y"], ["g", "z", "x"]),
        ("~ center(x) + standardize(z) + scale(x) + (g + flag)**2", [], ["x", "z", "g", "flag"]),
        ("y ~ 0 + Q('x') + C(Q('g')) + x/g", ["y"], ["x", "g"]),
    ],
)
def test_allowed_formulas_give_their_variables(formula, lhs, rhs):
    parsed = parse_formula(
        formula,
        [
            "y",
            "x",
            "z",
            "g",
            "flag",
            "acceptable",
            "data_type",
            "purpose",
            "ethnicity",
            "lone_parent",
        ],
    )
    assert list(parsed.lhs) == lhs and list(parsed.rhs) == rhs


def test_every_formula_payload_is_refused_naming_model_and_token(tmp_path):
    marker = tmp_path / "ran"
    for formula in formula_payloads(marker):
        with pytest.raises(ConfigError, match=r"^model 'evil': formula ") as err:
            parse_formula(formula, ["y", "x", "g"], model="evil")
        assert "a formula may use declared variable names" in str(err.value), str(err.value)
        # the grammar alone (no declared variables) refuses them too: how the models file is read
        with pytest.raises(ConfigError):
            parse_formula(formula, model="evil")
    assert not marker.exists()


def test_the_message_names_the_offending_text_and_what_is_allowed():
    with pytest.raises(ConfigError) as err:
        parse_formula("y ~ x + __import__('os').system('ls')", ["y", "x"], model="m")
    text = str(err.value)
    assert "\"__import__('os').system\" is not an allowed function" in text
    assert "C(var) or C(var, Treatment(level))" in text and "np.log()" in text
    with pytest.raises(ConfigError, match=r"'x\.__class__' is an attribute access"):
        parse_subset("x.__class__ == 1", ["x"], model="m")
    with pytest.raises(ConfigError, match=r"'and' is not allowed: write & \(and\)"):
        parse_subset("x > 0 and flag", ["x", "flag"], model="m")


def test_undeclared_and_private_names_are_refused():
    with pytest.raises(ConfigError, match=r"'ethnicty'.*not a declared variable.*ethnicity"):
        parse_formula("y ~ ethnicty", ["y", "ethnicity"], model="m")
    with pytest.raises(ConfigError, match=r"'_x'.*names starting with '_'"):
        parse_formula("y ~ _x", model="m")
    with pytest.raises(ConfigError, match=r"'nope' is not declared"):
        parse_subset("nope == 1", ["x"], model="m")


# -- the evaluator ------------------------------------------------------------------------------
BENIGN = [
    "x > 0",
    "g == 'a'",
    "g != 'a'",
    "g in ['a', 'c']",
    "g not in ['a']",
    "(x > 0) & (g == 'b')",
    "(x > 1) | (z <= 2)",
    "~(x > 0) & flag",
    "-0.5 < x <= 0.5",
    "x > 0 & g == 'b'",  # & binds more loosely than ==, as in pandas
    "~flag | x > 1 & z < 3",
    "flag",
    "x == -1",
    "ord >= 'mid'",
]


@pytest.mark.parametrize("subset", BENIGN)
def test_subsets_select_what_pandas_query_selects(subset):
    d = _frame()
    expected = d.eval(subset).to_numpy(dtype=bool)  # pandas: an independent evaluator
    got = evaluate_subset(subset, d, model="m")
    assert got.dtype == bool and np.array_equal(got, expected)


def test_subset_counts_by_hand():
    d = pd.DataFrame({"g": pd.Categorical(["a", "b", None, "a"]), "x": [1.0, np.nan, 3.0, 4.0]})
    assert evaluate_subset("g == 'a'", d).tolist() == [True, False, False, True]
    assert evaluate_subset("g != 'a'", d).tolist() == [False, True, True, False]  # missing: !=
    assert evaluate_subset("x >= 3", d).tolist() == [False, False, True, True]
    assert evaluate_subset("~(x >= 3)", d).tolist() == [True, True, False, False]
    # ~ negates the comparison after it, as "not" does: "~ g == 'a'" is "g != 'a'"
    assert evaluate_subset("~ g == 'a'", d).tolist() == [False, True, True, False]
    assert evaluate_subset("~ g in ['a'] & x > 1", d).tolist() == [False, False, True, False]
    with pytest.raises(ConfigError, match=r"cannot be compared"):
        evaluate_subset("g < 'b'", d, model="m")  # an unordered category has no order
    with pytest.raises(ConfigError, match=r"'x' is not a True/False variable"):
        evaluate_subset("x", d, model="m")


# -- hostile payloads through every library entry point -----------------------------------------
def test_no_payload_runs_through_the_model_functions(tmp_path):
    marker = tmp_path / "ran"
    d = _frame()
    design = SurveyDesign(d)
    for formula in formula_payloads(marker):
        for fit in (
            lambda f: svyglm(design, f, name="evil"),
            lambda f: svyolr(design, f.replace("y ~", "ord ~", 1), name="evil"),
        ):
            with pytest.raises(ConfigError, match=r"model 'evil'"):
                fit(formula)
    for subset in subset_payloads(marker):
        with pytest.raises(ConfigError, match=r"model 'evil': subset"):
            svyglm(design, "y ~ x", name="evil", subset=subset)
        with pytest.raises(ConfigError, match=r"model 'evil': subset"):
            svyolr(design, "ord ~ x", name="evil", subset=subset)
        with pytest.raises(ConfigError, match=r"subset"):
            evaluate_subset(subset, d, model="evil")
    assert not marker.exists()


def test_no_payload_runs_through_the_models_file_or_fit_model(tmp_path):
    marker = tmp_path / "ran"
    d = _frame()
    d["weight"] = 1.0
    instrument = load_instrument(ROOT / "config" / "instrument.yaml")
    for formula in formula_payloads(marker):
        with pytest.raises(ConfigError, match=r"evil"):
            parse_models({"models": [{"name": "evil", "formula": formula, "family": "binomial"}]})
        spec = ModelSpec(name="evil", formula=formula, family="binomial", data="respondent")
        with pytest.raises(ConfigError, match=r"model 'evil'"):
            fit_model(spec, d, instrument, {"weights": "weight", "psu": None, "strata": None})
    for subset in subset_payloads(marker):
        item = {"name": "evil", "formula": "y ~ x", "family": "binomial", "subset": subset}
        with pytest.raises(ConfigError, match=r"model 'evil': subset"):
            parse_models({"models": [item]})
        spec = ModelSpec(
            name="evil", formula="y ~ x", family="binomial", data="respondent", subset=subset
        )
        with pytest.raises(ConfigError, match=r"model 'evil': subset"):
            fit_model(spec, d, instrument, {"weights": "weight", "psu": None, "strata": None})
    assert not marker.exists()


def test_a_checked_subset_still_fits_the_domain_it_names():
    """The evaluator feeds the model the same rows pandas would: a domain fit is unchanged."""
    d = _frame()
    design = SurveyDesign(d)
    ours = svyglm(design, "y ~ x", subset="g == 'b'")
    theirs = svyglm(design, "y ~ x", subset=d.eval("g == 'b'").to_numpy(dtype=bool))
    assert np.allclose(ours.params, theirs.params) and np.allclose(ours.bse, theirs.bse)
