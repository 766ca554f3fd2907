"""Peak memory of the whole workflow at 100,000 and 1,000,000 respondents, per job and for the
process tree, against the targets (README "Memory and run time").

For each size: writes the synthetic example export of that many parents
(``social_licence.synthetic``), runs the whole workflow with ``--cores 2`` in a throw-away copy
of the project, and samples the resident memory of its process tree 10 times a second. A job is
a rule script's process with its children, named by its log file (``model_acceptability_logit``);
the tree is Snakemake plus every job running at that instant. Targets: every job within 1.5 GB
at 100,000 respondents and 6 GB at 1,000,000, and the tree within 12 GB at 1,000,000. Prints one
row per job and size (peak MB, seconds, target, within target or not), then the tree. Usage
(1,000,000 takes ~10 minutes on the 2-core machine, the export 1.5 more):

    nice python benchmarks/bench_scale.py [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import psutil  # noqa: E402
from workflow_helpers import BIN, copy_project  # noqa: E402

#: (respondents, peak MB of one job, peak MB of the process tree or None) from issue #14.
TARGETS = {100_000: (1500, None), 1_000_000: (6000, 12000)}
_LOG = re.compile(rb"logs/([\w.-]+?)\.log")


def job_name(proc: psutil.Process, names: dict[int, str]) -> str | None:
    """The job a rule script's process runs, from the log path in its script (read once)."""
    if proc.pid in names:
        return names[proc.pid]
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return None
    script = next((c for c in cmd if "/.snakemake/scripts/" in c), None)
    if script is None:
        return None
    try:
        found = _LOG.search(Path(script).read_bytes())
    except OSError:
        return None
    names[proc.pid] = found.group(1).decode() if found else Path(script).name.split(".", 1)[1]
    return names[proc.pid]


def run(project: Path) -> tuple[dict[str, list[float]], float, float]:
    """Run the workflow in ``project``; per job [peak MB, seconds seen], tree peak MB, seconds."""
    start = time.perf_counter()
    main = psutil.Popen(
        [str(BIN / "snakemake"), "--cores", "2", "--quiet", "all"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "SOCIAL_LICENCE_KEY": "benchmark"},
    )
    jobs: dict[str, list[float]] = {}
    names: dict[int, str] = {}
    first_seen: dict[int, float] = {}
    tree_peak = 0.0
    while main.poll() is None:
        try:
            children = main.children(recursive=True)
            rss = {p.pid: p.memory_info().rss for p in [main, *children]}
        except psutil.Error:
            continue
        tree_peak = max(tree_peak, sum(rss.values()) / 1e6)
        for child in children:
            name = job_name(child, names)
            if name is None or child.pid not in rss:
                continue
            try:
                below = sum(p.memory_info().rss for p in child.children(recursive=True))
            except psutil.Error:
                below = 0
            now = time.perf_counter()
            seen = first_seen.setdefault(child.pid, now)
            peak, _ = jobs.get(name, [0.0, 0.0])
            jobs[name] = [max(peak, (rss[child.pid] + below) / 1e6), now - seen]
        time.sleep(0.1)
    if main.returncode != 0:
        sys.exit(f"workflow failed in {project}:\n{main.stderr.read().decode()[-3000:]}")
    return jobs, tree_peak, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=sorted(TARGETS))
    args = ap.parse_args(argv)
    print(f"{'job':<42}{'parents':>11}{'peak MB':>9}{'s':>8}{'target MB':>11}  within")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for n in args.sizes:
            job_target, tree_target = TARGETS.get(n, (None, None))
            project = copy_project(Path(tmp) / f"n{n}")
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "social_licence.synthetic", "--n", str(n), "--out",
                 str(project / "data" / "raw" / "example")],
                cwd=project,
                check=True,
                capture_output=True,
            )
            generated = time.perf_counter() - t0
            jobs, tree, seconds = run(project)
            for name, (peak, secs) in sorted(jobs.items(), key=lambda kv: -kv[1][0]):
                ok = job_target is None or peak <= job_target
                failed += not ok
                print(
                    f"{name:<42}{n:>11,}{peak:>9.0f}{secs:>8.0f}{job_target or '-':>11}  "
                    f"{'yes' if ok else 'NO'}",
                    flush=True,
                )
            ok = tree_target is None or tree <= tree_target
            failed += not ok
            print(
                f"{'whole workflow, process tree (--cores 2)':<42}{n:>11,}{tree:>9.0f}"
                f"{seconds:>8.0f}{tree_target or '-':>11}  {'yes' if ok else 'NO'}"
                f"   (export written in {generated:.0f} s)",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
