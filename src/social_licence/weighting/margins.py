"""Raking margins: target shares or totals per category, collapse rules, and coding the data.

Targets give shares (summing to 1) or totals per category; an interlocked margin such as sex x
age band names its cells by joining the labels with ``"|"`` (:data:`SEPARATOR`):
``"Female|18-29"``. Categories with too few respondents merge as their collapse rule says.
"""


from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, WeightingError, describe_rows

logger = logging.getLogger(__name__)

SEPARATOR = "|"
"""Joins the category labels of an interlocked margin's cell: ``"Female|18-29"``."""

MISSING_LABEL = "Missing"
"""Default category for a missing weighting variable when ``missing="category"``."""

SHARE_TOLERANCE = 1e-6
"""Shares of a margin must sum to 1 within this; totals of all margins must agree within it."""

MISSING_OPTIONS = ("error", "category")
TOTAL_OPTIONS = ("sample", "base")
WEIGHT_NAME = "weight"
_MERGE_JOIN = " + "


# -- targets -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CollapseRule:
    """Merge sparse categories of a margin before raking.

    A category with fewer than ``min_count`` respondents is merged into a partner: the category
    ``merge`` names for it, or, with ``merge="adjacent"`` (ordered single-variable margins), the
    neighbour with fewer respondents. Merging repeats, sparsest first, until no sparse category
    has a partner. The merged category is labelled with its members joined by ``" + "`` and its
    target is the sum of theirs.
    """

    min_count: int
    merge: Mapping[str, str] | str = "adjacent"

    @classmethod
    def from_config(cls, raw: Any, where: str) -> CollapseRule:
        if isinstance(raw, CollapseRule):
            return raw
        if not isinstance(raw, Mapping) or "min_count" not in raw:
            raise ConfigError(f"{where}: a collapse rule needs min_count and merge, got {raw!r}")
        unknown = set(raw) - {"min_count", "merge"}
        if unknown:
            raise ConfigError(f"{where}: unknown collapse keys {sorted(unknown)}")
        min_count = raw["min_count"]
        if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 1:
            raise ConfigError(
                f"{where}: collapse min_count must be a positive integer, not {min_count!r}"
            )
        merge = raw.get("merge", "adjacent")
        if isinstance(merge, Mapping):
            merge = {str(k): str(v) for k, v in merge.items()}
        elif merge != "adjacent":
            raise ConfigError(
                f"{where}: collapse merge must be 'adjacent' or a mapping, not {merge!r}"
            )
        return cls(min_count=min_count, merge=merge)


@dataclass(frozen=True)
class Margin:
    """One raking margin: a variable (or interlocked variables) and its target per category.

    ``targets`` maps each category label (cells of an interlocked margin joined by
    :data:`SEPARATOR`) to a share (``kind="shares"``, summing to 1) or a population total
    (``kind="totals"``). ``members`` is set on a collapsed margin: merged label -> the original
    categories it holds.
    """

    variables: tuple[str, ...]
    targets: Mapping[str, float]
    kind: str = "shares"
    source: str | None = None
    date: str | None = None
    note: str | None = None
    collapse: CollapseRule | None = None
    members: Mapping[str, tuple[str, ...]] | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        """How messages and tables name the margin: ``sex`` or ``sex x age_band``."""
        return " x ".join(self.variables)

    @property
    def categories(self) -> list[str]:
        return list(self.targets)

    @property
    def total(self) -> float:
        return float(sum(self.targets.values()))

    def shares(self) -> np.ndarray:
        values = np.array([self.targets[c] for c in self.categories], dtype=float)
        return values / values.sum()


@dataclass(frozen=True)
class TargetSet:
    """A named set of margins read from ``config/targets.yaml``.

    ``reference`` holds population shares of covariates that are not raked on, for the balance
    table (:func:`balance_table`).
    """

    name: str
    margins: tuple[Margin, ...]
    description: str | None = None
    file: str | None = None
    reference: tuple[Margin, ...] = ()

    def reference_shares(self) -> dict[str, dict[str, float]]:
        """``{covariate: {level: share}}`` of the single-variable reference margins."""
        return {
            m.variables[0]: dict(zip(m.categories, m.shares().tolist(), strict=True))
            for m in self.reference
            if len(m.variables) == 1
        }


