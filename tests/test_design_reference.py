"""SurveyDesign estimators against R ``survey`` on the api data, and hand calculations.

Every expected number comes from ``tests/data/reference/api/r_reference/`` (R ``survey``; the R
call is named in each test) or from a formula written out in the test. Tolerances are the
reference README's: 1e-6 relative for estimates and SEs, 1e-4 for test statistics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATA
from scipy import stats

from social_licence.design.design import SurveyDesign

REF = DATA / "reference" / "api"
RTOL = 1e-6
LEVELS = {"stype": ["E", "H", "M"], "awards": ["No", "Yes"], "sch.wide": ["No", "Yes"]}


def _load(name: str) -> pd.DataFrame:
    d = pd.read_csv(REF / name)
    for col, levels in LEVELS.items():
        d[col] = pd.Categorical(d[col], categories=levels)
    return d


@pytest.fixture(scope="module")
def api() -> dict[str, pd.DataFrame]:
    return {"srs": _load("apisrs.csv"), "strat": _load("apistrat.csv"), "clus1": _load("apiclus1.csv")}


@pytest.fixture(scope="module")
def designs(api) -> dict[str, SurveyDesign]:
    """The six designs of the reference README, as its svydesign() calls."""
    srs, strat, clus = api["srs"], api["strat"], api["clus1"]
    return {
        "srs_w": SurveyDesign(srs, weights="pw"),
        "srs_fpc": SurveyDesign(srs, weights="pw", fpc="fpc"),
        "strat_w": SurveyDesign(strat, weights="pw", strata="stype"),
        # R made these two without weights=: weights come from the fpc (population/sample PSUs).
        "strat_fpc": SurveyDesign(strat, strata="stype", fpc="fpc"),
        "clus1_w": SurveyDesign(clus, weights="pw", psu="dnum"),
        "clus1_fpc": SurveyDesign(clus, psu="dnum", fpc="fpc"),
    }


def _ref(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / "r_reference" / name)


def _close(actual: float, expected: float, rtol: float = RTOL, zero: float = 1e-9) -> None:
    """Relative agreement; R's zero SEs (~1e-17 noise) are compared absolutely."""
    if abs(expected) < 1e-12:
        assert abs(actual) < zero, (actual, expected)
    else:
        assert actual == pytest.approx(expected, rel=rtol), (actual, expected)


@pytest.mark.parametrize("row", _ref("proportions.csv").to_dict("records"), ids=lambda r: f"{r['design']}-{r['variable']}-{r['level']}")
def test_proportions_and_totals_match_r_svymean_svytotal(designs, row):
    """proportions.csv: svymean(~var, design) and svytotal(~var, design) of a factor."""
    d = designs[row["design"]]
    p = d.proportion(row["variable"]).set_index("level").loc[row["level"]]
    t = d.total(row["variable"]).set_index("level").loc[row["level"]]
    _close(p["estimate"], row["mean_est"])
    _close(p["se"], row["mean_se"])
    _close(t["estimate"], row["total_est"])
    _close(t["se"], row["total_se"], zero=1e-9 * t["estimate"])


@pytest.mark.parametrize("row", _ref("confint.csv").to_dict("records"), ids=lambda r: r["design"])
def test_mean_intervals_match_r_confint(designs, row):
    """confint.csv: confint(svymean(~api00, d)) and confint(..., df=degf(d))."""
    d = designs[row["design"]]
    normal = d.mean("api00", ci="normal").iloc[0]
    t = d.mean("api00").iloc[0]  # default: Student t on the design's degrees of freedom
    _close(normal["ci_low"], row["normal_lower"])
    _close(normal["ci_high"], row["normal_upper"])
    _close(t["ci_low"], row["t_lower"])
    _close(t["ci_high"], row["t_upper"])


def test_design_degrees_of_freedom_are_psus_minus_strata(designs):
    """R degf(): 200-1, 200-3 and 15 districts - 1; the t intervals above depend on them."""
    assert {k: d.df for k, d in designs.items()} == {
        "srs_w": 199, "srs_fpc": 199, "strat_w": 197, "strat_fpc": 197, "clus1_w": 14, "clus1_fpc": 14,
    }


