"""Statistical disclosure control: what every published table and figure must pass first.

Long (~1,100 lines) on purpose: this is the one suppression engine; its primary and secondary
rules, the exact check, the linked system of published tables and the withholding of counts in
weighting, codebook and flow tables share the relations and the reasons they write.

Written by hand: the established tools (tau-Argus, sdcTable, sdcMicro) are Java/R programs for
magnitude tables or microdata and do not know our tidy estimate frames. The rules here are the
practice of national statistics offices, with thresholds read from ``config/thresholds.yaml``:

* **Primary suppression**: a cell whose base (respondents with a valid answer in the domain)
  is below ``min_base`` is withheld, and a cell with 1 to ``min_count - 1`` respondents in its
  answer. Both count people: in a table pooled over items (``n_respondents`` and
  ``count_respondents`` beside the ratings in ``n_unweighted``/``count_unweighted``) a parent's
  several ratings count once. Either threshold below 10 needs a stated ``reason``.
* **Secondary suppression**: a published table carries linear relations that an intruder can
  difference: the levels of one variable within a domain add up to the domain (proportions to
  1, counts to the base), and the groups of a partition (the ethnic groups, say) add up to the
  whole sample, whose figure is always published, together with the implicit cell of those
  who did not answer the grouping question (All minus the groups: protected when it holds 1-9
  people). :func:`protect_linked` joins the published tables into one system: an item column
  adds up to a table pooled over it, and a figure shown in two tables is withheld in both.
  Within every relation that holds exactly one withheld cell the next-smallest cell is withheld
  too; then an exact check (is the withheld
  cell's unit vector in the row space of the relations restricted to withheld cells?) catches
  the patterns that differencing one relation at a time misses, such as a bridge between two
  blocks of withheld cells in a two-way table, and withholds more until no cell is derivable.
* **Precision flags**: a published estimate whose relative standard error exceeds ``max_rse``,
  or a proportion whose confidence interval is wider than ``max_ci_width``, or a proportion of
  0 or 1 with a zero standard error (no interval can be estimated), is flagged low precision
  (shown as ``[u]``) but published.

A withheld cell keeps its keys and loses every number (estimate, SE, CI, bases); its ``reason``
names the rule but never the base, which would itself disclose. Statistics outside estimate
frames (weight summaries, balance shares, codebook means and medians, the QA flow) follow the
same thresholds (:func:`withhold_statistics`, :func:`withhold_balance`, :func:`withhold_flow`).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import read_yaml, validate
from ..design.estimators import ESTIMATE_COLUMNS, RESPONDENT_COLUMNS
from ..errors import DisclosureError

#: Contract columns of a tidy estimate frame that hold numbers (withheld for suppressed cells).
VALUE_COLUMNS = (*ESTIMATE_COLUMNS, *RESPONDENT_COLUMNS)
COUNT_COLUMNS = ("n_unweighted", "count_unweighted", *RESPONDENT_COLUMNS)
FLAG_COLUMNS = ("suppressed", "low_precision", "reason")
#: Columns that identify a cell besides the by columns.
CELL_COLUMNS = ("variable", "level")
#: Stacked group breakdowns: which grouping variable a row belongs to (never a partition itself).
GROUP_VARIABLE = "group_variable"

#: Respondents per published cell unless the user lowers it with a stated reason: the threshold of
#: 10 units per cell that output checkers in UK trusted research environments commonly apply.
DEFAULT_THRESHOLD = 10

#: The whole-sample rows of a stacked group frame (``group_variable`` and ``group``).
OVERALL = "All"
#: Key of the implicit cell of a grouping variable: respondents in no published group of it
#: (who did not answer the grouping question). Never published; All minus the groups gives it.
REMAINDER = "(no answer to the grouping question)"

#: GSS shorthand for tables (Government Analysis Function, "Symbols in tables").
SYMBOL_SUPPRESSED = "[c]"
SYMBOL_LOW_PRECISION = "[u]"

REASON_PRIMARY = "primary suppression: unweighted base below {min_base}"
REASON_PRIMARY_COUNT = "primary suppression: unweighted count below {min_count}"
REASON_PRIMARY_REST = (
    "primary suppression: the base minus the count (those who answered otherwise) is below {min_count}"
)
REASON_SECONDARY = "secondary suppression: would let a withheld cell be derived ({where})"
REASON_RSE = "low precision: relative standard error above {max_rse:.0%}"
REASON_CI = "low precision: confidence interval wider than {points:g} percentage points"
REASON_DEGENERATE = "low precision: all or none of the base gave this answer, so no interval can be estimated"
REASON_MODEL = "primary suppression: unweighted base of the term below {min_base}"

#: Columns that, in a published frame, would mean respondent-level data is being published.
ROW_LEVEL_COLUMNS = ("respondent", "respondent_id", "weight", "design_weight", "psu")


@dataclass(frozen=True)
class Thresholds:
    """The disclosure and precision rules; defaults are those of ``config/thresholds.yaml``."""

    min_base: int = 10
    min_count: int = 10
    secondary: bool = True
    max_rse: float | None = 0.3
    max_ci_width: float | None = 0.2
    reason: str | None = None
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        where = f" in {self.source}" if self.source else ""
        if isinstance(self.min_base, bool) or not isinstance(self.min_base, (int, np.integer)):
            raise DisclosureError(
                f"disclosure.min_base{where} must be a whole number of respondents, "
                f"not {self.min_base!r}"
            )
        if self.min_base < 1:
            raise DisclosureError(
                f"disclosure.min_base{where} is {self.min_base}; a suppression threshold below 1 "
                "would publish cells with no respondents behind them. Use 1 or more (default 10)."
            )
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, (int, np.integer)):
            raise DisclosureError(f"disclosure.min_count{where} must be a whole number, not {self.min_count!r}")
        if self.min_count < 0:
            raise DisclosureError(f"disclosure.min_count{where} is {self.min_count}; use 0 (off) or more")
        lowered = [
            f"{key} {value}"
            for key, value in (("min_base", self.min_base), ("min_count", self.min_count))
            if value < DEFAULT_THRESHOLD
        ]
        if lowered and not (isinstance(self.reason, str) and self.reason.strip()):
            raise DisclosureError(
                f"disclosure{where}: {' and '.join(lowered)} is below the default of "
                f"{DEFAULT_THRESHOLD} respondents; state why under disclosure.reason (e.g. the "
                "output checker's agreement), or keep the default"
            )
        if not isinstance(self.secondary, bool):
            raise DisclosureError(f"disclosure.secondary{where} must be true or false, not {self.secondary!r}")
        for name in ("max_rse", "max_ci_width"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise DisclosureError(
                    f"precision.{name}{where} must be a positive number (or null to switch the "
                    f"flag off), not {value!r}"
                )

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, source: str | None = None) -> Thresholds:
        """Build from the ``thresholds.yaml`` mapping (``disclosure:`` and ``precision:``)."""
        raw = dict(raw or {})
        where = f" in {source}" if source else ""
        unknown = sorted(set(raw) - {"disclosure", "precision"})
        if unknown:
            raise DisclosureError(f"unknown section(s) {unknown}{where}; expected disclosure, precision")
        disclosure = dict(raw.get("disclosure") or {})
        precision = dict(raw.get("precision") or {})
        for section, keys, got in (
            ("disclosure", {"min_base", "min_count", "secondary", "reason"}, disclosure),
            ("precision", {"max_rse", "max_ci_width"}, precision),
        ):
            extra = sorted(set(got) - keys)
            if extra:
                raise DisclosureError(
                    f"unknown key(s) {extra} under {section}{where}; expected {sorted(keys)}"
                )
        defaults = cls()
        return cls(
            min_base=disclosure.get("min_base", defaults.min_base),
            min_count=disclosure.get("min_count", defaults.min_count),
            secondary=disclosure.get("secondary", defaults.secondary),
            reason=disclosure.get("reason"),
            max_rse=precision.get("max_rse", defaults.max_rse),
            max_ci_width=precision.get("max_ci_width", defaults.max_ci_width),
            source=source,
        )

    def rule_text(self) -> str:
        """The suppression and precision rules in one plain-English paragraph, for footnotes."""
        parts = [
            f"Estimates based on fewer than {self.min_base} respondents (unweighted) are withheld "
            f"({SYMBOL_SUPPRESSED})"
        ]
        if self.min_count:
            parts[0] += f", as are cells with fewer than {self.min_count} respondents"
        if self.secondary:
            parts.append(
                "further cells are withheld where a total or a complement would otherwise let a "
                "withheld figure be worked out"
            )
        text = "; ".join(parts) + "."
        flags = []
        if self.max_rse is not None:
            flags.append(f"a relative standard error above {self.max_rse:.0%}")
        if self.max_ci_width is not None:
            flags.append(f"a 95% confidence interval wider than {self.max_ci_width * 100:g} percentage points")
        if flags:
            text += f" Estimates with {' or '.join(flags)} are marked {SYMBOL_LOW_PRECISION} (low precision)."
        return text


def load_thresholds(path: str | Path) -> Thresholds:
    """Read and check ``thresholds.yaml``."""
    path = Path(path)
    raw = read_yaml(path, "thresholds file", DisclosureError)
    if raw is not None and not isinstance(raw, dict):
        raise DisclosureError(f"thresholds file {path} must hold a mapping")
    # the specific checks of Thresholds first, then the schema, which also fills in defaults
    Thresholds.from_mapping(raw, source=str(path))
    raw = validate(raw or {}, "thresholds", str(path), error=DisclosureError)
    return Thresholds.from_mapping(raw, source=str(path))


# -- structure of a tidy frame -------------------------------------------------------------------
def value_columns(table: pd.DataFrame) -> list[str]:
    """Numeric columns withheld for a suppressed cell: the contract's plus any other float column."""
    out = [c for c in table.columns if c in VALUE_COLUMNS]
    for c in table.columns:
        if c in out or c in FLAG_COLUMNS or c in CELL_COLUMNS:
            continue
        if pd.api.types.is_float_dtype(table[c]):
            out.append(c)
    return out


