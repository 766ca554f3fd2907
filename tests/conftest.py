"""What every test shares: where the test data lives, and tests that need an external program.

``DATA`` is the one path to the repository's test data (``tests/data``). A missing data file is
always a failure (the test reading it raises, naming the file). A test that needs a program outside
Python (Chromium, Rscript, SLURM) carries ``@pytest.mark.needs_program("name", ...)`` (alternative names
of one program): when none is on PATH the test fails under ``CI=true`` and is skipped elsewhere,
with a message naming the program and how to install it.

``make test`` runs the tests on as many workers as the machine has cores (pytest-xdist,
``--dist loadgroup``). Tests that share a costly module- or session-scoped fixture are kept on one
worker (:func:`pytest_collection_modifyitems`), so each such fixture is built once per run.
"""

from __future__ import annotations

import inspect
import os
import shutil
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"

INSTALL_HINTS = {
    "chromium": "apt-get install chromium",
    "Rscript": "apt-get install r-base-core r-cran-survey",
    "slurmctld": "apt-get install slurm-wlm munge",
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


#: Session fixtures costly enough that every test using one runs on the same worker.
SHARED_RUNS = ("example_run",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give each test the xdist group of the costly fixture it uses: a shared run (the example
    workflow) or its module's own module-scoped fixtures; other tests go wherever there is room."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        shared = [name for name in SHARED_RUNS if name in item.fixturenames]
        ours = [defs[-1] for defs in info.name2fixturedefs.values() if defs and _ours(defs[-1])]
        if shared:
            _group(item, shared[0])
        elif any(d.scope in ("module", "session") for d in ours):
            _group(item, item.module.__name__)


def _group(item: pytest.Item, name: str) -> None:
    item.add_marker(pytest.mark.xdist_group(name))
    # pytest-xdist's loadgroup reads the group from the test's id ("...@group"), which it sets in
    # its own collection hook by writing the old `_nodeid` field; pytest 9.2's ids are structured
    # and ignore that field, so the grouping is silently lost (pytest-xdist issue 1386, fix open as
    # PR 1388). Until then the id is set here, as that fix does.
    if not getattr(item.config.option, "loadgroup", False) or item.nodeid.endswith(f"@{name}"):
        return
    if hasattr(item, "_id"):
        from _pytest.nodeid import NodeId  # pytest >= 9.2 only

        item._id = NodeId.parse(f"{item.nodeid}@{name}")
    else:
        item._nodeid = f"{item.nodeid}@{name}"


def _ours(fixturedef) -> bool:
    """Whether a fixture is defined under tests/ (pytest's own, such as tmp_path_factory, are not)."""
    try:
        source = Path(inspect.getsourcefile(fixturedef.func) or "")
    except TypeError:
        return False
    return TESTS in source.parents


@pytest.fixture(scope="session")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete Snakemake run of the bundled example in a throw-away copy, as on a fresh
    clone (no SOCIAL_LICENCE_KEY, so the run creates ``.pseudonym_key``), shared by every test
    that only reads its results: one run, many assertions."""
    from workflow_helpers import copy_project, snakemake

    workdir = copy_project(tmp_path_factory.mktemp("example-run"))
    snakemake(workdir, key=None)
    return workdir
