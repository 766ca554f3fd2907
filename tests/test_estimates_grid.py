"""Grid helpers (acceptability by data type, purpose, item and group), comparisons and
multiple-comparison adjustment. Expected numbers are computed in the test from the definitions:
the ratio sum(w * acceptable) / sum(w * asked) over a domain's (respondent, item) rows and its
with-replacement variance from PSU totals of the influence values (R ``svyrecvar``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from social_licence.design.design import SurveyDesign
from social_licence.design.estimators import adjust_pvalues
from social_licence.design.grids import (
    acceptability,
    acceptability_table,
    grid_comparisons,
)
from social_licence.errors import ConfigError
from social_licence.survey.grid import DK_OPTIONS, grid_rows, long_format
from social_licence.survey.instrument import Instrument, load_instrument
from social_licence.survey.missing import DONT_KNOW_LABEL, reasons

ROOT = Path(__file__).resolve().parent.parent
POSITIVE = {"Somewhat acceptable", "Very acceptable"}  # acceptability5 positive codes 4, 5
REASONS = ["dont_know", "refused", "not_asked", "by_design", "system"]


@pytest.fixture(scope="module")
def instrument():
    return load_instrument(ROOT / "config" / "instrument.yaml")


def _frame(instrument, n: int, seed: int, n_psu: int = 40, n_strata: int = 4) -> pd.DataFrame:
    """An analysis frame with the acceptability grid on a split ballot (two purposes each),
    5% "Don't know", a few refusals, and sex / ethnicity groups; strata and PSUs."""
    rng = np.random.default_rng(seed)
    grid = instrument.grids["acceptability"]
    labels = instrument.scales[grid.scale]["codes"]
    labels = [labels[c] for c in sorted(labels)]
    purposes = list(grid.columns)
    pairs = [(a, b) for i, a in enumerate(purposes) for b in purposes[i + 1 :]]
    ballot = rng.integers(0, len(pairs), n)
    psu = rng.integers(0, n_psu, n)
    cols = {
        "sex": pd.Categorical.from_codes(rng.integers(0, 2, n), categories=instrument["sex"].labels),
        "ethnicity": pd.Categorical.from_codes(rng.integers(0, 5, n), categories=instrument["ethnicity"].labels),
        "stratum": psu % n_strata,
        "psu": psu,
        "weight": rng.gamma(3.0, 1 / 3, n),
    }
    for var, _row, col in grid.cells():
        asked = np.array([col in p for p in pairs])[ballot]
        u = rng.random(n)
        codes = np.where(asked & (u > 0.07), rng.integers(0, 5, n), -1)
        cols[var] = pd.Categorical.from_codes(codes, categories=labels, ordered=True)
        reason = np.where(~asked, "by_design", np.where(u < 0.05, "dont_know", np.where(u < 0.07, "refused", None)))
        cols[var + "__reason"] = pd.Categorical(reason, categories=REASONS)
    return pd.DataFrame(cols, index=pd.Index([f"id{i:04d}" for i in range(n)], name="respondent"))


@pytest.fixture(scope="module")
def frame(instrument) -> pd.DataFrame:
    return _frame(instrument, 400, seed=11)


def _acceptable(value, reason) -> bool:
    return value in POSITIVE


def _hand_ratio(frame, items, mask=None, dk="exclude", hit=_acceptable):
    """Ratio and its stratified clustered SE, by hand. Rows: (respondent, item) pairs with a
    substantive answer (plus DK when included); influence w (a - p) / W summed by PSU;
    V = sum_h n_h/(n_h - 1) sum_c (t_c - mean_h t)^2 over every PSU of the design."""
    rows = []
    for item in items:
        why = frame[item + "__reason"]
        for rid, value, reason in zip(frame.index, frame[item], why, strict=True):
            if mask is not None and not mask[rid]:
                continue
            if pd.notna(value) or (dk == "include" and reason == "dont_know"):
                rows.append((rid, 1.0 if hit(value, reason) else 0.0))
    r = pd.DataFrame(rows, columns=["rid", "a"])
    r["w"] = frame.loc[r["rid"], "weight"].to_numpy()
    r["psu"] = frame.loc[r["rid"], "psu"].to_numpy()
    big_w = r["w"].sum()
    p = (r["w"] * r["a"]).sum() / big_w
    t = (r["w"] * (r["a"] - p) / big_w).groupby(r["psu"]).sum()
    psus = frame.groupby("psu")["stratum"].first()
    t = t.reindex(psus.index, fill_value=0.0)
    var = 0.0
    for _, members in psus.groupby(psus):
        th = t[members.index]
        var += len(th) / (len(th) - 1) * ((th - th.mean()) ** 2).sum()
    return p, np.sqrt(var), len(r)


def _stacked_item_by_item(
    data: pd.DataFrame,
    instrument: Instrument,
    grid: str = "acceptability",
    *,
    dk: str = "exclude",
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """The long format built the plain way, one item at a time (the reference for grid_rows).

    Columns: ``respondent`` (the row label of ``data``), ``item``, the grid's row name (e.g.
    ``data_type``) and column name (e.g. ``purpose``) as ordered Categoricals in instrument
    order, ``rating`` (ordered Categorical of labels, NaN for "Don't know"), ``response``
    (rating labels plus "Don't know" when ``dk="include"``), ``acceptable`` (1.0 where the
    rating is one of the scale's positive codes, else 0.0), then the ``keep`` columns.
    """
    if dk not in DK_OPTIONS:
        raise ConfigError(f"dk must be one of {', '.join(DK_OPTIONS)}, not {dk!r}")
    if grid not in instrument.grids:
        raise ConfigError(f"grid {grid!r} is not in the instrument (has {', '.join(instrument.grids)})")
    g = instrument.grids[grid]
    missing_keep = [k for k in keep if k not in data.columns]
    if missing_keep:
        raise ConfigError(f"columns {missing_keep} asked to keep are not in the data")
    scale = instrument.scales[g.scale]
    labels = [scale["codes"][c] for c in sorted(scale["codes"])]
    positive = {scale["codes"][c] for c in scale["positive"]}
    rating_dtype = pd.CategoricalDtype(labels, ordered=True)
    response_labels = labels + ([DONT_KNOW_LABEL] if dk == "include" else [])
    response_dtype = pd.CategoricalDtype(response_labels, ordered=False)

    pieces = []
    for var, row, col in g.cells():
        if var not in data.columns:
            raise ConfigError(f"grid {grid} item {var!r} is not in the data")
        values = data[var].astype(rating_dtype)
        why = reasons(data, var)
        answered = values.notna().to_numpy()
        is_dk = (why == "dont_know").to_numpy()
        use = answered | (is_dk if dk == "include" else np.zeros(len(data), dtype=bool))
        if not use.any():
            continue
        sub = pd.DataFrame(
            {
                "respondent": data.index[use],
                "item": var,
                g.row_name: row,
                "rating": values[use].to_numpy(),
            }
        )
        if g.column_name:
            sub.insert(3, g.column_name, col)
        response = values[use].astype(object).to_numpy().copy()
        response[is_dk[use] & ~answered[use]] = DONT_KNOW_LABEL
        sub["response"] = pd.Categorical(response, dtype=response_dtype)
        sub["acceptable"] = values[use].isin(positive).to_numpy().astype(float)
        for k in keep:
            sub[k] = data[k].to_numpy()[use]
        pieces.append(sub)
    if not pieces:
        raise ConfigError(f"grid {grid} has no answered items in the data")
    out = pd.concat(pieces, ignore_index=True)
    out["rating"] = out["rating"].astype(rating_dtype)
    out["response"] = out["response"].astype(response_dtype)
    out[g.row_name] = pd.Categorical(out[g.row_name], categories=list(g.rows), ordered=True)
    if g.column_name:
        out[g.column_name] = pd.Categorical(out[g.column_name], categories=list(g.columns), ordered=True)
    for k in keep:
        if isinstance(data[k].dtype, pd.CategoricalDtype):
            out[k] = out[k].astype(data[k].dtype)
    return out


def test_grid_rows_are_long_format_rows(instrument, frame):
    """The fast path keeps the plain stacking's rules and order exactly (both DK settings)."""
    for dk in ("exclude", "include"):
        ours, pos = grid_rows(frame, instrument, dk=dk, keep=["sex", "weight"], grid="acceptability")
        theirs = _stacked_item_by_item(frame, instrument, dk=dk, keep=["sex", "weight"])
        pd.testing.assert_frame_equal(
            long_format(frame, instrument, dk=dk, keep=["sex", "weight"], grid="acceptability").drop(columns="item"),
            ours.drop(columns="item"),
        )
        cols = ["respondent", "data_type", "purpose", "rating", "response", "acceptable", "sex", "weight"]
        pd.testing.assert_frame_equal(ours[cols], theirs[cols].reset_index(drop=True))
        assert ours["item"].astype(str).tolist() == theirs["item"].astype(str).tolist()
        assert (frame.index[pos] == ours["respondent"]).all()


def test_item_acceptability_by_hand(instrument, frame):
    design = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu")
    for dk in ("exclude", "include"):
        t = acceptability(design, instrument, dk=dk, grid="acceptability").set_index(["data_type", "purpose"])
        for row, col in [("health", "early_help"), ("police", "risk_scoring")]:
            p, se, n = _hand_ratio(frame, [f"acc_{row}__{col}"], dk=dk)
            got = t.loc[(row, col)]
            assert got["estimate"] == pytest.approx(p, rel=1e-12)
            assert got["se"] == pytest.approx(se, rel=1e-10)
            assert got["n_unweighted"] == n
            assert got["level"] == "acceptable" and got["variable"] == "acceptability"
    # split ballot: an item's base is only those who were asked it (never the by-design cells)
    asked = (frame["acc_health__early_help__reason"] != "by_design").sum()
    assert t.loc[("health", "early_help"), "n_unweighted"] == asked - (
        frame["acc_health__early_help__reason"] == "refused"
    ).sum()


def test_pooled_acceptability_clusters_a_parents_answers(instrument, frame):
    """By data type only: each parent answers the item for two purposes; both answers are in
    the same PSU total, which is what the hand formula does."""
    design = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu")
    t = acceptability(design, instrument, by="data_type", grid="acceptability").set_index("data_type")
    items = [f"acc_school__{c}" for c in instrument.grids["acceptability"].columns]
    p, se, n = _hand_ratio(frame, items)
    assert t.loc["school", "estimate"] == pytest.approx(p, rel=1e-12)
    assert t.loc["school", "se"] == pytest.approx(se, rel=1e-10)
    assert t.loc["school", "n_unweighted"] == n


def test_acceptability_by_group_is_stacked(instrument, frame):
    design = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu")
    t = acceptability(design, instrument, by="purpose", groups=["sex", "ethnicity"], grid="acceptability")
    assert list(t.columns[:3]) == ["purpose", "group_variable", "group"]
    assert t["group_variable"].unique().tolist() == ["All", "sex", "ethnicity"]
    assert len(t) == 4 * (1 + 2 + 5)
    female = (frame["sex"] == "Female").to_dict()
    items = [f"acc_{r}__planning" for r in instrument.grids["acceptability"].rows]
    p, se, _ = _hand_ratio(frame, items, mask=female)
    got = t[(t["purpose"] == "planning") & (t["group"] == "Female")].iloc[0]
    assert got["estimate"] == pytest.approx(p, rel=1e-12)
    assert got["se"] == pytest.approx(se, rel=1e-10)
    wrapped = acceptability_table(
        frame, instrument, weights="weight", strata="stratum", psu="psu", by="purpose", groups=["sex", "ethnicity"], grid="acceptability"
    )
    pd.testing.assert_frame_equal(wrapped, t)
    with pytest.raises(ConfigError, match="broken down by"):
        acceptability(design, instrument, by="organisation", grid="acceptability")


def test_grid_comparisons_one_family_and_hand_se(instrument, frame):
    design = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu")
    c = grid_comparisons(design, instrument, ["sex", "ethnicity"], by="data_type", reference={"ethnicity": "White"}, grid="acceptability")
    # per data type: 1 sex pair + 4 ethnic groups against White; 6 data types
    assert len(c) == 6 * (1 + 4)
    assert (c["family_size"] == len(c)).all()
    assert c["family"].iloc[0].startswith(
        f"{len(c)} differences in the share answering positively (acceptability grid)"
    )
    # Holm by hand: sorted p times (m - rank + 1), running maximum, capped at 1
    p = c["p_value"].to_numpy()
    order = np.argsort(p)
    holm = np.minimum(1, np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p)))))
    expected = np.empty_like(p)
    expected[order] = holm
    assert c["p_adjusted"].to_numpy() == pytest.approx(expected)
    # one difference by hand: joint influence of Female and Male acceptability of health items
    row = c[(c["data_type"] == "health") & (c["group_variable"] == "sex")].iloc[0]
    items = [f"acc_health__{k}" for k in instrument.grids["acceptability"].columns]
    fa = (frame["sex"] == row["group_a"]).to_dict()
    fb = (frame["sex"] == row["group_b"]).to_dict()
    pa, _, _ = _hand_ratio(frame, items, mask=fa)
    pb, _, _ = _hand_ratio(frame, items, mask=fb)
    assert row["difference"] == pytest.approx(pa - pb, rel=1e-12)
    z = np.zeros(len(frame))
    for mask, p_g, sign in ((fa, pa, 1), (fb, pb, -1)):
        in_g = np.array([mask[r] for r in frame.index])
        w = frame["weight"].to_numpy()
        num, den = np.zeros(len(frame)), np.zeros(len(frame))
        for item in items:
            answered = frame[item].notna().to_numpy() & in_g
            num += answered * frame[item].isin(POSITIVE).to_numpy()
            den += answered
        z += sign * (num - p_g * den) / (w * den).sum()
    t = pd.Series(frame["weight"].to_numpy() * z).groupby(frame["psu"].to_numpy()).sum()
    strata = frame.groupby("psu")["stratum"].first()
    var = sum(len(g) / (len(g) - 1) * ((t[g.index] - t[g.index].mean()) ** 2).sum() for _, g in strata.groupby(strata))
    assert row["se"] == pytest.approx(np.sqrt(var), rel=1e-10)


