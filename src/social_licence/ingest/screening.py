"""Row screens of cleaning that must never resolve silently: repeated IDs with conflicting
answers, zero design weights, and items nobody answered.

Each is a counted rule of the QA flow (:func:`social_licence.cleaning.clean`) whose default is
to stop with a message naming the rule, the count, the file rows and what to set in config;
messages never print a respondent ID or pseudonym.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..survey.instrument import Instrument

__all__ = [
    "CONFLICT_ACTIONS",
    "ZERO_WEIGHT_ACTIONS",
    "Duplicates",
    "answer_columns",
    "check_answered",
    "find_duplicates",
    "zero_weights",
]

CONFLICT_ACTIONS = ("error", "keep", "drop")
ZERO_WEIGHT_ACTIONS = ("error", "exclude")
# Variables whose values are analysed, so an item with no valid answer is a fault
_ANALYSED_TYPES = ("categorical", "ordinal", "numeric")
_NOT_ANALYSED_ROLES = ("quality", "design")


def check_action(rule: str, action: Any, allowed: tuple[str, ...]) -> str:
    if action not in allowed:
        raise ConfigError(f"cleaning.{rule}.action: {action!r} is not one of {', '.join(allowed)}")
    return action


def answer_columns(data: pd.DataFrame, instrument: Instrument) -> list[str]:
    """Columns two submissions of one respondent are compared on: every column but numeric
    paradata (variables of role ``quality`` that are numbers, e.g. the interview duration)."""
    skip = {
        v.name for v in instrument.variables.values() if v.role == "quality" and not v.is_labelled
    }
    return [c for c in data.columns if c not in skip]


@dataclass(frozen=True)
class Duplicates:
    """Rows of repeated respondent IDs: exact resubmissions to drop, and conflicting copies."""

    resubmitted: np.ndarray  # the extra copies of IDs whose copies agree (drop)
    conflicting: np.ndarray  # every copy of IDs whose copies disagree
    n_conflicting_ids: int
    variables: list[str]  # variables on which copies disagree


def unit_key(data: pd.DataFrame, item: str | None = None) -> pd.Index:
    """What one row stands for: the respondent (a wide export) or the respondent's rating of
    one item (a long export, ``item`` the item column)."""
    if item is None:
        return data.index
    return pd.MultiIndex.from_arrays([data.index, data[item].to_numpy()])


def find_duplicates(
    data: pd.DataFrame, instrument: Instrument, keep: str, item: str | None = None
) -> Duplicates:
    """Split repeated units (IDs; in a long export, ID x item) into exact resubmissions and
    copies that disagree."""
    index = unit_key(data, item)
    repeated = np.asarray(index.duplicated(keep=False), dtype=bool)
    n = len(data)
    if not repeated.any():
        none = np.zeros(n, dtype=bool)
        return Duplicates(none, none.copy(), 0, [])
    cols = answer_columns(data, instrument)
    sub = data.loc[repeated, cols].set_axis(index[repeated])
    differs = sub.groupby(level=list(range(index.nlevels)), sort=False, observed=True).nunique(dropna=False) > 1
    bad_ids = differs.index[differs.any(axis=1)]
    variables = [c for c in cols if bool(differs[c].any())]
    conflicting = repeated & np.asarray(index.isin(bad_ids), dtype=bool)
    extra = np.asarray(index.duplicated(keep=keep), dtype=bool)
    return Duplicates(extra & ~conflicting, conflicting, len(bad_ids), variables)


def conflicting_rows(
    dups: Duplicates,
    index: pd.Index,
    action: str,
    keep: str,
    *,
    file: str | None,
    rows: np.ndarray,
    variable: str | None,
    long: bool = False,
) -> np.ndarray:
    """Rows the conflicting-duplicates rule removes under ``action`` (``error`` raises).
    ``index``: the unit of a row (:func:`unit_key`); ``long``: the export is declared long."""
    if not dups.conflicting.any():
        return dups.conflicting
    if action == "error":
        shown = ", ".join(dups.variables[:5]) + (
            f" (and {len(dups.variables) - 5} more)" if len(dups.variables) > 5 else ""
        )
        what = (
            "respondent ID and item pair(s)" if long else "respondent ID(s)"
        )
        hint = (
            ""
            if long
            else " If the export has one row per rating (several rows per respondent), declare "
            "survey.layout: long and survey.item (the column naming the item each row rates)."
        )
        raise InputError(
            f"{dups.n_conflicting_ids} {what} appear more than once with different "
            f"answers (differing in {shown}), so neither copy can be trusted as it is. Fix the "
            "export, or set cleaning.conflicting_duplicates.action to keep (keeps the copy that "
            "cleaning.duplicates.keep names) or drop (removes every copy); either is counted "
            f"in qa/flow.csv.{hint}",
            file=file,
            variable=variable,
            rows=np.asarray(rows)[dups.conflicting].tolist(),
        )
    if action == "drop":
        return dups.conflicting
    return dups.conflicting & np.asarray(index.duplicated(keep=keep), dtype=bool)


def zero_weights(
    data: pd.DataFrame, instrument: Instrument, action: str, *, file: str | None, rows: np.ndarray
) -> tuple[np.ndarray, str | None]:
    """Rows with a design weight of exactly 0: an error unless ``action`` is ``exclude``."""
    name = instrument.design.get("weight")
    if not name or name not in data.columns:
        return np.zeros(len(data), dtype=bool), None
    w = pd.to_numeric(data[name], errors="coerce").to_numpy(dtype=float)
    zero = w == 0
    if zero.any() and action == "error":
        raise InputError(
            f"{int(zero.sum())} respondent row(s) have a design weight of 0, which would leave "
            "them in the file but out of every estimate. Fix the export, or set "
            "cleaning.zero_weights.action: exclude to leave them out (counted in qa/flow.csv)",
            file=file,
            variable=name,
            value=0,
            rows=np.asarray(rows)[zero].tolist(),
        )
    return zero, name


def check_answered(
    data: pd.DataFrame,
    instrument: Instrument,
    *,
    file: str | None = None,
) -> None:
    """Stop on analysed items with no valid answer among the respondents analysed.

    An item nobody answered (every value missing: refused, don't know, or a grid cell asked in
    no ballot) would fail later as an aliased model term naming another item, or vanish from a
    table; it is named here with what to do.
    """
    if data.empty:
        return
    empty = []
    for v in instrument.variables.values():
        if v.name not in data.columns or v.type not in _ANALYSED_TYPES:
            continue
        if v.role in _NOT_ANALYSED_ROLES:
            continue
        if data[v.name].notna().any():
            continue
        why = data.get(f"{v.name}__reason")
        counts = ""
        if why is not None:
            tally = why.astype(object).fillna("blank").value_counts()
            counts = " (" + ", ".join(f"{k} {n}" for k, n in tally.items()) + ")"
        empty.append(f"{v.name}{counts}")
    if empty:
        raise InputError(
            f"{len(empty)} item(s) have no valid answer among the {len(data)} respondents "
            f"analysed: {'; '.join(empty)}. Check that survey.rename and survey.recode map the "
            "export's columns and codes onto these variables; if the question was not asked in "
            "this wave (or, for a grid cell, in any ballot), remove it from the instrument (a "
            "grid cell: its row or column) and from the config",
            file=file,
        )
