"""Peak memory of each heavy workflow job at several sample sizes, against its memory request.

For each size, writes the synthetic example export of that many parents
(``social_licence.synthetic``), then runs the workflow's heavy jobs one at a time (ingest,
weight, codebook, estimate, one job per model) in a throw-away copy of the project, each under
its own watcher process that reads the peak resident memory of its largest descendant
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the rule script's process). Prints, per job and size,
the export's rows x grid items (the memory model's cells), the peak, and the ``mem_mb`` the
workflow requests for that job (workflow/rules/common.smk), with their ratio; the coefficients
there were fitted to these figures. Usage:

    python benchmarks/bench_rule_resources.py [--sizes 1500 10000 30000]
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
import yaml  # noqa: E402
from workflow_helpers import BIN, copy_project  # noqa: E402

HEAVY = {
    "ingest": "results/interim/clean.parquet",
    "weight": "results/interim/weighted.parquet",
    "codebook": "results/codebook/codebook.csv",
    "estimate": "results/interim/estimates/trust.parquet",
}
WATCH = (
    "import resource, subprocess, sys; "
    "rc = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)"
)


def models(project: Path) -> list[str]:
    return [
        m["name"] for m in yaml.safe_load((project / "config/models.yaml").read_text())["models"]
    ]


def ratings(project: Path) -> int:
    """Grid items of the instrument, counted as workflow/rules/common.smk counts them."""
    grids = yaml.safe_load((project / "config/instrument.yaml").read_text()).get("grids", {})
    return sum(len(g["rows"]) * max(1, len(g.get("columns") or {})) for g in grids.values())


def requested(project: Path, config: list[str], target: str) -> int:
    """The job's mem_mb as the workflow computes it (dry run, forced)."""
    out = subprocess.run(
        [str(BIN / "snakemake"), "-n", "--force", "--cores", "1", *config, "--", target],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(re.search(r"\bmem_mb=(\d+)", out.stdout + out.stderr).group(1))


def measure(project: Path, config: list[str], target: str) -> tuple[float, float]:
    """Peak MB of the job making ``target`` (run alone, inputs already made) and its seconds."""
    start = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            WATCH,
            str(BIN / "snakemake"),
            "--cores",
            "1",
            "--quiet",
            "all",
            *config,
            "--",
            target,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "SOCIAL_LICENCE_KEY": "benchmark"},
    )
    peak_kb, rc = out.stdout.split()[-2:]
    if rc != "0":
        sys.exit(f"{target} failed:\n{out.stderr[-3000:]}")
    return int(peak_kb) / 1024 * 1.048576, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1500, 10000, 30000])
    args = ap.parse_args(argv)
    print(
        f"{'job':<34}{'parents':>9}{'rows':>9}{'cells (M)':>11}{'peak MB':>9}"
        f"{'request MB':>12}{'request/peak':>14}{'s':>7}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-rule-resources-") as tmp:
        for n in args.sizes:
            project = copy_project(Path(tmp) / f"n{n}")
            data = project / "data" / "raw" / "example"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "social_licence.synthetic",
                    "--n",
                    str(n),
                    "--out",
                    str(data),
                ],
                cwd=project,
                check=True,
                capture_output=True,
            )
            config: list[str] = []
            targets = dict(HEAVY)
            targets.update({f"model {m}": f"results/models/{m}.csv" for m in models(project)})
            rows = int(re.search(r'"rows": (\d+)', (data / "truth.json").read_text()).group(1))
            for job, target in targets.items():
                peak, seconds = measure(project, config, target)
                ask = requested(project, config, target)
                cells = rows * ratings(project) / 1e6
                print(
                    f"{job:<34}{n:>9,}{rows:>9,}{cells:>11.3f}{peak:>9.0f}{ask:>12}"
                    f"{ask / peak:>14.2f}{seconds:>7.1f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
