"""Start-up cost of the workflow; prints its figures (no pass/fail here).

1. The example workflow from scratch (``snakemake --cores 2 --forceall``: every job re-run),
   wall and CPU seconds of the whole process tree (target: at most 30 s wall on a quiet 2-core
   machine; the CPU seconds are the figure to compare on a shared one). Skipped with
   ``--no-full`` once the outputs exist.
2. A no-op rerun of the example (``snakemake --cores 2`` with every output up to date) against
   the peer, ``snakemake -n`` on an empty Snakefile (one ``all`` rule with no input): the ratio
   no-op/peer is the cost of our DAG build (config loading and checks in ``common.smk``, input
   functions) beyond Snakemake's own start-up (target: at most 1.5). Best of three each.
3. Import time of the modules a job loads: its stage module of ``social_licence.stages`` (a rule
   script imports one: ingest, weight, estimate, model, report, waves) and
   ``social_licence.config_check`` (``common.smk``, at every DAG build), CPU seconds in a fresh
   interpreter, best of three; ``python -X importtime -c "import social_licence.stages.report"``
   says where the time goes.

Run: ``.venv/bin/python benchmarks/bench_noop.py [--no-full]``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + system, children included) seconds of one command; fails loudly."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    run = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{run.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def best(cmd: list[str], cwd: Path, runs: int = 3) -> tuple[float, float]:
    times = [timed(cmd, cwd) for _ in range(runs)]
    return min(t[0] for t in times), min(t[1] for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-full", action="store_true", help="skip the from-scratch run")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} at start")
    if not args.no_full:
        wall, cpu = timed([str(SNAKEMAKE), "--cores", "2", "--forceall"], ROOT)
        print(
            f"[1] example workflow from scratch (--cores 2 --forceall): {wall:.1f} s wall, "
            f"{cpu:.1f} s CPU (target <= 30 s wall on a quiet 2-core machine)"
        )
    else:
        timed([str(SNAKEMAKE), "--cores", "2"], ROOT)  # bring every output up to date
    noop, noop_cpu = best([str(SNAKEMAKE), "--cores", "2"], ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "Snakefile").write_text("rule all:\n    input: []\n", encoding="utf-8")
        empty, empty_cpu = best([str(SNAKEMAKE), "-n", "--cores", "1"], Path(tmp))
    print(
        f"[2] no-op rerun of the example: {noop:.2f} s wall, {noop_cpu:.2f} s CPU; peer: snakemake -n "
        f"on an empty Snakefile {empty:.2f} s wall, {empty_cpu:.2f} s CPU; ratio no-op/peer "
        f"{noop / empty:.2f} wall, {noop_cpu / empty_cpu:.2f} CPU (target <= 1.5)"
    )
    stages = [f"social_licence.stages.{name}" for name in ("ingest", "weight", "estimate", "model", "report", "waves")]
    for module in (*stages, "social_licence.config_check", "pandas"):
        code = f"import time; t = time.process_time(); import {module}; print(time.process_time() - t)"
        cpu = min(
            float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(3)
        )
        print(f"[3] import {module}: {cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