Targets = TargetSet | Sequence[Margin] | Mapping[Any, Any]


def _cell_key(key: Any, n_vars: int, where: str) -> str:
    if isinstance(key, tuple):
        parts = [str(k) for k in key]
    else:
        parts = str(key).split(SEPARATOR) if n_vars > 1 else [str(key)]
    if len(parts) != n_vars:
        raise WeightingError(
            f"margin {where}: category {key!r} must name {n_vars} labels joined by {SEPARATOR!r}"
        )
    return SEPARATOR.join(parts)


def _flatten(values: Mapping[Any, Any], depth: int) -> dict[Any, Any]:
    """Nested {a: {b: x}} -> {(a, b): x}, for interlocked targets written as nested mappings.

    Keys that are not nested (``"a|b"`` or ``("a", "b")``) are kept as they are.
    """
    out: dict[Any, Any] = {}
    for k, v in values.items():
        if depth > 1 and isinstance(v, Mapping):
            for kk, vv in _flatten(v, depth - 1).items():
                out[(k, *(kk if isinstance(kk, tuple) else (kk,)))] = vv
        else:
            out[k] = v
    return out


def _check_values(variables: tuple[str, ...], values: Mapping[str, float], kind: str) -> None:
    name = " x ".join(variables)
    if not values:
        raise WeightingError(f"margin {name} has no categories")
    for cat, v in values.items():
        if not isinstance(v, int | float | np.integer | np.floating) or isinstance(v, bool):
            raise WeightingError(f"margin {name} category {cat!r}: target {v!r} is not a number")
        if not math.isfinite(v) or v < 0:
            raise WeightingError(f"margin {name} category {cat!r}: target {v!r} must be >= 0")
    total = sum(values.values())
    if total <= 0:
        raise WeightingError(f"margin {name}: targets sum to {total}, nothing to rake to")
    if kind == "shares" and abs(total - 1) > SHARE_TOLERANCE:
        raise WeightingError(
            f"margin {name}: shares sum to {total:.8g}, not 1 (tolerance {SHARE_TOLERANCE:g})"
        )


def make_margin(
    variables: str | Sequence[str],
    targets: Mapping[Any, Any],
    kind: str | None = None,
    **meta: Any,
) -> Margin:
    """Build a checked :class:`Margin`.

    ``kind`` is ``"shares"`` or ``"totals"``; when omitted, targets summing to 1 (within
    :data:`SHARE_TOLERANCE`) are shares and anything else is totals. Interlocked targets may be
    keyed ``"Female|18-29"``, ``("Female", "18-29")`` or nested ``{"Female": {"18-29": x}}``.
    """
    vars_ = (variables,) if isinstance(variables, str) else tuple(variables)
    if not vars_:
        raise WeightingError("a margin needs at least one variable")
    name = " x ".join(vars_)
    flat = _flatten(targets, len(vars_)) if len(vars_) > 1 else dict(targets)
    values: dict[str, float] = {}
    for key, v in flat.items():
        k = _cell_key(key, len(vars_), name)
        if k in values:
            raise WeightingError(f"margin {name}: category {k!r} is given twice")
        values[k] = v
    if kind is None:
        try:
            s = float(sum(values.values()))
        except TypeError:
            s = float("nan")
        kind = "shares" if abs(s - 1) <= SHARE_TOLERANCE else "totals"
    if kind not in ("shares", "totals"):
        raise WeightingError(f"margin {name}: kind must be 'shares' or 'totals', not {kind!r}")
    _check_values(vars_, values, kind)
    values = {k: float(v) for k, v in values.items()}
    return Margin(variables=vars_, targets=values, kind=kind, **meta)


