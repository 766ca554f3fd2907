"""Target sets from ``targets.yaml`` (checked against the package schema), and raking as the
``weighting`` section of the config says (:func:`rake_from_config`, with its diagnostics).
"""


from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import read_yaml, validate
from ..errors import ConfigError, WeightingError
from .diagnostics import balance_table, effective_n, kish_deff, margin_table, weight_summary
from .margins import (
    MISSING_LABEL,
    SEPARATOR,
    CollapseRule,
    Margin,
    Targets,
    TargetSet,
    as_margins,
    code_margin,
    make_margin,
    resolve_total,
)
from .solver import checked_options, rake

logger = logging.getLogger(__name__)

# -- configuration -----------------------------------------------------------------------------
def rake_from_config(
    data: pd.DataFrame, targets: Targets, options: Mapping[str, Any] | None = None
) -> tuple[pd.Series, dict[str, pd.DataFrame]]:
    """Rake as configured and return the weights with every diagnostic table.

    ``options`` (see :data:`RAKE_OPTIONS` and :data:`DIAGNOSTIC_OPTIONS`): ``base_weight``
    (column, default ``design_weight``; null for equal weights), ``tol``, ``max_iter``,
    ``bounds`` ([low, high] relative to the base weight), ``trim_deff``, ``total``,
    ``missing``, ``missing_label``, ``collapse``, ``covariates`` (not used in weighting, for the
    balance table) and ``reference`` (their population shares or means, optional).

    Diagnostics: ``summary`` (:func:`weight_summary`), ``margins`` (:func:`margin_table`),
    ``balance`` (:func:`balance_table`), ``collapsed`` (categories merged before raking) and
    ``convergence`` (one row: iterations, max margin error, bounds, design effect...).
    """
    opts = checked_options(options, allow_diagnostics=True)
    if isinstance(opts["base_weight"], str) and opts["base_weight"] not in data.columns:
        raise ConfigError(
            f"weighting option base_weight names column {opts['base_weight']!r}, which is not in "
            "the data; set base_weight: null to start from equal weights"
        )
    result = rake(
        data,
        targets,
        opts["base_weight"],
        tol=opts["tol"],
        max_iter=opts["max_iter"],
        bounds=opts["bounds"],
        total=opts["total"],
        missing=opts["missing"],
        missing_label=opts["missing_label"],
        collapse=opts["collapse"],
        trim_deff=opts["trim_deff"],
    )
    w = result.weights
    reference = opts["reference"]
    if reference is None and isinstance(targets, TargetSet):
        reference = targets.reference_shares()
    used = {v for m in result.margins for v in m.variables}
    overlap = sorted(used & set(opts["covariates"] or ()))
    if overlap:
        raise ConfigError(f"balance covariates {overlap} are weighting variables; list others")
    diagnostics = {
        "summary": weight_summary(w, result.base),
        "margins": margin_table(
            data,
            w,
            result.base,
            result.margins,
            missing=opts["missing"],
            missing_label=opts["missing_label"],
        ),
        "balance": balance_table(
            data, w, list(opts["covariates"] or ()), base=result.base, reference=reference
        ),
        "collapsed": result.collapsed,
        "convergence": pd.DataFrame(
            [
                {
                    "margins": len(result.margins),
                    "cells": result.n_cells,
                    "iterations": result.iterations,
                    "converged": result.converged,
                    "max_margin_error": result.max_margin_error,
                    "tol": result.tol,
                    "bound_low": result.bounds[0] if result.bounds else np.nan,
                    "bound_high": result.bounds[1] if result.bounds else np.nan,
                    "trim_deff": np.nan if opts["trim_deff"] is None else float(opts["trim_deff"]),
                    "total": result.total,
                    "deff_kish": kish_deff(w.to_numpy()),
                    "n_effective": effective_n(w.to_numpy()),
                }
            ]
        ),
    }
    return w, diagnostics