def test_adjust_pvalues_holm_and_bh_by_hand():
    """p = 0.01, 0.04, 0.03, 0.005. Holm: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 = 0.02, 0.03,
    0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06. BH: sorted p * 4/rank = 0.02, 0.02,
    0.04, 0.04 -> running min from the top: the same."""
    t = pd.DataFrame({"p_value": [0.01, 0.04, 0.03, 0.005]})
    holm = adjust_pvalues(t, "holm", family="four made-up tests")
    assert holm["p_adjusted"].tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm["family"].iloc[0] == "four made-up tests" and holm["family_size"].iloc[0] == 4
    bh = adjust_pvalues(t, "bh")
    assert bh["p_adjusted"].tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert bh["adjust_method"].iloc[0] == "Benjamini-Hochberg"
    with pytest.raises(ConfigError, match="adjust must be"):
        adjust_pvalues(t, "tukey")


def test_breakdown_stacks_group_tables(frame):
    frame2 = frame.assign(health=frame["acc_health__early_help"])
    d2 = SurveyDesign(frame2, weights="weight", strata="stratum", psu="psu")
    t = d2.breakdown("health", ["sex", "ethnicity"])
    assert t["group_variable"].unique().tolist() == ["All", "sex", "ethnicity"]
    direct = d2.proportion("health", by="sex").query("sex == 'Male'")
    got = t.query("group_variable == 'sex' and group == 'Male'")
    assert got["estimate"].to_numpy() == pytest.approx(direct["estimate"].to_numpy(), rel=1e-12)