def as_margins(targets: Targets) -> list[Margin]:
    """Normalise the accepted target forms to a list of checked margins.

    Accepts a :class:`TargetSet`, a sequence of :class:`Margin`, or a mapping from a variable
    name (or a tuple of names for an interlocked margin) to ``{category: share or total}`` or a
    :class:`Margin`.
    """
    if isinstance(targets, TargetSet):
        margins = list(targets.margins)
    elif isinstance(targets, Mapping):
        margins = []
        for key, value in targets.items():
            vars_ = (key,) if isinstance(key, str) else tuple(key)
            if isinstance(value, Margin):
                if value.variables != vars_:
                    raise WeightingError(f"targets key {key!r} holds the margin of {value.name}")
                margins.append(value)
            elif isinstance(value, Mapping):
                margins.append(make_margin(vars_, value))
            else:
                raise WeightingError(f"targets for {key!r} must be a mapping of category to target")
        inferred = [
            m for m, v in zip(margins, targets.values(), strict=True) if not isinstance(v, Margin)
        ]
        if len({m.kind for m in inferred}) > 1:
            listed = ", ".join(f"{m.name}: {m.total:.8g}" for m in inferred)
            raise WeightingError(
                f"margins sum to different totals ({listed}); shares must sum to 1 and totals "
                "of every margin must agree (use Margin(kind=...) to mix shares and totals)"
            )
    else:
        margins = list(targets)
        for m in margins:
            if not isinstance(m, Margin):
                raise WeightingError(f"targets must be Margin objects, got {type(m).__name__}")
    if not margins:
        raise WeightingError("no margins to rake to")
    seen: set[tuple[str, ...]] = set()
    for m in margins:
        if m.variables in seen:
            raise WeightingError(f"margin {m.name} is given twice")
        seen.add(m.variables)
        _check_values(m.variables, m.targets, m.kind)
    return margins


def resolve_total(margins: Sequence[Margin], total: Any, n: int, base_sum: float) -> float:
    """The sum the raked weights will have."""
    sums = {m.name: m.total for m in margins if m.kind == "totals"}
    if sums:
        ref = next(iter(sums.values()))
        if any(abs(s - ref) > SHARE_TOLERANCE * ref for s in sums.values()):
            listed = ", ".join(f"{k}: {v:.8g}" for k, v in sums.items())
            raise WeightingError(
                "margins given as totals disagree on the population total "
                f"({listed}); shares must sum to 1 and totals of every margin must agree"
            )
    if total is None:
        return float(next(iter(sums.values()))) if sums else float(n)
    if isinstance(total, str):
        if total == "sample":
            return float(n)
        if total == "base":
            return float(base_sum)
        raise WeightingError(f"total must be a number, 'sample' or 'base', not {total!r}")
    total = float(total)
    if not math.isfinite(total) or total <= 0:
        raise WeightingError(f"total must be a positive number, not {total!r}")
    return total


# -- coding the data ---------------------------------------------------------------------------
def _name_rows(index: pd.Index, mask: np.ndarray) -> str:
    """The respondents where ``mask`` holds: never their IDs or pseudonyms (positions then)."""
    return describe_rows(index, mask)


def _variable_codes(
    data: pd.DataFrame, variable: str, missing: str, missing_label: str
) -> tuple[np.ndarray, list[str]]:
    """Integer codes (0..k-1) and labels of one weighting variable; NaN per ``missing``."""
    if variable not in data.columns:
        raise WeightingError(f"weighting variable {variable!r} is not in the data")
    col = data[variable]
    if isinstance(col.dtype, pd.CategoricalDtype):
        labels = [str(c) for c in col.cat.categories]
        codes = col.cat.codes.to_numpy().astype(np.intp)
    else:
        raw_codes, uniques = pd.factorize(col, sort=True, use_na_sentinel=True)
        labels = [str(u) for u in uniques]
        codes = np.asarray(raw_codes, dtype=np.intp)
    nan = codes < 0
    if nan.any():
        if missing == "error":
            raise WeightingError(
                f"weighting variable {variable!r} is missing for {int(nan.sum())} respondents "
                f"({_name_rows(data.index, nan)}); impute it before weighting, or set "
                f"missing='category' and give the margin a target for {missing_label!r}"
            )
        if missing_label in labels:
            code = labels.index(missing_label)
        else:
            labels.append(missing_label)
            code = len(labels) - 1
        codes = codes.copy()
        codes[nan] = code
    return codes, labels


