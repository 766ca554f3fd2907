"""social-licence: how far people accept the linking and use of data about them, from a survey
export to a policy brief.

Data flows one way: export -> :class:`Survey` (``read_survey``) -> cleaned frame -> weights
(``rake``) -> :class:`SurveyDesign` -> estimates and models -> tables, figures, brief.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

# Public names and the module that defines each; imported on first use so that a light task
# (reading the instrument) does not pay for plotting or model libraries.
_EXPORTS = {
    # ingest
    "read_survey": "ingest.formats",
    "Survey": "survey.survey",
    "clean": "ingest.cleaning",
    "write_interim": "ingest.interim",
    "read_interim": "ingest.interim",
    "codebook_table": "ingest.codebook",
    "load_instrument": "survey.instrument",
    "Instrument": "survey.instrument",
    "long_format": "survey.grid",
    # weighting
    "rake": "weighting.solver",
    "load_targets": "weighting.targets",
    "make_reweighter": "weighting.solver",
    "rake_from_config": "weighting.targets",
    # estimation
    "SurveyDesign": "design.design",
    "ReplicateDesign": "design.replicates",
    "acceptability": "design.grids",
    "grid_responses": "design.grids",
    "build_plan": "survey.plan",
    "describe_design": "design.describe",
    "acceptability_table": "design.grids",
    "estimate_from_config": "design.grids",
    "adjust_pvalues": "design.estimators",
    # models
    "svyglm": "models.fit",
    "svyolr": "models.fit",
    "fit_model": "models.fit",
    "load_models": "models.spec",
    # outputs
    "suppress": "report.disclosure",
    "protect": "report.disclosure",
    "load_thresholds": "report.disclosure",
    "write_table": "report.tables",
    "build_brief": "report.brief",
    "write_brief": "report.brief",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