def test_grid_association_by_hand_for_equal_weights(instrument, frame):
    """Equal weights, every respondent its own PSU: within an item cell each respondent has one
    row, so the cell is a simple random sample of respondents (as in the api test) and
    F = X^2 (n-1)/(n k) with n = 400 respondents, k = (2-1)(groups-1), ddf = k * 399;
    X^2 from scipy on the cell's unweighted acceptable x group table."""
    from scipy import stats

    from social_licence.design.grids import grid_association

    design = SurveyDesign(frame)
    t = grid_association(design, instrument, ["sex", "ethnicity"], by=["data_type", "purpose"], grid="acceptability")
    assert len(t) == 24 * 2 and (t["family_size"] == 48).all()
    item = frame["acc_housing__eligibility"]
    answered = item.notna()
    acceptable = item[answered].isin(POSITIVE)
    n = 400
    for gv, k in (("sex", 1), ("ethnicity", 4)):
        x2 = stats.chi2_contingency(pd.crosstab(acceptable, frame.loc[answered, gv]).to_numpy(), correction=False)[0]
        row = t[(t["data_type"] == "housing") & (t["purpose"] == "eligibility") & (t["group_variable"] == gv)].iloc[0]
        assert row["statistic"] == pytest.approx(x2 * (n - 1) / (n * k), rel=1e-9)
        assert row["ndf"] == pytest.approx(k) and row["ddf"] == pytest.approx(k * 399)


