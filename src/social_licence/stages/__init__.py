"""One function per workflow stage: read the stage's inputs, call the library, write its outputs.

The Snakemake rule scripts in ``scripts/`` are thin wrappers around these functions, so every
stage can be run and tested without Snakemake. Each function takes paths and the plain config
blocks of ``config/config.yaml``; every output is written atomically.

Each stage lives in its own module (``ingest``, ``weight``, ``estimate``, ``model``, ``report``,
``waves``; what several share in ``common``), loaded when one of its names is first asked for:
``from social_licence.stages import run_tables`` loads the report stages and the library they
use, not the ingest readers or the model fitting. Every job starts a new Python process, and on
a small survey starting up is most of a job's time.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where each public name of the stages lives (``tests/test_layers.py`` checks this is complete).
STAGES = {
    "WEIGHT_COLUMN": "common",
    "load_plan": "common",
    "panel_pseudonyms": "common",
    "protect_published": "common",
    "report_inputs": "common",
    "wave_error": "common",
    "write_parquet": "common",
    "CODEBOOK_STATISTICS": "ingest",
    "run_codebook": "ingest",
    "run_ingest": "ingest",
    "RAKE_KEYS": "weight",
    "rake_options": "weight",
    "replicate_reweighter": "weight",
    "run_gather_replicates": "weight",
    "run_rake": "weight",
    "run_replicate_weights": "weight",
    "run_weight": "weight",
    "run_estimate": "estimate",
    "run_model": "model",
    "stacked_design": "model",
    "run_brief": "report",
    "run_figures": "report",
    "run_tables": "report",
    "run_change": "waves",
    "run_trend_figure": "waves",
    "run_trend_tables": "waves",
}

__all__ = sorted(STAGES)


def __getattr__(name: str) -> Any:
    """A stage's name, from its module, imported on first use (PEP 562)."""
    module = STAGES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *STAGES])
