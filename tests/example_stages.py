"""The example's config files, and its weight stage run in-process as the workflow runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from social_licence.config import with_defaults
from social_licence.stages import run_gather_replicates, run_replicate_weights, run_weight

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
INSTRUMENT = ROOT / "config" / "instrument.yaml"
TARGETS = ROOT / "config" / "targets.yaml"
THRESHOLDS = ROOT / "config" / "thresholds.yaml"
#: The diagnostics the weight stage writes when it rakes.
RAKE_FILES = ("summary", "margins", "balance", "convergence", "collapsed")


def weight_example(
    clean: Path,
    out: Path,
    estimation: dict[str, Any],
    weighting: dict[str, Any] | None = None,
    jobs: int = 1,
) -> Path:
    """The weight stage on the cleaned file ``clean`` (the example's weighting unless
    ``weighting``), then (``jobs`` > 1) the replicate jobs and the gather, as the workflow runs
    them, writing into ``out``; the analysis file's path."""
    out.mkdir(parents=True, exist_ok=True)
    weighting = weighting or CONFIG["weighting"]
    estimation = {**estimation, "replicate_jobs": jobs}
    method = with_defaults("weighting", weighting)["method"]
    names = RAKE_FILES if method == "rake" else ("summary",)
    weighted = out / "weighted.parquet"
    full = out / "full_sample.parquet" if jobs > 1 else weighted
    targets = TARGETS if method == "rake" else None
    run_weight(
        clean, targets, INSTRUMENT, weighting, estimation, THRESHOLDS, full,
        {n: out / f"{n}.csv" for n in names},
    )
    if jobs > 1:
        chunks = [out / f"chunk_{k}.parquet" for k in range(1, jobs + 1)]
        for k, chunk in enumerate(chunks, start=1):
            run_replicate_weights(full, targets, INSTRUMENT, weighting, estimation, k, chunk)
        run_gather_replicates(full, chunks, weighted)
    return weighted