def test_grid_helpers_run_on_replicate_designs(instrument, frame):
    """Same point estimates from a JKn replicate design; its SEs of these ratios agree with
    linearisation to O(1/n) (jackknife and Taylor variances of a smooth statistic are
    asymptotically equal): within 3% with 40 PSUs here."""
    design = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu")
    linear = acceptability(design, instrument, by="data_type", groups=["sex"], grid="acceptability")
    rep = acceptability(design.with_replicates("jkn"), instrument, by="data_type", groups=["sex"], grid="acceptability")
    assert rep["estimate"].to_numpy() == pytest.approx(linear["estimate"].to_numpy(), rel=1e-12)
    assert rep["se"].to_numpy() == pytest.approx(linear["se"].to_numpy(), rel=0.03)
    assert (rep["se"] != linear["se"]).all()


def test_grid_responses_are_rating_distributions_by_hand(instrument, frame):
    """Share of answers "Very acceptable" (and "Don't know" when included) among the police
    items a parent was asked, pooled over purposes, clustered by PSU as in _hand_ratio."""
    from social_licence.design.grids import grid_responses

    design = SurveyDesign(frame, weights="weight", strata="stratum", psu="psu")
    items = [f"acc_police__{c}" for c in instrument.grids["acceptability"].columns]
    t = grid_responses(design, instrument, by="data_type", grid="acceptability").set_index(["data_type", "level"])
    p, se, n = _hand_ratio(frame, items, hit=lambda value, reason: value == "Very acceptable")
    got = t.loc[("police", "Very acceptable")]
    assert got["estimate"] == pytest.approx(p, rel=1e-12) and got["se"] == pytest.approx(se, rel=1e-10)
    assert got["n_unweighted"] == n and got["variable"] == "acceptability"
    assert t.loc["police", "estimate"].sum() == pytest.approx(1.0)
    inc = grid_responses(design, instrument, by="data_type", dk="include", grid="acceptability").set_index(["data_type", "level"])
    p_dk, se_dk, n_dk = _hand_ratio(frame, items, dk="include", hit=lambda value, reason: reason == "dont_know")
    got = inc.loc[("police", "Don't know")]
    assert got["estimate"] == pytest.approx(p_dk, rel=1e-12) and got["se"] == pytest.approx(se_dk, rel=1e-10)
    assert got["n_unweighted"] == n_dk
    per_item = grid_responses(design, instrument, grid="acceptability")
    assert list(per_item.columns[:4]) == ["data_type", "purpose", "variable", "level"]
    assert len(per_item) == 24 * 5


