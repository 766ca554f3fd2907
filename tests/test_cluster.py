"""The example workflow through the SLURM profile on a real single-node SLURM cluster.

Part of `make test` (alone: `make test-cluster`). It needs Debian's slurm-wlm and munge
(`.ci/run` installs them; without them the tests fail under CI=true and are skipped elsewhere),
starts munged, slurmctld and slurmd as root, submits every non-local job with sbatch through
snakemake-executor-plugin-slurm, and compares the outputs byte for byte with the shared local
run of the example (``example_run``, whose key file the cluster run reads). The cluster run is
nearly the whole cost (README, "Run on a cluster").
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml
from slurm_cluster import SlurmCluster, find_or_install
from workflow_helpers import BIN, copy_project, result_files

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.needs_program("slurmctld")]
# Rules whose jobs go to the cluster; the others are `localrules` (workflow/rules/common.smk).
CLUSTER_RULES = {"ingest", "weight", "codebook", "estimate", "model"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    slurm = SlurmCluster(tmp_path_factory.mktemp("slurm"), find_or_install())
    try:
        yield slurm.start()
    finally:
        slurm.stop()


def _checked(proc: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if proc.returncode != 0:
        raise AssertionError(
            f"{what} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return proc


@pytest.fixture(scope="module")
def runs(cluster, example_run, tmp_path_factory):
    """The example through the SLURM profile, beside the shared local run of the same project."""
    remote = copy_project(tmp_path_factory.mktemp("remote"))
    shutil.copy2(example_run / ".pseudonym_key", remote / ".pseudonym_key")
    slurm_logs = remote.parent / "slurm_logs"
    cluster_args = [
        "--profile",
        "workflow/profiles/slurm",
        # no accounting database here, so job states come from squeue (MinJobAge keeps them)
        "--slurm-status-command",
        "squeue",
        "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-logdir",
        str(slurm_logs),
        "--slurm-keep-successful-logs",
        "--latency-wait",
        "5",
        # a job's end is seen within a second, not ten (Snakemake's default, kind to a real
        # cluster's controller): the run waits on SLURM, not on the machine, so polling is its pace
        "--seconds-between-status-checks",
        "1",
    ]
    env = {k: v for k, v in cluster.env.items() if k != "SOCIAL_LICENCE_KEY"}  # the key file
    proc = subprocess.run(
        [str(BIN / "snakemake"), *cluster_args], cwd=remote, env=env, capture_output=True, text=True
    )
    _checked(proc, f"cluster run\n{cluster.logs()}")
    return example_run, remote, proc, slurm_logs


def _slurm_jobs(cluster) -> dict[str, tuple[str, str]]:
    """Every job SLURM knows of: id -> (state, comment), from squeue (finished ones included)."""
    listing = subprocess.run(
        [cluster.commands["squeue"], "-h", "-t", "all", "-o", "%i|%T|%k"],
        env=cluster.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        job: (state, comment)
        for job, state, comment in (line.split("|", 2) for line in listing.splitlines())
    }


def _expected_cluster_jobs(project: Path) -> Counter:
    models = yaml.safe_load((project / "config" / "models.yaml").read_text())["models"]
    jobs = Counter(f"rule_{rule}" for rule in CLUSTER_RULES - {"model"})
    jobs.update(f"rule_model_wildcards_{m['name']}" for m in models)
    return jobs


def test_every_cluster_job_went_through_sbatch_and_completed(cluster, runs):
    _, remote, proc, slurm_logs = runs
    jobs = _slurm_jobs(cluster)
    # slurmctld's own log of sbatch submissions and completions
    controller = (cluster.folder / "slurmctld.log").read_text()
    submitted = set(re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", controller))
    completed = set(re.findall(r"_job_complete: JobId=(\d+) WEXITSTATUS 0", controller))
    assert set(jobs) == submitted == completed
    assert {state for state, _ in jobs.values()} == {"COMPLETED"}
    assert Counter(comment for _, comment in jobs.values()) == _expected_cluster_jobs(remote)
    # Snakemake reports the same SLURM job ids, and each left its SLURM log.
    reported = set(re.findall(r"submitted with SLURM jobid (\d+)", proc.stdout + proc.stderr))
    assert reported == set(jobs)
    assert {p.stem for p in slurm_logs.rglob("*.log")} == set(jobs)


def test_report_jobs_ran_locally_and_nothing_else(runs):
    _, _, proc, _ = runs
    log = proc.stdout + proc.stderr
    local = Counter(re.findall(r"^localrule (\w+):", log, flags=re.M))
    remote = Counter(re.findall(r"^rule (\w+):", log, flags=re.M))
    assert set(remote) == CLUSTER_RULES
    assert set(local) == {"all", "tables", "figures", "brief", "manifest", "publish"}


def test_cluster_outputs_are_byte_identical_to_a_local_run(runs):
    local, remote, _, _ = runs
    here, there = result_files(local), result_files(remote)
    assert sorted(here) == sorted(there)
    differing = [path for path in here if here[path] != there[path]]
    assert differing == []
    assert {"results/parents/MANIFEST.sha256", "results/parents/brief/brief.html"} <= set(here)


def test_cluster_jobs_got_the_memory_their_rule_requests(cluster, runs):
    """sbatch passed each job's mem_mb (from the rule's memory model) on to SLURM."""
    _, _, proc, _ = runs
    log = proc.stdout + proc.stderr
    requested = dict(
        re.findall(
            r"^    jobid: (\d+)\n(?:    .*\n)*?    resources: .*?\bmem_mb=(\d+)", log, flags=re.M
        )
    )
    slurm_ids = dict(re.findall(r"^Job (\d+) has been submitted with SLURM jobid (\d+)", log, re.M))
    assert slurm_ids
    for job, slurm_id in slurm_ids.items():
        shown = subprocess.run(
            [cluster.commands["scontrol"], "show", "job", slurm_id],
            env=cluster.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"MinMemoryNode={requested[job]}M" in shown, shown
