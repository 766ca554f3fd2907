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
RESPONDENT = "respondent"
"""The long frame's column naming each row's respondent."""


def grid_rows(
    data: pd.DataFrame,
    instrument: Instrument,
    grid: str,
    *,
    dk: str = "exclude",
    keep: Sequence[str] = (),
    by: Sequence[str] = (),
) -> tuple[pd.DataFrame, np.ndarray]:
    """The long-format builder: a grid's items stacked into rows, built from category codes so
    that it takes milliseconds at N = 100,000, and each row's respondent position in ``data``.

    Columns: ``respondent``, ``item``, the grid's row and column names, ``rating`` (NaN for
    "Don't know"), ``response`` (ratings plus "Don't know" when included), ``acceptable`` and
    the ``keep`` columns (same dtypes as in ``data``). ``by`` is checked against the grid's names;
    a ``by`` that is a column of ``data`` instead (the item column of a long export) is kept too.
    Its equality with a plain item-by-item stacking is a test (``tests/test_estimates_grid.py``).
    """
    if dk not in DK_OPTIONS:
        raise ConfigError(f"dk must be one of {', '.join(DK_OPTIONS)}, not {dk!r}")
    g = instrument.grids.get(grid)
    if g is None:
        raise ConfigError(f"grid {grid!r} is not in the instrument (has {', '.join(instrument.grids)})")
    allowed = [g.row_name] + ([g.column_name] if g.column_name else [])
    # a column of the data (e.g. the item column of a long export) is a dimension too: kept
    extra = [b for b in by if b not in allowed]
    wrong = [b for b in extra if b not in data.columns]
    if wrong:
        raise ConfigError(f"grid {grid} can be broken down by {allowed} or a column of the data, not {wrong}")
    keep = list(dict.fromkeys([*keep, *extra]))
    missing_keep = [k for k in keep if k not in data.columns]
    if missing_keep:
        raise ConfigError(f"grouping columns {missing_keep} are not in the data")
    scale = instrument.scales[g.scale]
    labels = [scale["codes"][c] for c in sorted(scale["codes"])]
    rating_dtype = pd.CategoricalDtype(labels, ordered=True)
    positive = np.array([labels.index(scale["codes"][c]) for c in scale["positive"]])
    rows_, cols_ = list(g.rows), list(g.columns)
    pos_parts, item_parts, acc_parts, r_parts, c_parts, rating_parts = [], [], [], [], [], []
    items = []
    for var, row, col in g.cells():
        if var not in data.columns:
            raise ConfigError(f"grid {grid} item {var!r} is not in the data")
        s = data[var]
        if not (isinstance(s.dtype, pd.CategoricalDtype) and list(s.cat.categories) == labels):
            s = s.astype(rating_dtype)
        codes = s.cat.codes.to_numpy()
        answered = codes >= 0
        use = answered
        if dk == "include":
            use = answered | (reasons(data, var) == "dont_know").to_numpy()
        idx = np.flatnonzero(use)
        if not len(idx):
            continue
        items.append(var)
        pos_parts.append(idx)
        item_parts.append(np.full(len(idx), len(items) - 1))
        acc_parts.append(np.isin(codes[idx], positive).astype(float))
        rating_parts.append(codes[idx])
        r_parts.append(np.full(len(idx), rows_.index(row)))
        c_parts.append(np.full(len(idx), cols_.index(col) if col is not None else -1))
    if not items:
        raise ConfigError(f"grid {grid} has no answered items in the data")
    pos = np.concatenate(pos_parts)
    out = {
        "respondent": data.index.take(pos).to_series(index=pd.RangeIndex(len(pos))),
        "item": pd.Categorical.from_codes(np.concatenate(item_parts), categories=items),
        g.row_name: pd.Categorical.from_codes(np.concatenate(r_parts), categories=rows_, ordered=True),
    }
    if g.column_name:
        out[g.column_name] = pd.Categorical.from_codes(np.concatenate(c_parts), categories=cols_, ordered=True)
    rating = np.concatenate(rating_parts)
    out["rating"] = pd.Categorical.from_codes(rating, dtype=rating_dtype)
    response_labels = labels + ([DONT_KNOW_LABEL] if dk == "include" else [])
    out["response"] = pd.Categorical.from_codes(
        np.where(rating >= 0, rating, len(labels)), categories=response_labels
    )
    out["acceptable"] = np.concatenate(acc_parts)
    frame = pd.DataFrame(out)
    for k in keep:
        col = data[k]
        if isinstance(col.dtype, pd.CategoricalDtype):
            frame[k] = pd.Categorical.from_codes(col.cat.codes.to_numpy()[pos], dtype=col.dtype)
        else:
            frame[k] = col.to_numpy()[pos]
    return frame, pos


def long_format(
    data: pd.DataFrame,
    instrument: Instrument,
    grid: str,
    *,
    dk: str = "exclude",
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """Stack a grid's items into rows (:func:`grid_rows` without the positions).

    Columns: ``respondent`` (the row label of ``data``), ``item``, the grid's row name (e.g.
    ``data_type``) and column name (e.g. ``purpose``) as ordered Categoricals in instrument
    order, ``rating`` (ordered Categorical of labels, NaN for "Don't know"), ``response``
    (rating labels plus "Don't know" when ``dk="include"``), ``acceptable`` (1.0 where the
    rating is one of the scale's positive codes, else 0.0), then the ``keep`` columns.
    """
    missing_keep = [k for k in keep if k not in data.columns]
    if missing_keep:
        raise ConfigError(f"columns {missing_keep} asked to keep are not in the data")
    frame, _ = grid_rows(data, instrument, grid, dk=dk, keep=keep)
    frame["item"] = frame["item"].astype(str)
    return frame
