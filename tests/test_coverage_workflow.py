"""The coverage benchmark's replications as Snakemake jobs (benchmarks/coverage/Snakefile): the
summary job's table equals, byte for byte, the table of the script run in one process
(benchmarks/bench_model_coverage.py, the reference) for the same seeds. Both run as programs,
each with one BLAS thread as the script sets it, so that sums come out in the same order."""

from __future__ import annotations

import subprocess
import sys

import pytest
from workflow_helpers import BIN, ROOT

BENCHMARKS = ROOT / "benchmarks"


@pytest.mark.slow
def test_four_draws_in_two_jobs_give_the_scripts_table(tmp_path):
    proc = subprocess.run(
        [str(BIN / "snakemake"), "-s", str(BENCHMARKS / "coverage" / "Snakefile"),
         "--directory", str(tmp_path), "--cores", "2",
         "--config", "reps=4", "chunk=2", "size=600", "seed=1000"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = tmp_path / "benchmarks" / "out" / "coverage" / "srs-design-n600"
    assert sorted(p.name for p in (out / "draws").iterdir()) == ["1000-1001.json", "1002-1003.json"]

    script = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_model_coverage.py"), "--reps", "4", "--n", "600",
         "--seed", "1000", "--no-peer", "--out", str(tmp_path / "script.csv")],
        capture_output=True, text=True, check=True,
    )
    assert (out / "coverage_1000-1003.csv").read_bytes() == (tmp_path / "script.csv").read_bytes()
    gathered = (out / "coverage_1000-1003.txt").read_text().split("\n", 1)
    printed = script.stdout.split("\n", 1)
    assert gathered[0].startswith("model coverage benchmark: sample=srs, weights=design, n=600, reps=4")
    assert "2 jobs of up to 2 draws, 0 failed fits" in gathered[0]
    assert gathered[1] == printed[1]  # the per-term table and the summary lines