@dataclass
class _MarginCoding:
    """A margin coded on the data: per-row category codes and unweighted counts."""

    margin: Margin
    codes: np.ndarray  # (n,) intp 0..K-1
    counts: np.ndarray  # (K,) respondents with positive base weight
    collapsed: list[dict[str, Any]]


def _product_codes(
    data: pd.DataFrame, margin: Margin, missing: str, missing_label: str
) -> tuple[np.ndarray, list[str]]:
    """Row codes over the product of the margin's variables' labels, and the product keys."""
    codes = None
    label_lists = []
    for v in margin.variables:
        c, labels = _variable_codes(data, v, missing, missing_label)
        label_lists.append(labels)
        codes = c if codes is None else codes * len(labels) + c
    keys = [SEPARATOR.join(parts) for parts in product(*label_lists)]
    return codes, keys


def _members(margin: Margin) -> dict[str, int]:
    """Original category key -> index of the (possibly merged) category it belongs to."""
    out: dict[str, int] = {}
    for j, cat in enumerate(margin.categories):
        for member in (margin.members or {}).get(cat, (cat,)):
            out[member] = j
    return out


def collapse_margin(
    margin: Margin, counts: Mapping[str, int], rule: CollapseRule
) -> tuple[Margin, list[dict[str, Any]]]:
    """Apply a :class:`CollapseRule` to a margin given respondent counts per category.

    Returns the collapsed margin (``members`` records what was merged) and one record per
    original category that was merged: ``margin, category, collapsed_into, count_unweighted``.
    """
    if rule.merge == "adjacent" and len(margin.variables) > 1:
        raise WeightingError(
            f"margin {margin.name}: merge='adjacent' needs a single ordered variable; "
            "name the partner of each cell instead"
        )
    members0 = margin.members or {c: (c,) for c in margin.categories}
    groups: list[list[str]] = [list(members0[c]) for c in margin.categories]
    targets = [margin.targets[c] for c in margin.categories]
    cnt = [int(sum(counts.get(m, 0) for m in g)) for g in groups]
    if isinstance(rule.merge, Mapping):
        known = {m for g in groups for m in g}
        for a, b in rule.merge.items():
            for cat in (a, b):
                if cat not in known:
                    raise WeightingError(
                        f"margin {margin.name}: collapse rule names category {cat!r}, "
                        f"which is not among {sorted(known)}"
                    )

    def partner(i: int) -> int | None:
        if rule.merge == "adjacent":
            nbrs = [j for j in (i - 1, i + 1) if 0 <= j < len(groups)]
            return min(nbrs, key=lambda j: (cnt[j], j)) if nbrs else None
        for m in groups[i]:
            target = rule.merge.get(m)
            if target is not None:
                j = next(k for k, g in enumerate(groups) if target in g)
                if j != i:
                    return j
        return None

    while len(groups) > 1:
        sparse = [
            i for i in range(len(groups)) if cnt[i] < rule.min_count and partner(i) is not None
        ]
        if not sparse:
            break
        i = min(sparse, key=lambda k: (cnt[k], k))
        j = partner(i)
        assert j is not None
        lo, hi = min(i, j), max(i, j)
        groups[lo] = groups[lo] + groups[hi]
        targets[lo] += targets[hi]
        cnt[lo] += cnt[hi]
        del groups[hi], targets[hi], cnt[hi]
    if len(groups) == len(margin.categories):
        return margin, []
    order = {m: k for k, m in enumerate(m for g in members0.values() for m in g)}
    new_targets: dict[str, float] = {}
    new_members: dict[str, tuple[str, ...]] = {}
    records: list[dict[str, Any]] = []
    for g, t in zip(groups, targets, strict=True):
        g_sorted = sorted(g, key=order.__getitem__)
        label = g_sorted[0] if len(g_sorted) == 1 else _MERGE_JOIN.join(g_sorted)
        new_targets[label] = t
        new_members[label] = tuple(g_sorted)
        if len(g_sorted) > 1:
            records += [
                {
                    "margin": margin.name,
                    "category": m,
                    "collapsed_into": label,
                    "count_unweighted": int(counts.get(m, 0)),
                }
                for m in g_sorted
            ]
    return replace(margin, targets=new_targets, members=new_members), records


