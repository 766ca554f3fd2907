"""Long exports (one row per rating): ingest never drops a rating silently, the respondent is the
cluster of their ratings, and models use rating-level predictors.

The second bundled example (``data/raw/campus/campus.sav``: 600 students, 3 ratings each) is
drafted by ``social-licence init --id student_id`` and run through ingest and the weight stage
as drafted. Expected numbers come from elsewhere: the QA counts from the raw file read by
pyreadstat and pandas; the clustered standard error of a share by the ultimate-cluster formula
written out here; model coefficients and cluster-robust standard errors from statsmodels' GLM
(its own sandwich code, not ours) and the generator's truth (``truth.json``: opt-out framing
lowers the log-odds of finding a use acceptable by 0.5).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import statsmodels.api as sm
import yaml
from workflow_helpers import BIN, copy_project, snakemake

from social_licence.config_check import check_workflow_config
from social_licence.design.build import load_design
from social_licence.design.describe import describe_design
from social_licence.errors import ConfigError, InputError
from social_licence.ingest.cleaning import clean
from social_licence.ingest.draft import draft_analysis, write_draft
from social_licence.ingest.formats import read_survey
from social_licence.ingest.interim import read_interim
from social_licence.models.fit import fit_model
from social_licence.models.spec import ModelSpec
from social_licence.stages import (
    run_gather_replicates,
    run_ingest,
    run_replicate_weights,
    run_weight,
)
from social_licence.survey.instrument import load_instrument
from social_licence.survey.survey import Survey

ROOT = Path(__file__).resolve().parents[1]
CAMPUS = ROOT / "data" / "raw" / "campus"
EXPORT = CAMPUS / "campus.sav"
THRESHOLDS = ROOT / "config" / "thresholds.yaml"
KEY = b"test-key"


@pytest.fixture(scope="module")
def drafted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("campus")
    write_draft(draft_analysis(EXPORT, out / "analysis", id="student_id"), out / "analysis")
    return out / "analysis"


@pytest.fixture(scope="module")
def config(drafted) -> dict:
    return yaml.safe_load((drafted / "config.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def weighted(drafted, config, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("campus_run")
    mp = pytest.MonkeyPatch()
    mp.setenv("SOCIAL_LICENCE_KEY", "test-key")
    try:
        run_ingest(
            EXPORT, drafted / "instrument.yaml", None, config["survey"], config["cleaning"],
            out / "clean.parquet", out / "flow.csv",
        )
    finally:
        mp.undo()
    run_weight(
        out / "clean.parquet", None, drafted / "instrument.yaml", config["weighting"],
        config["estimation"], THRESHOLDS, out / "weighted.parquet",
        {"summary": out / "summary.csv"}, config["survey"]["layout"],
    )
    return out / "weighted.parquet"


def _raw_survey(drafted: Path) -> tuple[Survey, object]:
    instrument = load_instrument(drafted / "instrument.yaml")
    return read_survey(EXPORT, instrument), instrument


def _with_rows(survey: Survey, data: pd.DataFrame, rows: np.ndarray) -> Survey:
    return Survey(data=data, meta=dict(survey.meta), log=list(survey.log), rows=rows)


def test_the_draft_declares_the_long_layout(config):
    assert config["survey"]["layout"] == "long"
    assert config["survey"]["item"] == "scenario"
    assert config["cleaning"]["duplicates"]["enabled"] is True
    assert config["weighting"]["method"] == "none"


def test_flow_counts_rows_and_respondents_as_pandas_does_on_the_raw_file(weighted):
    raw, _ = pyreadstat.read_sav(str(EXPORT))
    students = raw.groupby("student_id")["duration_s"].first()
    threshold = 0.3 * students.median()
    fast = set(students.index[students < threshold])
    rest = raw[~raw["student_id"].isin(fast)]
    failed = set(rest.loc[rest["attention"] != 2, "student_id"])  # pass = code 2 (Disagree)
    kept = rest[~rest["student_id"].isin(failed)]
    flow = pd.read_csv(weighted.parent / "flow.csv").set_index("rule")
    assert flow.loc["received", ["remaining", "respondents_remaining"]].tolist() == [1800, 600]
    assert flow.loc["speeders", "respondents_excluded"] == len(fast)
    assert flow.loc["speeders", "excluded"] == raw["student_id"].isin(fast).sum()
    assert flow.loc["attention_check", "respondents_excluded"] == len(failed)
    assert flow.loc["attention_check", "excluded"] == rest["student_id"].isin(failed).sum()
    assert flow.loc["duplicates", "excluded"] == 0
    assert flow.loc["analysed", ["remaining", "respondents_remaining"]].tolist() == [
        len(kept), kept["student_id"].nunique()
    ]
    # every row is accounted for: received = analysed + the sum of the exclusions
    steps = flow.drop(index=["received", "analysed"])
    assert steps["excluded"].sum() == 1800 - len(kept)
    assert steps["respondents_excluded"].sum() == 600 - kept["student_id"].nunique()
    assert len(read_interim(weighted).data) == len(kept)


def test_an_exact_repeat_of_a_rating_is_a_counted_duplicate(drafted):
    survey, instrument = _raw_survey(drafted)
    data = pd.concat([survey.data, survey.data.iloc[[4]]])
    rows = np.append(np.asarray(survey.rows), 1801)
    cleaned, flow = clean(
        _with_rows(survey, data, rows), instrument, {"speeders": False, "attention_check": False,
        "straightliners": False}, key=KEY, layout="long", item="scenario",
    )
    flow = flow.set_index("rule")
    assert flow.loc["duplicates", ["excluded", "respondents_excluded"]].tolist() == [1, 0]
    assert len(cleaned.data) == 1800


def test_a_conflicting_repeat_of_a_rating_follows_the_rule(drafted):
    survey, instrument = _raw_survey(drafted)
    copy = survey.data.iloc[[4]].copy()
    copy["comfort"] = "Completely" if copy["comfort"].iloc[0] != "Completely" else "Not at all"
    data = pd.concat([survey.data, copy])
    rows = np.append(np.asarray(survey.rows), 1801)
    off = {"speeders": False, "attention_check": False, "straightliners": False}
    with pytest.raises(InputError, match="respondent ID and item pair") as info:
        clean(_with_rows(survey, data, rows), instrument, off, key=KEY, layout="long", item="scenario")
    assert info.value.rows == [5, 1801]
    _, flow = clean(
        _with_rows(survey, data, rows), instrument,
        {**off, "conflicting_duplicates": {"action": "drop"}}, key=KEY, layout="long",
        item="scenario",
    )
    assert flow.set_index("rule").loc["conflicting_duplicates", "excluded"] == 2


def test_a_long_export_declared_wide_is_told_to_declare_the_layout(drafted):
    survey, instrument = _raw_survey(drafted)
    off = {"speeders": False, "attention_check": False, "straightliners": False}
    with pytest.raises(InputError, match="declare survey.layout: long and survey.item"):
        clean(survey, instrument, off, key=KEY)
    with pytest.raises(InputError, match="declare survey.layout: long and survey.item"):
        clean(survey, instrument, {**off, "duplicates": False}, key=KEY)


def test_a_long_export_needs_its_item_column(drafted):
    survey, instrument = _raw_survey(drafted)
    with pytest.raises(ConfigError, match="survey.item is not set"):
        clean(survey, instrument, key=KEY, layout="long")
    with pytest.raises(InputError, match="survey.item names a column") as info:
        clean(survey, instrument, key=KEY, layout="long", item="vignette")
    assert info.value.variable == "vignette"
    data = survey.data.copy()
    data.iloc[[7, 20], data.columns.get_loc("scenario")] = np.nan
    with pytest.raises(InputError, match="item column of a long export is blank") as info:
        clean(_with_rows(survey, data, survey.rows), instrument, key=KEY, layout="long", item="scenario")
    assert info.value.rows == [8, 21] and "campus.sav" in str(info.value)


def test_withdrawals_remove_every_rating_of_the_respondent(drafted):
    survey, instrument = _raw_survey(drafted)
    off = {"speeders": False, "attention_check": False, "straightliners": False}
    cleaned, flow = clean(
        survey, instrument, off, ["S7000032"], key=KEY, layout="long", item="scenario"
    )
    raw, _ = pyreadstat.read_sav(str(EXPORT), usecols=["student_id"])
    n = int((raw["student_id"] == "S7000032").sum())
    assert n == 3
    assert flow.set_index("rule").loc["withdrawals", ["excluded", "respondents_excluded"]].tolist() == [n, 1]


def test_the_respondent_is_the_cluster_of_their_ratings(weighted):
    """SE of the share of 'Yes' by the ultimate-cluster formula, clusters = respondents:
    p = sum(y) / n over answered ratings; z_i = (y_i - p) / n; t_g = sum of z over respondent
    g's ratings; var = G / (G - 1) * sum_g (t_g - mean(t))^2 (R svymean, ids = ~respondent)."""
    survey = read_interim(weighted)
    design = load_design(survey)
    got = design.proportion("acceptable").set_index("level").loc["Yes"]
    data = survey.data
    answered = data["acceptable"].notna().to_numpy()
    y = (data["acceptable"] == "Yes").to_numpy(dtype=float)
    n = answered.sum()
    p = y[answered].sum() / n
    z = np.where(answered, (y - p) / n, 0.0)
    t = pd.Series(z).groupby(np.asarray(data.index)).sum()
    g = len(t)
    se = np.sqrt(g / (g - 1) * ((t - t.mean()) ** 2).sum())
    assert g == data.index.nunique() == 575
    assert got["estimate"] == pytest.approx(p, abs=1e-12)
    assert got["se"] == pytest.approx(se, rel=1e-10)
    # treating the ratings as independent would understate it (ratings share the student)
    assert se > np.sqrt(p * (1 - p) / n)


