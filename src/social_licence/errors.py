"""The project's exception family: raised where a fault is found, naming what a user must fix.

Every message names, where they are known, the file, the variable, the offending value and the
rows (by position in the source file, 1-based, as a spreadsheet shows them), so that a researcher
can open the export and see the problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


class SocialLicenceError(Exception):
    """Base class of every error the library raises on purpose."""


class ConfigError(SocialLicenceError):
    """A configuration file (instrument, targets, models, thresholds) is invalid."""


class InputError(SocialLicenceError):
    """A survey export or its content cannot be used as it is."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        variable: str | None = None,
        value: Any = None,
        rows: Sequence[int] | None = None,
    ) -> None:
        self.file = file
        self.variable = variable
        self.value = value
        self.rows = list(rows) if rows is not None else None
        parts = [message]
        if file is not None:
            parts.append(f"file: {file}")
        if variable is not None:
            parts.append(f"variable: {variable}")
        if value is not None:
            parts.append(f"value: {value!r}")
        if rows is not None:
            parts.append(f"rows: {format_rows(rows)}")
        super().__init__("; ".join(parts))


class WeightingError(SocialLicenceError):
    """Weights cannot be computed as asked (a margin, a category, convergence, bounds)."""


class EstimationError(SocialLicenceError):
    """A design-based estimate cannot be computed (design structure, variable, domain)."""


class ModelError(SocialLicenceError):
    """A model cannot be fitted or trusted (formula, separation, rank, convergence)."""


class DisclosureError(SocialLicenceError):
    """Output would break the disclosure-control rules, or the rules are invalid."""


class OutputError(SocialLicenceError):
    """A table, figure or the brief was asked for something that does not exist."""


def format_rows(rows: Iterable[int], limit: int = 5) -> str:
    """Render row numbers as 'a, b, c (and N more)' so messages stay short but specific."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        shown += f" (and {len(rows) - limit} more)"
    return shown


_PSEUDONYM = re.compile(r"^[0-9a-f]{8,64}$")


def describe_rows(index: Sequence[Any], mask: Any, limit: int = 5) -> str:
    """Where ``mask`` holds, for a message: the index labels, except respondent IDs and
    pseudonyms (an index named ``respondent``, or of hex pseudonyms), which no message prints:
    their 1-based positions in the frame then."""
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    labels = [str(index[i]) for i in positions]
    private = getattr(index, "name", None) == "respondent" or (
        bool(labels) and all(_PSEUDONYM.match(v) for v in labels)
    )
    if private:
        return "rows " + format_rows([int(i) + 1 for i in positions], limit)
    return format_rows(labels, limit)
