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
    "read_survey": "ingest",
    "Survey": "ingest",
    "rake": "weighting",
    "SurveyDesign": "design",
    "load_instrument": "instrument",
    "Instrument": "instrument",
    "long_format": "grid",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
