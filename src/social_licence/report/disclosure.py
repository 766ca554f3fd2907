"""Statistical disclosure control: what every published table and figure must pass first.

Written by hand: the established tools (tau-Argus, sdcTable, sdcMicro) are Java/R programs for
magnitude tables or microdata and do not know our tidy estimate frames. The rules here are the
practice of national statistics offices, with thresholds read from ``config/thresholds.yaml``:

* **Primary suppression**: a cell whose unweighted base (``n_unweighted``, respondents with a
  valid answer in the domain) is below ``min_base`` is withheld; optionally also a cell whose
  unweighted count (``count_unweighted``) is below ``min_count``.
* **Secondary suppression**: a published table carries linear relations that an intruder can
  difference: the levels of one variable within a domain add up to the domain (proportions to
  1, counts to the base), and the groups of a partition (the ethnic groups, say) add up to the
  whole sample, whose figure is always published. Within every relation that holds exactly one
  withheld cell the next-smallest cell is withheld too; then an exact check (is the withheld
  cell's unit vector in the row space of the relations restricted to withheld cells?) catches
  the patterns that differencing one relation at a time misses, such as a bridge between two
  blocks of withheld cells in a two-way table, and withholds more until no cell is derivable.
* **Precision flags**: a published estimate whose relative standard error exceeds ``max_rse``,
  or a proportion whose confidence interval is wider than ``max_ci_width``, or a proportion of
  0 or 1 with a zero standard error (no interval can be estimated), is flagged low precision
  (shown as ``[u]``) but published.

A withheld cell keeps its keys and loses every number (estimate, SE, CI, bases); its ``reason``
names the rule but never the base, which would itself disclose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import read_yaml, validate
from ..errors import DisclosureError

#: Contract columns of a tidy estimate frame that hold numbers (withheld for suppressed cells).
VALUE_COLUMNS = (
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "deff",
    "n_unweighted",
    "count_unweighted",
    "n_weighted",
)
COUNT_COLUMNS = ("n_unweighted", "count_unweighted")
FLAG_COLUMNS = ("suppressed", "low_precision", "reason")
#: Columns that identify a cell besides the by columns.
CELL_COLUMNS = ("variable", "level")
#: Stacked group breakdowns: which grouping variable a row belongs to (never a partition itself).
GROUP_VARIABLE = "group_variable"

#: GSS shorthand for tables (Government Analysis Function, "Symbols in tables").
SYMBOL_SUPPRESSED = "[c]"
SYMBOL_LOW_PRECISION = "[u]"

REASON_PRIMARY = "primary suppression: unweighted base below {min_base}"
REASON_PRIMARY_COUNT = "primary suppression: unweighted count below {min_count}"
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
    min_count: int = 0
    secondary: bool = True
    max_rse: float | None = 0.3
    max_ci_width: float | None = 0.2
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
            ("disclosure", {"min_base", "min_count", "secondary"}, disclosure),
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
    base = pd.to_numeric(out["n_unweighted"], errors="coerce").to_numpy(dtype=float)
    count = (
        pd.to_numeric(out["count_unweighted"], errors="coerce").to_numpy(dtype=float)
        if "count_unweighted" in out.columns
        else np.full(len(out), np.nan)
    )
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
    if thresholds.min_count:
        few = ~primary & (count < thresholds.min_count)
        for i in np.flatnonzero(few):
            reasons[i] = REASON_PRIMARY_COUNT.format(min_count=thresholds.min_count)
        primary |= few

    suppressed = primary.copy()
    if thresholds.secondary and suppressed.any():
        relations = linear_relations(out, partitions)
        _secondary(suppressed, relations, base, count, reasons)

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


def _secondary(
    suppressed: np.ndarray,
    relations: list[Relation],
    base: np.ndarray,
    count: np.ndarray,
    reasons: list[str],
) -> None:
    """Withhold further cells in place until no withheld cell can be derived."""
    big = np.where(np.isnan(base), np.inf, base)
    cnt = np.where(np.isnan(count), np.inf, count)

    def order(rel: Relation) -> list[int]:
        free = [m for m in rel.members if not suppressed[m]]
        if rel.kind == "levels":  # same base throughout: take the smallest count
            return sorted(free, key=lambda m: (cnt[m], m))
        return sorted(free, key=lambda m: (big[m], m))  # the smallest group, whole

    def withhold(cell: int, rel: Relation) -> None:
        suppressed[cell] = True
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
                held = sum(1 for m in rel.members if suppressed[m])
                if held == 1:
                    free = order(rel)
                    if free:
                        withhold(free[0], rel)
                        changed = True
        derivable = derivable_cells(suppressed, relations)
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


def withhold_in_relation(counts: Mapping[Any, float], min_base: int) -> set[Any]:
    """Cells to withhold among unweighted counts that add up to a published total (codebook
    categories, raking margins), by the same secondary suppression as :func:`suppress`.

    Primary: counts from 1 to ``min_base - 1`` (an empty category discloses nobody). Then the
    one engine (:func:`_secondary`) withholds the smallest other count, zero included, until
    no withheld count can be derived from the total; ties go to the first key in text order.
    """
    keys = sorted(counts, key=str)
    values = np.array([float(counts[k]) for k in keys])
    suppressed = (values >= 1) & (values < min_base)
    if suppressed.any() and len(keys) > 1:
        relation = Relation("levels", "the categories", tuple(range(len(keys))))
        _secondary(suppressed, [relation], np.full(len(keys), np.nan), values, [""] * len(keys))
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


def audit(table: pd.DataFrame, partitions: Sequence[str] | None = None, *, name: str = "table") -> None:
    """Raise :class:`DisclosureError` if a withheld cell of a suppressed frame can be derived."""
    _require(table, ("suppressed",), name)
    cells = derivable_cells(table["suppressed"].to_numpy(dtype=bool), linear_relations(table, partitions))
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
    for c in out.columns:
        if c in FLAG_COLUMNS or pd.api.types.is_bool_dtype(out[c]) or not pd.api.types.is_numeric_dtype(out[c]):
            continue
        out[c] = pd.to_numeric(out[c]).astype(float)
        out.loc[small, c] = np.nan
    out["suppressed"] = small
    out["low_precision"] = np.zeros(len(out), dtype=bool)
    out["reason"] = reasons
    out.index = table.index
    return out


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
    suppressed = small | withheld_group
    for c in out.columns:
        if c in COMPARISON_KEEP or c in FLAG_COLUMNS:
            continue
        if pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c]):
            out[c] = pd.to_numeric(out[c]).astype(float)
            out.loc[suppressed, c] = np.nan
    out["suppressed"] = suppressed
    out["low_precision"] = np.zeros(len(out), dtype=bool)
    out["reason"] = reasons
    out.index = table.index
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
    """
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
    in the codebook; shares (weighted) are kept, as they are what the diagnostics show.
    """
    out = margins.copy()
    if "count_unweighted" not in out.columns or out.empty:
        return out
    out["count_unweighted"] = out["count_unweighted"].astype(float)
    for _, rows in out.groupby(by, sort=False).groups.items():
        counts = dict(zip(rows, out.loc[rows, "count_unweighted"], strict=True))
        hide = sorted(withhold_in_relation(counts, min_base))
        out.loc[hide, "count_unweighted"] = float("nan")
    return out