def code_margin(
    data: pd.DataFrame,
    margin: Margin,
    positive: np.ndarray | None,
    missing: str,
    missing_label: str,
    rule: CollapseRule | None,
) -> _MarginCoding:
    """Code one margin on the data; ``positive``: rows with a positive base weight (None: all)."""
    pcodes, keys = _product_codes(data, margin, missing, missing_label)
    p_all = np.bincount(pcodes, minlength=len(keys))
    p_pos = p_all if positive is None else np.bincount(pcodes[positive], minlength=len(keys))
    collapsed: list[dict[str, Any]] = []
    if rule is not None:
        margin, collapsed = collapse_margin(
            margin, dict(zip(keys, p_pos.tolist(), strict=True)), rule
        )
    member_of = _members(margin)
    lookup = np.array([member_of.get(k, -1) for k in keys], dtype=np.intp)
    if ((p_all > 0) & (lookup < 0)).any():
        unmatched = lookup[pcodes] < 0
        bad = np.unique(pcodes[unmatched])
        listed = ", ".join(repr(keys[b]) for b in bad[:5])
        raise WeightingError(
            f"margin {margin.name}: value(s) {listed} of {int(unmatched.sum())} respondents "
            f"({_name_rows(data.index, unmatched)}) have no target; add them to the margin's "
            f"targets (or a collapse rule)"
        )
    codes = lookup[pcodes]
    k = len(margin.categories)
    matched = lookup >= 0
    counts = np.bincount(lookup[matched], weights=p_pos[matched], minlength=k).astype(np.int64)
    shares = margin.shares()
    empty = np.flatnonzero((counts == 0) & (shares > 0))
    if empty.size:
        cat = margin.categories[int(empty[0])]
        raise WeightingError(
            f"margin {margin.name}: category {cat!r} has no respondents but a target share of "
            f"{shares[empty[0]]:.4g}; merge it with a neighbour (a collapse rule) or drop the "
            "margin: raking cannot create weight where nobody answered"
        )
    zero_target = np.flatnonzero((counts > 0) & (shares == 0))
    if zero_target.size:
        j = int(zero_target[0])
        raise WeightingError(
            f"margin {margin.name}: category {margin.categories[j]!r} has a target of 0 but "
            f"{int(counts[j])} respondents, who would get zero weight"
        )
    return _MarginCoding(margin, codes, counts, collapsed)


