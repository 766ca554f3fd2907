"""Respondent-level indices: the social licence index, the trust index and its reliability.

The licence index is the share of the acceptability items a parent rated that they found
acceptable (somewhat or very), so split-ballot cells never asked do not count against anyone.
The trust index is the mean of a parent's answered trust items on the scale's codes (1-4).
Reliability of the trust items is Cronbach's alpha with Feldt's confidence interval from
pingouin (unweighted: pingouin takes no weights, and alpha describes the instrument, not the
population). Indices feed survey-weighted linear models (``config/models.yaml``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..survey.grid import grid_rows
from ..survey.instrument import Instrument

LICENCE_INDEX = "licence_index"
TRUST_INDEX = "trust_index"
INDEX_COLUMNS = (LICENCE_INDEX, TRUST_INDEX)


def licence_index(
    data: pd.DataFrame,
    instrument: Instrument,
    *,
    grid: str = "acceptability",
    dk: str = "exclude",
    min_items: int = 1,
) -> pd.Series:
    """Share of rated items that a parent found acceptable (0-1), NaN below ``min_items`` rated.

    ``dk="include"`` counts "Don't know" as rated and not acceptable; ``exclude`` leaves it out.
    """
    # summed by respondent position: no per-rating text, no grouping by respondent name
    long, pos = grid_rows(data, instrument, grid, dk=dk)
    count = np.bincount(pos, minlength=len(data))
    accepted = np.bincount(pos, weights=long["acceptable"].to_numpy(), minlength=len(data))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(count >= min_items, accepted / count, np.nan)
    return pd.Series(share, index=data.index, name=LICENCE_INDEX)


def _item_codes(data: pd.DataFrame, instrument: Instrument, grid: str) -> pd.DataFrame:
    """Items of a single-column grid as numeric scale codes (NaN where not answered)."""
    if grid not in instrument.grids:
        raise ConfigError(
            f"grid {grid!r} is not in the instrument (has {', '.join(instrument.grids)})"
        )
    g = instrument.grids[grid]
    codes = instrument.scales[g.scale]["codes"]
    to_code = {label: code for code, label in codes.items()}
    cols = {}
    for var in g.variables:
        if var not in data.columns:
            raise ConfigError(f"grid {grid} item {var!r} is not in the data")
        col = data[var]
        if (
            isinstance(col.dtype, pd.CategoricalDtype)
            or col.dtype == object
            or pd.api.types.is_string_dtype(col)
        ):
            cols[var] = col.astype(object).map(to_code).astype(float)
        else:
            cols[var] = col.where(col.isin(list(codes))).astype(float)
        unknown = col.notna() & cols[var].isna()
        if unknown.any():
            raise ConfigError(
                f"grid {grid} item {var!r} has values outside its scale, e.g. "
                f"{col[unknown].iloc[0]!r}"
            )
    return pd.DataFrame(cols, index=data.index)


def trust_index(
    data: pd.DataFrame, instrument: Instrument, *, grid: str = "trust", min_items: int = 1
) -> pd.Series:
    """Mean of a parent's answered trust items on the scale's codes, NaN below ``min_items``."""
    items = _item_codes(data, instrument, grid)
    out = items.mean(axis=1).where(items.notna().sum(axis=1) >= min_items)
    out.name = TRUST_INDEX
    return out


def cronbach_alpha(
    data: pd.DataFrame,
    instrument: Instrument,
    *,
    grid: str = "trust",
    ci: float = 0.95,
    nan_policy: str = "listwise",
) -> dict[str, float]:
    """Cronbach's alpha of a grid's items with Feldt's CI (pingouin), over complete answers."""
    items = _item_codes(data, instrument, grid)
    if nan_policy == "listwise":
        # pingouin takes n for Feldt's interval before its own listwise deletion: drop first.
        items = items.dropna()
    complete = int(items.notna().all(axis=1).sum())
    if complete < 3:
        raise ConfigError(
            f"grid {grid}: only {complete} respondents answered every item; "
            "Cronbach's alpha needs at least 3"
        )
    import pingouin  # slow to import (it loads matplotlib): only when alpha is asked for

    alpha, (low, high) = pingouin.cronbach_alpha(data=items, nan_policy=nan_policy, ci=ci)
    return {
        "grid": grid,
        "alpha": float(alpha),
        "ci_low": float(low),
        "ci_high": float(high),
        "n": complete,
        "items": int(items.shape[1]),
    }


def add_indices(
    data: pd.DataFrame, instrument: Instrument, *, dk: str = "exclude", min_items: int = 1
) -> pd.DataFrame:
    """A copy of the analysis frame with ``licence_index`` and ``trust_index`` columns."""
    out = data.copy()
    out[LICENCE_INDEX] = licence_index(data, instrument, dk=dk, min_items=min_items)
    out[TRUST_INDEX] = trust_index(data, instrument, min_items=min_items)
    return out