def key_columns(table: pd.DataFrame) -> list[str]:
    """The by columns of a tidy frame: everything that is not a cell, value or flag column."""
    values = set(value_columns(table))
    return [c for c in table.columns if c not in values and c not in FLAG_COLUMNS and c not in CELL_COLUMNS]


def default_partitions(table: pd.DataFrame, item_columns: Iterable[str] = ()) -> list[str]:
    """By columns whose values split respondents into groups that add up to a published total.

    Every by column is taken to be one (the cautious choice) except ``group_variable`` and the
    ``item_columns`` that index questions rather than people (a grid's ``data_type``,
    ``purpose``, ``organisation``); :func:`item_columns_of` lists those for an instrument.
    """
    skip = set(item_columns) | {GROUP_VARIABLE}
    return [c for c in key_columns(table) if c not in skip]


def item_columns_of(instrument: Any) -> list[str]:
    """Names of the grid dimensions of an instrument: they index items, not groups of people."""
    out: list[str] = []
    for grid in instrument.grids.values():
        for name in (grid.row_name, grid.column_name):
            if name and name not in out:
                out.append(name)
    return out + ["item"]


@dataclass(frozen=True)
class Relation:
    """A set of cells whose values add up to a figure an intruder knows."""

    kind: str  # "levels" (within a domain) or "partition" (groups adding up to a total)
    where: str
    members: tuple[int, ...]  # row positions in the table


def _describe(keys: Sequence[str], values: Sequence[Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)) or "whole table"


def linear_relations(table: pd.DataFrame, partitions: Sequence[str] | None = None) -> list[Relation]:
    """Every additive relation a tidy frame carries (see the module docstring)."""
    _require(table, ("variable", "level"))
    keys = key_columns(table)
    parts = list(default_partitions(table) if partitions is None else partitions)
    unknown = [p for p in parts if p not in keys]
    if unknown:
        raise DisclosureError(
            f"partition column(s) {unknown} are not by columns of the table (by columns: {keys})"
        )
    frame = table[keys + ["variable", "level"]].astype(object).reset_index(drop=True)
    frame["__pos"] = np.arange(len(frame))
    out: list[Relation] = []

    def collect(group_keys: list[str], kind: str, label: str) -> None:
        if not group_keys:
            members = tuple(frame["__pos"].tolist())
            if len(members) > 1:
                out.append(Relation(kind, f"{label} in the whole table", members))
            return
        for values, sub in frame.groupby(group_keys, dropna=False, sort=False):
            if len(sub) < 2:
                continue
            values = values if isinstance(values, tuple) else (values,)
            out.append(Relation(kind, f"{label} within {_describe(group_keys, values)}", tuple(sub["__pos"])))

    collect(keys + ["variable"], "levels", "levels of a variable")
    for p in parts:
        collect([k for k in keys if k != p] + ["variable", "level"], "partition", f"groups of {p}")
    return out


