"""Replicate weights made by several jobs: the weight stage writes the full-sample file, each
replicate job makes a contiguous share of the replicates, and the gather job writes the analysis
file, byte for byte the file one weight job writes.

The reference for every number is the single-job weight stage itself (``estimation.replicate_jobs:
1``, today's path, checked against R ``survey`` in tests/test_weighting_replicates.py and
tests/test_design_reference.py): the gathered file must equal its bytes (``_same_bytes``), so
every replicate weight, the design's constants and the meta are the same.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import yaml
from example_stages import CONFIG, INSTRUMENT, RAKE_FILES, THRESHOLDS, weight_example
from workflow_helpers import copy_project, snakemake

from social_licence.design.build import (
    gather_replicates,
    replicate_chunk,
    replicate_jobs,
    replicate_share,
)
from social_licence.errors import ConfigError, InputError
from social_licence.ingest.interim import read_interim
from social_licence.stages import run_weight
from social_licence.weighting.solver import raking_solves


def _same_bytes(a: Path, b: Path) -> None:
    assert a.read_bytes() == b.read_bytes(), f"{a} and {b} differ"


def _logged(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_three_bootstrap_jobs_write_the_one_jobs_file_byte_for_byte(example_clean, tmp_path, caplog):
    estimation = {**CONFIG["estimation"], "variance": "bootstrap", "replicates": 20, "seed": 3}
    caplog.set_level(logging.INFO, logger="social_licence.stages")
    before = raking_solves()
    one = weight_example(example_clean, tmp_path / "one", estimation)
    one_solves = raking_solves() - before
    unbounded = int(_logged(caplog, "raked without bounds")[0].split("; ")[1].split(" ")[0])
    caplog.clear()

    before = raking_solves()
    three = weight_example(example_clean, tmp_path / "three", estimation, jobs=3)
    three_solves = raking_solves() - before
    _same_bytes(one, three)
    for name in RAKE_FILES:  # the diagnostics come from the weight job alone, as before
        _same_bytes(tmp_path / "one" / f"{name}.csv", tmp_path / "three" / f"{name}.csv")
    # each replicate raked once (again without bounds when they cannot be met), as in one job;
    # each replicate job also re-rakes the full sample once: the check and the raking's start
    assert one_solves == 1 + 1 + 20 + unbounded
    assert three_solves == 1 + 3 + 20 + unbounded
    jobs = _logged(caplog, "replicate job ")
    assert [line.split(":")[1].split(" (")[0] for line in jobs] == [
        " replicates 1 to 6 of 20", " replicates 7 to 13 of 20", " replicates 14 to 20 of 20",
    ]
    (gathered,) = _logged(caplog, "made by 3 jobs")
    assert gathered.startswith("variance: bootstrap, 20 replicates made by 3 jobs (23 reweighter calls")
    assert f"; {unbounded} raked without bounds" in gathered
    assert gathered.endswith(f"{3 + 20 + unbounded} raking solves in the replicate jobs")


def test_jackknife_jobs_write_the_one_jobs_file(example_clean, tmp_path):
    """JKn (one replicate per PSU of the example's strata) in 4 jobs equals one job."""
    estimation = {**CONFIG["estimation"], "variance": "jkn"}
    one = weight_example(example_clean, tmp_path / "one", estimation)
    _same_bytes(one, weight_example(example_clean, tmp_path / "four", estimation, jobs=4))
    columns = read_interim(one).meta["design"]["replicates"]["columns"]
    assert replicate_share(len(columns), 4, 4).stop == len(columns)
    assert [list(replicate_share(2, k, 3)) for k in (1, 2, 3)] == [[], [0], [1]]


def test_plain_replicates_chunk_too_and_a_share_may_be_empty(example_clean, tmp_path):
    """Without raking the replicates are the weights times the multipliers; 2 bootstrap
    replicates in 3 jobs (the first job's share is empty) give the one job's file."""
    weighting = {**CONFIG["weighting"], "method": "none"}
    estimation = {**CONFIG["estimation"], "variance": "bootstrap", "replicates": 2, "seed": 1}
    one = weight_example(example_clean, tmp_path / "one", estimation, weighting)
    _same_bytes(one, weight_example(example_clean, tmp_path / "three", estimation, weighting, jobs=3))


@pytest.mark.parametrize(
    ("estimation", "method", "jobs"),
    [
        ({"variance": "linearisation", "replicate_jobs": 7}, "rake", 1),
        ({"variance": "bootstrap", "replicates": 200, "replicate_jobs": "auto"}, "rake", 4),
        ({"variance": "bootstrap", "replicates": 201, "replicate_jobs": "auto"}, "rake", 5),
        ({"variance": "bootstrap", "replicates": 200, "replicate_jobs": "auto"}, "none", 1),
        ({"variance": "jkn", "replicate_jobs": "auto"}, "rake", 1),
        ({"variance": "jk1", "replicate_jobs": 3}, "none", 3),
    ],
)
def test_replicate_jobs_are_known_from_the_config(estimation, method, jobs):
    assert replicate_jobs(estimation, method) == jobs


@pytest.mark.parametrize("value", [0, "four", 2.5, True])
def test_a_bad_replicate_jobs_value_is_named(value):
    with pytest.raises(ConfigError, match=rf"estimation.replicate_jobs .*{value!r}"):
        replicate_jobs({"variance": "bootstrap", "replicate_jobs": value}, "rake")


def test_a_missing_share_is_named(example_clean, tmp_path):
    estimation = {**CONFIG["estimation"], "variance": "bootstrap", "replicates": 4, "seed": 1, "replicate_jobs": 2}
    weighting = {**CONFIG["weighting"], "method": "none"}
    full = tmp_path / "full.parquet"
    run_weight(
        example_clean, None, INSTRUMENT, weighting, estimation, THRESHOLDS, full,
        {"summary": tmp_path / "summary.csv"},
    )
    survey = read_interim(full)
    second = replicate_chunk(survey, 2)
    with pytest.raises(InputError, match="is not job 1 of 2 starting at replicate 1"):
        gather_replicates(survey, [second, second])
    with pytest.raises(InputError, match="come from 2 jobs, but 1 were given"):
        gather_replicates(survey, [second])


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("replicate-jobs") / "project")


