"""What every test shares: where the test data lives, and tests that need an external program.

``DATA`` is the one path to the repository's test data (``tests/data``). A missing data file is
always a failure (the test reading it raises, naming the file). A test that needs a program outside
Python (Chromium, Rscript) carries ``@pytest.mark.needs_program("name", ...)`` (alternative names
of one program): when none is on PATH the test fails under ``CI=true`` and is skipped elsewhere,
with a message naming the program and how to install it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"

INSTALL_HINTS = {
    "chromium": "apt-get install chromium",
    "Rscript": "apt-get install r-base-core r-cran-survey",
}


def find_program(*names: str) -> str | None:
    """The path of the first of ``names`` on PATH, or None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers(name="needs_program"):
        if find_program(*marker.args):
            continue
        hint = INSTALL_HINTS.get(marker.args[0], "install it")
        message = f"{item.nodeid} needs {' or '.join(marker.args)}, which is not on PATH ({hint})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI must install it (.ci/run)", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete Snakemake run of the bundled example in a throw-away copy, as on a fresh
    clone (no SOCIAL_LICENCE_KEY, so the run creates ``.pseudonym_key``), shared by every test
    that only reads its results: one run, many assertions."""
    from workflow_helpers import copy_project, snakemake

    workdir = copy_project(tmp_path_factory.mktemp("example-run"))
    snakemake(workdir, key=None)
    return workdir