# -- suppression ---------------------------------------------------------------------------------
def _require(table: pd.DataFrame, columns: Iterable[str], name: str = "table") -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DisclosureError(f"{name} lacks column(s) {missing}; it has {list(table.columns)}")


def _check_unique(table: pd.DataFrame, name: str) -> None:
    cells = key_columns(table) + ["variable", "level"]
    dup = table[cells].astype(object).duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        raise DisclosureError(
            f"{name} has more than one row for the same cell ({', '.join(cells)}); "
            f"rows {', '.join(str(r + 1) for r in rows[:5])}"
        )


def suppress(
    table: pd.DataFrame,
    thresholds: Thresholds,
    *,
    partitions: Sequence[str] | None = None,
    name: str = "table",
) -> pd.DataFrame:
    """Apply primary and secondary suppression and precision flags to a tidy estimate frame.

    Returns a copy with ``suppressed`` (bool), ``low_precision`` (bool) and ``reason`` (str,
    empty when the cell is published as it is); suppressed cells have every value column set to
    missing. Re-applying to a frame already suppressed keeps its withheld cells withheld.
    ``partitions``: by columns whose groups add up to a known total (default: every by column
    but ``group_variable``; see :func:`default_partitions`).
    """
    if not isinstance(thresholds, Thresholds):
        raise DisclosureError(f"thresholds must be a Thresholds, not {type(thresholds).__name__}")
    _require(table, ("variable", "level", "estimate", "n_unweighted"), name)
    _check_unique(table, name)
    out = table.copy().reset_index(drop=True)
    base = respondents(out, "n_respondents", "n_unweighted")
    count = respondents(out, "count_respondents", "count_unweighted")
    already = out["suppressed"].fillna(False).to_numpy(dtype=bool) if "suppressed" in out else np.zeros(len(out), bool)
    old_reason = out["reason"].fillna("").astype(str).to_numpy() if "reason" in out else np.full(len(out), "")
    no_base = np.isnan(base) & ~already
    if no_base.any():
        rows = np.flatnonzero(no_base)
        raise DisclosureError(
            f"{name}: n_unweighted is missing, so the cell cannot be checked against the "
            f"minimum base; rows {', '.join(str(r + 1) for r in rows[:5])}"
        )
    reasons = [""] * len(out)
    primary = already.copy()
    for i in np.flatnonzero(already):
        reasons[i] = old_reason[i]
    small = ~already & (base < thresholds.min_base)
    for i in np.flatnonzero(small):
        reasons[i] = REASON_PRIMARY.format(min_base=thresholds.min_base)
    primary |= small
    few = ~primary & small_count(count, thresholds)
    for i in np.flatnonzero(few):
        reasons[i] = REASON_PRIMARY_COUNT.format(min_count=thresholds.min_count)
    primary |= few
    # the base minus the count is the people of the cell who gave another answer: published
    # together they tell it (95 of 100 acceptable: 5 not), so it is held to the same rule
    rest = ~primary & small_count(base - count, thresholds)
    for i in np.flatnonzero(rest):
        reasons[i] = REASON_PRIMARY_REST.format(min_count=thresholds.min_count)
    primary |= rest

    suppressed = primary.copy()
    if thresholds.secondary:
        system = linked_system(out, base, count, thresholds, partitions)
        unpublished = np.concatenate([suppressed, np.ones(system.n_virtual, dtype=bool)])
        needs = np.concatenate([suppressed, system.sensitive])
        all_reasons = reasons + [""] * system.n_virtual
        _secondary(unpublished, needs, system.relations, system.base, system.count, all_reasons)
        suppressed = unpublished[: len(out)]
        reasons = all_reasons[: len(out)]

    values = value_columns(out)
    for c in values:
        if c in COUNT_COLUMNS:
            numeric = pd.to_numeric(out[c], errors="coerce")
            finite = numeric.dropna()
            if len(finite) == 0 or (finite == np.round(finite)).all():
                out[c] = numeric.round().astype("Int64")
            else:
                out[c] = numeric.astype(float)
        else:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
        out.loc[suppressed, c] = pd.NA if c in COUNT_COLUMNS else np.nan

    low = np.zeros(len(out), dtype=bool)
    if "se" in out.columns and thresholds.max_rse is not None:
        est = out["estimate"].to_numpy(dtype=float)
        se = out["se"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            rse = se / np.abs(est)
        flag = ~suppressed & (rse > thresholds.max_rse)
        for i in np.flatnonzero(flag):
            reasons[i] = _join(reasons[i], REASON_RSE.format(max_rse=thresholds.max_rse))
        low |= flag
    if "se" in out.columns and (thresholds.max_rse is not None or thresholds.max_ci_width is not None):
        # all or none of the base gave the answer: the design SE is 0 and no interval is honest
        est = out["estimate"].to_numpy(dtype=float)
        se = out["se"].to_numpy(dtype=float)
        proportion = out["level"].notna().to_numpy()
        flag = ~suppressed & proportion & (se == 0) & ((est == 0) | (est == 1))
        for i in np.flatnonzero(flag):
            reasons[i] = _join(reasons[i], REASON_DEGENERATE)
        low |= flag
    if {"ci_low", "ci_high"} <= set(out.columns) and thresholds.max_ci_width is not None:
        width = out["ci_high"].to_numpy(dtype=float) - out["ci_low"].to_numpy(dtype=float)
        proportion = out["level"].notna().to_numpy()
        flag = ~suppressed & proportion & (width > thresholds.max_ci_width + 1e-12)
        for i in np.flatnonzero(flag):
            reasons[i] = _join(reasons[i], REASON_CI.format(points=thresholds.max_ci_width * 100))
        low |= flag
    out["suppressed"] = suppressed
    out["low_precision"] = low
    out["reason"] = reasons
    out.index = table.index
    return out


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def respondents(table: pd.DataFrame, people: str, rows: str) -> np.ndarray:
    """Respondents behind each cell: the ``people`` column (distinct respondents, in a table
    pooled over items) where the frame has it, else ``rows`` (one row per respondent)."""
    column = people if people in table.columns else rows
    if column not in table.columns:
        return np.full(len(table), np.nan)
    return pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)


