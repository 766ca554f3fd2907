"""What every test shares: where the test data lives, and tests that need an external program.

``DATA`` is the one path to the repository's test data (``tests/data``). A missing data file is
always a failure (the test reading it raises, naming the file). A test that needs a program outside
Python (Chromium, Rscript, SLURM) carries ``@pytest.mark.needs_program("name", ...)`` (alternative names
of one program): when none is on PATH the test fails under ``CI=true`` and is skipped elsewhere,
with a message naming the program and how to install it.

``make test`` runs the tests on as many workers as the machine has cores (pytest-xdist,
``--dist loadgroup``). The tests of a module with its own costly module- or session-scoped
fixture are kept on one worker (:func:`pytest_collection_modifyitems`), so that fixture is built
once; the example run is made once for all workers (:func:`example_run`).
"""

from __future__ import annotations

import fcntl
import inspect
import os
import shutil
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"

INSTALL_HINTS = {
    "chromium": "apt-get install chromium",
    "Rscript": "apt-get install r-base-core r-cran-survey r-cran-mass",
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the tests of a module that has its own module- or session-scoped fixture (a workflow
    run, a fitted model) on one worker, so that fixture is built once; other tests go wherever
    there is room. The shared example run is built once for all workers (:func:`example_run`).

    The longest work is handed out first, so that the workers finish together: the cluster test
    (which makes the shared example run, then runs it on SLURM), the other whole-workflow runs,
    then the other readers of the example run (made by then), then the quick tests."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        ours = [defs[-1] for defs in info.name2fixturedefs.values() if defs and _ours(defs[-1])]
        if any(d.scope in ("module", "session") and d.argname != "example_run" for d in ours):
            _group(item, item.module.__name__)
    items.sort(key=_stage)


def _stage(item: pytest.Item) -> int:
    if item.get_closest_marker("cluster"):
        return 0
    if item.get_closest_marker("slow"):
        return 2 if "example_run" in item.fixturenames else 1
    return 3


def _group(item: pytest.Item, name: str) -> None:
    if not item.config.pluginmanager.hasplugin("xdist"):  # pytest -p no:xdist: one process
        return
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
def example_clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example export through the ingest stage with the example's config (a fixed
    pseudonymisation key): the cleaned analysis file the weight stage reads."""
    from social_licence.stages import run_ingest  # the library: loaded by the tests that need it

    root = TESTS.parent
    config = yaml.safe_load((root / "config" / "config.yaml").read_text(encoding="utf-8"))
    out = tmp_path_factory.mktemp("example-clean")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOCIAL_LICENCE_KEY", "test-key")
        run_ingest(
            root / config["survey"]["export"],
            root / config["survey"]["instrument"],
            root / config["survey"]["withdrawals"],
            config["survey"],
            config["cleaning"],
            out / "clean.parquet",
            out / "flow.csv",
        )
    return out / "clean.parquet"


@pytest.fixture(scope="session")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete Snakemake run of the bundled example in a throw-away copy, as on a fresh
    clone (no SOCIAL_LICENCE_KEY, so the run creates ``.pseudonym_key``), shared by every test
    that only reads its results: one run, many assertions. Tests never run Snakemake in it or
    change it; they copy it first.

    Under pytest-xdist the workers share one run: the first worker to need it makes it in the
    session's common temporary folder while holding a lock; the others wait on the lock, then
    read it (the pattern pytest-xdist's documentation gives for a session fixture made once)."""
    from workflow_helpers import copy_project, snakemake

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        workdir = copy_project(tmp_path_factory.mktemp("example-run"))
        snakemake(workdir, key=None)
        return workdir
    shared = tmp_path_factory.getbasetemp().parent  # common to this session's workers
    workdir, done = shared / "example-run", shared / "example-run.done"
    with open(shared / "example-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not done.exists():
            if workdir.exists():  # a worker failed half-way: start again
                shutil.rmtree(workdir)
            snakemake(copy_project(workdir), key=None)
            done.write_text(worker)
    return workdir