def test_jackknife_replicates_delete_one_respondent_with_all_ratings(weighted, drafted, config, tmp_path):
    run_weight(
        weighted.parent / "clean.parquet", None, drafted / "instrument.yaml", config["weighting"],
        {**config["estimation"], "variance": "jk1"}, THRESHOLDS, tmp_path / "w.parquet",
        {"summary": tmp_path / "s.csv"}, "long",
    )
    survey = read_interim(tmp_path / "w.parquet")
    spec = survey.meta["design"]
    assert len(spec["replicates"]["columns"]) == survey.data.index.nunique()
    first = survey.data[spec["replicates"]["columns"][0]].to_numpy()
    assert len(set(survey.data.index[first == 0])) == 1
    assert (first == 0).sum() == (survey.data.index == survey.data.index[first == 0][0]).sum()
    text = describe_design(spec).text()
    assert f"the delete-one jackknife (JK1) with {survey.data.index.nunique()} replicate" in text
    # made by 3 replicate jobs and gathered: the same file, byte for byte (plain replicates,
    # each deleting a respondent with all their ratings)
    estimation = {**config["estimation"], "variance": "jk1", "replicate_jobs": 3}
    full = tmp_path / "full.parquet"
    run_weight(
        weighted.parent / "clean.parquet", None, drafted / "instrument.yaml", config["weighting"],
        estimation, THRESHOLDS, full, {"summary": tmp_path / "s3.csv"}, "long",
    )
    chunks = [tmp_path / f"chunk_{k}.parquet" for k in (1, 2, 3)]
    for k, chunk in enumerate(chunks, start=1):
        run_replicate_weights(
            full, None, drafted / "instrument.yaml", config["weighting"], estimation, k, chunk
        )
    run_gather_replicates(full, chunks, tmp_path / "w3.parquet")
    assert (tmp_path / "w3.parquet").read_bytes() == (tmp_path / "w.parquet").read_bytes()


