"""Predicted probabilities, marginal effects and the proportional-odds check.

Sources of expected numbers: R ``svyby(~api00, ~stype, design, svymean)`` in
``tests/data/reference/api/r_reference/svyby.csv`` (a saturated model's counterfactual means are
the domain means, with the same linearisation); hand-written cluster variance formulas; and a
delete-one-PSU jackknife (JK1) that refits the model, an independent variance method.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATA
from scipy import special

from social_licence.design.design import SurveyDesign
from social_licence.errors import ModelError
from social_licence.models.fit import svyglm, svyolr

REF = DATA / "reference" / "api"


def _load(name: str) -> pd.DataFrame:
    d = pd.read_csv(REF / name)
    d["stype"] = pd.Categorical(d["stype"], categories=["E", "H", "M"])
    d["awards"] = pd.Categorical(d["awards"], categories=["No", "Yes"])
    return d


DESIGNS = {
    "clus1_w": lambda: SurveyDesign(_load("apiclus1.csv"), weights="pw", psu="dnum"),
    "strat_w": lambda: SurveyDesign(_load("apistrat.csv"), weights="pw", strata="stype"),
    "srs_fpc": lambda: SurveyDesign(_load("apisrs.csv"), weights="pw", fpc="fpc"),
}


@pytest.mark.parametrize("design_name", list(DESIGNS))
def test_predicted_means_of_saturated_model_equal_r_svyby(design_name):
    ref = pd.read_csv(REF / "r_reference" / "svyby.csv")
    ref = ref[ref["design"] == design_name].set_index("stype")
    fit = svyglm(DESIGNS[design_name](), "api00 ~ stype", family="gaussian")
    me = fit.marginal_effects("stype")
    pred = me[me["statistic"] == "predicted"].set_index("stype")
    np.testing.assert_allclose(
        pred.loc[["E", "H", "M"], "estimate"], ref.loc[["E", "H", "M"], "estimate"], rtol=1e-9
    )
    np.testing.assert_allclose(
        pred.loc[["E", "H", "M"], "se"], ref.loc[["E", "H", "M"], "se"], rtol=1e-6
    )
    assert set(pred["variable"]) == {"api00"} and set(pred["level"]) == {"mean"}


def _cluster_se(d, psu, w, z):
    """Hand-written with-replacement one-stage cluster variance: n/(n-1) sum_c (t_c - tbar)^2."""
    t = pd.Series(w * z).groupby(d[psu].to_numpy()).sum().to_numpy()
    n = len(t)
    return float(np.sqrt(n / (n - 1) * np.sum((t - t.mean()) ** 2)))


def test_predicted_probabilities_and_gaps_of_saturated_logit_are_domain_proportions():
    d = _load("apiclus1.csv")
    fit = svyglm(SurveyDesign(d, weights="pw", psu="dnum"), "awards ~ stype")
    me = fit.marginal_effects("stype")
    w, y = d["pw"].to_numpy(), (d["awards"] == "Yes").to_numpy(float)
    infl = {}
    for g in ["E", "H", "M"]:
        dom = (d["stype"] == g).to_numpy()
        p = np.sum(w * y * dom) / np.sum(w * dom)
        infl[g] = dom * (y - p) / np.sum(w * dom)
        row = me[(me["statistic"] == "predicted") & (me["stype"] == g)].iloc[0]
        assert row["estimate"] == pytest.approx(p, rel=1e-9)
        assert row["se"] == pytest.approx(_cluster_se(d, "dnum", w, infl[g]), rel=1e-6)
        assert row["level"] == "Yes" and row["count_unweighted"] == dom.sum()
    for g in ["H", "M"]:
        row = me[(me["statistic"] == "difference") & (me["stype"] == g)].iloc[0]
        pe = me[(me["statistic"] == "predicted")].set_index("stype")["estimate"]
        assert row["estimate"] == pytest.approx(pe[g] - pe["E"], rel=1e-9)
        assert row["se"] == pytest.approx(_cluster_se(d, "dnum", w, infl[g] - infl["E"]), rel=1e-6)
        assert row["reference"] == "E"


def test_within_gives_domain_predictions_of_saturated_model():
    d = _load("apistrat.csv")
    d["yr_rnd"] = pd.Categorical(d["yr.rnd"], categories=["No", "Yes"])
    fit = svyglm(SurveyDesign(d, weights="pw", strata="stype"),
        "api00 ~ stype * yr_rnd", family="gaussian"
    )
    me = fit.marginal_effects("yr_rnd", within="stype")
    w, y = d["pw"].to_numpy(), d["api00"].to_numpy(float)
    for s in ["E", "M"]:  # high schools have no year-round schools in apistrat
        for g in ["No", "Yes"]:
            dom = ((d["stype"] == s) & (d["yr_rnd"] == g)).to_numpy()
            row = me[(me["statistic"] == "predicted") & (me["stype"] == s) & (me["yr_rnd"] == g)]
            if dom.any():
                assert row["estimate"].iloc[0] == pytest.approx(
                    np.sum(w * y * dom) / np.sum(w * dom), rel=1e-9
                )


def _clustered_toy(n_psu=40, per=12, seed=21):
    rng = np.random.default_rng(seed)
    n = n_psu * per
    psu = np.repeat(np.arange(n_psu), per)
    u = rng.normal(scale=0.5, size=n_psu)[psu]
    g = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    x = rng.normal(size=n)
    eta = 0.2 + 0.6 * x - 0.8 * (g == "b") + 0.5 * (g == "c") + u
    d = pd.DataFrame({"psu": psu, "x": x, "g": pd.Categorical(g, categories=["a", "b", "c"])})
    d["y"] = (rng.random(n) < special.expit(eta)).astype(float)
    d["ord"] = pd.cut(
        eta + rng.logistic(size=n),
        [-np.inf, -0.5, 0.5, 1.5, np.inf],
        labels=["lo", "mid", "high", "top"],
        ordered=True,
    )
    d["w"] = rng.uniform(0.5, 2.0, size=n)
    return d


def _jk1(d, stat):
    """Delete-one-PSU jackknife (R svrepdesign type JK1): (n-1)/n sum (theta_j - mean)^2."""
    psus = np.unique(d["psu"])
    n = len(psus)
    reps = []
    for j in psus:
        w = np.where(d["psu"] == j, 0.0, d["w"] * n / (n - 1))
        reps.append(stat(SurveyDesign(d, weights=w, psu="psu")))
    reps = np.array(reps)
    return np.sqrt((n - 1) / n * ((reps - reps.mean(axis=0)) ** 2).sum(axis=0))


def test_marginal_effect_ses_agree_with_refitting_jackknife():
    d = _clustered_toy()

    def stat(design):
        me = svyglm(design, "y ~ x + g").marginal_effects("g")
        return me["estimate"].to_numpy()

    fit = svyglm(SurveyDesign(d, weights="w", psu="psu"), "y ~ x + g")
    me = fit.marginal_effects("g")
    jk = _jk1(d, stat)
    # Linearisation and jackknife agree to O(1/n_psu); 40 PSUs -> within 10%.
    np.testing.assert_allclose(me["se"].to_numpy(), jk, rtol=0.10)


def test_ordinal_predictions_agree_with_jackknife_and_sum_to_one():
    d = _clustered_toy(seed=5)
    fit = svyolr(SurveyDesign(d, weights="w", psu="psu"), "ord ~ x + g")
    every = fit.marginal_effects("g")
    pred = every[every["statistic"] == "predicted"]
    total = pred.groupby("g", observed=True)["estimate"].sum()
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)

    def stat(design):
        me = svyolr(design, "ord ~ x + g").marginal_effects("g", outcome_levels=["high", "top"])
        return me["estimate"].to_numpy()

    me = fit.marginal_effects("g", outcome_levels=["high", "top"])
    assert set(me["level"]) == {"high or top"}
    np.testing.assert_allclose(me["se"].to_numpy(), _jk1(d, stat), rtol=0.10)
    # P(high or top) is the sum of the two levels' predicted probabilities.
    two = pred[pred["level"].isin(["high", "top"])].groupby("g", observed=True)["estimate"].sum()
    np.testing.assert_allclose(
        me[me["statistic"] == "predicted"]["estimate"], two.to_numpy(), rtol=1e-12
    )


def test_stacked_effects_use_group_variable_and_group_columns():
    d = _clustered_toy()
    d["h"] = pd.Categorical(np.where(d["x"] > 0, "pos", "neg"), categories=["neg", "pos"])
    fit = svyglm(SurveyDesign(d, weights="w", psu="psu"), "y ~ h + g")
    out = fit.marginal_effects_stacked(["g", "h"])
    assert {"group_variable", "group"} <= set(out.columns)
    assert list(out.drop_duplicates("group_variable")["group_variable"]) == ["g", "h"]
    assert out["estimate"].between(-1, 1).all()


def test_marginal_effects_by_variable_not_in_model_is_an_error():
    d = _clustered_toy()
    fit = svyglm(SurveyDesign(d, weights="w", psu="psu"), "y ~ x")
    with pytest.raises(ModelError, match="'g'.*not in the formula"):
        fit.marginal_effects("g")


def test_proportional_odds_check_accepts_po_data_and_rejects_non_po_data():
    # Data made by a proportional-odds mechanism (_clustered_toy's latent logistic) vs data whose
    # effect of x reverses across the scale: the first must not be rejected, the second must.
    d = _clustered_toy(n_psu=80, per=15, seed=2)
    fit = svyolr(SurveyDesign(d, weights="w", psu="psu"), "ord ~ x + g")
    ok = fit.proportional_odds_check().set_index("term")
    assert ok.loc["(all)", "p_value"] > 0.05
    rng = np.random.default_rng(4)
    x = d["x"].to_numpy()
    top = rng.random(len(d)) < special.expit(-1 + 1.5 * x)
    bottom = rng.random(len(d)) < special.expit(-1 + 1.5 * x)  # both extremes rise with x
    lev = np.where(
        top, "top", np.where(bottom, "lo", np.where(rng.random(len(d)) < 0.5, "mid", "high"))
    )
    d["ord"] = pd.Categorical(lev, categories=["lo", "mid", "high", "top"], ordered=True)
    bad = svyolr(SurveyDesign(d, weights="w", psu="psu"), "ord ~ x + g").proportional_odds_check()
    bad = bad.set_index("term")
    assert bad.loc["x", "p_value"] < 1e-6
    assert bad.loc["x", "split lo|mid"] < 0 < bad.loc["x", "split high|top"]
