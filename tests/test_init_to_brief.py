"""Any survey by config alone: `social-licence init` then the workflow, unedited, to a brief.

Each export is drafted by the real console command into a copy of the project and run by the
real Snakemake (`--configfile` the drafted config, nothing edited). The outputs land in the
analysis's own folder `results/<name>/`; the published shares are checked against a plain pandas
(weighted) mean of the analysis file's answers, computed here independently of the estimators.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import BIN, copy_project, snakemake

from social_licence.survey.instrument import load_instrument
from social_licence.survey.plan import build_plan
from social_licence.weighting.margins import WEIGHT_NAME

#: (export, init arguments, analysis name, a question whose shares are checked)
EXPORTS = {
    "campus_sav": ("data/raw/campus/campus.sav", ["--id", "student_id"], "campus", "acceptable"),
    "parents_sav": (
        "data/raw/example/parents.sav",
        ["--id", "respondent_id", "--weight", "design_weight", "--strata", "stratum", "--psu", "psu"],
        "parents",
        "trust",
    ),
    "parents_qualtrics": (
        "data/raw/example/parents_qualtrics.csv",
        ["--format", "qualtrics", "--id", "ExternalReference", "--weight", "DesignWeight", "--strata", "Stratum", "--psu", "PSU"],
        "parents_qualtrics",
        None,
    ),
    "spss_fixture": ("tests/data/reference/spss/sample_missing.sav", [], "sample_missing", None),
    "spss_alltypes": ("tests/data/reference/spss/simple_alltypes.sav", [], "simple_alltypes", None),
    "spss_zsav": ("tests/data/reference/spss/sample.zsav", [], "sample", None),
    "spss_one_variable": ("tests/data/reference/spss/missing_test.sav", [], "missing_test", None),
}


def _init(workdir, export: str, args: list[str]):
    out = workdir / "config" / "drafted"
    proc = subprocess.run(
        [str(BIN / "social-licence"), "init", export, "--out", "config/drafted", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "config.yaml"


def _plain_share(frame: pd.DataFrame, variable: str, positive: list[str], by: str | None, weights: np.ndarray):
    """Hand: the (weighted) share of positive answers among those who answered, per ``by``."""
    answered = frame[variable].notna().to_numpy()
    yes = frame[variable].astype(object).isin(positive).to_numpy() & answered
    keys = frame[by].astype(object).to_numpy() if by else np.zeros(len(frame), dtype=object)
    out = {}
    for key in pd.unique(keys[answered]):
        rows = keys == key
        out[key] = weights[rows & yes].sum() / weights[rows & answered].sum()
    return out


@pytest.mark.slow  # one whole workflow run per export
@pytest.mark.parametrize("case", sorted(EXPORTS))
def test_init_then_the_workflow_unedited_gives_a_brief_in_its_own_folder(case, tmp_path):
    export, args, name, question = EXPORTS[case]
    workdir = copy_project(tmp_path / case)
    (workdir / "tests").mkdir()
    if export.startswith("tests/"):
        target = workdir / export
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((BIN.parents[1] / export).read_bytes())
    config = _init(workdir, export, args)
    snakemake(workdir, "--configfile", str(config.relative_to(workdir)))
    results = workdir / "results" / name
    assert (results / "brief" / "brief.html").is_file()
    assert (results / "codebook" / "codebook.csv").is_file() and (results / "MANIFEST.sha256").is_file()
    assert sorted(p.name for p in (workdir / "results").iterdir()) == [name], "one analysis, one folder"
    cfg = yaml.safe_load(config.read_text())
    instrument = load_instrument(workdir / cfg["survey"]["instrument"])
    plan = build_plan(cfg, instrument)
    tables = sorted(p.name for p in (results / "tables").glob("*.csv"))
    assert tables == sorted(f"{t}.csv" for t in plan.tables())
    figures = {p.stem for p in (results / "figures").glob("*.svg")}
    assert {f for f in plan.figures() if not f.startswith("model_")} <= figures
    if question is None:
        return
    assert f"{question}_items.csv" in tables
    data = pd.read_parquet(results / "interim" / "weighted.parquet")
    weights = data[WEIGHT_NAME].to_numpy(dtype=float)
    supplied = instrument.design.get("weight")
    if supplied:  # the supplied weight is the final weight, unchanged
        np.testing.assert_allclose(weights, data[supplied].to_numpy(dtype=float), rtol=0, atol=0)
    else:  # unweighted
        assert (weights == 1).all()
    published = pd.read_csv(results / "tables" / f"{question}_items.csv")
    published = published[~published["suppressed"].astype(bool)]
    if question in instrument.grids:
        grid = instrument.grids[question]
        scale = instrument.scales[grid.scale]
        positive = [scale["codes"][c] for c in scale["positive"]]
        for var, row, _ in grid.cells():
            share = _plain_share(data, var, positive, None, weights)[0]
            got = published.loc[published[grid.row_name].astype(str) == row, "estimate"]
            assert got.iloc[0] == pytest.approx(share, rel=1e-12, abs=1e-12), var
    else:
        var = instrument[question]
        item = cfg["survey"]["item"]
        shares = _plain_share(data, question, var.positive_labels, item, weights)
        assert len(published) == len(shares)
        for _, row in published.iterrows():
            assert row["estimate"] == pytest.approx(shares[row[item]], rel=1e-12, abs=1e-12), row[item]
