"""Several waves in the real workflow: config/example_waves.yaml (wave w1 = the example's
parents.sav, current wave w2 = data/raw/example_wave2/parents_wave2.sav, 400 parents in both).

Expected numbers: the generator's known truth (data/raw/example_wave2/truth.json, `change`:
acceptance of predictive risk scoring among lone parents -8 points), the run's own single-wave
estimates of the current export, and hand computations stated in each test (a difference of the
table's two shares; for independent samples the variance of a difference is the sum of the two
waves' variances, as no PSU is in both; a pooled share is a weighted mean of the waves' shares).
"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import ROOT, copy_project, snakemake

from social_licence.design.build import load_design
from social_licence.design.grids import estimate_frames
from social_licence.ingest.interim import read_interim
from social_licence.survey.instrument import load_instrument
from social_licence.survey.plan import build_plan

pytestmark = pytest.mark.slow

TABLE = "work/parents_waves/tables/acceptability_trend.csv"
POOLED = "work/parents_waves/tables/acceptability_pooled.csv"
STACKED_MODEL = "work/parents_waves/models/risk_scoring_change"
OVERLAY = ["--configfile", "config/config.yaml", "config/example_waves.yaml"]


@pytest.fixture(scope="module")
def waves_run(tmp_path_factory) -> dict:
    """The trend table with the declared panel overlap, then with the waves as independent samples."""
    workdir = copy_project(tmp_path_factory.mktemp("waves"))
    # the target comes first: --configfile takes every following word as a file
    snakemake(workdir, TABLE, POOLED, "work/parents_waves/brief/brief.html", *OVERLAY)
    tables = {"panel": pd.read_csv(workdir / TABLE)}
    tables["items"] = pd.read_parquet(workdir / "work/parents_waves/interim/estimates/acceptability_items.parquet")
    tables["pooled"] = pd.read_csv(workdir / POOLED)
    tables["model"] = pd.read_csv(workdir / f"{STACKED_MODEL}.csv")
    tables["model_effects"] = pd.read_csv(workdir / f"{STACKED_MODEL}_effects.csv")
    brief = (workdir / "work/parents_waves/brief/brief.html").read_text(encoding="utf-8")
    (workdir / "config/independent.yaml").write_text("waves_panel: null\n", encoding="utf-8")
    snakemake(workdir, TABLE, *OVERLAY, "config/independent.yaml")
    tables["independent"] = pd.read_csv(workdir / TABLE)
    tables["brief"] = brief
    tables["w1"] = workdir / "work/parents_waves/interim/waves/w1/weighted.parquet"
    config = {**yaml.safe_load((workdir / "config/config.yaml").read_text()), **yaml.safe_load((workdir / "config/example_waves.yaml").read_text())}
    tables["plan"] = build_plan(config, load_instrument(workdir / "config/instrument.yaml"))
    return tables


def _lone_parents_risk_scoring(table: pd.DataFrame) -> pd.Series:
    row = table[
        (table["breakdown"] == "purpose")
        & (table["group_variable"] == "lone_parent")
        & (table["group"] == "Yes")
        & (table["purpose"] == "risk_scoring")
    ]
    assert len(row) == 1
    return row.iloc[0]


@pytest.mark.parametrize("design", ["panel", "independent"])
def test_trend_table_recovers_the_known_change_for_lone_parents(waves_run, design):
    truth = json.loads((ROOT / "data/raw/example_wave2/truth.json").read_text())["change"]
    assert (truth["group"], truth["purpose"]) == ({"lone_parent": "Yes"}, "risk_scoring")
    row = _lone_parents_risk_scoring(waves_run[design])
    assert not row["suppressed"]
    assert row["change_ci_low"] <= truth["true_change"] <= row["change_ci_high"]
    assert row["change"] < 0


@pytest.mark.parametrize("design", ["panel", "independent"])
def test_change_is_the_difference_of_the_two_waves_shares_in_the_table(waves_run, design):
    table = waves_run[design]
    shown = table[~table["suppressed"]]
    assert len(shown) > 100
    np.testing.assert_allclose(shown["change"], shown["share_w2"] - shown["share_w1"], atol=1e-12)


def test_independent_change_se_is_the_root_of_the_summed_wave_variances(waves_run):
    # By hand: with the waves as independent samples (each wave its own strata), Var(p2 - p1)
    # = V1 + V2, so the change's SE is sqrt(se_w1^2 + se_w2^2) of the table's own SEs.
    table = waves_run["independent"]
    shown = table[~table["suppressed"]]
    np.testing.assert_allclose(shown["change_se"], np.sqrt(shown["se_w1"] ** 2 + shown["se_w2"] ** 2), rtol=1e-9)
    assert table["variance_method"].iloc[0].startswith("waves treated as independent samples")


def test_panel_overlap_changes_the_se_but_not_the_shares(waves_run):
    panel, independent = waves_run["panel"], waves_run["independent"]
    assert panel["variance_method"].iloc[0].startswith("panel overlap of 400 respondents")
    np.testing.assert_allclose(panel["share_w1"], independent["share_w1"], atol=1e-15)
    np.testing.assert_allclose(panel["share_w2"], independent["share_w2"], atol=1e-15)
    summed = np.sqrt(panel["se_w1"] ** 2 + panel["se_w2"] ** 2)
    assert not np.allclose(panel["change_se"].dropna(), summed[panel["change_se"].notna()], rtol=1e-3)


def test_a_change_is_withheld_when_either_wave_withholds_its_cell(waves_run):
    table = waves_run["panel"]
    either = table["share_w1"].isna() | table["share_w2"].isna()
    assert either.any(), "the example has small groups (e.g. Mixed parents by purpose) in some wave"
    assert table.loc[either, "suppressed"].all()
    assert table.loc[either, "change"].isna().all()
    assert not table.loc[either, "flagged"].any()


def test_flags_follow_the_adjusted_p_values(waves_run):
    table = waves_run["panel"]
    tested = table[table["p_adjusted"].notna()]
    assert (tested["flagged"] == (tested["p_adjusted"] < 0.05)).all()
    assert (tested["p_adjusted"] >= tested["p_value"]).all()
    assert tested["family"].str.contains(f"{len(tested)} tests").all() or len(tested) < len(table)


def test_brief_says_what_changed_since_the_earlier_wave(waves_run):
    brief = waves_run["brief"]
    assert "What changed since w1" in brief
    flagged = int(waves_run["panel"]["flagged"].sum())
    if flagged == 0:
        assert "is large enough to be called a change" in brief
    else:
        assert f"{flagged} survive the adjustment" in brief


def test_a_code_a_wave_does_not_share_stops_the_run_naming_wave_variable_value(tmp_path):
    workdir = copy_project(tmp_path / "mismatch")
    shutil.copy2(workdir / "config/example_waves.yaml", workdir / "config/mismatch.yaml")
    with open(workdir / "config/mismatch.yaml", "a", encoding="utf-8") as handle:
        handle.write(
            "\nwaves:\n  - name: w1\n    export: data/raw/example/parents.sav\n"
            "    recode: {lone_parent: {2: 3}}\n"
        )
    proc = snakemake(
        workdir,
        "work/parents_waves/interim/waves/w1/clean.parquet",
        "--configfile",
        "config/config.yaml",
        "config/mismatch.yaml",
        check=False,
    )
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr + (workdir / "work/parents_waves/logs/wave_ingest_w1.log").read_text()
    assert "wave 'w1' does not map onto the instrument" in text
    assert "variable: lone_parent" in text
    assert "value: '3'" in text or "value: 3" in text
    assert not (workdir / "work/parents_waves/interim/waves/w1/clean.parquet").exists()


@pytest.mark.parametrize("design", ["panel", "independent"])
def test_current_wave_shares_and_ses_equal_the_single_wave_estimates_of_its_export(waves_run, design):
    # the current wave's cells are the same weighted shares as the run's own (single-wave)
    # table, with the same (raking-linearised) SEs; with independent waves each change's SE is
    # the root of the summed published variances (test_independent_change_se_...)
    table = waves_run[design]
    cells = table[(table["breakdown"] == "data_type x purpose") & ~table["suppressed"]]
    items = waves_run["items"].astype({"data_type": str, "purpose": str})
    merged = cells.merge(items, on=["data_type", "purpose"], how="left", validate="one_to_one")
    assert len(merged) == 24
    np.testing.assert_allclose(merged["share_w2"], merged["estimate"], rtol=1e-12)
    np.testing.assert_allclose(merged["se_w2"], merged["se"], rtol=1e-10)
    assert "raking linearised on its own margins" in table["variance_method"].iloc[0]


@pytest.mark.parametrize("design", ["panel", "independent"])
def test_earlier_wave_shares_and_ses_equal_the_single_wave_estimates_of_its_file(waves_run, design):
    # wave w1 (the example's parents.sav, weighted by the wave_weight job with the overlay's
    # bounds) through the single-wave estimator, as the estimate job runs it on its analysis
    # file: the trend table's w1 cells are those shares with those SEs
    table = waves_run[design]
    cells = table[(table["breakdown"] == "data_type x purpose") & ~table["suppressed"]]
    single = estimate_frames(load_design(read_interim(waves_run["w1"])), waves_run["plan"])
    items = single["acceptability_items"].astype({"data_type": str, "purpose": str})
    merged = cells.merge(items, on=["data_type", "purpose"], how="left", validate="one_to_one")
    assert len(merged) == 24
    np.testing.assert_allclose(merged["share_w1"], merged["estimate"], rtol=1e-12)
    np.testing.assert_allclose(merged["se_w1"], merged["se"], rtol=1e-10)


def test_pooled_shares_lie_between_the_waves_and_fill_cells_every_wave_withholds(waves_run):
    # By hand: a pooled share is a weighted mean of the two waves' shares of the cell (positive
    # weights), so it lies between them; it is withheld beside one wave's published cell when
    # the other wave withholds it, and offered where both waves withhold the cell.
    keys = ["breakdown", "group_variable", "group", "data_type", "purpose"]
    trend = waves_run["panel"].astype({"data_type": str, "purpose": str})
    pooled = waves_run["pooled"].astype({"data_type": str, "purpose": str})
    merged = pooled.merge(trend[keys + ["share_w1", "share_w2"]], on=keys, how="left", validate="one_to_one")
    both = merged[merged["share_w1"].notna() & merged["share_w2"].notna() & ~merged["suppressed"]]
    assert len(both) > 100
    low = np.minimum(both["share_w1"], both["share_w2"])
    high = np.maximum(both["share_w1"], both["share_w2"])
    assert ((both["estimate"] >= low - 1e-12) & (both["estimate"] <= high + 1e-12)).all()
    one = merged[merged["share_w1"].isna() != merged["share_w2"].isna()]
    assert len(one) and one["suppressed"].all() and one["estimate"].isna().all()
    assert (one["waves_withheld"] == 1).all()
    neither = merged[merged["waves_withheld"] == 2]
    assert (~neither["suppressed"]).any(), "pooling publishes some cells too small in each wave"
    assert pooled["pooling"].iloc[0].startswith("pooled over waves w1, w2: each wave's final weights rescaled")
    assert "Pooled over waves" in waves_run["brief"]


def test_a_saturated_model_with_a_wave_term_reproduces_the_trend_tables_change(waves_run):
    # By hand: acceptable ~ wave * lone_parent on risk scoring is saturated, so its predicted
    # probabilities are the weighted cell shares and its wave difference within lone parents
    # is the trend table's change (another code path: the GLM sandwich of the stacked waves).
    effects = waves_run["model_effects"]
    diff = effects[(effects["statistic"] == "difference") & (effects["lone_parent"] == "Yes")]
    assert len(diff) == 1
    row = _lone_parents_risk_scoring(waves_run["panel"])
    assert diff["estimate"].iloc[0] == pytest.approx(row["change"], abs=1e-9)
    assert diff["se"].iloc[0] == pytest.approx(row["change_se"], rel=1e-6)
    assert "wave[T.w2]:lone_parent[T.Yes]" in set(waves_run["model"]["term"])
