"""Survey GLMs and proportional-odds models against R ``survey`` and against statsmodels.

Reference numbers: ``tests/data/reference/api/r_reference/glm.csv`` and ``svyolr.csv``, made by
``tests/data/reference/r/models_and_tests.R`` (R ``survey`` 4.1) with
``svyglm(awards ~ ell + meals + stype, design, family=quasibinomial(), control=glm.control(epsilon=1e-14))``,
``svyglm(api00 ~ ell + meals + mobility, design, control=...)`` and
``svyolr(band ~ ell + meals, design)`` (``band`` = ``api00`` cut at 600/700/800) under
``clus1_w = svydesign(id=~dnum, weights=~pw, data=apiclus1)``,
``strat_w = svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat)`` and
``srs_fpc = svydesign(id=~1, weights=~pw, fpc=~fpc, data=apisrs)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import DATA
from scipy import linalg, stats
from statsmodels.miscmodels.ordinal_model import OrderedModel

from social_licence.design.design import SurveyDesign
from social_licence.models import fit as M
from social_licence.models.fit import svyglm, svyolr

REF = DATA / "reference" / "api"
R_TERM = {"(Intercept)": "Intercept", "stypeH": "stype[T.H]", "stypeM": "stype[T.M]"}


def _load(name: str) -> pd.DataFrame:
    d = pd.read_csv(REF / name)
    d["stype"] = pd.Categorical(d["stype"], categories=["E", "H", "M"])
    d["awards"] = pd.Categorical(d["awards"], categories=["No", "Yes"])
    d["band"] = pd.cut(
        d["api00"],
        [0, 600, 700, 800, 1000],
        labels=["lt600", "600s", "700s", "800plus"],
        ordered=True,
    )
    return d


def _design(name: str) -> SurveyDesign:
    if name == "clus1_w":
        return SurveyDesign(_load("apiclus1.csv"), weights="pw", psu="dnum")
    if name == "strat_w":
        return SurveyDesign(_load("apistrat.csv"), weights="pw", strata="stype")
    return SurveyDesign(_load("apisrs.csv"), weights="pw", fpc="fpc")


DESIGNS = ["clus1_w", "strat_w", "srs_fpc"]


@pytest.mark.parametrize("design_name", DESIGNS)
@pytest.mark.parametrize(
    "model,formula,family",
    [
        ("logistic", "awards ~ ell + meals + stype", "binomial"),
        ("gaussian", "api00 ~ ell + meals + mobility", "gaussian"),
    ],
)
def test_svyglm_matches_r_svyglm(design_name, model, formula, family):
    ref = pd.read_csv(REF / "r_reference" / "glm.csv")
    ref = ref[(ref["design"] == design_name) & (ref["model"] == model)]
    fit = svyglm(_design(design_name), formula, family=family)
    terms = [R_TERM.get(t, t) for t in ref["term"]]
    np.testing.assert_allclose(fit.params[terms].to_numpy(), ref["estimate"], rtol=1e-6)
    np.testing.assert_allclose(fit.bse[terms].to_numpy(), ref["se"], rtol=1e-5)


def test_svyglm_df_and_pvalues_follow_summary_svyglm():
    # summary.svyglm: df.residual = degf(design) + 1 - length(coef); p = 2 * pt(-|t|, df).
    # clus1_w has 15 PSUs, 1 stratum: degf = 14; 5 coefficients -> df = 10.
    fit = svyglm(_design("clus1_w"), "awards ~ ell + meals + stype")
    assert fit.df_resid == 10
    t = fit.params / fit.bse
    np.testing.assert_allclose(fit.pvalues, 2 * stats.t.sf(np.abs(t), 10), rtol=1e-12)
    ci = fit.conf_int()
    q = stats.t.ppf(0.975, 10)
    np.testing.assert_allclose(ci[1] - fit.params, q * fit.bse, rtol=1e-12)
    # confint.svyglm's default ddf=Inf gives normal limits:
    np.testing.assert_allclose(fit.conf_int(df=np.inf)[0], fit.params - 1.959963984540054 * fit.bse)
    table = fit.table()
    np.testing.assert_allclose(table["odds_ratio"], np.exp(fit.params.to_numpy()))
    np.testing.assert_allclose(table["odds_ratio_low"], np.exp(ci[0].to_numpy()))


@pytest.mark.parametrize("design_name", DESIGNS)
def test_svyolr_matches_r_svyolr(design_name):
    # R's svyolr stops BFGS at reltol 1e-8 and takes a finite-difference Hessian (step 1e-3),
    # so its numbers carry ~1e-4 relative error; ours is the exact optimum (gradient ~1e-11).
    # The exact agreement of the method is shown by the next test.
    ref = pd.read_csv(REF / "r_reference" / "svyolr.csv")
    ref = ref[ref["design"] == design_name]
    fit = svyolr(_design(design_name), "band ~ ell + meals")
    assert list(fit.params.index) == list(ref["term"])
    np.testing.assert_allclose(fit.params.to_numpy(), ref["estimate"], rtol=2e-3)
    np.testing.assert_allclose(fit.bse.to_numpy(), ref["se"], rtol=1e-3)


@pytest.mark.parametrize("design_name", DESIGNS)
def test_svyolr_reproduces_r_exactly_with_r_numerics(design_name):
    """At R's estimates, with R's Hessian (optim's central differences of the gradient, step
    1e-3, in its parametrisation zeta_1, log(zeta_k - zeta_k-1)), our scores and sandwich give
    R's standard errors to 1e-9: the only differences are R's optimiser numerics."""
    ref = pd.read_csv(REF / "r_reference" / "svyolr.csv")
    ref = ref[ref["design"] == design_name]
    design = _design(design_name)
    fit = svyolr(design, "band ~ ell + meals")
    m, p, K = fit._m, 2, 4
    w = design.weights[m.rows]
    zeta_r = ref["estimate"].to_numpy()

    def to_zeta(t):
        return np.concatenate([t[:p], np.cumsum(np.concatenate([[t[p]], np.exp(t[p + 1 :])]))])

    def jac(t):  # d zeta / d theta for zeta_i = theta_1 + sum_{j<=i} exp(theta_j)
        J = np.eye(len(t))
        e = np.exp(t[p:])
        for i in range(K - 1):
            J[p + i, p] = 1.0
            for j in range(1, i + 1):
                J[p + i, p + j] = e[j]
        return J

    def grad(t):
        _, G, _ = M._olr_parts(to_zeta(t), m.X, m.y, w, K, need_hessian=False)
        return -(G * w[:, None]).sum(axis=0) @ jac(t)

    theta = np.concatenate([zeta_r[:p], [zeta_r[p]], np.log(np.diff(zeta_r[p:]))])
    H = np.zeros((len(theta), len(theta)))
    for i in range(len(theta)):
        e = np.zeros(len(theta))
        e[i] = 1e-3
        H[i] = (grad(theta + e) - grad(theta - e)) / 2e-3
    H = (H + H.T) / 2
    _, G, _ = M._olr_parts(zeta_r, m.X, m.y, w, K, need_hessian=False)
    infl = np.zeros((design.n, len(theta)))
    infl[m.rows] = (-G @ jac(theta)) @ linalg.inv(H)
    J = jac(theta)
    se = np.sqrt(np.diag(J @ design.vcov_total(infl) @ J.T))
    np.testing.assert_allclose(se, ref["se"], rtol=1e-9)


def _toy(n=400, seed=3):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "g": pd.Categorical(rng.choice(["a", "b", "c"], size=n), categories=["a", "b", "c"]),
        }
    )
    eta = -0.3 + 0.8 * d["x"] + np.where(d["g"] == "b", 0.5, 0) - np.where(d["g"] == "c", 0.7, 0)
    d["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    d["count"] = rng.poisson(np.exp(0.2 + 0.3 * d["x"]))
    d["z"] = 2 + d["x"] + rng.normal(size=n)
    latent = eta + rng.logistic(size=n)
    d["ord"] = pd.cut(
        latent, [-np.inf, -1, 0, 1.2, np.inf], labels=["1", "2", "3", "4"], ordered=True
    )
    return d


@pytest.mark.parametrize(
    "family,formula,sm_family",
    [
        ("binomial", "y ~ x + g", sm.families.Binomial()),
        ("poisson", "count ~ x + g", sm.families.Poisson()),
        ("gaussian", "z ~ x + g", sm.families.Gaussian()),
    ],
)
def test_unweighted_glm_equals_statsmodels(family, formula, sm_family):
    """No weights, no clusters: coefficients are statsmodels' GLM, and the design variance of an
    independent sample is statsmodels' HC0 sandwich times n/(n-1) (R's svyrecvar scaling)."""
    d = _toy()
    fit = svyglm(SurveyDesign(d), formula, family=family)
    ref = sm.GLM.from_formula(formula, d, family=sm_family).fit(cov_type="HC0", tol=1e-13)
    n = len(d)
    np.testing.assert_allclose(fit.params[ref.params.index], ref.params, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(
        fit.cov_params().loc[ref.params.index, ref.params.index],
        ref.cov_params() * n / (n - 1),
        rtol=1e-6,
    )


def test_weighted_glm_point_estimates_equal_statsmodels_freq_weights():
    d = _toy()
    w = np.random.default_rng(5).integers(1, 5, size=len(d)).astype(float)
    fit = svyglm(SurveyDesign(d, weights=w), "y ~ x + g")
    ref = sm.GLM.from_formula("y ~ x + g", d, family=sm.families.Binomial(), freq_weights=w).fit(
        tol=1e-13
    )
    np.testing.assert_allclose(fit.params[ref.params.index], ref.params, rtol=1e-8)


def _om_cutpoints(res, k):
    th = res.params.to_numpy()[-(k - 1) :]
    return np.cumsum(np.concatenate([[th[0]], np.exp(th[1:])]))


def test_unweighted_ordinal_equals_statsmodels_ordered_model():
    d = _toy()
    fit = svyolr(SurveyDesign(d), "ord ~ x + g")
    exog = pd.get_dummies(d[["x", "g"]], columns=["g"], drop_first=True, dtype=float)
    om = OrderedModel(d["ord"], exog, distr="logit").fit(
        method="bfgs", disp=False, maxiter=5000, gtol=1e-8
    )
    np.testing.assert_allclose(
        fit.params[["x", "g[T.b]", "g[T.c]"]], om.params[["x", "g_b", "g_c"]], rtol=1e-5
    )
    np.testing.assert_allclose(fit.params.iloc[3:], _om_cutpoints(om, 4), rtol=1e-5)


def test_weighted_ordinal_equals_ordered_model_on_replicated_rows():
    """Integer weights are frequency weights for the point estimates: statsmodels' unweighted
    OrderedModel on rows repeated w times is an independent fit of the same likelihood."""
    d = _toy(n=250, seed=8)
    w = np.random.default_rng(9).integers(1, 4, size=len(d))
    fit = svyolr(SurveyDesign(d, weights=w.astype(float)), "ord ~ x + g")
    rep = d.loc[d.index.repeat(w)].reset_index(drop=True)
    exog = pd.get_dummies(rep[["x", "g"]], columns=["g"], drop_first=True, dtype=float)
    om = OrderedModel(rep["ord"], exog, distr="logit").fit(
        method="bfgs", disp=False, maxiter=5000, gtol=1e-8
    )
    np.testing.assert_allclose(
        fit.params[["x", "g[T.b]", "g[T.c]"]], om.params[["x", "g_b", "g_c"]], rtol=1e-5
    )
    np.testing.assert_allclose(fit.params.iloc[3:], _om_cutpoints(om, 4), rtol=1e-5)


def test_missing_values_are_a_domain_not_a_smaller_design():
    """Rows with a missing model variable keep their PSU in the design with zero scores (R:
    design[-na.action, ]): SEs equal a fit on the complete rows whose dropped rows are given
    zero weight, and differ from a fit on a design built on fewer rows."""
    d = _toy(n=300, seed=11)
    d["psu"] = np.repeat(np.arange(60), 5)
    d.loc[d["psu"] == 7, "x"] = np.nan  # one whole PSU has no complete rows
    full = svyglm(SurveyDesign(d, psu="psu"), "y ~ x + g")
    w0 = np.where(d["x"].isna(), 0.0, 1.0)
    zero_weight = svyglm(SurveyDesign(d.fillna({"x": 0.0}), weights=w0, psu="psu"), "y ~ x + g")
    np.testing.assert_allclose(full.bse, zero_weight.bse, rtol=1e-10)
    dropped = svyglm(SurveyDesign(d.dropna().reset_index(drop=True), psu="psu"), "y ~ x + g")
    np.testing.assert_allclose(full.params, dropped.params, rtol=1e-10)
    # 60 vs 59 PSUs: the with-replacement factor n/(n-1) differs, so must the SEs.
    np.testing.assert_allclose(full.bse / dropped.bse, np.sqrt((60 / 59) / (59 / 58)), rtol=1e-9)
