"""The second example (students rating campus data-use scenarios, one row per rating): its files
carry the documented metadata, its sample has the documented shape, and its truth is what the
generator produces.

Expected values come from the module's documented model worked by hand (population shares),
from scipy's adaptive quadrature (an independent integral of the same model), from literal
expectations about the files written in the tests, and from a large draw whose estimates must
fall within 4 standard errors (cluster-robust over students) of the truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from scipy import integrate, stats

from social_licence.synthetic import scenarios as sc

ROOT = Path(__file__).resolve().parents[1]
CAMPUS = ROOT / "data" / "raw" / "campus"
Z = 4.0


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((CAMPUS / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return sc.generate(40_000, seed=7, inattentive=0.0)


def test_regeneration_is_byte_identical_to_the_committed_example(tmp_path):
    sc.write_example(tmp_path)
    for name in ("campus.sav", "campus.csv", "truth.json"):
        assert (tmp_path / name).read_bytes() == (CAMPUS / name).read_bytes(), name


def test_truth_file_is_the_generators_truth(truth):
    fresh = sc.population_truth()
    for key in ("population", "acceptable", "comfort", "risk", "model"):
        assert truth[key] == json.loads(json.dumps(fresh[key]))


def test_sav_carries_labels_user_missing_codes_and_measures():
    frame, meta = pyreadstat.read_sav(str(CAMPUS / "campus.sav"), user_missing=True)
    assert frame.shape == (1800, 18)
    labels = meta.column_names_to_labels
    assert labels["acceptable"] == "Would this use of data be acceptable to you?"
    assert labels["comfort"].startswith("Rating of this use: how comfortable")
    vl = meta.variable_value_labels
    assert vl["comfort"] == {
        0.0: "Not at all",
        10.0: "Completely",
        98.0: "Don't know",
        99.0: "Prefer not to say",
    }
    assert vl["trust"] == {0.0: "Not at all", 5.0: "Completely", 8.0: "Don't know"}
    assert vl["gender"][9.0] == "Prefer not to say"
    assert vl["attention"][2.0] == "Disagree"
    assert meta.missing_ranges["comfort"] == [{"lo": 98.0, "hi": 98.0}, {"lo": 99.0, "hi": 99.0}]
    assert meta.missing_ranges["acceptable"] == [{"lo": 8.0, "hi": 8.0}]
    assert "design_weight" not in frame.columns and not any("weight" in c for c in frame.columns)
    assert meta.variable_measure["trust"] == "ordinal"
    assert meta.variable_measure["comfort"] == "scale"
    assert meta.file_label == "Synthetic example: students' views on campus data use"


def test_csv_holds_the_same_answers_as_the_sav():
    sav, _ = pyreadstat.read_sav(str(CAMPUS / "campus.sav"), user_missing=True)
    text = pd.read_csv(CAMPUS / "campus.csv", keep_default_na=False, dtype=str)
    assert list(text.columns) == list(sav.columns)
    for col in sav.columns:
        if pd.api.types.is_numeric_dtype(sav[col]):
            assert (text[col].astype(float).to_numpy() == sav[col].to_numpy()).all(), col
        else:
            assert (text[col].to_numpy() == sav[col].fillna("").to_numpy()).all(), col


def test_each_student_rates_three_different_scenarios_in_order_with_fixed_characteristics():
    frame = sc.generate(500, seed=3)
    per = frame.groupby("student_id")
    assert per.size().eq(3).all()
    assert per["scenario"].nunique().eq(3).all()
    assert (per["position"].apply(list).map(tuple) == (1, 2, 3)).all()
    for col in (
        "year_of_study",
        "gender",
        "international",
        "field_of_study",
        "duration_s",
        "email",
    ):
        assert per[col].nunique().eq(1).all(), col
    assert frame["framing"].isin([1, 2]).all()
    assert set(frame["comfort"]) <= set(range(11)) | {98, 99}
    assert set(frame["trust"]) <= set(range(6)) | {8}


def test_attentive_students_always_pass_the_check_and_inattentive_mostly_fail():
    frame = sc.generate(4000, seed=11, inattentive=0.2)
    careless = frame["student_id"].isin(frame.attrs["inattentive"])
    assert (frame.loc[~careless, "attention"] == sc.ATTENTION_PASS).all()
    # inattentive answer uniformly over 5 codes: fail with probability 4/5
    fail = (frame.loc[careless, "attention"] != sc.ATTENTION_PASS).mean()
    se = np.sqrt(0.8 * 0.2 / careless.sum())
    assert abs(fail - 0.8) < Z * se
    assert abs(careless.groupby(frame["student_id"]).first().mean() - 0.2) < 0.03


def test_population_shares_by_hand(truth):
    pop = truth["population"]
    # P(international) = sum over years of P(year) * P(international | year)
    assert pop["international"]["Yes"] == pytest.approx(
        0.30 * 0.15 + 0.25 * 0.15 + 0.25 * 0.15 + 0.20 * 0.40, abs=1e-6
    )
    assert pop["year_of_study"]["Postgraduate"] == pytest.approx(0.20, abs=1e-6)
    assert pop["gender"]["Non-binary or another gender"] == pytest.approx(0.03, abs=1e-6)
    assert sum(pop["field_of_study"].values()) == pytest.approx(1.0, abs=1e-6)


def test_quadrature_matches_adaptive_integration(truth):
    """P(yes) for library, first-year UK woman in science, opt-in: E_u[expit(1.2 + u)] by scipy.quad."""
    value = integrate.quad(
        lambda u: stats.norm.pdf(u, 0, sc.STUDENT_SD) / (1 + np.exp(-(1.2 + u))), -12, 12
    )[0]
    nodes, weights = sc._quadrature()
    assert (weights / (1 + np.exp(-(1.2 + nodes)))).sum() == pytest.approx(value, abs=1e-9)
    # a 0-10 mean by quad: E[Y | eta] = sum_k expit(eta - cut_k), integrated over u
    cuts = np.asarray(sc.CUTPOINTS[10])
    mean = integrate.quad(
        lambda u: stats.norm.pdf(u) * (1 / (1 + np.exp(-(1.2 + u - cuts)))).sum(), -12, 12
    )[0]
    assert sc._expected(np.array([1.2]) + nodes, "comfort") @ weights == pytest.approx(
        mean, abs=1e-9
    )


def _cluster_mean(values: pd.Series, clusters: pd.Series) -> tuple[float, float]:
    """Mean and its cluster-robust standard error (students as clusters)."""
    m = values.mean()
    resid = (values - m).groupby(clusters).sum()
    n = len(values)
    g = len(resid)
    return m, float(np.sqrt((resid**2).sum() * g / (g - 1)) / n)


@pytest.mark.parametrize(
    "outcome", ["acceptable", "comfort", "benefit", "fairness", "trust", "risk"]
)
def test_a_large_sample_recovers_the_truth(truth, big, outcome):
    if outcome == "acceptable":
        keep = big[outcome] != sc.DONT_KNOW
        value = (big.loc[keep, outcome] == sc.YES).astype(float)
    else:
        keep = ~big[outcome].isin(sc.MISSING_CODES[outcome])  # 8 is an answer on 0-10
        value = big.loc[keep, outcome].astype(float)
    rows = big.loc[keep]
    keys = list(sc.SCENARIOS)
    for code, key in enumerate(keys, start=1):
        sel = rows["scenario"] == code
        m, se = _cluster_mean(value[sel], rows.loc[sel, "student_id"])
        assert abs(m - truth[outcome]["by_scenario"][key]) < Z * se, (outcome, key)
    for code, key in enumerate(sc.FRAMING, start=1):
        sel = rows["framing"] == code
        m, se = _cluster_mean(value[sel], rows.loc[sel, "student_id"])
        assert abs(m - truth[outcome]["by_framing"][key]) < Z * se, (outcome, key)
    for code, key in enumerate(sc.INTERNATIONAL, start=1):
        sel = rows["international"] == code
        m, se = _cluster_mean(value[sel], rows.loc[sel, "student_id"])
        assert abs(m - truth[outcome]["by_international"][key]) < Z * se, (outcome, key)
    m, se = _cluster_mean(value, rows["student_id"])
    assert abs(m - truth[outcome]["overall"]) < Z * se


def test_dont_know_rates_are_as_documented(big):
    dk = (big["acceptable"] == sc.DONT_KNOW).mean()
    assert abs(dk - sc.P_DK_ACCEPTABLE) < Z * np.sqrt(0.06 * 0.94 / len(big))
    refused = (big.groupby("student_id")["gender"].first() == 9).mean()
    assert abs(refused - sc.GENDER_REFUSED) < Z * np.sqrt(0.03 * 0.97 / 40_000)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="inattentive"):
        sc.generate(10, inattentive=1.0)
