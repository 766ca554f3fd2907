"""Weighting is a choice: ``none`` (every row counts once), ``supplied`` (the export's own final
weight, checked) or ``rake`` (the design weight raked to population margins, :mod:`.targets`).

What the weight stage writes depends on the choice (:func:`diagnostic_names`): every method
writes the weight summary; margins, balance, convergence and collapsed categories describe a
raking and exist only for ``rake``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError

__all__ = [
    "METHODS",
    "RAKE_DIAGNOSTICS",
    "diagnostic_names",
    "supplied_weights",
    "unit_weights",
]

METHODS = ("none", "supplied", "rake")
#: Diagnostics only a raking has (beside the weight summary every method writes).
RAKE_DIAGNOSTICS = ("margins", "balance", "convergence", "collapsed")


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ConfigError(f"weighting.method must be one of {', '.join(METHODS)}, not {method!r}")
    return method


def diagnostic_names(method: str) -> tuple[str, ...]:
    """The weighting diagnostics the weight stage writes for ``method``."""
    return ("summary", *RAKE_DIAGNOSTICS) if check_method(method) == "rake" else ("summary",)


def unit_weights(data: pd.DataFrame) -> pd.Series:
    """Every row counts once: a weight of 1."""
    return pd.Series(np.ones(len(data)), index=data.index, name="weight")


def supplied_weights(
    data: pd.DataFrame,
    variable: str | None,
    *,
    file: str | None = None,
    rows: np.ndarray | None = None,
) -> pd.Series:
    """The export's own final weight ``variable``, checked: present, numeric, finite, > 0.

    A zero weight never reaches this point unless it was kept on purpose: the cleaning rule
    ``zero_weights`` stops on it or excludes the row (counted in qa/flow.csv). ``rows`` are the
    file rows of ``data`` (1-based), for the message.
    """
    if not variable:
        raise ConfigError(
            "weighting.method is supplied, but the instrument names no weight (design.weight is "
            "null): name the export's final weight column in the instrument's design.weight, or "
            "set weighting.method to none"
        )
    if variable not in data.columns:
        raise InputError(
            "weighting.method is supplied, but the analysis file has no column for the "
            "instrument's design.weight",
            file=file,
            variable=variable,
        )
    column = data[variable]
    if isinstance(column.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(column) or column.dtype == object
    ):
        raise InputError(
            "the supplied weight is not numeric", file=file, variable=variable,
            value=str(column.dtype),
        )
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | ~(values > 0)
    if bad.any():
        where = np.asarray(rows if rows is not None else np.arange(1, len(data) + 1))[bad]
        first = column.to_numpy()[bad][0]
        raise InputError(
            f"{int(bad.sum())} row(s) have a supplied weight that is missing, not a number, "
            "infinite or not above 0; every row analysed needs a positive final weight (a "
            "weight of 0: see cleaning.zero_weights)",
            file=file,
            variable=variable,
            value=None if pd.isna(first) else first,
            rows=[int(r) for r in where],
        )
    return pd.Series(values, index=data.index, name="weight")
