"""The :class:`Survey`: an ingested survey's analysis frame, what is known about it, and its log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError


@dataclass
class Survey:
    """An ingested survey: the analysis frame, what is known about it, and what was done to it.

    ``data``: one row per respondent, index ``respondent`` (the raw ID straight after
    :func:`read_survey`, a keyed pseudonym after cleaning; 1-based file rows when there is no ID).
    ``meta``: plain JSON-able dict: ``source`` (file, name, sha256, format, encoding, rows and
    columns received), ``index`` (``raw_id`` | ``pseudonym`` | ``row``), ``variables`` (per
    variable: label, type, ordered, value_labels {code: label}, missing {code: reason},
    missing_ranges, source_name, ...) and, where known, ``instrument``, ``mr_sets``, ``cleaning``.
    ``log``: human-readable lines of what was done (never a respondent's ID or answer).
    ``rows``: 1-based data rows of the source file, aligned with ``data``, for error messages.
    """

    data: pd.DataFrame
    meta: dict[str, Any]
    log: list[str] = field(default_factory=list)
    rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.rows is None:
            self.rows = np.arange(1, len(self.data) + 1, dtype=np.int64)

    @property
    def variables(self) -> list[str]:
        """Analysis variables in frame order (reason companions left out)."""
        return [c for c in self.data.columns if not str(c).endswith("__reason")]

    def variable(self, name: str) -> dict[str, Any]:
        """Metadata of one variable."""
        try:
            return self.meta["variables"][name]
        except KeyError:
            raise InputError(
                "no such variable in the survey", file=self.file, variable=name
            ) from None

    @property
    def file(self) -> str | None:
        return (self.meta.get("source") or {}).get("file")

    def subset(self, keep: np.ndarray) -> Survey:
        """The respondents where ``keep`` is true (a copy; meta and log are copied too)."""
        keep = np.asarray(keep, dtype=bool)
        return Survey(
            data=self.data.loc[keep].copy(),
            meta=_deep_copy(self.meta),
            log=list(self.log),
            rows=np.asarray(self.rows)[keep],
        )


def _deep_copy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _deep_copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deep_copy(v) for v in obj]
    return obj
