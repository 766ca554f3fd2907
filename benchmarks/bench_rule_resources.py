"""Peak memory of each heavy workflow job at several sample sizes, against its memory request.

For each size, writes the synthetic example export of that many parents
(``social_licence.synthetic``), then runs the workflow's heavy jobs one at a time (ingest,
weight, codebook, estimate, one job per model) in a throw-away copy of the project, sampling
the resident memory of each job's process tree 20 times a second. Prints, per job and size, the
export's rows x grid items (the memory model's cells), the peak of the rule script alone and of
the whole job (Snakemake + script: what a SLURM job's memory limit counts), and the ``mem_mb``
the workflow requests for that job (workflow/rules/common.smk), with the request / job ratio;
the coefficients there were fitted to these figures. Usage:

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
import psutil  # noqa: E402
import yaml  # noqa: E402
from workflow_helpers import BIN, copy_project  # noqa: E402

#: The staging folder of the example's analysis (analysis.name in config/config.yaml).
WORK = "work/parents"
HEAVY = {
    "ingest": f"{WORK}/interim/clean.parquet",
    "weight": f"{WORK}/interim/weighted.parquet",
    "codebook": f"{WORK}/codebook/codebook.csv",
    "estimate": f"{WORK}/interim/estimates/trust_items.parquet",
}


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


def measure(project: Path, config: list[str], target: str) -> tuple[float, float, float]:
    """Peak MB of the job making ``target`` (run alone, inputs already made) and its seconds.

    Samples the whole process tree 20 times a second: the peak of its sum (Snakemake and the
    rule script: what a SLURM job's memory limit counts) and of the rule script alone.
    """
    start = time.perf_counter()
    proc = psutil.Popen(
        [str(BIN / "snakemake"), "--cores", "1", "--quiet", "all", *config, "--", target],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "SOCIAL_LICENCE_KEY": "benchmark"},
    )
    tree_peak = script_peak = 0
    while proc.poll() is None:
        try:
            rss = {p.pid: p.memory_info().rss for p in [proc, *proc.children(recursive=True)]}
        except psutil.Error:
            continue
        tree_peak = max(tree_peak, sum(rss.values()))
        script_peak = max(script_peak, max((v for k, v in rss.items() if k != proc.pid), default=0))
        time.sleep(0.05)
    if proc.returncode != 0:
        sys.exit(f"{target} failed:\n{proc.stderr.read().decode()[-3000:]}")
    return tree_peak / 1e6, script_peak / 1e6, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1500, 10000, 30000])
    args = ap.parse_args(argv)
    print(
        f"{'job':<34}{'parents':>9}{'rows':>9}{'cells (M)':>11}{'script MB':>10}"
        f"{'job MB':>8}{'request MB':>12}{'request/job':>13}{'s':>7}"
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
            targets.update({f"model {m}": f"{WORK}/models/{m}.csv" for m in models(project)})
            rows = int(re.search(r'"rows": (\d+)', (data / "truth.json").read_text()).group(1))
            for job, target in targets.items():
                tree, script, seconds = measure(project, config, target)
                ask = requested(project, config, target)
                cells = rows * ratings(project) / 1e6
                print(
                    f"{job:<34}{n:>9,}{rows:>9,}{cells:>11.3f}{script:>10.0f}{tree:>8.0f}"
                    f"{ask:>12}{ask / tree:>13.2f}{seconds:>7.1f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