@pytest.mark.parametrize("row", _ref("svyby.csv").to_dict("records"), ids=lambda r: f"{r['design']}-{r['stype']}")
def test_domain_means_match_r_svyby(designs, row):
    """svyby.csv: svyby(~api00, ~stype, design, svymean)."""
    m = designs[row["design"]].mean("api00", by="stype").set_index("stype").loc[row["stype"]]
    _close(m["estimate"], row["estimate"])
    _close(m["se"], row["se"])


def test_domains_are_estimated_on_the_whole_design_not_a_subset(api, designs):
    """A domain is not a subset: cutting the H schools out and treating them as the design gives
    a different SE (fewer districts, different centring) from R's svyby value 38.4026."""
    r_se = _ref("svyby.csv").query("design == 'clus1_w' and stype == 'H'")["se"].iloc[0]
    ours = designs["clus1_w"].mean("api00", by="stype").set_index("stype").loc["H", "se"]
    clus = api["clus1"]
    sub = clus[clus["stype"] == "H"]
    subset_se = SurveyDesign(sub, weights="pw", psu="dnum").mean("api00").iloc[0]["se"]
    _close(ours, r_se)
    assert abs(subset_se / r_se - 1) > 0.01


@pytest.mark.parametrize("row", _ref("svychisq.csv").to_dict("records"), ids=lambda r: r["design"])
def test_rao_scott_tests_match_r_svychisq(designs, row):
    """svychisq.csv: svychisq(~sch.wide + stype, d, statistic="F") and statistic="Chisq"."""
    d = designs[row["design"]]
    f = d.chisq("sch.wide", "stype", statistic="F")
    c = d.chisq("sch.wide", "stype", statistic="Chisq")
    for actual, expected in [
        (f.statistic, row["F"]), (f.ndf, row["ndf"]), (f.ddf, row["ddf"]), (f.p_value, row["p_F"]),
        (c.statistic, row["chisq"]), (c.ndf, row["df_chisq"]), (c.p_value, row["p_chisq"]),
    ]:
        assert actual == pytest.approx(expected, rel=1e-4)
    assert f.table()["test"].iloc[0] == "F"


def test_logit_interval_is_svyciprop_logit_by_hand(designs):
    """svyciprop(~I(awards=="Yes"), srs_w, method="logit"): a Wald interval for logit(p) with
    SE(p)/(p(1-p)), back-transformed, t quantile on degf = 199. p and SE(p) are R's
    (proportions.csv: 0.62, 0.0344081327303582)."""
    p, se = 0.62, 0.0344081327303582
    q = stats.t.ppf(0.975, 199)
    eta, half = np.log(p / (1 - p)), q * se / (p * (1 - p))
    expected = 1 / (1 + np.exp(-(eta - half))), 1 / (1 + np.exp(-(eta + half)))
    row = designs["srs_w"].proportion("awards").set_index("level").loc["Yes"]
    _close(row["ci_low"], expected[0])
    _close(row["ci_high"], expected[1])
    # normal quantile and a 90% level change only the quantile
    q90 = stats.norm.ppf(0.95)
    row90 = designs["srs_w"].proportion("awards", ci="normal", ci_level=0.9).set_index("level").loc["Yes"]
    _close(row90["ci_low"], 1 / (1 + np.exp(-(eta - q90 * se / (p * (1 - p))))))
    # Wald option: symmetric p +/- t * se, as svyciprop(method="mean")
    wald = designs["srs_w"].proportion("awards", ci_method="wald").set_index("level").loc["Yes"]
    _close(wald["ci_low"], p - q * se)


def test_zero_se_proportion_has_a_point_interval(designs):
    """strat_w: stype is the stratum, so its proportions have SE 0 (R: ~1e-17); CI = [p, p]."""
    t = designs["strat_w"].proportion("stype")
    assert np.allclose(t["ci_low"], t["estimate"]) and np.allclose(t["ci_high"], t["estimate"])