def _overlay(project: Path, name: str, estimation: dict) -> str:
    (project / name).write_text(yaml.safe_dump({"estimation": estimation}))
    return name


def test_the_dry_run_shows_the_replicate_jobs_and_the_gather(project):
    overlay = _overlay(
        project, "boot.yaml", {"variance": "bootstrap", "replicates": 120, "replicate_jobs": 3}
    )
    dry = snakemake(project, "-n", "--configfile", "config/config.yaml", overlay)
    out = dry.stdout + dry.stderr
    planned = re.findall(r"^(?:local)?rule (\w+):", out, flags=re.M)
    assert planned.count("replicate_weights") == 3 and planned.count("replicates") == 1
    shares = re.findall(r"output: (work/parents/interim/replicates/current/\d\.parquet)", out)
    assert sorted(shares) == [f"work/parents/interim/replicates/current/{k}.parquet" for k in (1, 2, 3)]
    # with one job (and with linearisation, the example's): the weight job alone, as before
    overlay = _overlay(project, "one.yaml", {"variance": "bootstrap", "replicate_jobs": 1})
    dry = snakemake(project, "-n", "--configfile", "config/config.yaml", overlay)
    planned = re.findall(r"^(?:local)?rule (\w+):", dry.stdout + dry.stderr, flags=re.M)
    assert "weight" in planned and not {"replicate_weights", "replicates"} & set(planned)


def test_a_bad_replicate_jobs_value_stops_the_dag_build(project):
    overlay = _overlay(project, "bad.yaml", {"variance": "bootstrap", "replicate_jobs": 0})
    proc = snakemake(project, "-n", "--configfile", "config/config.yaml", overlay, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "0 is less than the minimum of 1" in out and "replicate_jobs" in out, out[-2000:]
