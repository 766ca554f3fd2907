"""Three waves in one analysis (design/trends.py, report/trends.py): which changes are reported,
their one adjustment family, their SEs, and the trend table and brief built from them.

Expected numbers: hand computations stated in each test (independent samples: Var(change) =
V1 + V2 of the two waves' own SEs, as no PSU is in two waves; a change is the difference of the
two waves' shares). The waves are seeded draws of the synthetic generator (small samples).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import ROOT

from social_licence.config import load as load_config
from social_licence.design.change import comparisons
from social_licence.design.design import SurveyDesign
from social_licence.design.trends import wave_change_table, wave_shares
from social_licence.report.disclosure import load_thresholds
from social_licence.report.trends import changes_section, protect_trend, trend_table
from social_licence.survey.instrument import load_instrument
from social_licence.survey.plan import build_plan
from social_licence.synthetic.parents import analysis_frame
from social_licence.synthetic.waves import generate_waves

KEYS = ["breakdown", "group_variable", "group", "data_type", "purpose"]


@pytest.fixture(scope="module")
def three():
    inst = load_instrument(ROOT / "config" / "instrument.yaml")
    cfg = load_config(ROOT / "config" / "config.yaml", "config")
    cfg = {
        **cfg,
        "survey": {**cfg["survey"], "wave": "w3"},
        "waves": [{"name": "w1", "export": "a.sav"}, {"name": "w2", "export": "b.sav"}],
    }
    plan = build_plan(cfg, inst)
    first = generate_waves(240, 0, seed=5, wave2_seed=6, sample="srs", qa=False)
    later = generate_waves(240, 0, seed=7, wave2_seed=8, sample="srs", qa=False)[1]
    designs = {
        name: SurveyDesign(analysis_frame(raw, inst), weights="weight")
        for name, raw in zip(("w1", "w2", "w3"), (*first, later), strict=True)
    }
    q = plan.question("acceptability")
    change, method = wave_change_table(designs, plan, q)
    shares = wave_shares(designs, plan, q)
    return plan, q, shares, change, method


def test_each_wave_from_the_one_before_and_the_last_from_the_first():
    assert comparisons(["w1", "w2"]) == [("w1", "w2")]
    assert comparisons(["a", "b", "c", "d"]) == [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")]


def test_three_waves_report_three_changes_adjusted_as_one_family(three):
    plan, q, _, change, _ = three
    pairs = set(zip(change["baseline"], change["wave"], strict=True))
    assert pairs == {("w1", "w2"), ("w2", "w3"), ("w1", "w3")}
    assert (change["family_size"] == len(change)).all()
    assert change["family"].iloc[0].startswith("changes from wave 'w1' to 'w2' and wave 'w2' to 'w3' and wave 'w1' to 'w3'")
    assert (change["p_adjusted"] >= change["p_value"] - 1e-15).all()
    assert (change["flagged"] == (change["p_adjusted"] < 0.05)).all()


def test_every_change_is_the_difference_of_its_waves_shares_with_summed_variances(three):
    # By hand: independent samples, so Var(p_b - p_a) = V_a + V_b of each wave's own estimate.
    _, _, shares, change, method = three
    assert method.startswith("waves treated as independent samples")
    s = shares.astype({"group": str}).assign(**{k: shares[k].astype(object).astype(str) for k in ("data_type", "purpose")})
    c = change.assign(**{k: change[k].astype(object).astype(str) for k in ("data_type", "purpose")})
    for base, later in (("w1", "w2"), ("w2", "w3"), ("w1", "w3")):
        rows = c[(c["baseline"] == base) & (c["wave"] == later)]
        a = s[s["wave"] == base][[*KEYS, "estimate", "se"]].rename(columns={"estimate": "p_base", "se": "se_base"})
        b = s[s["wave"] == later][[*KEYS, "estimate", "se"]].rename(columns={"estimate": "p_later", "se": "se_later"})
        m = rows.merge(a, on=KEYS).merge(b, on=KEYS)
        assert len(m) == len(rows) > 200
        np.testing.assert_allclose(m["difference"], m["p_later"] - m["p_base"], atol=1e-12)
        np.testing.assert_allclose(m["se"], np.sqrt(m["se_base"] ** 2 + m["se_later"] ** 2), rtol=1e-9)


def test_each_pair_has_its_own_rao_scott_test(three):
    _, _, _, change, _ = three
    tested = change[change["rs_p_value"].notna()]
    by_pair = tested.groupby(["baseline", "wave"])["rs_statistic"].apply(list)
    assert len(by_pair) == 3
    assert by_pair[("w1", "w2")] != by_pair[("w1", "w3")]


def test_trend_table_and_brief_name_every_change(three):
    plan, q, shares, change, _ = three
    thresholds = load_thresholds(ROOT / "config" / "thresholds.yaml")
    protected_shares, protected_change = protect_trend(shares, change, thresholds, plan, q)
    table = trend_table(protected_shares, protected_change, plan, q)
    assert len(table) == len(change)
    assert {"share_w1", "share_w2", "share_w3", "baseline", "wave"} <= set(table.columns)
    shown = table[~table["suppressed"]]
    last_first = shown[(shown["baseline"] == "w1") & (shown["wave"] == "w3")]
    np.testing.assert_allclose(last_first["change"], last_first["share_w3"] - last_first["share_w1"], atol=1e-12)
    text = changes_section({q.name: (protected_shares, protected_change)}, plan, str)
    assert "What changed since w2" in text and "Since wave w1" in text
    recent = pd.Series(protected_change["wave"] == "w3") & (protected_change["baseline"] == "w2")
    assert f"{int(protected_change.loc[recent, 'p_adjusted'].notna().sum())} differences tested" in text or "none of the" in text
