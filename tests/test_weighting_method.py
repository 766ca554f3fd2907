"""Weighting is a choice: none, supplied or rake, each with every variance option.

The parents' example (SPSS, wide, strata and PSUs, a design weight) is ingested once from the raw
export; the weight stage then runs with each method. Expected numbers are plain pandas weighted
means over the analysed rows (weights 1 for ``none``, the export's own ``design_weight`` column
for ``supplied``), computed here from the cleaned file, independent of the design code. A
third-party file (R survey's ``apiclus1``, a one-stage cluster sample with a supplied weight
``pw`` and PSU ``dnum``) is drafted by ``social-licence init --weight pw --psu dnum`` and run
through ingest and the weight stage; its shares and standard errors are R ``svymean`` numbers
(``tests/data/reference/api/r_reference/proportions.csv``, design ``clus1_w``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DATA

from social_licence.config_check import check_workflow_config
from social_licence.design.build import load_design
from social_licence.errors import ConfigError, InputError
from social_licence.ingest.draft import draft_analysis, write_draft
from social_licence.ingest.interim import read_interim, write_interim
from social_licence.stages import run_ingest, run_weight
from social_licence.weighting.choice import diagnostic_names
from social_licence.weighting.diagnostics import methods_note

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
INSTRUMENT = ROOT / "config" / "instrument.yaml"
TARGETS = ROOT / "config" / "targets.yaml"
THRESHOLDS = ROOT / "config" / "thresholds.yaml"
API = DATA / "reference" / "api"


def _weight(clean, out: Path, method: str, variance: str = "linearisation", targets=None):
    outputs = {name: out / f"{name}.csv" for name in diagnostic_names(method)}
    estimation = {**CONFIG["estimation"], "variance": variance, "replicates": 20, "seed": 7}
    run_weight(
        clean,
        targets,
        INSTRUMENT,
        {**CONFIG["weighting"], "method": method},
        estimation,
        THRESHOLDS,
        out / "weighted.parquet",
        outputs,
    )
    return out / "weighted.parquet", outputs


def _pandas_share(frame: pd.DataFrame, variable: str, weights: np.ndarray) -> pd.Series:
    """Weighted share of each level among rows with an answer (plain pandas)."""
    answered = frame[variable].notna().to_numpy()
    w = pd.Series(weights[answered])
    x = frame.loc[answered, variable].astype(str).to_numpy()
    return w.groupby(x).sum() / w.sum()


@pytest.mark.parametrize("variance", ["linearisation", "jkn", "bootstrap"])
def test_unweighted_analysis_gives_the_plain_mean_whatever_the_design_weight(
    example_clean, tmp_path, variance, caplog
):
    caplog.set_level("INFO", logger="social_licence.stages")
    weighted, outputs = _weight(example_clean, tmp_path, "none", variance)
    assert set(outputs) == {"summary"} and outputs["summary"].exists()
    assert not (tmp_path / "margins.csv").exists()
    survey = read_interim(weighted)
    assert (survey.data["weight"] == 1.0).all()
    assert any("design_weight is ignored" in r.getMessage() for r in caplog.records)
    design = load_design(survey)
    got = design.proportion("ethnicity").set_index("level")["estimate"]
    expected = _pandas_share(survey.data, "ethnicity", np.ones(len(survey.data)))
    assert np.allclose(got.sort_index().to_numpy(), expected.sort_index().to_numpy(), rtol=0, atol=1e-12)
    assert (got.index.astype(str).sort_values() == expected.index.sort_values()).all()
    assert (design.proportion("ethnicity")["se"] > 0).all()
    summary = pd.read_csv(outputs["summary"])
    final = summary.set_index("weights").loc["final"]
    assert final["min"] == final["max"] == 1.0


@pytest.mark.parametrize("variance", ["linearisation", "jkn"])
def test_supplied_weight_gives_the_pandas_weighted_mean(example_clean, tmp_path, variance):
    weighted, outputs = _weight(example_clean, tmp_path, "supplied", variance)
    survey = read_interim(weighted)
    clean = read_interim(example_clean)
    supplied = clean.data["design_weight"].to_numpy(dtype=float)
    assert np.array_equal(survey.data["weight"].to_numpy(), supplied)
    design = load_design(survey)
    got = design.proportion("ethnicity").set_index("level")["estimate"]
    got.index = got.index.astype(str)
    expected = _pandas_share(clean.data, "ethnicity", supplied)
    assert np.allclose(got.sort_index(), expected.sort_index(), rtol=0, atol=1e-12)
    spec = survey.meta["design"]
    assert spec["weighting"] == {"method": "supplied", "variable": "design_weight"}
    assert "calibration" not in spec  # nothing was raked: no calibration to allow for
    if variance == "linearisation":
        assert "replicates" not in spec
    else:  # plain JKn replicates, not re-weighted: one per PSU; in replicate r the deleted
        # PSU weighs 0, the rest of its stratum w n_h / (n_h - 1), every other row w
        data = survey.data
        psus = data.groupby(["stratum", "psu"], observed=True).ngroups
        columns = spec["replicates"]["columns"]
        assert len(columns) == psus
        rep = data[columns[0]].to_numpy()
        w = data["weight"].to_numpy()
        deleted = rep == 0
        assert data.loc[deleted, "psu"].nunique() == 1
        stratum = data.loc[deleted, "stratum"].iloc[0]
        same = (data["stratum"] == stratum).to_numpy() & ~deleted
        n_h = data.loc[data["stratum"] == stratum, "psu"].nunique()
        assert np.allclose(rep[same], w[same] * n_h / (n_h - 1), rtol=1e-12)
        assert np.array_equal(rep[~same & ~deleted], w[~same & ~deleted])


def test_no_targets_file_is_read_without_raking(example_clean, tmp_path):
    """targets_path is None: a raking would fail to open it; none and supplied never do."""
    for method in ("none", "supplied"):
        out = tmp_path / method
        out.mkdir()
        _weight(example_clean, out, method, targets=None)
    with pytest.raises((TypeError, ConfigError, InputError, FileNotFoundError)):
        _weight(example_clean, tmp_path, "rake", targets=None)


def test_outputs_must_be_those_of_the_method(example_clean, tmp_path):
    with pytest.raises(ConfigError, match="writes summary"):
        run_weight(
            example_clean, None, INSTRUMENT, {**CONFIG["weighting"], "method": "none"},
            CONFIG["estimation"], THRESHOLDS, tmp_path / "w.parquet",
            {n: tmp_path / f"{n}.csv" for n in diagnostic_names("rake")},
        )


@pytest.mark.parametrize(
    ("value", "shown"), [(np.nan, None), (-2.0, -2.0), (np.inf, np.inf)]
)
def test_a_bad_supplied_weight_names_file_variable_value_and_rows(
    example_clean, tmp_path, value, shown
):
    survey = read_interim(example_clean)
    survey.data["design_weight"] = survey.data["design_weight"].astype(float)
    survey.data.iloc[[3, 10], survey.data.columns.get_loc("design_weight")] = value
    bad = tmp_path / "bad.parquet"
    write_interim(survey, bad)
    rows = [int(r) for r in np.asarray(survey.rows)[[3, 10]]]
    with pytest.raises(InputError) as info:
        _weight(bad, tmp_path, "supplied")
    message = str(info.value)
    assert "variable: design_weight" in message and "parents.sav" in message
    assert f"rows: {rows[0]}, {rows[1]}" in message
    assert info.value.value == shown or (shown is None and info.value.value is None)
    assert not (tmp_path / "weighted.parquet").exists()


def test_supplied_without_a_design_weight_is_a_config_error(example_clean, tmp_path):
    text = INSTRUMENT.read_text(encoding="utf-8").replace(
        "  weight: design_weight\n", "  weight: null\n", 1
    )
    instrument = tmp_path / "instrument.yaml"
    instrument.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="design.weight is null"):
        run_weight(
            example_clean, None, instrument, {**CONFIG["weighting"], "method": "supplied"},
            CONFIG["estimation"], THRESHOLDS, tmp_path / "w.parquet",
            {"summary": tmp_path / "summary.csv"},
        )


def test_third_party_cluster_sample_with_a_supplied_weight_matches_r(tmp_path, monkeypatch):
    """apiclus1 drafted with --weight pw --psu dnum: svymean(~stype, svydesign(id=~dnum,
    weights=~pw)) from R (clus1_w)."""
    monkeypatch.setenv("SOCIAL_LICENCE_KEY", "test-key")
    monkeypatch.chdir(ROOT)
    export = API / "apiclus1.csv"
    draft = draft_analysis(export, tmp_path / "api", id="snum", weight="pw", psu="dnum")
    write_draft(draft, tmp_path / "api")
    # the export's column `flag` is empty in every row: the reviewer removes it (ingest stops on
    # an item nobody answered)
    instrument = tmp_path / "api" / "instrument.yaml"
    lines = instrument.read_text(encoding="utf-8").splitlines(keepends=True)
    instrument.write_text("".join(x for x in lines if "{name: flag," not in x), encoding="utf-8")
    config = yaml.safe_load(draft.config)
    assert config["weighting"]["method"] == "supplied"
    run_ingest(
        export, tmp_path / "api" / "instrument.yaml", None, config["survey"], config["cleaning"],
        tmp_path / "clean.parquet", tmp_path / "flow.csv",
    )
    run_weight(
        tmp_path / "clean.parquet", None, tmp_path / "api" / "instrument.yaml",
        config["weighting"], config["estimation"], THRESHOLDS, tmp_path / "weighted.parquet",
        {"summary": tmp_path / "summary.csv"},
    )
    design = load_design(read_interim(tmp_path / "weighted.parquet"))
    got = design.proportion("stype").set_index("level")
    got.index = got.index.astype(str)
    r = pd.read_csv(API / "r_reference" / "proportions.csv")
    r = r[(r["design"] == "clus1_w") & (r["variable"] == "stype")].set_index("level")
    assert np.allclose(got.loc[r.index, "estimate"], r["mean_est"], rtol=1e-10)
    assert np.allclose(got.loc[r.index, "se"], r["mean_se"], rtol=1e-8)


def test_methods_note_without_raking_describes_the_weights_alone(example_clean, tmp_path):
    for method in ("none", "supplied"):
        out = tmp_path / method
        out.mkdir()
        _, outputs = _weight(example_clean, out, method)
        summary = pd.read_csv(outputs["summary"])
        text = methods_note({"summary": summary})
        final = summary.set_index("weights").loc["final"]
        if method == "none":
            assert text == f"Every one of the {int(final['n'])} rows analysed has the same weight."
        else:
            w = read_interim(example_clean).data["design_weight"].to_numpy(dtype=float)
            assert text.startswith(f"Weights range from {w.min():.3g} to {w.max():.3g}")
            deff = len(w) * (w**2).sum() / w.sum() ** 2  # Kish: n sum(w^2) / sum(w)^2
            assert f"Kish's design effect from weighting is {deff:.2f}" in text


def test_config_check_reads_targets_and_covariates_only_when_raking(tmp_path):
    """The campus draft (no design weight) under the example's weighting keys, as Snakemake
    merges the Snakefile's config with --configfile: targets and covariates name parents'
    variables, which only matters when raking."""
    draft = draft_analysis(ROOT / "data" / "raw" / "campus" / "campus.sav", tmp_path, id="student_id")
    write_draft(draft, tmp_path)
    config = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))
    config["weighting"] = {**CONFIG["weighting"], "method": "none"}
    check_workflow_config(config, ROOT)
    with pytest.raises(ConfigError, match="weighting.method: supplied needs"):
        check_workflow_config({**config, "weighting": {**config["weighting"], "method": "supplied"}}, ROOT)
    with pytest.raises(ConfigError, match="weighting.covariates"):
        check_workflow_config({**config, "weighting": {**config["weighting"], "method": "rake"}}, ROOT)