def _statsmodels_cluster(y, X, groups, n_terms):
    """statsmodels GLM with cluster-robust SEs on ``groups``, its small-sample factor
    (N - 1) / (N - K) taken out: R svyglm (and ours) scale by G / (G - 1) only."""
    fit = sm.GLM(y, X, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(groups)[0]}
    )
    n = len(y)
    return fit.params.to_numpy(), fit.bse.to_numpy() * np.sqrt((n - n_terms) / (n - 1))


def test_a_logit_on_rating_level_predictors_matches_statsmodels_and_the_truth(weighted, drafted):
    survey = read_interim(weighted)
    design = load_design(survey)
    instrument = load_instrument(drafted / "instrument.yaml")
    spec = ModelSpec(
        name="framing", formula="acceptable ~ framing + scenario", family="binomial",
        data="respondent", outcome="acceptable",
    )
    result = fit_model(spec, design.data, instrument, design=design, layout="long")
    table = result.table()
    frame = survey.data[["acceptable", "framing", "scenario"]].assign(
        respondent=np.asarray(survey.data.index)
    ).dropna()
    # the event of a two-level outcome is its second level ('No'), as in R's glm
    y = (frame["acceptable"] == "No").to_numpy(dtype=float)
    X = sm.add_constant(pd.get_dummies(frame[["framing", "scenario"]], drop_first=True).astype(float))
    params, bse = _statsmodels_cluster(y, X, frame["respondent"], X.shape[1])
    assert np.allclose(table["estimate"], params, atol=1e-8)
    assert np.allclose(table["se"], bse, rtol=1e-6)
    assert table["n_unweighted"].iloc[0] == frame["respondent"].nunique()
    truth = json.loads((CAMPUS / "truth.json").read_text(encoding="utf-8"))
    effect = -truth["model"]["framing_effect"]["Opt-out (used unless the student objects)"]
    row = table[table["term"].str.startswith("framing")].iloc[0]
    assert row["estimate"] > 0 and abs(row["estimate"] - effect) < 2 * row["se"]


