"""A real single-node SLURM cluster on this machine, for the cluster test.

Debian's ``slurm-wlm`` and ``munge`` daemons (``munged``, ``slurmctld``, ``slurmd``) are started
in the foreground from a configuration written into a temporary folder, with their sockets,
state, spool, logs and PID files there too, on free ports, so nothing under /etc or /run is used
or changed. They are stopped by the PIDs this module started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DEBIAN_PACKAGES = ("slurm-wlm", "munge")
COMMANDS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "srun", "scontrol", "sinfo")


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None
    )


def find_or_install() -> dict[str, str]:
    """Paths of the SLURM and MUNGE commands; installs the Debian packages when absent (root)."""
    missing = [name for name in COMMANDS if _which(name) is None]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *DEBIAN_PACKAGES], check=True, env=env)
        missing = [name for name in COMMANDS if _which(name) is None]
    if missing:
        raise RuntimeError(
            f"SLURM commands not found: {', '.join(missing)}; install Debian's "
            f"{' and '.join(DEBIAN_PACKAGES)} (apt-get install {' '.join(DEBIAN_PACKAGES)})"
        )
    return {name: _which(name) for name in COMMANDS}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _memory_mb() -> int:
    with open("/proc/meminfo") as handle:
        total_kb = next(int(line.split()[1]) for line in handle if line.startswith("MemTotal"))
    return total_kb // 1024


class SlurmCluster:
    """munged + slurmctld + slurmd on localhost: one node, one partition, no accounting."""

    def __init__(self, folder: Path, commands: dict[str, str]):
        self.folder = folder
        self.commands = commands
        self.processes: list[subprocess.Popen] = []
        self.node = "node1"
        self.conf = folder / "slurm.conf"
        self.bin = folder / "bin"
        self.env = {
            **os.environ,
            "SLURM_CONF": str(self.conf),
            "PATH": os.pathsep.join([str(self.bin), os.environ.get("PATH", "")]),
        }

    def _config(self) -> str:
        d = self.folder
        host = socket.gethostname().split(".")[0]
        # Memory the node offers: what the machine has, less room for the daemons.
        memory = _memory_mb() - 1024
        return f"""\
ClusterName=socialicence
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/munge/munge.socket
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue for an hour: job states come from squeue, as there is
# no accounting database for sacct here.
MinJobAge=3600
# The node offers twice the machine's cores: a test's jobs are short, and its runs spend most of
# their time between the executor's status checks, so two runs' jobs can share the cores
# (config_overrides: slurmd takes the node's CPUs from here, not from the hardware).
SlurmdParameters=config_overrides
NodeName={self.node} NodeAddr=127.0.0.1 NodeHostname={host} CPUs={2 * (os.cpu_count() or 1)} RealMemory={memory} State=UNKNOWN
PartitionName=main Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
"""

    def _start(self, *command: str) -> subprocess.Popen:
        log = open(self.folder / f"{Path(command[0]).name}.out", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        log.close()
        self.processes.append(proc)
        return proc

    def start(self, timeout: float = 60) -> SlurmCluster:
        d = self.folder
        for sub in ("munge", "state", "spool"):
            (d / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        key = d / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self.conf.write_text(self._config())
        # Inside a job, the executor plugin runs `srun` with every SLURM_* variable removed,
        # SLURM_CONF too; a real cluster's srun finds /etc/slurm/slurm.conf, this one's is here.
        self.bin.mkdir(exist_ok=True)
        srun = self.bin / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {self.commands["srun"]} "$@"\n')
        srun.chmod(0o755)
        self._start(
            self.commands["munged"],
            "--foreground",
            "--force",
            f"--socket={d}/munge/munge.socket",
            f"--key-file={key}",
            f"--pid-file={d}/munge/munged.pid",
            f"--log-file={d}/munge/munged.log",
            f"--seed-file={d}/munge/munged.seed",
        )
        self._wait(lambda: (d / "munge" / "munge.socket").exists(), timeout, "munged socket")
        self._start(self.commands["slurmctld"], "-D", "-i", "-f", str(self.conf))
        self._start(self.commands["slurmd"], "-D", "-N", self.node, "-f", str(self.conf))
        self._wait(self._node_idle, timeout, f"node {self.node} idle")
        return self

    def _node_idle(self) -> bool:
        out = subprocess.run(
            [self.commands["sinfo"], "-h", "-n", self.node, "-o", "%t"],
            env=self.env,
            capture_output=True,
            text=True,
        )
        return out.returncode == 0 and out.stdout.strip() == "idle"

    def _wait(self, ready, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            dead = [p for p in self.processes if p.poll() is not None]
            if dead:
                raise RuntimeError(
                    f"{dead[0].args[0]} exited ({dead[0].returncode}):\n{self.logs()}"
                )
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"SLURM test cluster: no {what} after {timeout:.0f} s:\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for path in sorted(self.folder.glob("*.log")) + sorted(self.folder.glob("*.out")):
            parts.append(f"== {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop the daemons this object started, newest first, by PID."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.processes.clear()
