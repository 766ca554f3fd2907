"""Two fresh runs of the real workflow, the first creating the pseudonymisation key file (no
SOCIAL_LICENCE_KEY in the environment) and the second reading it, give byte-identical files
everywhere under results/, interim files included (logs aside: they record the run itself).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from workflow_helpers import BIN, copy_project, result_files

pytestmark = pytest.mark.slow

# One model keeps the two runs short; every other stage runs in full.
FEWER_MODELS = "models={run: [acceptability_logit]}"


def _run_without_key_variable(workdir) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOCIAL_LICENCE_KEY"}
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--cores", "2", "--config", FEWER_MODELS],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-6000:]


def test_a_run_creating_the_key_and_a_run_reading_it_give_identical_files(tmp_path):
    workdir = copy_project(tmp_path / "project")
    key = workdir / ".pseudonym_key"
    assert not key.exists()
    _run_without_key_variable(workdir)
    assert key.exists()
    created = result_files(workdir)
    assert "created a new random key" in (workdir / "results/logs/ingest.log").read_text()
    shutil.rmtree(workdir / "results")
    _run_without_key_variable(workdir)
    read = result_files(workdir)
    assert "read from" in (workdir / "results/logs/ingest.log").read_text()
    assert sorted(created) == sorted(read)
    assert any("/interim/" in p for p in created) and "results/MANIFEST.sha256" in created
    differing = [p for p in created if created[p] != read[p]]
    assert not differing, f"files differ between the key-creating run and the next: {differing}"
