"""Replicate-weight designs (JK1, JKn, Rao-Wu bootstrap, export columns) against R ``survey``.

Where the expected number is R's: for a *total* the jackknife variance equals the
linearisation variance exactly (JK1: T_(r) - mean = -(n/(n-1))(t_r - t_bar), so
(n-1)/n * sum (T_(r) - mean)^2 = n/(n-1) sum (t_r - t_bar)^2; JKn the same within each
stratum, and the FPC multiplies both), so ``svytotal`` SEs in proportions.csv are the
reference. The re-raked JK1 SE is R's ``rake()`` on ``as.svrepdesign(clus1_w, type="JK1")``
(rake_results.csv).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from social_licence.design.design import SurveyDesign
from social_licence.design.replicates import ReplicateDesign
from social_licence.errors import ConfigError, EstimationError, InputError
from social_licence.weighting.solver import make_reweighter

REF = DATA / "reference" / "api"
LEVELS = {"stype": ["E", "H", "M"], "awards": ["No", "Yes"], "sch.wide": ["No", "Yes"]}
# rake() population totals of the reference README
POPULATION = {"stype": {"E": 4421, "H": 755, "M": 1018}, "sch.wide": {"No": 1072, "Yes": 5122}}


def _load(name: str) -> pd.DataFrame:
    d = pd.read_csv(REF / name)
    for col, levels in LEVELS.items():
        d[col] = pd.Categorical(d[col], categories=levels)
    return d


@pytest.fixture(scope="module")
def clus() -> pd.DataFrame:
    return _load("apiclus1.csv")


@pytest.fixture(scope="module")
def strat() -> pd.DataFrame:
    return _load("apistrat.csv")


@pytest.fixture(scope="module")
def r_totals() -> pd.DataFrame:
    return pd.read_csv(REF / "r_reference" / "proportions.csv").set_index(["design", "variable", "level"])


@pytest.mark.parametrize(
    ("name", "kind", "options"),
    [
        ("clus1_w", "jk1", {"weights": "pw", "psu": "dnum"}),
        ("clus1_fpc", "jk1", {"psu": "dnum", "fpc": "fpc"}),
        ("strat_w", "jkn", {"weights": "pw", "strata": "stype"}),
        ("strat_fpc", "jkn", {"strata": "stype", "fpc": "fpc"}),
    ],
)
def test_jackknife_totals_equal_r_linearisation(clus, strat, r_totals, name, kind, options):
    data = clus if name.startswith("clus") else strat
    rep = SurveyDesign(data, **options).with_replicates(kind)
    for var in ("stype", "awards"):
        t = rep.total(var).set_index("level")
        for level, row in t.iterrows():
            ref = r_totals.loc[(name, var, level)]
            assert row["estimate"] == pytest.approx(ref["total_est"], rel=1e-6)
            if ref["total_se"] == 0:
                assert row["se"] < 1e-9 * row["estimate"]
            else:
                assert row["se"] == pytest.approx(ref["total_se"], rel=1e-6)


def test_jackknife_degrees_of_freedom_are_r_degf(clus, strat):
    """degf(as.svrepdesign(d)) = rank of the replicate weights - 1: 15 - 1 for JK1 on 15
    districts; for JKn 200 replicates whose per-stratum sums coincide: 200 - 3."""
    assert SurveyDesign(clus, weights="pw", psu="dnum").with_replicates("jk1").df == 14
    assert SurveyDesign(strat, weights="pw", strata="stype").with_replicates("jkn").df == 197


def _ipf(data: pd.DataFrame):
    """A tiny raker for the test: iterative proportional fitting to POPULATION, to 1e-12."""
    codes = {v: data[v].cat.codes.to_numpy() for v in POPULATION}
    targets = {v: np.array(list(t.values()), dtype=float) for v, t in POPULATION.items()}

    def rake(w: np.ndarray) -> np.ndarray:
        w = np.asarray(w, dtype=float).copy()
        for _ in range(1000):
            old = w.copy()
            for v in POPULATION:
                cur = np.bincount(codes[v], weights=w, minlength=len(targets[v]))
                w = w * (targets[v] / cur)[codes[v]]
            if np.abs(w - old).max() < 1e-12:
                break
        return w

    return rake


def _check_raked_jk1(clus: pd.DataFrame, reweighter) -> None:
    """rake_results.csv: svymean(~api00) 641.2303 (SE 27.1443) and svytotal SE 168131.54 after
    rake() of as.svrepdesign(clus1_w, type="JK1") raked to convergence (epsilon 1e-10, README),
    so agreement is to the README's 1e-6."""
    ref = pd.read_csv(REF / "r_reference" / "rake_results.csv").iloc[0]
    raked = reweighter(clus["pw"].to_numpy(float))
    rep = SurveyDesign(clus, weights=raked, psu="dnum").with_replicates("jk1", reweighter=reweighter)
    m, t = rep.mean("api00").iloc[0], rep.total("api00").iloc[0]
    assert m["estimate"] == pytest.approx(ref["mean_est"], rel=1e-6)
    assert t["estimate"] == pytest.approx(ref["total_est"], rel=1e-6)
    assert m["se"] == pytest.approx(ref["mean_se"], rel=1e-6)
    assert t["se"] == pytest.approx(ref["total_se"], rel=1e-6)
    # without re-raking the replicates the SE is the unraked-replicate one, visibly different
    plain = SurveyDesign(clus, weights=raked, psu="dnum").with_replicates("jk1").mean("api00").iloc[0]
    assert abs(plain["se"] / ref["mean_se"] - 1) > 0.01


