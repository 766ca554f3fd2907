"""social-licence: parents' social licence for administrative data linkage, from export to brief.

Data flows one way: export -> :class:`Survey` (``read_survey``) -> cleaned frame -> weights
(``rake``) -> :class:`SurveyDesign` -> estimates and models -> tables, figures, brief.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names and the module that defines each; imported on first use so that a light task
# (reading the instrument) does not pay for plotting or model libraries.
_EXPORTS = {
    # ingest
    "read_survey": "ingest",
    "Survey": "ingest",
    "clean": "cleaning",
    "write_interim": "interim",
    "read_interim": "interim",
    "codebook_table": "codebook",
    "load_instrument": "instrument",
    "Instrument": "instrument",
    "long_format": "grid",
    # weighting
    "rake": "weighting",
    "load_targets": "weighting",
    "make_reweighter": "weighting",
    "rake_from_config": "weighting",
    # estimation
    "SurveyDesign": "design",
    "ReplicateDesign": "replicates",
    "acceptability": "estimates",
    "acceptability_table": "estimates",
    "estimate_from_config": "estimates",
    "adjust_pvalues": "estimates",
    # models
    "svyglm": "models",
    "svyolr": "models",
    "fit_model": "models",
    "load_models": "models",
    # outputs
    "suppress": "disclosure",
    "protect": "disclosure",
    "load_thresholds": "disclosure",
    "write_table": "tables",
    "build_brief": "brief",
    "write_brief": "brief",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
