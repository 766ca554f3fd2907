"""Models on replicate-weight designs (JK1, bootstrap; re-raked replicates in the workflow).

Expected numbers come from a delete-one-PSU jackknife written out here, with R's JK1
conventions (``svrepdesign(type="JK1")``: the deleted PSU weighs 0, the others ``n/(n-1)``;
variance ``(n-1)/n * sum_r (theta_r - mean)^2``), whose refits are statsmodels' GLM (an
independent fitter) or domain means computed by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import DATA

from social_licence.design.design import SurveyDesign
from social_licence.errors import ModelError
from social_licence.models.engine import is_replicate_design
from social_licence.models.fit import fit_model, model_tables, svyglm, svyolr
from social_licence.models.spec import ModelSpec

REF = DATA / "reference" / "api"


def _clus1() -> pd.DataFrame:
    d = pd.read_csv(REF / "apiclus1.csv")
    d["stype"] = pd.Categorical(d["stype"], categories=["E", "H", "M"])
    d["awards"] = pd.Categorical(d["awards"], categories=["No", "Yes"])
    d["band"] = pd.cut(
        d["api00"],
        [0, 600, 700, 800, 1000],
        labels=["lt600", "600s", "700s", "800plus"],
        ordered=True,
    )
    d["y"] = (d["awards"] == "Yes").astype(float)
    return d


def _jk1_weights(d: pd.DataFrame) -> list[np.ndarray]:
    psus = np.unique(d["dnum"])
    n = len(psus)
    return [np.where(d["dnum"] == j, 0.0, d["pw"] * n / (n - 1)) for j in psus]


def _jk1_se(thetas: np.ndarray) -> np.ndarray:
    n = len(thetas)
    return np.sqrt((n - 1) / n * ((thetas - thetas.mean(axis=0)) ** 2).sum(axis=0))


def test_jk1_logistic_ses_equal_a_hand_jackknife_of_statsmodels_refits():
    d = _clus1()
    design = SurveyDesign(d, weights="pw", psu="dnum").with_replicates("jk1")
    assert is_replicate_design(design)
    fit = svyglm(design, "awards ~ ell + meals + stype")
    thetas = []
    for w in _jk1_weights(d):
        keep = w > 0
        ref = sm.GLM.from_formula(
            "y ~ ell + meals + stype", d[keep], family=sm.families.Binomial(), freq_weights=w[keep]
        ).fit(tol=1e-13)
        thetas.append(ref.params.to_numpy())
    names = ["Intercept", "stype[T.H]", "stype[T.M]", "ell", "meals"]
    np.testing.assert_allclose(fit.bse[names].to_numpy(), _jk1_se(np.array(thetas)), rtol=1e-6)
    assert fit.df_resid == 14 + 1 - 5  # R: degf(jk1 design) = 14 PSUs - 1


def test_jk1_predicted_means_equal_hand_jackknife_of_domain_means():
    d = _clus1()
    design = SurveyDesign(d, weights="pw", psu="dnum").with_replicates("jk1")
    fit = svyglm(design, "api00 ~ stype", family="gaussian")
    me = fit.marginal_effects("stype")
    pred = me[me["statistic"] == "predicted"].set_index("stype")
    diff = me[me["statistic"] == "difference"].set_index("stype")
    reps = []
    for w in _jk1_weights(d):
        means = [
            np.sum(w * d["api00"] * (d["stype"] == g)) / np.sum(w * (d["stype"] == g))
            for g in ["E", "H", "M"]
        ]
        reps.append(means)
    reps = np.array(reps)
    np.testing.assert_allclose(pred.loc[["E", "H", "M"], "se"], _jk1_se(reps), rtol=1e-9)
    gaps = reps[:, 1:] - reps[:, :1]
    np.testing.assert_allclose(diff.loc[["H", "M"], "se"], _jk1_se(gaps), rtol=1e-9)


def test_jk1_ordinal_ses_equal_a_hand_jackknife_of_full_refits():
    d = _clus1()
    design = SurveyDesign(d, weights="pw", psu="dnum").with_replicates("jk1")
    fit = svyolr(design, "band ~ ell + meals")
    # each replicate refitted from scratch (cold start, its own design) by the linearisation path
    thetas = [
        svyolr(SurveyDesign(d, weights=w), "band ~ ell + meals").params.to_numpy()
        for w in _jk1_weights(d)
    ]
    np.testing.assert_allclose(fit.bse.to_numpy(), _jk1_se(np.array(thetas)), rtol=1e-6)
    po = fit.proportional_odds_check()
    assert np.isfinite(po["p_value"]).all()


def _frame(n=400, seed=3, n_psu=40):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(index=pd.Index([f"r{i}" for i in range(n)], name="respondent"))
    d["psu"] = rng.integers(0, n_psu, size=n)
    d["weight"] = rng.uniform(0.5, 2, size=n)
    d["g"] = pd.Categorical(rng.choice(["a", "b", "c"], size=n), categories=["a", "b", "c"])
    d["x"] = rng.normal(size=n)
    d["y"] = (rng.random(n) < 1 / (1 + np.exp(-(d["x"] - 0.5 * (d["g"] == "b"))))).astype(float)
    return d


def test_fit_model_with_bootstrap_replicates_is_close_to_linearisation():
    from social_licence.survey.instrument import load_instrument

    ins = load_instrument(Path(__file__).resolve().parents[1] / "config" / "instrument.yaml")
    d = _frame()
    spec = ModelSpec(
        name="m", formula="y ~ x + g", family="binomial", data="respondent", marginal_effects=("g",)
    )
    lin = fit_model(spec, d, ins, {"psu": "psu", "strata": None})
    boot = fit_model(
        spec,
        d,
        ins,
        {"psu": "psu", "strata": None, "variance": "bootstrap", "replicates": 400, "seed": 7},
    )
    np.testing.assert_allclose(boot.params, lin.params, rtol=1e-12)
    # bootstrap SEs estimate the same variance: within 15% with 400 replicates
    np.testing.assert_allclose(boot.bse, lin.bse, rtol=0.15)
    eff = model_tables(boot, spec)["effects"]
    lin_eff = model_tables(lin, spec)["effects"]
    np.testing.assert_allclose(eff["se"], lin_eff["se"], rtol=0.15)


def test_replicate_that_loses_a_level_is_a_clear_error():
    d = _frame()
    d["rare"] = pd.Categorical(
        np.where(d["psu"] == 3, "rare", "common"), categories=["common", "rare"]
    )
    design = SurveyDesign(d, weights="weight", psu="psu").with_replicates("jk1")
    with pytest.raises(
        ModelError, match=r"model 'm': replicate \d+ of 40 has no rows for some term"
    ):
        svyglm(design, "y ~ x + rare", name="m")