def _combine(
    codes: Sequence[np.ndarray], sizes: Sequence[int], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cell id of each row (rows alike on every margin share a cell) and each cell's codes.

    Cell ids follow the lexicographic order of the margin codes, so they do not depend on the
    order of the rows. A dense table of every code combination is used while it is small;
    beyond that, margins are combined one at a time, relabelling the cells found so far.
    """
    limit = max(1 << 22, 8 * n)
    if math.prod(sizes) <= limit:
        combined = np.array(codes[0], dtype=np.intp)
        for c, k in zip(codes[1:], sizes[1:], strict=True):
            combined *= k
            combined += c
        occupied = np.bincount(combined, minlength=math.prod(sizes)) > 0
        present = np.flatnonzero(occupied)
        cell = (np.cumsum(occupied) - 1)[combined]
        return cell, np.column_stack(np.unravel_index(present, tuple(sizes))).astype(np.intp)
    cell = np.zeros(n, dtype=np.intp)
    space = 1
    cell_codes = np.zeros((1, 0), dtype=np.intp)
    for c, k in zip(codes, sizes, strict=True):
        combined = cell * k + c
        if space * k <= limit:
            occupied = np.bincount(combined, minlength=space * k) > 0
            present = np.flatnonzero(occupied)
            cell = (np.cumsum(occupied) - 1)[combined]
        else:
            present, cell = np.unique(combined, return_inverse=True)
            cell = cell.astype(np.intp)
        cell_codes = np.column_stack([cell_codes[present // k], present % k])
        space = len(present)
    return cell, cell_codes


@dataclass
class Prepared:
    """Everything that depends on the data but not on the base weights."""

    index: pd.Index
    codings: list[_MarginCoding]
    cell: np.ndarray
    cell_codes: np.ndarray
    sizes: list[int]

    @property
    def margins(self) -> list[Margin]:
        return [c.margin for c in self.codings]

    @property
    def n_cells(self) -> int:
        return self.cell_codes.shape[0]

    def shares(self) -> list[np.ndarray]:
        return [m.shares() for m in self.margins]

    def collapsed(self) -> pd.DataFrame:
        rows = [r for c in self.codings for r in c.collapsed]
        return pd.DataFrame(
            rows, columns=["margin", "category", "collapsed_into", "count_unweighted"]
        )


def _parse_collapse(
    collapse: Mapping[str, Any] | None, margins: Sequence[Margin]
) -> dict[str, CollapseRule]:
    rules = {m.name: m.collapse for m in margins if m.collapse is not None}
    for name, raw in (collapse or {}).items():
        if name not in {m.name for m in margins}:
            raise ConfigError(
                f"collapse rule for {name!r} names no margin; margins are "
                f"{', '.join(m.name for m in margins)}"
            )
        rules[name] = CollapseRule.from_config(raw, f"collapse rule for {name}")
    return rules


def _prepare(
    data: pd.DataFrame,
    margins: Sequence[Margin],
    base: np.ndarray,
    missing: str,
    missing_label: str,
    collapse: Mapping[str, Any] | None,
) -> Prepared:
    if missing not in MISSING_OPTIONS:
        raise WeightingError(
            f"missing must be one of {', '.join(MISSING_OPTIONS)}, not {missing!r}"
        )
    rules = _parse_collapse(collapse, margins)
    positive = None if (base > 0).all() else base > 0
    codings = [
        code_margin(data, m, positive, missing, missing_label, rules.get(m.name)) for m in margins
    ]
    sizes = [len(c.margin.categories) for c in codings]
    cell, cell_codes = _combine([c.codes for c in codings], sizes, len(data))
    return Prepared(data.index, codings, cell, cell_codes, sizes)


def base_and_margins(
    data: pd.DataFrame,
    targets: Targets,
    base_weight: Any,
    missing: str,
    missing_label: str,
    collapse: Mapping[str, Any] | None,
) -> tuple[np.ndarray, Prepared]:
    """The base weights and the target margins coded on the data (collapsed, missing handled):
    what raking, re-raking replicates and calibrated linearisation all start from."""
    margins = as_margins(targets)
    base = _base_weights(data, base_weight)
    return base, _prepare(data, margins, base, missing, missing_label, collapse)


def _base_weights(data: pd.DataFrame, base_weight: Any) -> np.ndarray:
    if base_weight is None:
        return np.ones(len(data))
    if isinstance(base_weight, str):
        if base_weight not in data.columns:
            raise WeightingError(f"base weight column {base_weight!r} is not in the data")
        values = data[base_weight]
        name = base_weight
    else:
        values = base_weight
        name = "base_weight"
    if isinstance(values, pd.Series) and not values.index.equals(data.index):
        values = values.reindex(data.index)
    d = np.asarray(values, dtype=float)
    if d.shape != (len(data),):
        raise WeightingError(f"{name} has shape {d.shape}, the data has {len(data)} rows")
    bad = ~np.isfinite(d) | (d < 0)
    if bad.any():
        raise WeightingError(
            f"{name} must be finite and non-negative; {int(bad.sum())} respondents are not "
            f"({_name_rows(data.index, bad)}; first value {d[bad][0]!r})"
        )
    if not (d > 0).any():
        raise WeightingError(f"{name} is zero for every respondent")
    return d