def test_a_grid_model_stacks_items_within_each_rating(weighted, drafted):
    """data: long on a long export: one row per rating x item, clustered on the respondent."""
    survey = read_interim(weighted)
    design = load_design(survey)
    instrument = load_instrument(drafted / "instrument.yaml")
    spec = ModelSpec(
        name="dims", formula="acceptable ~ item + framing", family="binomial", data="long",
        grid="rating_of_this_use",
    )
    table = fit_model(spec, design.data, instrument, design=design, layout="long").table()
    positive = {"6", "7", "8", "9", "Completely"}
    items = ["benefit", "comfort", "fairness"]  # the order of Grid.cells()
    data = survey.data.assign(respondent=np.asarray(survey.data.index)).reset_index(drop=True)
    stacked = data.melt(id_vars=["respondent", "framing"], value_vars=items, var_name="item")
    stacked = stacked.dropna(subset=["value"])
    y = stacked["value"].astype(str).isin(positive).to_numpy(dtype=float)
    stacked["item"] = pd.Categorical(stacked["item"], categories=items)
    X = sm.add_constant(pd.get_dummies(stacked[["item", "framing"]], drop_first=True).astype(float))
    params, bse = _statsmodels_cluster(y, X, stacked["respondent"], X.shape[1])
    assert np.allclose(table["estimate"], params, atol=1e-8)
    assert np.allclose(table["se"], bse, rtol=1e-6)


@pytest.mark.slow
def test_the_drafted_campus_analysis_runs_through_ingest_and_weight(tmp_path):
    project = copy_project(tmp_path / "project")
    subprocess.run(
        [str(BIN / "social-licence"), "init", "data/raw/campus/campus.sav", "--out", "campus",
         "--id", "student_id"],
        cwd=project, check=True, capture_output=True,
    )
    snakemake(project, "work/campus/interim/weighted.parquet", "--configfile", "campus/config.yaml")
    work = project / "work" / "campus"  # the analysis's staging folder (analysis.name: campus)
    flow = pd.read_csv(work / "qa" / "flow.csv")
    assert {"respondents_excluded", "respondents_remaining"} <= set(flow.columns)
    assert not (work / "weighting" / "margins.csv").exists()
    survey = read_interim(work / "interim" / "weighted.parquet")
    assert survey.meta["design"]["layout"] == "long"
    assert (survey.data["weight"] == 1).all()
    # the same unweighted long analysis as two waves (the export twice): the DAG builds, with
    # the change, trend and pooled jobs (a waves analysis once asked for raking targets here)
    (project / "campus" / "waves.yaml").write_text(
        "analysis: {name: campus_waves}\nsurvey: {wave: w2}\n"
        "waves: [{name: w1, export: data/raw/campus/campus.sav}]\n"
    )
    dry = snakemake(project, "-n", "--configfile", "campus/config.yaml", "campus/waves.yaml")
    planned = set(re.findall(r"^(?:local)?rule (\w+):", dry.stdout + dry.stderr, flags=re.M))
    assert {"wave_ingest", "wave_weight", "change", "trend_tables"} <= planned


def test_config_check_names_a_missing_or_unknown_item_before_any_job(config, drafted):
    base = {**config, "weighting": {"method": "none"}}
    check_workflow_config(base, ROOT)
    for item, message in ((None, "needs the column naming the item"), ("vignette", "'vignette' is not a variable")):
        with pytest.raises(ConfigError, match=message):
            check_workflow_config({**base, "survey": {**config["survey"], "item": item}}, ROOT)
    with pytest.raises(ConfigError, match="declare survey.layout: long"):
        check_workflow_config({**base, "survey": {**config["survey"], "layout": "wide"}}, ROOT)