def test_design_effects_by_hand(designs):
    """deff as R's svymean(deff="replace") / deff=TRUE. With equal weights and no clustering
    the design variance is exactly the SRS one: srs_w (with replacement) deff = 1; srs_fpc with
    deff=TRUE ("srswor", (N-n)/(Nn)) deff = 1 and with "replace" 1 - n/N = 1 - 200/6194."""
    one = [
        designs["srs_w"].mean("api00").iloc[0]["deff"],
        designs["srs_fpc"].mean("api00", deff="srswor").iloc[0]["deff"],
        *designs["srs_w"].proportion("stype")["deff"],
        *designs["srs_w"].total("api00")["deff"],
        *designs["srs_w"].total("awards")["deff"],
    ]
    assert np.allclose(one, 1.0, rtol=1e-12)
    _close(designs["srs_fpc"].mean("api00").iloc[0]["deff"], 1 - 200 / 6194)


def test_domain_design_effect_uses_the_domain_rows(api, designs):
    """clus1_w, mean api00 among H schools: deff = V / (s2_H / n_H) with V = R's svyby SE^2
    (38.4026...^2) and s2_H the weighted variance of the H rows with n/(n-1), as svyby(deff=)
    computes it on the domain's subset design."""
    clus = api["clus1"]
    h = clus[clus["stype"] == "H"]
    w, y = h["pw"].to_numpy(), h["api00"].to_numpy(float)
    m = (w * y).sum() / w.sum()
    s2 = (w * (y - m) ** 2).sum() / w.sum() * len(h) / (len(h) - 1)
    r_se = _ref("svyby.csv").query("design == 'clus1_w' and stype == 'H'")["se"].iloc[0]
    ours = designs["clus1_w"].mean("api00", by="stype").set_index("stype").loc["H", "deff"]
    _close(ours, r_se**2 / (s2 / len(h)))


def test_weights_come_from_the_fpc_when_not_given(designs):
    """R: probs <- 1/weights(fpc): apiclus1 has fpc 757 districts and 15 sampled, so 757/15;
    apistrat E/H/M 4421/100, 755/50, 1018/50."""
    assert np.allclose(designs["clus1_fpc"].weights, 757 / 15)
    strat = designs["strat_fpc"]
    expected = strat.data["stype"].map({"E": 4421 / 100, "H": 755 / 50, "M": 1018 / 50}).to_numpy(float)
    assert np.allclose(strat.weights, expected)


def test_table_has_the_contract_columns(designs):
    t = designs["clus1_w"].proportion(["awards", "sch.wide"], by="stype")
    assert list(t.columns) == [
        "stype", "variable", "level", "estimate", "se", "ci_low", "ci_high", "deff",
        "n_unweighted", "count_unweighted", "n_weighted",
    ]
    assert isinstance(t["stype"].dtype, pd.CategoricalDtype)
    h = t[(t["stype"] == "H") & (t["variable"] == "awards")]
    # unweighted base and counts straight from the data: 14 H schools, 6 with awards
    clus = designs["clus1_w"].data
    assert h["n_unweighted"].tolist() == [14, 14]
    assert h["count_unweighted"].tolist() == [
        int(((clus["stype"] == "H") & (clus["awards"] == "No")).sum()),
        int(((clus["stype"] == "H") & (clus["awards"] == "Yes")).sum()),
    ]
    assert h["n_weighted"].iloc[0] == pytest.approx(clus.loc[clus["stype"] == "H", "pw"].sum())
    assert t.groupby(["stype", "variable"], observed=True)["estimate"].sum().to_numpy() == pytest.approx(1.0)


def test_compare_in_strata_uses_independent_domains(designs):
    """strat_w: stype is the stratum, so domain means are independent and the SE of a
    difference is sqrt(se_a^2 + se_b^2) with R's svyby SEs; p = 2 pt(-|t|, 197)."""
    ref = _ref("svyby.csv").query("design == 'strat_w'").set_index("stype")
    c = designs["strat_w"].compare("api00", "stype", adjust="none").set_index(["group_a", "group_b"])
    for a, b in [("E", "H"), ("E", "M"), ("H", "M")]:
        se = np.hypot(ref.loc[a, "se"], ref.loc[b, "se"])
        diff = ref.loc[a, "estimate"] - ref.loc[b, "estimate"]
        _close(c.loc[(a, b), "difference"], diff)
        _close(c.loc[(a, b), "se"], se)
        _close(c.loc[(a, b), "p_value"], 2 * stats.t.sf(abs(diff / se), 197))


