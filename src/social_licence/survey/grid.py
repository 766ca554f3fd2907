"""Long format for question grids: one row per respondent x item actually asked.

Cells missing by design (split ballot) or not asked are never rows, so they never enter a
base. Item non-response is dropped; "Don't know" is dropped (``dk="exclude"``) or kept as its
own response that is not "acceptable" (``dk="include"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .instrument import Instrument
from .missing import DONT_KNOW_LABEL, reasons

DK_OPTIONS = ("exclude", "include")


def long_format(
    data: pd.DataFrame,
    instrument: Instrument,
    grid: str = "acceptability",
    *,
    dk: str = "exclude",
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """Stack a grid's items into rows.

    Columns: ``respondent`` (the row label of ``data``), ``item``, the grid's row name (e.g.
    ``data_type``) and column name (e.g. ``purpose``) as ordered Categoricals in instrument
    order, ``rating`` (ordered Categorical of labels, NaN for "Don't know"), ``response``
    (rating labels plus "Don't know" when ``dk="include"``), ``acceptable`` (1.0 where the
    rating is one of the scale's positive codes, else 0.0), then the ``keep`` columns.
    """
    if dk not in DK_OPTIONS:
        raise ConfigError(f"dk must be one of {', '.join(DK_OPTIONS)}, not {dk!r}")
    if grid not in instrument.grids:
        raise ConfigError(f"grid {grid!r} is not in the instrument (has {', '.join(instrument.grids)})")
    g = instrument.grids[grid]
    missing_keep = [k for k in keep if k not in data.columns]
    if missing_keep:
        raise ConfigError(f"columns {missing_keep} asked to keep are not in the data")
    scale = instrument.scales[g.scale]
    labels = [scale["codes"][c] for c in sorted(scale["codes"])]
    positive = {scale["codes"][c] for c in scale["positive"]}
    rating_dtype = pd.CategoricalDtype(labels, ordered=True)
    response_labels = labels + ([DONT_KNOW_LABEL] if dk == "include" else [])
    response_dtype = pd.CategoricalDtype(response_labels, ordered=False)

    pieces = []
    for var, row, col in g.cells():
        if var not in data.columns:
            raise ConfigError(f"grid {grid} item {var!r} is not in the data")
        values = data[var].astype(rating_dtype)
        why = reasons(data, var)
        answered = values.notna().to_numpy()
        is_dk = (why == "dont_know").to_numpy()
        use = answered | (is_dk if dk == "include" else np.zeros(len(data), dtype=bool))
        if not use.any():
            continue
        sub = pd.DataFrame(
            {
                "respondent": data.index[use],
                "item": var,
                g.row_name: row,
                "rating": values[use].to_numpy(),
            }
        )
        if g.column_name:
            sub.insert(3, g.column_name, col)
        response = values[use].astype(object).to_numpy().copy()
        response[is_dk[use] & ~answered[use]] = DONT_KNOW_LABEL
        sub["response"] = pd.Categorical(response, dtype=response_dtype)
        sub["acceptable"] = values[use].isin(positive).to_numpy().astype(float)
        for k in keep:
            sub[k] = data[k].to_numpy()[use]
        pieces.append(sub)
    if not pieces:
        raise ConfigError(f"grid {grid} has no answered items in the data")
    out = pd.concat(pieces, ignore_index=True)
    out["rating"] = out["rating"].astype(rating_dtype)
    out["response"] = out["response"].astype(response_dtype)
    out[g.row_name] = pd.Categorical(out[g.row_name], categories=list(g.rows), ordered=True)
    if g.column_name:
        out[g.column_name] = pd.Categorical(out[g.column_name], categories=list(g.columns), ordered=True)
    for k in keep:
        if isinstance(data[k].dtype, pd.CategoricalDtype):
            out[k] = out[k].astype(data[k].dtype)
    return out
