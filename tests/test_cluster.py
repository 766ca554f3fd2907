"""The example workflow through the SLURM profile on a real single-node SLURM cluster.

Part of `make test` (alone: `make test-cluster`). It needs Debian's slurm-wlm and munge
(`.ci/run` installs them; without them the tests fail under CI=true and are skipped elsewhere),
starts munged, slurmctld and slurmd as root, submits every non-local job with sbatch through
snakemake-executor-plugin-slurm, and compares the outputs byte for byte with the shared local
run of the example (``example_run``, whose key file the cluster run reads). The cluster run is
nearly the whole cost (README, "Run on a cluster"). A second, short run makes the example's
replicate weights (bootstrap) in two sbatch jobs gathered by a third, at the same time in a copy of
the project, and compares the analysis file with the one the weight stage writes in one job here.
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


# The replicate fan-out: bootstrap replicates raked in 2 jobs, then gathered (estimation.replicate_jobs).
REPLICATE_OVERLAY = {
    "analysis": {"name": "parents_replicates"},
    "estimation": {"variance": "bootstrap", "replicates": 6, "replicate_jobs": 2},
}
REPLICATES_TARGET = "work/parents_replicates/interim/weighted.parquet"


@pytest.fixture(scope="module")
def runs(cluster, example_run, tmp_path_factory):
    """The example through the SLURM profile, beside the shared local run of the same project;
    at the same time, in a second copy, the example's replicate weights in two jobs and a gather
    (the two runs overlap, as a cluster's users' runs do, and the test waits on SLURM once)."""
    remote = copy_project(tmp_path_factory.mktemp("remote"))
    replicates = copy_project(tmp_path_factory.mktemp("replicates"))
    for project in (remote, replicates):
        shutil.copy2(example_run / ".pseudonym_key", project / ".pseudonym_key")
    (replicates / "config" / "replicates.yaml").write_text(yaml.safe_dump(REPLICATE_OVERLAY))
    slurm_logs = remote.parent / "slurm_logs_example"

    def cluster_args(logs: Path) -> list[str]:
        return [
            "--profile",
            "workflow/profiles/slurm",
            # no accounting database here, so job states come from squeue (MinJobAge keeps them)
            "--slurm-status-command",
            "squeue",
            "--slurm-no-account",
            # the plugin's first look at a job's state comes after 2 s, not 40; each later look
            # that finds none finished comes 10 s after the one before
            "--slurm-init-seconds-before-status-checks",
            "2",
            "--slurm-logdir",
            str(logs),
            "--slurm-keep-successful-logs",
            "--latency-wait",
            "5",
            "--seconds-between-status-checks",
            "1",
        ]

    env = {k: v for k, v in cluster.env.items() if k != "SOCIAL_LICENCE_KEY"}  # the key file
    fan_out = subprocess.Popen(
        [str(BIN / "snakemake"), *cluster_args(replicates.parent / "slurm_logs_replicates"),
         "--configfile", "config/replicates.yaml", "--", REPLICATES_TARGET],
        cwd=replicates, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    proc = subprocess.run(
        [str(BIN / "snakemake"), *cluster_args(slurm_logs)], cwd=remote, env=env, capture_output=True, text=True
    )
    out, err = fan_out.communicate()
    _checked(proc, f"cluster run\n{cluster.logs()}")
    fanned = subprocess.CompletedProcess(fan_out.args, fan_out.returncode, out, err)
    _checked(fanned, f"replicate run\n{cluster.logs()}")
    return example_run, remote, proc, slurm_logs, replicates, fanned


def _reported(proc: subprocess.CompletedProcess) -> set[str]:
    """The SLURM job ids a Snakemake run reports having submitted."""
    return set(re.findall(r"submitted with SLURM jobid (\d+)", proc.stdout + proc.stderr))


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
    _, remote, proc, slurm_logs, _, fanned = runs
    jobs = _slurm_jobs(cluster)
    # slurmctld's own log of sbatch submissions and completions
    controller = (cluster.folder / "slurmctld.log").read_text()
    submitted = set(re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", controller))
    completed = set(re.findall(r"_job_complete: JobId=(\d+) WEXITSTATUS 0", controller))
    assert set(jobs) == submitted == completed
    assert {state for state, _ in jobs.values()} == {"COMPLETED"}
    # Snakemake reports the SLURM job ids of its own run; the two runs' ids are every job
    ours, theirs = _reported(proc), _reported(fanned)
    assert ours and theirs and not ours & theirs and ours | theirs == set(jobs)
    assert Counter(jobs[job][1] for job in ours) == _expected_cluster_jobs(remote)
    # each left its SLURM log
    assert {p.stem for p in slurm_logs.rglob("*.log")} == ours


def test_report_jobs_ran_locally_and_nothing_else(runs):
    _, _, proc, _, _, _ = runs
    log = proc.stdout + proc.stderr
    local = Counter(re.findall(r"^localrule (\w+):", log, flags=re.M))
    remote = Counter(re.findall(r"^rule (\w+):", log, flags=re.M))
    assert set(remote) == CLUSTER_RULES
    assert set(local) == {"all", "tables", "figures", "brief", "manifest", "publish"}


def test_cluster_outputs_are_byte_identical_to_a_local_run(runs):
    local, remote, _, _, _, _ = runs
    here, there = result_files(local), result_files(remote)
    assert sorted(here) == sorted(there)
    differing = [path for path in here if here[path] != there[path]]
    assert differing == []
    assert {"results/parents/MANIFEST.sha256", "results/parents/brief/brief.html"} <= set(here)


def test_cluster_jobs_got_the_memory_their_rule_requests(cluster, runs):
    """sbatch passed each job's mem_mb (from the rule's memory model) on to SLURM."""
    _, _, proc, _, _, _ = runs
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


def test_replicate_weights_fan_out_as_cluster_jobs_and_gather_to_the_one_job_file(cluster, runs, tmp_path):
    """The replicate run's jobs went through sbatch (two replicate shares and the gather among
    them), and its analysis file is byte for byte the one the weight stage writes in one job."""
    from social_licence.stages import run_weight  # the library: loaded by the tests that need it

    _, _, _, _, project, fanned = runs
    jobs = _slurm_jobs(cluster)
    rules = Counter(jobs[job][1].split("_wildcards_")[0] for job in _reported(fanned))
    assert rules == {"rule_ingest": 1, "rule_weight": 1, "rule_replicate_weights": 2, "rule_replicates": 1}
    # the weight stage in one job here, on the cluster run's own cleaned file
    config = yaml.safe_load((project / "config" / "config.yaml").read_text())
    estimation = {**config["estimation"], **REPLICATE_OVERLAY["estimation"], "replicate_jobs": 1}
    work = project / "work" / "parents_replicates" / "interim"
    one = tmp_path / "weighted.parquet"
    run_weight(
        work / "clean.parquet", project / config["weighting"]["targets_file"],
        project / config["survey"]["instrument"], config["weighting"], estimation,
        project / config["report"]["thresholds"], one,
        {n: tmp_path / f"{n}.csv" for n in ("summary", "margins", "balance", "convergence", "collapsed")},
    )
    assert (project / REPLICATES_TARGET).read_bytes() == one.read_bytes()