def test_estimate_from_config_makes_every_workflow_frame(instrument, frame):
    from social_licence.design.grids import estimate_from_config
    from social_licence.errors import EstimationError
    from social_licence.survey.plan import build_plan

    rng = np.random.default_rng(5)
    data = frame.copy()
    for org in instrument.grids["trust"].rows:
        data[f"trust_{org}"] = pd.Categorical.from_codes(
            rng.integers(0, 4, len(data)), categories=instrument["trust_nhs"].labels, ordered=True
        )
    for right in instrument.grids["rights"].rows:
        data[f"rights_{right}"] = pd.Categorical.from_codes(
            rng.integers(0, 5, len(data)), categories=instrument["rights_view"].labels, ordered=True
        )
    options = {"groups": ["sex"], "dk": "exclude", "ci_level": 0.9, "adjust": "fdr_bh"}
    out = estimate_from_config(data, instrument, options)
    # the plan drafted from the instrument: every grid with positive answers, each with its frames
    plan = build_plan({"estimation": {"groups": ["sex"]}}, instrument)
    assert [q.name for q in plan.questions] == ["acceptability", "trust", "rights"]
    assert list(out) == plan.estimates()
    assert out["acceptability_groups"]["group_variable"].unique().tolist() == ["All", "sex"]
    assert set(out["trust_responses"]["level"]) == set(instrument["trust_nhs"].labels)
    assert out["acceptability_comparisons"]["adjust_method"].iloc[0] == "Benjamini-Hochberg"
    assert len(out["acceptability_tests"]) == 24
    direct = acceptability(SurveyDesign(data, weights="weight", strata="stratum", psu="psu"), instrument, ci_level=0.9, grid="acceptability")
    pd.testing.assert_frame_equal(out["acceptability_items"], direct)
    # a plan of one question, one dimension and no groups makes only that question's frames
    one = build_plan({"analysis": {"questions": [{"grid": "acceptability", "by": ["purpose"], "groups": False}]}}, instrument)
    only = estimate_from_config(data, instrument, {"ci_level": 0.9}, plan=one)
    assert list(only) == ["acceptability_items", "acceptability_responses"]
    pooled = acceptability(SurveyDesign(data, weights="weight", strata="stratum", psu="psu"), instrument, by=["purpose"], ci_level=0.9, grid="acceptability")
    pd.testing.assert_frame_equal(only["acceptability_items"], pooled)
    with pytest.raises(ConfigError, match="not known"):
        estimate_from_config(data, instrument, {"group": ["sex"]})
    with pytest.raises(ConfigError, match="reweighter"):
        estimate_from_config(data, instrument, {"variance": "bootstrap", "seed": 1})
    with pytest.raises(EstimationError, match="psu 'psu'"):
        estimate_from_config(data.drop(columns="psu"), instrument, {})
    # replicate variance: the reweighter contract (base weights in, final weights out)
    jkn = estimate_from_config(
        data, instrument, {"variance": "jkn", "groups": ["sex"]}, reweighter=lambda w: w, base_weights="weight"
    )
    assert jkn["acceptability_items"]["estimate"].to_numpy() == pytest.approx(
        direct["estimate"].to_numpy(), rel=1e-12
    )