def test_reraked_jk1_matches_r_rake_with_a_test_raker(clus):
    _check_raked_jk1(clus, _ipf(clus))


def test_reraked_jk1_matches_r_rake_with_the_project_raker(clus):
    _check_raked_jk1(clus, make_reweighter(clus, POPULATION, base_weight="pw"))


def test_reweighter_must_reproduce_the_design_weights(clus):
    d = SurveyDesign(clus, weights="pw", psu="dnum")  # unraked weights, raking reweighter
    with pytest.raises(EstimationError, match="base_weights"):
        d.with_replicates("jk1", reweighter=_ipf(clus))


def test_rao_wu_bootstrap_is_exact_where_it_must_be_and_close_elsewhere(strat):
    """Rao-Wu with n_h - 1 draws: every replicate's multipliers sum to n_h in each stratum, so
    with weights constant in a stratum the total of the stratum variable never varies (SE 0).
    The SE of the mean of api00 from 1000 replicates is within 6% of R's linearisation SE
    (confint.csv strat_w normal interval half-width / qnorm(0.975) = 9.5361); the Monte Carlo
    SD of a bootstrap SE is about SE / sqrt(2R) = 2.2%."""
    d = SurveyDesign(strat, weights="pw", strata="stype")
    rep = d.with_replicates("bootstrap", 1000, seed=20240601)
    assert rep.total("stype")["se"].max() < 1e-9 * 6194
    mult = rep.repweights / d.weights[:, None]
    for h in LEVELS["stype"]:
        rows = (strat["stype"] == h).to_numpy()
        assert np.allclose(mult[rows].sum(axis=0), rows.sum())
    ci = pd.read_csv(REF / "r_reference" / "confint.csv").set_index("design").loc["strat_w"]
    linear_se = (ci["normal_upper"] - ci["normal_lower"]) / 2 / 1.959963984540054
    assert rep.mean("api00").iloc[0]["se"] == pytest.approx(linear_se, rel=0.06)
    assert rep.scale == pytest.approx(1 / 999) and rep.df == 197


def test_bootstrap_is_reproducible_from_its_seed(strat):
    d = SurveyDesign(strat, weights="pw", strata="stype")
    a = d.with_replicates("bootstrap", 20, seed=7).repweights
    b = d.with_replicates("bootstrap", 20, seed=7).repweights
    c = d.with_replicates("bootstrap", 20, seed=8).repweights
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_bootstrap_refuses_what_it_cannot_do(strat, clus):
    with pytest.raises(ConfigError, match="seed"):
        SurveyDesign(strat, weights="pw", strata="stype").with_replicates("bootstrap", 10)
    with pytest.raises(EstimationError, match="finite population correction"):
        SurveyDesign(clus, psu="dnum", fpc="fpc").with_replicates("bootstrap", 10, seed=1)
    with pytest.raises(EstimationError, match="JK1 is for unstratified"):
        SurveyDesign(strat, weights="pw", strata="stype").with_replicates("jk1")
    with pytest.raises(ConfigError, match="one replicate per PSU"):
        SurveyDesign(clus, weights="pw", psu="dnum").with_replicates("jk1", 50)