def test_compare_in_clusters_uses_the_covariance(api, designs):
    """clus1_w, E minus H mean api00: SE from the joint influence by hand,
    z_i = 1[E](y - m_E)/N_E - 1[H](y - m_H)/N_H, district totals of w z, 15/14 sum of squared
    deviations; it differs from the independence SE because schools share districts."""
    clus = api["clus1"]
    w, y = clus["pw"].to_numpy(), clus["api00"].to_numpy(float)
    e, h = (clus["stype"] == "E").to_numpy(), (clus["stype"] == "H").to_numpy()
    m_e, m_h = (w * y)[e].sum() / w[e].sum(), (w * y)[h].sum() / w[h].sum()
    z = np.where(e, (y - m_e) / w[e].sum(), 0) - np.where(h, (y - m_h) / w[h].sum(), 0)
    t = pd.Series(w * z).groupby(clus["dnum"].to_numpy()).sum()
    se = np.sqrt(15 / 14 * ((t - t.mean()) ** 2).sum())
    c = designs["clus1_w"].compare("api00", "stype", reference="H").set_index("group_a")
    _close(c.loc["E", "difference"], m_e - m_h)
    _close(c.loc["E", "se"], se)
    by = designs["clus1_w"].mean("api00", by="stype").set_index("stype")["se"]
    assert abs(np.hypot(by["E"], by["H"]) / se - 1) > 0.01
    assert c["family_size"].iloc[0] == 2 and c["adjust_method"].iloc[0] == "Holm"


def test_compare_proportions_needs_a_level(designs):
    from social_licence.errors import EstimationError

    with pytest.raises(EstimationError, match="level="):
        designs["clus1_w"].compare("awards", "stype")
    c = designs["clus1_w"].compare("awards", "stype", level="Yes")
    p = designs["clus1_w"].proportion("awards", by="stype").query("level == 'Yes'").set_index("stype")
    first = c.iloc[0]
    _close(first["difference"], p.loc[first["group_a"], "estimate"] - p.loc[first["group_b"], "estimate"])


def test_rao_scott_in_a_domain_of_an_equal_weight_srs_by_hand(designs):
    """srs_w has equal weights and no clustering, so for a domain's cell proportions
    V = n/(n-1) (D - pp')/n_d with n = 200 the whole sample: with no empty cell the
    design-effect matrix is n/(n-1) times the identity, so F = X^2 (n-1)/(n k) on
    (k, k * 199) degrees of freedom, X^2 being Pearson's statistic of the domain's unweighted
    table (scipy, no continuity correction). Domain: elementary schools; awards x ell band
    (0-10, 11-30, over 30), a 2 x 3 table, k = 2."""
    srs = designs["srs_w"].data.copy()
    srs["ell_band"] = pd.cut(srs["ell"], [-1, 10, 30, 100], labels=["low", "mid", "high"])
    design = SurveyDesign(srs, weights="pw")
    in_e = (srs["stype"] == "E").to_numpy()
    table = pd.crosstab(srs.loc[in_e, "awards"], srs.loc[in_e, "ell_band"]).to_numpy()
    assert (table > 0).all()
    x2 = stats.chi2_contingency(table, correction=False)[0]
    n, k = 200, 2
    test = design.chisq("awards", "ell_band", where=in_e)
    _close(test.pearson, x2)
    _close(test.statistic, x2 * (n - 1) / (n * k))
    _close(test.ndf, k)
    _close(test.ddf, k * 199.0)
    _close(test.p_value, stats.f.sf(x2 * (n - 1) / (n * k), k, k * 199))
    first = design.chisq("awards", "ell_band", where=in_e, statistic="Chisq")
    _close(first.statistic, x2)
    _close(first.p_value, stats.chi2.sf(x2 * (n - 1) / n, k))
