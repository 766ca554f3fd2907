"""The estimation stage: every design-based estimate of the analysis plan.

Part of :mod:`social_licence.stages` (one function per workflow stage).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import with_defaults
from ..design.build import (
    load_design,
)
from ..design.grids import ESTIMATION_OPTIONS, estimate_frames
from ..errors import OutputError
from ..ingest.interim import read_interim
from .common import load_plan, write_parquet

log = logging.getLogger("social_licence.stages")


def run_estimate(
    survey_in: str | Path,
    instrument_path: str | Path,
    plan_cfg: Mapping[str, Any],
    outputs: Mapping[str, str | Path],
) -> None:
    """Every design-based estimate of the analysis plan, full precision, as interim Parquet.

    The design is the weight stage's (:func:`load_design`): its standard errors include the
    weighting (calibration residuals, or replicates raked once by the weight stage).
    """
    estimation_cfg = with_defaults("estimation", plan_cfg.get("estimation") or {})
    plan = load_plan(instrument_path, {**plan_cfg, "estimation": estimation_cfg})
    design = load_design(read_interim(survey_in))
    log.info("design: %r", design)
    options = {k: v for k, v in estimation_cfg.items() if k in ESTIMATION_OPTIONS}
    frames = estimate_frames(design, plan, options)
    unexpected = sorted(set(outputs) - set(frames))
    if unexpected:
        raise OutputError(
            f"the estimate job was asked for {unexpected}, which the analysis plan does not make"
        )
    for name, path in outputs.items():
        write_parquet(frames[name], path)
        log.info("%s: %d rows", name, len(frames[name]))