def small_count(count: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """Counts of 1 to ``min_count - 1`` respondents (zero discloses nobody; NaN is unknown)."""
    count = np.asarray(count, dtype=float)
    with np.errstate(invalid="ignore"):
        return (count >= 1) & (count < thresholds.min_count)


@dataclass
class LinkedSystem:
    """A table's cells plus its implicit ones, and the relations that tie them together.

    Cells ``0..n-1`` are the table's rows; the ``n_virtual`` cells after them are the
    remainders of stacked group breakdowns (All minus the groups of one variable: the people
    who did not answer that grouping question). They are never published; ``sensitive`` marks
    those with 1 to ``min_base - 1`` respondents (or a count of 1 to ``min_count - 1``), which
    must not be derivable either.
    """

    relations: list[Relation]
    base: np.ndarray
    count: np.ndarray
    sensitive: np.ndarray
    n_virtual: int


def linked_system(
    table: pd.DataFrame,
    base: np.ndarray,
    count: np.ndarray,
    thresholds: Thresholds,
    partitions: Sequence[str] | None = None,
) -> LinkedSystem:
    """Every additive relation of a tidy frame, with the implicit remainder of each breakdown.

    In a stacked group frame the groups of one variable add up to All only with the people
    who did not answer that variable; their cell is added (per domain and level) so that All
    minus the published groups is a relation like any other. Where a group's base is missing
    (withheld before) the remainder is unknown: added as unpublished but not sensitive.
    """
    keys = key_columns(table)
    cells = table[keys + ["variable", "level"]].astype(object).reset_index(drop=True)
    rows: list[dict[str, Any]] = []
    v_base: list[float] = []
    v_count: list[float] = []
    v_sensitive: list[bool] = []
    if GROUP_VARIABLE in keys and "group" in keys:
        other = [k for k in keys if k not in (GROUP_VARIABLE, "group")] + ["variable", "level"]
        overall = (cells[GROUP_VARIABLE] == OVERALL).to_numpy()
        totals = {
            tuple(r): int(i)
            for i, r in zip(np.flatnonzero(overall), cells.loc[overall, other].itertuples(index=False, name=None), strict=True)
        }
        groups = cells.loc[~overall].fillna("<missing>").groupby([GROUP_VARIABLE] + other, sort=False)
        for _, sub in groups:
            total = totals.get(tuple(cells.loc[sub.index[0], other]))
            if total is None:
                continue
            members = sub.index.to_numpy()
            rb = base[total] - base[members].sum()
            rc = count[total] - count[members].sum()
            if np.isnan(rb):
                rb, rc, sensitive = np.nan, np.nan, False
            elif rb <= 0:
                continue
            else:
                sensitive = bool(rb < thresholds.min_base or small_count(np.array([rc]), thresholds)[0])
            row = dict(cells.loc[sub.index[0]])
            row["group"] = REMAINDER
            rows.append(row)
            v_base.append(rb)
            v_count.append(rc)
            v_sensitive.append(sensitive)
    system = pd.concat([cells, pd.DataFrame(rows, columns=cells.columns)], ignore_index=True) if rows else cells
    return LinkedSystem(
        relations=linear_relations(system, partitions),
        base=np.concatenate([base, np.array(v_base, dtype=float)]),
        count=np.concatenate([count, np.array(v_count, dtype=float)]),
        sensitive=np.array(v_sensitive, dtype=bool),
        n_virtual=len(rows),
    )


def _secondary(
    suppressed: np.ndarray,
    needs: np.ndarray,
    relations: list[Relation],
    base: np.ndarray,
    count: np.ndarray,
    reasons: list[str],
) -> None:
    """Withhold further cells in place until no cell that ``needs`` protection can be derived.

    ``suppressed``: cells not published (withheld, or implicit); ``needs``: those whose value
    must stay unknown (withheld cells and sensitive implicit ones).
    """
    big = np.where(np.isnan(base), np.inf, base)
    cnt = np.where(np.isnan(count), np.inf, count)

    def order(rel: Relation) -> list[int]:
        free = [m for m in rel.members if not suppressed[m]]
        if rel.kind == "levels":  # same base throughout: take the smallest count
            return sorted(free, key=lambda m: (cnt[m], m))
        return sorted(free, key=lambda m: (big[m], m))  # the smallest group, whole

    def withhold(cell: int, rel: Relation) -> None:
        suppressed[cell] = True
        needs[cell] = True
        reasons[cell] = REASON_SECONDARY.format(where=rel.where)

    by_cell: dict[int, list[Relation]] = {}
    for rel in relations:
        for m in rel.members:
            by_cell.setdefault(m, []).append(rel)

    while True:
        changed = True
        while changed:  # differencing one relation at a time
            changed = False
            for rel in relations:
                held = [m for m in rel.members if suppressed[m]]
                if len(held) == 1 and needs[held[0]]:
                    free = order(rel)
                    if free:
                        withhold(free[0], rel)
                        changed = True
        derivable = [c for c in derivable_cells(suppressed, relations) if needs[c]]
        if not derivable:
            return
        for cell in derivable:
            options = [rel for rel in by_cell.get(cell, []) if order(rel)]
            if not options:
                raise DisclosureError(
                    "a withheld cell can be derived from the published ones and no further cell "
                    "can be withheld to protect it; publish the table at a coarser breakdown"
                )
            rel = min(options, key=lambda r: (big[order(r)[0]], order(r)[0]))
            withhold(order(rel)[0], rel)


def withhold_in_relation(counts: Mapping[Any, float], limit: int) -> set[Any]:
    """Cells to withhold among respondent counts that add up to a published total (codebook
    categories, raking margins, balance levels, QA-flow exclusions), by the same secondary
    suppression as :func:`suppress`.

    Primary: counts from 1 to ``limit - 1`` (an empty category discloses nobody; an unknown,
    NaN, count is left out). Then the one engine (:func:`_secondary`) withholds the smallest
    other count, zero included, until no withheld count can be derived from the total; ties go
    to the first key in text order.
    """
    keys = sorted((k for k, v in counts.items() if pd.notna(v)), key=str)
    values = np.array([float(counts[k]) for k in keys])
    suppressed = (values >= 1) & (values < limit)
    if suppressed.any() and len(keys) > 1:
        relation = Relation("levels", "the categories", tuple(range(len(keys))))
        needs = suppressed.copy()
        _secondary(suppressed, needs, [relation], np.full(len(keys), np.nan), values, [""] * len(keys))
    return {k for k, held in zip(keys, suppressed, strict=True) if held}


def derivable_cells(suppressed: np.ndarray, relations: Sequence[Relation]) -> list[int]:
    """Withheld cells whose value is fixed by the published cells and the relations.

    A withheld cell is derivable exactly when its unit vector lies in the row space of the
    relation matrix restricted to withheld cells, i.e. when every solution of the relations
    gives it the same value. Checked per connected block of withheld cells with an SVD.
    """
    suppressed = np.asarray(suppressed, dtype=bool)
    held = np.flatnonzero(suppressed)
    if held.size == 0:
        return []
    rows = [[m for m in rel.members if suppressed[m]] for rel in relations]
    rows = [r for r in rows if r]
    parent = {int(c): int(c) for c in held}

    def find(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for r in rows:
        root = find(r[0])
        for m in r[1:]:
            other = find(m)
            if other != root:
                parent[other] = root
    blocks: dict[int, list[int]] = {}
    for c in held:
        blocks.setdefault(find(int(c)), []).append(int(c))
    out: list[int] = []
    for cells in blocks.values():
        col = {c: j for j, c in enumerate(cells)}
        block_rows = [r for r in rows if r[0] in col]
        if not block_rows:
            continue
        a = np.zeros((len(block_rows), len(cells)))
        for i, r in enumerate(block_rows):
            for m in r:
                a[i, col[m]] = 1.0
        _, s, vt = np.linalg.svd(a)
        rank = int((s > 1e-9 * max(1.0, s[0])).sum()) if s.size else 0
        null = vt[rank:]  # rows span the null space
        for c, j in col.items():
            if null.shape[0] == 0 or np.abs(null[:, j]).max() < 1e-9:
                out.append(c)
    return sorted(out)


def audit(
    table: pd.DataFrame,
    partitions: Sequence[str] | None = None,
    *,
    thresholds: Thresholds | None = None,
    name: str = "table",
) -> None:
    """Raise :class:`DisclosureError` if a withheld cell of a suppressed frame can be derived;
    with ``thresholds``, also a sensitive remainder (All minus the published groups)."""
    _require(table, ("suppressed",), name)
    held = table["suppressed"].fillna(False).to_numpy(dtype=bool)
    if thresholds is None:
        cells = derivable_cells(held, linear_relations(table, partitions))
    else:
        base = respondents(table, "n_respondents", "n_unweighted")
        count = respondents(table, "count_respondents", "count_unweighted")
        system = linked_system(table, base, count, thresholds, partitions)
        unpublished = np.concatenate([held, np.ones(system.n_virtual, dtype=bool)])
        needs = np.concatenate([held, system.sensitive])
        cells = [c for c in derivable_cells(unpublished, system.relations) if needs[c]]
        if any(c >= len(table) for c in cells):
            raise DisclosureError(
                f"{name}: All minus the published groups gives fewer than {thresholds.min_base} "
                "respondents who did not answer a grouping question"
            )
    if cells:
        keys = key_columns(table) + ["variable", "level"]
        shown = [_describe(keys, table.iloc[c][keys].tolist()) for c in cells[:3]]
        raise DisclosureError(f"{name}: withheld cell(s) can be derived by subtraction: {'; '.join(shown)}")


def suppress_model_table(table: pd.DataFrame, thresholds: Thresholds, *, name: str = "model table") -> pd.DataFrame:
    """Disclosure flags for a model table (``term``, ``estimate``, ... ``odds_ratio``).

    A term whose ``n_unweighted`` column (respondents in that category, when the models module
    supplies it) is below ``min_base`` is withheld; without that column the table is published
    as it is, since coefficients are not cell counts. Adds the same three flag columns.
    """
    out = table.copy()
    n = len(out)
    suppressed = np.zeros(n, dtype=bool)
    reasons = [""] * n
    if "n_unweighted" in out.columns:
        base = pd.to_numeric(out["n_unweighted"], errors="coerce").to_numpy(dtype=float)
        suppressed = ~(base >= thresholds.min_base)
        for i in np.flatnonzero(suppressed):
            reasons[i] = REASON_MODEL.format(min_base=thresholds.min_base)
        for c in out.columns:
            if c not in ("term", "group", "variable", "level") and pd.api.types.is_numeric_dtype(out[c]):
                out[c] = pd.to_numeric(out[c]).astype(float)
                out.loc[suppressed, c] = np.nan
    out["suppressed"] = suppressed
    out["low_precision"] = np.zeros(n, dtype=bool)
    out["reason"] = reasons
    return out


def suppress_effects(table: pd.DataFrame, thresholds: Thresholds, *, name: str = "marginal effects") -> pd.DataFrame:
    """Disclosure flags for marginal effects by group (``group`` or the ``by`` column, with
    ``statistic`` predicted/difference and ``count_unweighted`` respondents in the group).

    Every row of a group with fewer than ``min_base`` respondents is withheld (its predicted
    value and its difference); if the reference group is that small, every difference from it
    is withheld too. Predictions for other groups stay: with the differences withheld no
    published relation links them to a withheld one.
    """
    group_col = "group" if "group" in table.columns else None
    _require(table, ("estimate", "count_unweighted"), name)
    out = table.copy().reset_index(drop=True)
    count = pd.to_numeric(out["count_unweighted"], errors="coerce").to_numpy(dtype=float)
    small = ~(count >= thresholds.min_base)
    reasons = [REASON_PRIMARY.format(min_base=thresholds.min_base) if s else "" for s in small]
    if group_col is not None and {"statistic", "reference"} <= set(out.columns):
        # a panel: one model, grouping variable, outcome level and (when set) within-domain
        panel = [c for c in key_columns(out) if c not in (group_col, "statistic", "reference")]
        panel += [c for c in ("variable", "level") if c in out.columns]
        ids = out[panel + [group_col]].astype(object)
        ids = ids.where(ids.notna(), "<missing>")
        pred = (out["statistic"].astype(str) == "predicted").to_numpy()
        small_groups = {tuple(r) for r in ids[pred & small].itertuples(index=False, name=None)}
        keys = ids[panel].itertuples(index=False, name=None)
        for i, (k, g, stat, ref) in enumerate(
            zip(keys, out[group_col].astype(object), out["statistic"].astype(str), out["reference"].astype(object), strict=True)
        ):
            if small[i]:
                continue
            if (*k, g) in small_groups or (stat == "difference" and (*k, ref) in small_groups):
                small[i] = True
                reasons[i] = REASON_SECONDARY.format(where="its group or the reference group is withheld")
    return _withhold_rows(out, small, reasons, table.index)


COMPARISON_KEEP = ("df", "family_size")


def suppress_comparisons(
    table: pd.DataFrame,
    thresholds: Thresholds,
    *,
    estimates: pd.DataFrame | None = None,
    name: str = "group comparisons",
) -> pd.DataFrame:
    """Disclosure flags for a table of group differences (``group_a``, ``group_b``, ...).

    A comparison is withheld, every number of it, when either group's unweighted base is below
    ``min_base``, or when either group is withheld in ``estimates`` (the suppressed estimate
    frame published beside it): otherwise its ``estimate_b``, or the difference from a
    published ``estimate_a``, would give the withheld figure away.
    """
    _require(table, ("group_variable", "group_a", "group_b", "n_unweighted_a", "n_unweighted_b"), name)
    out = table.copy().reset_index(drop=True)
    n_a = pd.to_numeric(out["n_unweighted_a"], errors="coerce").to_numpy(dtype=float)
    n_b = pd.to_numeric(out["n_unweighted_b"], errors="coerce").to_numpy(dtype=float)
    small = ~(n_a >= thresholds.min_base) | ~(n_b >= thresholds.min_base)
    reasons = [REASON_PRIMARY.format(min_base=thresholds.min_base) if s else "" for s in small]
    withheld_group = np.zeros(len(out), dtype=bool)
    if estimates is not None:
        _require(estimates, ("group_variable", "group", "suppressed"), "estimates")
        keys = [c for c in key_columns(estimates) + ["variable", "level"] if c in out.columns and c != "group"]
        held = estimates.loc[estimates["suppressed"].fillna(False).astype(bool), keys + ["group"]]
        held_set = {tuple(r) for r in held.astype(object).itertuples(index=False, name=None)}
        base = out[keys].astype(object).itertuples(index=False, name=None)
        for i, (k, a, b) in enumerate(zip(base, out["group_a"].astype(object), out["group_b"].astype(object), strict=True)):
            if (*k, a) in held_set or (*k, b) in held_set:
                withheld_group[i] = True
                if not small[i]:
                    reasons[i] = REASON_SECONDARY.format(where="a group it compares is withheld in the estimates")
    return _withhold_rows(out, small | withheld_group, reasons, table.index, keep=COMPARISON_KEEP)


def _withhold_rows(
    out: pd.DataFrame, withheld: np.ndarray, reasons: list[str], index: pd.Index, keep: Sequence[str] = ()
) -> pd.DataFrame:
    """Blank every number of the ``withheld`` rows of ``out`` (but ``keep``), add the flags and
    give it back the ``index`` of the table it was made from."""
    for c in out.columns:
        if c in keep or c in FLAG_COLUMNS or pd.api.types.is_bool_dtype(out[c]) or not pd.api.types.is_numeric_dtype(out[c]):
            continue
        out[c] = pd.to_numeric(out[c]).astype(float)
        out.loc[withheld, c] = np.nan
    out["suppressed"] = withheld
    out["low_precision"] = np.zeros(len(out), dtype=bool)
    out["reason"] = reasons
    out.index = index
    return out


def frame_kind(frame: pd.DataFrame) -> str:
    """What a published frame holds: ``comparisons``, ``effects``, ``model``, ``estimates`` or
    ``aggregate`` (anything else, e.g. the QA flow or weighting diagnostics)."""
    cols = set(frame.columns)
    if {"group_a", "group_b"} <= cols:
        return "comparisons"
    if {"statistic", "reference", "estimate", "count_unweighted"} <= cols:
        return "effects"
    if {"term", "estimate"} <= cols:
        return "model"
    if {"variable", "level", "estimate", "n_unweighted"} <= cols:
        return "estimates"
    return "aggregate"


# The frames protect_linked returned, by identity, with the thresholds they were protected to:
# protect() passes them as they are (a table, figure or brief built from them would otherwise
# protect them a second time). A frame derived from one (a copy, a subset) is not in here.
_LINKED: dict[int, tuple[weakref.ref, Thresholds]] = {}


def _mark_linked(frame: pd.DataFrame, thresholds: Thresholds) -> None:
    key = id(frame)
    _LINKED[key] = (weakref.ref(frame, lambda _, key=key: _LINKED.pop(key, None)), thresholds)


def is_linked(frame: Any, thresholds: Thresholds) -> bool:
    """Whether ``frame`` is a frame :func:`protect_linked` returned, protected to ``thresholds``."""
    entry = _LINKED.get(id(frame))
    return entry is not None and entry[0]() is frame and entry[1] == thresholds


def protect(
    frame: pd.DataFrame,
    thresholds: Thresholds,
    instrument: Any | None = None,
    *,
    estimates: pd.DataFrame | None = None,
    name: str = "table",
) -> pd.DataFrame:
    """Apply the rule that fits the frame (see :func:`frame_kind`) before it is published.

    Estimate frames get :func:`suppress` with every by column except the instrument's grid
    dimensions as partitions; comparisons are checked against ``estimates`` (the suppressed
    estimate frame published beside them). Aggregate frames are only checked for row-level data.
    A frame :func:`protect_linked` returned (that very frame, to the same thresholds) has been
    through a stricter pass already and comes back as it is.
    """
    if is_linked(frame, thresholds):
        return frame
    kind = frame_kind(frame)
    if kind == "estimates":
        items = item_columns_of(instrument) if instrument is not None else ()
        return suppress(frame, thresholds, partitions=default_partitions(frame, items), name=name)
    if kind == "comparisons":
        return suppress_comparisons(frame, thresholds, estimates=estimates, name=name)
    if kind == "effects":
        return suppress_effects(frame, thresholds, name=name)
    if kind == "model":
        out = suppress_model_table(frame.drop(columns=list(FLAG_COLUMNS), errors="ignore"), thresholds, name=name)
        if "suppressed" in frame.columns:
            out["suppressed"] |= frame["suppressed"].fillna(False).to_numpy(dtype=bool)
        return out
    check_publishable(frame, name)
    return frame


def pooled_over(pooled: pd.DataFrame, table: pd.DataFrame, column: str) -> bool:
    """Whether ``pooled`` is ``table`` summed over the item column ``column`` (the by-type table
    is the type x purpose table pooled over purpose): then ``column`` adds up to it."""
    if column not in key_columns(table) or not {"variable"} <= set(pooled.columns):
        return False
    same_keys = set(key_columns(pooled)) == set(key_columns(table)) - {column}
    same_questions = set(pooled["variable"].astype(str)) == set(table["variable"].astype(str))
    return same_keys and same_questions


def cell_keys(table: pd.DataFrame) -> list[tuple]:
    """A key per cell that is the same in every table publishing that figure: the by columns and
    their values (leaving out ``group_variable``/``group`` on whole-sample rows), variable, level."""
    keys = key_columns(table)
    frame = table[keys + ["variable", "level"]].astype(object)
    out = []
    for row in frame.itertuples(index=False, name=None):
        named = dict(zip(keys, row[: len(keys)], strict=True))
        if named.get(GROUP_VARIABLE) == OVERALL and named.get("group") == OVERALL:
            named.pop(GROUP_VARIABLE)
            named.pop("group")
        out.append((tuple(sorted((k, str(v)) for k, v in named.items())), str(row[-2]), str(row[-1])))
    return out


def protect_linked(
    frames: Mapping[str, Any],
    thresholds: Thresholds,
    instrument: Any | None = None,
    *,
    published: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Suppress every published estimate frame as one linked system; other frames pass as they are.

    Beyond each table's own relations (levels, groups with their unanswered remainder): an item
    column is a partition when a published table pools over it (the rows and columns of the
    type x purpose table add up to the by-type and by-purpose tables), and a figure published
    in two tables (All of the group table and the type x purpose table) is withheld in both if
    in either. Repeats until no table changes. ``published``: names of the frames that are
    published (default: every estimate frame given). :func:`protect` passes each frame
    suppressed here as it is (:func:`is_linked`).
    """
    items = item_columns_of(instrument) if instrument is not None else []
    wanted = set(frames) if published is None else set(published)
    names = [
        k
        for k, f in frames.items()
        if k in wanted and isinstance(f, pd.DataFrame) and len(f) and frame_kind(f) == "estimates"
    ]
    parts: dict[str, list[str]] = {}
    for name in names:
        table = frames[name]
        chosen = default_partitions(table, items)
        for column in key_columns(table):
            if column in chosen or column == GROUP_VARIABLE:
                continue
            if any(pooled_over(frames[o], table, column) for o in names if o != name):
                chosen.append(column)
        parts[name] = chosen
    linked: dict[str, dict[int, str]] = {name: {} for name in names}
    while True:
        out: dict[str, pd.DataFrame] = {}
        for name in names:
            table = frames[name].reset_index(drop=True)
            marks = linked[name]
            if marks:
                table = table.copy()
                held = table["suppressed"].fillna(False).to_numpy(dtype=bool) if "suppressed" in table else np.zeros(len(table), bool)
                why = table["reason"].fillna("").astype(str).tolist() if "reason" in table else [""] * len(table)
                for i, reason in marks.items():
                    held[i] = True
                    why[i] = why[i] or reason
                table["suppressed"] = held
                table["reason"] = why
            out[name] = suppress(table, thresholds, partitions=parts[name], name=name)
        where: dict[tuple, str] = {}
        keys = {name: cell_keys(out[name]) for name in names}
        for name in names:
            for key, held in zip(keys[name], out[name]["suppressed"].to_numpy(dtype=bool), strict=True):
                if held:
                    where.setdefault(key, name)
        changed = False
        for name in names:
            for i, (key, held) in enumerate(zip(keys[name], out[name]["suppressed"].to_numpy(dtype=bool), strict=True)):
                if not held and key in where:
                    linked[name][i] = REASON_SECONDARY.format(where=f"the same figure is withheld in {where[key]}")
                    changed = True
        if not changed:
            result = dict(frames)
            for name in names:
                out[name].index = frames[name].index
                _mark_linked(out[name], thresholds)
                result[name] = out[name]
            return result


# -- statistics of groups and counts outside estimate frames ------------------------------------
def withhold_statistics(
    frame: pd.DataFrame,
    respondents_column: str,
    columns: Sequence[str],
    thresholds: Thresholds,
) -> pd.DataFrame:
    """Blank the statistics of every row summarising fewer than ``min_base`` respondents.

    For rows of a weight summary, a balance table or a codebook: a mean, median, quartile or
    SD of a handful of people describes those people, so it is withheld with their number
    (``respondents_column``); a row of nobody (0) has no statistics to withhold.
    """
    out = frame.copy()
    if respondents_column not in out.columns or out.empty:
        return out
    n = pd.to_numeric(out[respondents_column], errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        few = (n >= 1) & (n < thresholds.min_base)
    for c in [respondents_column, *columns]:
        if c in out.columns and few.any():
            out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
            out.loc[few, c] = np.nan
    return out


def withhold_balance(
    balance: pd.DataFrame,
    data: pd.DataFrame,
    thresholds: Thresholds,
) -> pd.DataFrame:
    """Covariate balance (``covariate``, ``level``, ``n_unweighted``, shares) with the shares of a
    level held by 1 to ``min_count - 1`` respondents withheld (and, by :func:`withhold_in_relation`,
    a second level of the same covariate, since the shares add up to one); a covariate observed
    for fewer than ``min_base`` respondents has every number withheld."""
    numbers = [c for c in balance.columns if c not in ("covariate", "level") and pd.api.types.is_numeric_dtype(balance[c])]
    shares = [c for c in numbers if c != "n_unweighted"]
    out = withhold_statistics(balance, "n_unweighted", numbers, thresholds)
    if out.empty or not {"covariate", "level"} <= set(out.columns):
        return out
    for c in shares:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    for covariate, rows in out.groupby("covariate", sort=False).groups.items():
        if covariate not in data.columns:
            continue
        values = data[covariate].astype(object)
        counts = {i: int((values == out.at[i, "level"]).sum()) for i in rows}
        held = sorted(withhold_in_relation(counts, thresholds.min_count))
        out.loc[held, shares] = np.nan
    return out


def withhold_flow(flow: pd.DataFrame, thresholds: Thresholds) -> pd.DataFrame:
    """The QA flow (``step``, ``rule``, ``excluded``, ``remaining``) with exclusions of 1 to
    ``min_count - 1`` respondents withheld.

    Each ``remaining`` is the one before minus the exclusion, so a withheld exclusion takes a
    neighbouring one with it (when it is alone) and every ``remaining`` between the first and
    last withheld step; their sum stays known, each one does not.
    """
    out = flow.copy()
    # a long export counts rows (ratings) and respondents: each pair is withheld the same way
    for exc, rem in (("excluded", "remaining"), ("respondents_excluded", "respondents_remaining")):
        if out.empty or not {exc, rem} <= set(out.columns):
            continue
        excluded = pd.to_numeric(out[exc], errors="coerce").to_numpy(dtype=float)
        remaining = pd.to_numeric(out[rem], errors="coerce").to_numpy(dtype=float)
        steps = [i for i in range(len(out)) if i > 0 and str(out["rule"].iloc[i]) not in ("received", "analysed")]
        held = sorted(withhold_in_relation({i: excluded[i] for i in steps}, thresholds.min_count))
        few = np.flatnonzero(small_count(remaining, thresholds))  # a whole sample of 1-9 people
        if not held and not len(few):
            continue
        for c in (exc, rem):
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
        if held:
            out.loc[held, exc] = pd.NA
            out.loc[list(range(held[0], held[-1])), rem] = pd.NA
        if len(few):  # every step's numbers, or the received total minus the exclusions tells
            out[exc] = pd.NA
            out[rem] = pd.NA
    return out


# -- what may leave the building ----------------------------------------------------------------
def check_publishable(
    frame: pd.DataFrame,
    name: str = "table",
    *,
    respondent_level: pd.DataFrame | None = None,
) -> None:
    """Refuse a frame that is, or could be, respondent-level data, or an unsuppressed estimate frame.

    A published frame has no respondent identifiers or weights, no index named ``respondent``,
    and an estimate frame (one with ``estimate`` and ``n_unweighted``) must have been through
    :func:`suppress`. With ``respondent_level`` given, it must also have fewer rows than that
    frame and no column carrying one of its columns' values row for row.
    """
    if frame.index.name in ROW_LEVEL_COLUMNS or any(n in ROW_LEVEL_COLUMNS for n in frame.index.names if n):
        raise DisclosureError(f"{name} is indexed by {frame.index.name!r}: that is respondent-level data")
    bad = [c for c in frame.columns if str(c) in ROW_LEVEL_COLUMNS]
    if bad:
        raise DisclosureError(f"{name} has respondent-level column(s) {bad}; publish aggregates only")
    if {"estimate", "n_unweighted"} <= set(frame.columns) and "suppressed" not in frame.columns:
        raise DisclosureError(
            f"{name} is an estimate frame that has not been through disclosure.suppress; apply it "
            "before formatting or plotting"
        )
    if respondent_level is not None:
        if len(frame) >= len(respondent_level):
            raise DisclosureError(
                f"{name} has {len(frame)} rows, as many as the {len(respondent_level)} respondents"
            )
        for c in frame.columns:
            col = frame[c].reset_index(drop=True)
            for r in respondent_level.columns:
                ref = respondent_level[r].reset_index(drop=True)
                if len(col) == len(ref) and col.astype(object).equals(ref.astype(object)):
                    raise DisclosureError(f"{name} column {c!r} reproduces respondent column {r!r}")


def withheld(table: pd.DataFrame, *, label_columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The withheld cells of a suppressed frame: their keys and the reason, for the brief's note."""
    _require(table, ("suppressed", "reason"))
    keys = list(label_columns) if label_columns is not None else key_columns(table) + ["variable", "level"]
    sub = table.loc[table["suppressed"].fillna(False).astype(bool), keys + ["reason"]]
    return sub.reset_index(drop=True)


# -- counts published beside the estimates (codebook, weighting margins) ----------------------
MISSING_COUNT_COLUMNS = (
    "missing_dont_know",
    "missing_refused",
    "missing_not_asked",
    "missing_by_design",
    "missing_system",
)
CATEGORY_COUNT_COLUMNS = ("count_unweighted", "share_unweighted", "count_weighted", "share_weighted")


def withhold_small_counts(table: pd.DataFrame, min_base: int) -> pd.DataFrame:
    """Withhold codebook counts below the disclosure threshold, with secondary suppression.

    Within each variable two sets of counts add up to published totals: the categories (to
    ``n_unweighted``) and the missing reasons (to the analysed sample minus ``n_unweighted``).
    Each set is protected on its own; a withheld category keeps its row, with empty counts and
    ``withheld`` true, so a reader sees that it exists.
    """
    out = table.copy()
    out["withheld"] = False
    missing_cols = [c for c in MISSING_COUNT_COLUMNS if c in out.columns]
    count_cols = [c for c in CATEGORY_COUNT_COLUMNS if c in out.columns]
    for _, rows in out.groupby("variable", sort=False).groups.items():
        block = out.loc[rows]
        labelled = block["level"].notna()
        if labelled.any():
            counts = dict(zip(block.index[labelled], block.loc[labelled, "count_unweighted"], strict=True))
            hide = sorted(withhold_in_relation(counts, min_base))
            out.loc[hide, count_cols] = float("nan")
            out.loc[hide, "withheld"] = True
        first = block.iloc[0]
        missing = {c: first[c] for c in missing_cols if pd.notna(first[c])}
        for col in withhold_in_relation(missing, min_base):
            out[col] = out[col].astype(float)
            out.loc[rows, col] = float("nan")
    return out


def withhold_margin_counts(
    margins: pd.DataFrame, min_base: int, by: str | list[str] = "margin"
) -> pd.DataFrame:
    """Blank the unweighted respondent counts of raking categories below the threshold.

    The counts within each ``by`` group add up to a published total (those of one margin to the
    sample size; the categories merged by a collapse rule, ``by=["margin", "collapsed_into"]``,
    to the merged category's count in the margins table), so secondary suppression applies as
    in the codebook. The sample's share before raking goes with a withheld count (with equal
    design weights it is the count over n); the target and the raked share describe the
    population, and are kept.
    """
    out = margins.copy()
    if "count_unweighted" not in out.columns or out.empty:
        return out
    sample = [c for c in ("count_unweighted", "before", "abs_diff_before") if c in out.columns]
    for c in sample:
        out[c] = out[c].astype(float)
    for _, rows in out.groupby(by, sort=False).groups.items():
        counts = dict(zip(rows, out.loc[rows, "count_unweighted"], strict=True))
        hide = sorted(withhold_in_relation(counts, min_base))
        out.loc[hide, sample] = float("nan")
    return out