def load_targets(
    path: str | Path,
    set_name: str,
    *,
    instrument: Any = None,
    data: pd.DataFrame | None = None,
    missing_label: str = MISSING_LABEL,
) -> TargetSet:
    """Read one target set from ``targets.yaml`` and check it.

    Checks: the set exists; every margin names its variable(s), source and date, and gives
    ``shares`` summing to 1 (within :data:`SHARE_TOLERANCE`) or ``totals``; totals agree across
    margins; with ``instrument``, every variable and category exists there (``missing_label`` is
    also allowed); with ``data``, every category has respondents. The file is first validated against
    the package's ``targets.schema.yaml``.
    """
    path = Path(path)
    raw = read_yaml(path, "targets file")
    where = str(path)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("sets"), Mapping):
        raise ConfigError(f"{where}: expected a mapping with 'sets'")
    sets = raw["sets"]
    if set_name not in sets:
        raise ConfigError(
            f"{where}: target set {set_name!r} is not there (sets: {', '.join(sets)})"
        )
    spec = sets[set_name] or {}
    where = f"{where}: set {set_name}"
    if not spec.get("margins"):
        raise ConfigError(f"{where}: no margins")
    unknown = sorted(set(spec) - {"description", "margins", "reference"})
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}")
    margins = []
    for i, ms in enumerate(spec["margins"], start=1):
        margins.append(_parse_margin(ms, f"{where}, margin {i}", instrument, missing_label))
    try:
        margins = as_margins(margins)
        resolve_total(margins, None, 1, 1.0)
    except WeightingError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    reference = tuple(
        _parse_margin(ms, f"{where}, reference {i}", instrument, missing_label)
        for i, ms in enumerate(spec.get("reference") or [], start=1)
    )
    weighted = {v for m in margins for v in m.variables}
    for ref in reference:
        if len(ref.variables) != 1 or ref.variables[0] in weighted:
            raise ConfigError(
                f"{where}: reference {ref.name} must be one covariate that is not raked on"
            )
    # the checks above give the specific messages; the schema catches anything they leave
    validate(raw, "targets", str(path), fill_defaults=False)
    target_set = TargetSet(set_name, tuple(margins), spec.get("description"), str(path), reference)
    if data is not None:
        # Coding the data checks every category: no respondents, or respondents without target.
        # Missing values are left to rake's ``missing`` option, so they are set aside here.
        for m in margins:
            for v in m.variables:
                if v not in data.columns:
                    raise WeightingError(f"weighting variable {v!r} is not in the data")
            answered = data[list(m.variables)].notna().all(axis=1).to_numpy()
            kept = {c: t for c, t in m.targets.items() if missing_label not in c.split(SEPARATOR)}
            if kept and answered.any():
                code_margin(
                    data.loc[answered],
                    replace(m, targets=kept),
                    None,
                    "error",
                    missing_label,
                    m.collapse,
                )
    return target_set


def _parse_margin(ms: Any, where: str, instrument: Any, missing_label: str) -> Margin:
    if not isinstance(ms, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {ms!r}")
    known = {"variable", "variables", "shares", "totals", "source", "date", "note", "collapse"}
    unknown = sorted(set(ms) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}")
    if ("variable" in ms) == ("variables" in ms):
        raise ConfigError(f"{where}: give exactly one of 'variable' or 'variables'")
    variables = (ms["variable"],) if "variable" in ms else tuple(ms["variables"])
    name = " x ".join(str(v) for v in variables)
    where = f"{where} ({name})"
    if ("shares" in ms) == ("totals" in ms):
        raise ConfigError(f"{where}: give exactly one of 'shares' or 'totals'")
    for key in ("source", "date"):
        if not ms.get(key):
            raise ConfigError(f"{where}: every margin needs its {key}")
    kind = "shares" if "shares" in ms else "totals"
    values = ms[kind]
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: {kind} must map categories to numbers")
    collapse = (
        CollapseRule.from_config(ms["collapse"], f"{where}: collapse")
        if ms.get("collapse")
        else None
    )
    try:
        margin = make_margin(
            variables,
            values,
            kind,
            source=str(ms["source"]),
            date=str(ms["date"]),
            note=ms.get("note"),
            collapse=collapse,
        )
    except WeightingError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if instrument is not None:
        for pos, v in enumerate(variables):
            if v not in instrument:
                raise ConfigError(f"{where}: variable {v!r} is not in the instrument")
            labels = set(instrument[v].labels) | {missing_label}
            for lab in instrument[v].labels:
                if SEPARATOR in lab and len(variables) > 1:
                    raise ConfigError(
                        f"{where}: label {lab!r} contains the separator {SEPARATOR!r}"
                    )
            for cat in margin.categories:
                part = cat.split(SEPARATOR)[pos] if len(variables) > 1 else cat
                if part not in labels:
                    raise ConfigError(
                        f"{where}: category {part!r} is not a label of {v} in the instrument "
                        f"({', '.join(instrument[v].labels)})"
                    )
    return margin


