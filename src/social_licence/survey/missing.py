"""Why a value is missing: the convention every stage uses to keep the reason beside the value.

In an analysis frame a labelled variable ``v`` holds substantive answers only (missing is NaN);
the companion column ``v__reason`` holds, where ``v`` is missing, why: ``dont_know``,
``refused``, ``not_asked``, ``by_design`` or ``system``. Estimation uses it to report
"Don't know" as its own category or to leave it out of the base, and to keep cells that were
never asked (split ballot) out of every base and every non-response count.
"""

from __future__ import annotations

import pandas as pd

from .instrument import MISSING_REASONS

REASON_SUFFIX = "__reason"
REASON_DTYPE = pd.CategoricalDtype(list(MISSING_REASONS), ordered=False)
DONT_KNOW_LABEL = "Don't know"


def reason_column(variable: str) -> str:
    """Name of the column that holds why ``variable`` is missing."""
    return variable + REASON_SUFFIX


def reasons(data: pd.DataFrame, variable: str) -> pd.Series:
    """Missing reason of ``variable`` per row: NaN where answered, ``system`` where unexplained."""
    col = reason_column(variable)
    if col in data.columns:
        out = data[col].astype(REASON_DTYPE)
    else:
        out = pd.Series(pd.Categorical([None] * len(data), dtype=REASON_DTYPE), index=data.index)
    unexplained = data[variable].isna() & out.isna()
    if unexplained.any():
        out = out.copy()
        out[unexplained] = "system"
    return out