def test_export_replicate_columns_give_the_same_design(clus, r_totals):
    """JK1 replicate weights written as columns of an export and read back with
    from_replicate_weights(type="jk1", scale=14/15): svytotal SEs as R's clus1_w."""
    jk = SurveyDesign(clus, weights="pw", psu="dnum").with_replicates("jk1")
    cols = [f"repw{i + 1}" for i in range(jk.replicates)]
    export = pd.concat([clus, pd.DataFrame(jk.repweights, columns=cols, index=clus.index)], axis=1)
    back = SurveyDesign.from_replicate_weights(export, "pw", cols, type="jk1", scale=14 / 15)
    byregex = SurveyDesign.from_replicate_weights(export, "pw", r"^repw\d+$", type="JK1", scale=14 / 15)
    factors = export[cols].div(export["pw"], axis=0)
    uncombined = SurveyDesign.from_replicate_weights(
        export.drop(columns=cols).join(factors), "pw", cols, type="jk1", scale=14 / 15, combined=False
    )
    for design in (back, byregex, uncombined):
        t = design.total("awards").set_index("level")
        assert t.loc["Yes", "se"] == pytest.approx(r_totals.loc[("clus1_w", "awards", "Yes"), "total_se"], rel=1e-6)
        assert design.df == 14
    with pytest.warns(UserWarning, match=r"\(R-1\)/R"):
        guessed = SurveyDesign.from_replicate_weights(export, "pw", cols, type="jk1")
    assert guessed.scale == pytest.approx(14 / 15)


def test_export_replicate_columns_are_checked(clus):
    frame = clus.assign(r1=clus["pw"], r2=clus["pw"])
    with pytest.raises(ConfigError, match="rscales"):
        SurveyDesign.from_replicate_weights(frame, "pw", ["r1", "r2"], type="jkn")
    with pytest.raises(ConfigError, match="replicate type"):
        SurveyDesign.from_replicate_weights(frame, "pw", ["r1", "r2"], type="sdr")
    with pytest.raises(InputError, match="r3"):
        SurveyDesign.from_replicate_weights(frame, "pw", ["r1", "r3"])
    bad = frame.copy()
    bad.loc[bad.index[[2, 5]], "r2"] = np.nan
    with pytest.raises(InputError, match=r"variable: r2; rows: 2, 5"):
        SurveyDesign.from_replicate_weights(bad, "pw", ["r1", "r2"])


def test_replicate_variance_is_r_svrvar_by_hand():
    """svrVar(thetas = 1, 2, 3, scale = 0.5, rscales = (1, 1, 2)): centred on the replicate
    mean 2: 0.5 * (1 + 0 + 2 * 1) = 1.5; with mse=TRUE centred on the estimate 2.5:
    0.5 * (2.25 + 0.25 + 2 * 0.25) = 1.5."""
    frame = pd.DataFrame({"y": [1.0]})
    rep = ReplicateDesign(frame, [1.0], np.ones((1, 3)), type="other", scale=0.5, rscales=[1, 1, 2])
    assert rep.replicate_variance(np.array([1.0, 2, 3]), np.array([2.5]))[0, 0] == pytest.approx(1.5)
    rep.mse = True
    assert rep.replicate_variance(np.array([1.0, 2, 4]), np.array([2.5]))[0, 0] == pytest.approx(
        0.5 * (1.5**2 + 0.5**2 + 2 * 1.5**2)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        v = rep.replicate_variance(np.array([1.0, np.nan, 4]), np.array([2.5]))
    assert "discarded" in str(caught[0].message)
    assert v[0, 0] == pytest.approx(0.5 * (1.5**2 + 2 * 1.5**2))


def test_replicate_long_frame_maps_rows_to_respondents(clus):
    """Every school twice in a long frame: replicate totals double, and so does the SE."""
    frame = clus.set_index(pd.Index(clus["snum"].astype(str), name="respondent"))
    rep = SurveyDesign(frame, weights="pw", psu="dnum").with_replicates("jk1")
    long = pd.DataFrame({"respondent": list(frame.index) * 2, "api00": list(frame["api00"]) * 2})
    one, two = rep.total("api00").iloc[0], rep.long(long).total("api00").iloc[0]
    assert two["estimate"] == pytest.approx(2 * one["estimate"])
    assert two["se"] == pytest.approx(2 * one["se"], rel=1e-12)
