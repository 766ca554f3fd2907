"""Matching the withdrawals list to the export's respondent IDs: never silent, never by value.

IDs typed by hand into a withdrawals list differ from the export's in small ways: a space, a
different case, leading zeros dropped by a spreadsheet. Both sides are compared after the
normalisation the config declares (``survey.id_match``), and a listed ID that matches nobody
stops the run with the count of such IDs (never their values) unless the config says to go on
(``survey.unmatched_withdrawals: continue``), when the count is reported in ``qa/flow.csv``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError

__all__ = [
    "DEFAULT_ID_MATCH",
    "ID_MATCH_RULES",
    "UNMATCHED_OPTIONS",
    "WithdrawalMatch",
    "match_withdrawals",
    "normalise_id",
]

#: What may be ignored when IDs are compared: surrounding whitespace, letter case, and leading
#: zeros of an ID made only of digits ("00123" = "123"; "P0012" keeps its zeros).
ID_MATCH_RULES = ("whitespace", "case", "leading_zeros")
DEFAULT_ID_MATCH = ID_MATCH_RULES
UNMATCHED_OPTIONS = ("error", "continue")
_DIGITS = re.compile(r"^[0-9]+$")


def check_id_match(rules: Iterable[str] | None) -> tuple[str, ...]:
    """The normalisation rules, checked (``None`` gives :data:`DEFAULT_ID_MATCH`)."""
    if rules is None:
        return DEFAULT_ID_MATCH
    if isinstance(rules, str):
        rules = [rules]
    rules = tuple(rules)
    unknown = [r for r in rules if r not in ID_MATCH_RULES]
    if unknown:
        raise ConfigError(
            f"survey.id_match: {unknown} are not normalisations of an ID; "
            f"choose from {', '.join(ID_MATCH_RULES)}"
        )
    return rules


def normalise_id(value: object, rules: Sequence[str] = DEFAULT_ID_MATCH) -> str:
    """An ID as text, normalised by ``rules`` (see :data:`ID_MATCH_RULES`)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if "whitespace" in rules:
        text = text.strip()
    if "case" in rules:
        text = text.casefold()
    if "leading_zeros" in rules and _DIGITS.match(text):
        text = text.lstrip("0") or "0"
    return text


@dataclass(frozen=True)
class WithdrawalMatch:
    """Which rows withdrew, and how many listed IDs matched nobody."""

    withdrawn: np.ndarray  # one True/False per export row
    listed: int
    unmatched: int


def match_withdrawals(
    ids: pd.Index | Sequence[object],
    listed: Iterable[object],
    *,
    id_match: Iterable[str] | None = None,
    unmatched: str = "error",
    rows: Sequence[int] | None = None,
    file: str | None = None,
    export: str | None = None,
) -> WithdrawalMatch:
    """Rows of ``ids`` whose ID is listed, compared after the ``id_match`` normalisation.

    ``unmatched="error"`` (the default) raises :class:`InputError` when any listed ID matches
    no respondent; ``"continue"`` returns their count. A listed ID that matches two different
    export IDs (``"a1"`` and ``"A1"`` under ``case``) is an error: the normalisation is too loose
    for this export. Messages give counts and file rows, never an ID.
    """
    rules = check_id_match(id_match)
    if unmatched not in UNMATCHED_OPTIONS:
        raise ConfigError(
            f"survey.unmatched_withdrawals: {unmatched!r} is not one of "
            f"{', '.join(UNMATCHED_OPTIONS)}"
        )
    raw = [str(v) for v in ids]
    keys = np.array([normalise_id(v, rules) for v in raw], dtype=object)
    wanted = {normalise_id(v, rules) for v in listed}
    wanted.discard("")
    withdrawn = np.fromiter((k in wanted for k in keys), dtype=bool, count=len(keys))
    by_key: dict[str, set[str]] = {}
    for k, r, w in zip(keys, raw, withdrawn, strict=True):
        if w:
            by_key.setdefault(k, set()).add(r.strip())
    clashes = [k for k, found in by_key.items() if len(found) > 1]
    if clashes:
        hit = np.isin(keys, clashes)
        shown = None if rows is None else np.asarray(rows)[hit].tolist()
        raise InputError(
            f"{len(clashes)} withdrawn ID(s) each match more than one different respondent ID "
            f"once {', '.join(rules)} are ignored; narrow survey.id_match so that IDs stay "
            "distinct, or correct the withdrawals list",
            file=export,
            rows=shown,
        )
    n_unmatched = len(wanted - set(by_key))
    if n_unmatched and unmatched == "error":
        raise InputError(
            f"{n_unmatched} of the {len(wanted)} ID(s) in the withdrawals list match no "
            f"respondent of the export (compared ignoring {', '.join(rules) or 'nothing'}). "
            "A withdrawal that matches nobody may leave a withdrawn respondent in the analysis: "
            "check the list against the export, widen survey.id_match, or set "
            "survey.unmatched_withdrawals: continue to go on (the count is reported in "
            "qa/flow.csv)",
            file=file,
        )
    return WithdrawalMatch(withdrawn=withdrawn, listed=len(wanted), unmatched=n_unmatched)
