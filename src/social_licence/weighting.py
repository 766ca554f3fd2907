"""Raking survey weights to population margins, with bounds, trimming and diagnostics.

Raking (iterative proportional fitting) adjusts the design weights so that the weighted sample
reproduces known population shares of several variables at once (sex, age band, ethnicity,
income band, lone parenthood, region...). Panels under-represent exactly the parents whose trust
is most fragile, so unweighted or badly weighted figures overstate social licence.

Written by hand on purpose: Python rakers have shipped weights that never converged, ignored
their trimming caps, or let an empty category through. This one
- matches R ``survey::rake`` (``tests/test_weighting_r.py``, R numbers in
  ``../shared/reference/api/r_reference/``),
- never returns unconverged weights: it raises :class:`WeightingError` naming the margin and
  category that did not fit,
- works on *cells*: rows that share a category on every margin get the same raking factor, so the
  iterations run on a table of at most a few thousand cells whatever the sample size, and the
  row weights are ``base * factor[cell]``. One million rows rake in well under a second, and
  :func:`make_reweighter` re-rakes a replicate of 100,000 rows in milliseconds.

Unbounded raking solves the raking dual by Newton's method with a line search (R's
``calibrate(calfun="raking")``), falling back to classical IPF (R's ``rake``) if Newton stalls;
both reach the same unique solution, IPF slowly, Newton in a handful of passes over the cells.

Bounds on the weight relative to the base weight are enforced jointly with the margins: the
result is the bounded raking solution of Deville and Särndal (1992), the one R's
``calibrate(..., calfun="raking", bounds=)`` targets, ``g_i = clip(exp(x_i' eta), L, U)`` with
the margins met exactly. It is computed by cyclic exact maximisation of the dual, one margin at a
time (each step solves the bounded one-dimensional equation per category: IPF with bounds).
Bounds that cannot be met are reported at once when a single category cannot reach its target
within them, and otherwise when the iterations stall and a linear programme (scipy's HiGHS)
confirms that no weights within the bounds meet every margin. Bounds are relative to the base
weight rescaled to the target total, so the base weight's scale never matters.

Targets (see ``config/targets.yaml`` and its schema ``workflow/schemas/targets.schema.yaml``)
give shares (summing to 1) or totals per category; an interlocked margin such as sex x age band
names its cells by joining the labels with ``"|"`` (:data:`SEPARATOR`): ``"Female|18-29"``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .errors import ConfigError, WeightingError, format_rows

logger = logging.getLogger(__name__)

SEPARATOR = "|"
"""Joins the category labels of an interlocked margin's cell: ``"Female|18-29"``."""

MISSING_LABEL = "Missing"
"""Default category for a missing weighting variable when ``missing="category"``."""

NEWTON_ITER = 50
"""Newton iterations for unbounded raking before falling back to classical IPF."""

STALL = 100
"""Bounded raking whose error has not halved in this many iterations stops: bounds that cannot
be met (confirmed by a linear programme before the error is raised)."""

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


def _resolve_total(margins: Sequence[Margin], total: Any, n: int, base_sum: float) -> float:
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
    """The respondents (index labels) where ``mask`` holds, as 'a, b, c (and N more)'."""
    positions = np.flatnonzero(mask)
    return format_rows([str(r) for r in index[positions[:5]]] + [""] * (len(positions) - 5))


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


def _code_margin(
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
class _Prepared:
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
) -> _Prepared:
    if missing not in MISSING_OPTIONS:
        raise WeightingError(
            f"missing must be one of {', '.join(MISSING_OPTIONS)}, not {missing!r}"
        )
    rules = _parse_collapse(collapse, margins)
    positive = None if (base > 0).all() else base > 0
    codings = [
        _code_margin(data, m, positive, missing, missing_label, rules.get(m.name)) for m in margins
    ]
    sizes = [len(c.margin.categories) for c in codings]
    cell, cell_codes = _combine([c.codes for c in codings], sizes, len(data))
    return _Prepared(data.index, codings, cell, cell_codes, sizes)


def _base_and_margins(
    data: pd.DataFrame,
    targets: Targets,
    base_weight: Any,
    missing: str,
    missing_label: str,
    collapse: Mapping[str, Any] | None,
) -> tuple[np.ndarray, _Prepared]:
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


# -- the raking engine on cells ----------------------------------------------------------------
@dataclass
class _Fit:
    g: np.ndarray  # (n_cells,) adjustment factor relative to the base scaled to the total
    iterations: int
    max_error: float  # largest |achieved - target| share over every margin category
    worst: tuple[int, int]  # (margin, category) of the largest error
    log_g: np.ndarray | None = None  # bounded raking: the unclipped log factors (a warm start)
    eta: np.ndarray | None = None  # Newton: log factor per margin category (a warm start)
    method: str = "ipf"


def _margin_errors(
    cell_codes: np.ndarray,
    sizes: Sequence[int],
    wd: np.ndarray,
    targets: Sequence[np.ndarray],
    total: float,
) -> tuple[float, tuple[int, int]]:
    worst, where = -1.0, (0, 0)
    for m, k in enumerate(sizes):
        achieved = np.bincount(cell_codes[:, m], weights=wd, minlength=k)
        err = np.abs(achieved - targets[m]) / total
        j = int(np.argmax(err))
        if err[j] > worst:
            worst, where = float(err[j]), (m, j)
    return worst, where


def _solve_shift(
    s: np.ndarray,
    dcell: np.ndarray,
    codes: np.ndarray,
    k: int,
    target: np.ndarray,
    low: float,
    high: float,
    tol_abs: float,
) -> np.ndarray:
    """Per category c, the shift delta_c with sum_{j in c} D_j clip(exp(s_j + delta_c), L, U) = T_c.

    Newton steps in log form (exact while no cell crosses a bound) kept inside a bracket that
    shrinks on every evaluation; bisection when Newton would leave it.
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        smax = np.full(k, -np.inf)
        smin = np.full(k, np.inf)
        np.maximum.at(smax, codes, s)
        np.minimum.at(smin, codes, s)
        lo = (math.log(low) if low > 0 else -np.inf) - smax
        hi = (math.log(high) if math.isfinite(high) else np.inf) - smin
        delta = np.clip(np.zeros(k), lo, hi)
        for _ in range(200):
            e = np.exp(s + delta[codes])
            g = np.clip(e, low, high)
            h = np.bincount(codes, weights=dcell * g, minlength=k)
            r = h - target
            done = np.abs(r) <= tol_abs
            if done.all():
                break
            lo = np.where(r < 0, np.maximum(lo, delta), lo)
            hi = np.where(r > 0, np.minimum(hi, delta), hi)
            free = (e > low) & (e < high)
            s_free = np.bincount(codes, weights=np.where(free, dcell * e, 0.0), minlength=k)
            need = target - (h - s_free)
            newton = delta + np.log(need / s_free)
            mid = np.where(
                np.isfinite(lo) & np.isfinite(hi),
                0.5 * (lo + hi),
                np.where(np.isfinite(lo), lo + 1.0, hi - 1.0),
            )
            ok = np.isfinite(newton) & (newton > lo) & (newton < hi)
            delta = np.where(done, delta, np.where(ok, newton, mid))
    return delta


def _newton(
    dcell: np.ndarray,
    columns: Sequence[np.ndarray],
    sizes: Sequence[int],
    targets: Sequence[np.ndarray],
    total: float,
    tol: float,
    max_iter: int,
    eta0: np.ndarray | None,
) -> _Fit:
    """Unbounded raking by Newton's method on the dual, with a backtracking line search.

    The raked cell totals are ``dcell * exp(sum_m eta_m[code_m])``; ``eta`` minimises the convex
    dual ``sum_j x_j(eta) - eta'T`` (as R's ``calibrate(calfun="raking")`` does, where IPF, as
    R's ``rake``, does coordinate descent on the same function: the solution is the same). The
    Hessian is the table of pairwise margin totals, so an iteration costs a few passes over the
    cells; convergence is quadratic.
    """
    n_margins = len(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    t_all = np.concatenate(targets)
    pairs = [(a, b) for a in range(n_margins) for b in range(a + 1, n_margins)]
    pair_codes = {(a, b): columns[a] * sizes[b] + columns[b] for a, b in pairs}

    def spread(eta: np.ndarray) -> np.ndarray:
        out = np.zeros(len(dcell))
        for m in range(n_margins):
            out += eta[offsets[m] : offsets[m + 1]].take(columns[m])
        return out

    eta = np.zeros(offsets[-1]) if eta0 is None else eta0.copy()
    s = spread(eta)
    with np.errstate(over="ignore", invalid="ignore"):
        x = dcell * np.exp(s)
        f = float(x.sum() - eta @ t_all)
        err, worst = math.inf, (0, 0)
        steps = 0
        while True:
            achieved = [
                np.bincount(columns[m], weights=x, minlength=sizes[m]) for m in range(n_margins)
            ]
            grad = np.concatenate(achieved) - t_all
            gaps = np.abs(grad) / total
            err = float(gaps.max())
            j = int(np.argmax(gaps))
            m = int(np.searchsorted(offsets, j, side="right") - 1)
            worst = (m, j - offsets[m])
            if err <= tol or not math.isfinite(err) or steps >= max_iter:
                break
            steps += 1
            hess = np.zeros((offsets[-1], offsets[-1]))
            for m in range(n_margins):
                block = slice(offsets[m], offsets[m + 1])
                hess[block, block] = np.diag(achieved[m])
            for a, b in pairs:
                cross = np.bincount(pair_codes[a, b], weights=x, minlength=sizes[a] * sizes[b])
                cross = cross.reshape(sizes[a], sizes[b])
                hess[offsets[a] : offsets[a + 1], offsets[b] : offsets[b + 1]] = cross
                hess[offsets[b] : offsets[b + 1], offsets[a] : offsets[a + 1]] = cross.T
            # The Hessian is singular (each margin sums to the same total): least squares.
            step = -np.linalg.lstsq(hess, grad, rcond=None)[0]
            ds = spread(step)
            slope = float(grad @ step)
            t = 1.0
            while True:
                x_new = dcell * np.exp(s + t * ds)
                f_new = float(x_new.sum() - (eta + t * step) @ t_all)
                if f_new <= f + 1e-4 * t * slope or t < 1e-12:
                    break
                t *= 0.5
            eta, s, x, f = eta + t * step, s + t * ds, x_new, f_new
    g = np.exp(s)
    return _Fit(g, steps, err, worst, eta=eta, method="newton")


def _ipf(
    dcell: np.ndarray,
    cell_codes: np.ndarray,
    sizes: Sequence[int],
    targets: Sequence[np.ndarray],
    total: float,
    tol: float,
    max_iter: int,
    bounds: tuple[float, float] | None,
    stall: int | None = None,
    start: _Fit | None = None,
) -> _Fit:
    """Rake cell totals ``dcell`` (base weights summed per cell, scaled to ``total``) to targets.

    Returns the factor per cell whatever happened; callers decide what non-convergence means.
    With ``stall``, bounded raking gives up early when the error has not halved in that many
    iterations (the sign of bounds that cannot be met). ``start``: a previous fit on the same
    cells to start from (a replicate starts from the full sample's factors). Its factors are a
    product of one factor per margin category, which raking absorbs, so the result is the same
    as from a cold start, only reached in fewer iterations.
    """
    n_cells = len(dcell)
    columns = [np.ascontiguousarray(cell_codes[:, m]) for m in range(len(sizes))]
    shares_tol = [tol * total / np.maximum(t, tol * total) for t in targets]
    err, worst = math.inf, (0, 0)
    if bounds is None:
        fit = _newton(
            dcell,
            columns,
            sizes,
            targets,
            total,
            tol,
            min(max_iter, NEWTON_ITER),
            start.eta if start is not None else None,
        )
        if fit.max_error <= tol:
            return fit
        # Newton did not get there (contradictory margins, extreme sparsity): classical IPF,
        # from a cold start, decides; it is slower but never leaves the feasible region.
        x = dcell.copy()  # raked cell totals, dcell * g
        for it in range(1, max_iter + 1):
            moved = 0.0
            for m, k in enumerate(sizes):
                achieved = np.bincount(columns[m], weights=x, minlength=k)
                factor = np.divide(targets[m], achieved, out=np.ones(k), where=achieved > 0)
                moved = max(moved, float(np.max(np.abs(factor - 1) / shares_tol[m])))
                x *= factor.take(columns[m])
            # A sweep whose factors all moved the margins by less than tol may have converged:
            # only then measure every margin (the last one is met exactly by construction).
            if moved <= len(sizes) or it == max_iter:
                err, worst = _margin_errors(cell_codes, sizes, x, targets, total)
                if err <= tol:
                    break
        g = np.divide(x, dcell, out=np.ones(n_cells), where=dcell > 0)
        return _Fit(g, it, err, worst)
    low, high = bounds
    s = start.log_g.copy() if start is not None and start.log_g is not None else np.zeros(n_cells)
    tol_abs = 0.01 * tol * total
    history: list[float] = []
    for it in range(1, max_iter + 1):
        for m, k in enumerate(sizes):
            delta = _solve_shift(s, dcell, columns[m], k, targets[m], low, high, tol_abs)
            s += delta[columns[m]]
        with np.errstate(over="ignore"):
            g = np.clip(np.exp(s), low, high)
        err, worst = _margin_errors(cell_codes, sizes, dcell * g, targets, total)
        if err <= tol:
            break
        history.append(err)
        if stall and it > stall and err > 0.5 * history[-stall - 1]:
            break
    return _Fit(g, it, err, worst, s)


def _check_bounds(bounds: Any) -> tuple[float, float] | None:
    if bounds is None:
        return None
    try:
        raw_low, raw_high = bounds
        low = 0.0 if raw_low is None else float(raw_low)
        high = math.inf if raw_high is None else float(raw_high)
    except (TypeError, ValueError):
        raise WeightingError(f"bounds must be a pair (low, high), not {bounds!r}") from None
    if not (0 <= low < 1 < high) or math.isnan(high):
        raise WeightingError(
            f"bounds ({low:g}, {high:g}) must satisfy 0 <= low < 1 < high: they are limits on the "
            "weight relative to the base weight"
        )
    return low, high


def _feasible_bounds(
    prep: _Prepared, dcell: np.ndarray, targets: Sequence[np.ndarray], bounds: tuple[float, float]
) -> None:
    """Each category on its own must be reachable within the bounds (a necessary condition)."""
    low, high = bounds
    for m, (coding, k) in enumerate(zip(prep.codings, prep.sizes, strict=True)):
        have = np.bincount(prep.cell_codes[:, m], weights=dcell, minlength=k)
        with np.errstate(divide="ignore", invalid="ignore"):
            need = targets[m] / have
        for j in range(k):
            if have[j] <= 0:
                continue
            if need[j] > high * (1 + 1e-12) or need[j] < low * (1 - 1e-12):
                side, limit = ("upper", high) if need[j] > high else ("lower", low)
                raise WeightingError(
                    f"bounds ({low:g}, {high:g}) cannot be met: margin {coding.margin.name} "
                    f"category {coding.margin.categories[j]!r} needs its weights multiplied by "
                    f"{need[j]:.4g} on average, beyond the {side} bound {limit:g}"
                )


def _jointly_feasible(
    prep: _Prepared,
    dcell: np.ndarray,
    targets: Sequence[np.ndarray],
    total: float,
    bounds: tuple[float, float],
) -> bool:
    """Whether some factors within the bounds meet every margin: a linear programme on cells.

    Bounded raking has a solution exactly when this feasibility problem does; asking an LP
    solver (HiGHS, through scipy) first turns "bounds that cannot be met" into an immediate
    error instead of a long run of iterations that cannot converge.
    """
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix

    low, high = bounds
    rows, cols, vals, rhs = [], [], [], []
    offset = 0
    for m, k in enumerate(prep.sizes):
        rows.append(offset + prep.cell_codes[:, m])
        cols.append(np.arange(prep.n_cells))
        vals.append(dcell / total)
        rhs.append(targets[m] / total)
        offset += k
    a_eq = csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(offset, prep.n_cells),
    )
    res = linprog(
        np.zeros(prep.n_cells),
        A_eq=a_eq,
        b_eq=np.concatenate(rhs),
        bounds=(low, None if math.isinf(high) else high),
        method="highs",
    )
    return res.status != 2


def _raise_unconverged(
    prep: _Prepared,
    fit: _Fit,
    tol: float,
    bounds: tuple[float, float] | None,
    dcell: np.ndarray,
    targets: Sequence[np.ndarray],
    total: float,
    infeasible: bool = False,
) -> None:
    m, j = fit.worst
    margin = prep.margins[m]
    achieved = np.bincount(prep.cell_codes[:, m], weights=dcell * fit.g, minlength=prep.sizes[m])
    where = (
        f"margin {margin.name} category {margin.categories[j]!r} (share "
        f"{achieved[j] / total:.6g} against a target of {targets[m][j] / total:.6g})"
    )
    if infeasible:
        assert bounds is not None
        raise WeightingError(
            f"bounds ({bounds[0]:g}, {bounds[1]:g}) cannot be met: no weights within them meet "
            f"every margin together; the category furthest from its target is {where}: loosen "
            "the bounds or collapse sparse categories"
        )
    what = (
        f"the bounds ({bounds[0]:g}, {bounds[1]:g}) and the margins were not both met"
        if bounds is not None
        else "raking did not converge"
    )
    raise WeightingError(
        f"{what} after {fit.iterations} iterations: the largest error is on {where}, "
        f"{fit.max_error:.3g} > tol {tol:g}; the margins may contradict each other (an "
        "interlocked margin and its parts), or a category is too sparse: collapse sparse "
        "categories, check the targets or raise max_iter"
    )


def _cells_fit(
    prep: _Prepared,
    base: np.ndarray,
    total: float,
    tol: float,
    max_iter: int,
    bounds: tuple[float, float] | None,
    replicate: str = "",
    empty: str = "error",
    check_feasible: bool = True,
    start: _Fit | None = None,
) -> tuple[np.ndarray, _Fit, list[tuple[str, str]]]:
    """Scaled cell totals, the converged fit and the categories left out (``empty="partial"``).

    Raises on a category without weight (unless ``empty="partial"``, which rakes the rest of the
    margin to its shares renormalised) and on no convergence.
    """
    dcell = np.bincount(prep.cell, weights=base, minlength=prep.n_cells)
    dcell *= total / dcell.sum()
    targets = [s * total for s in prep.shares()]
    dropped: list[tuple[str, str]] = []
    for m, k in enumerate(prep.sizes):
        have = np.bincount(prep.cell_codes[:, m], weights=dcell, minlength=k)
        lost = np.flatnonzero((have <= 0) & (targets[m] > 0))
        if lost.size:
            margin = prep.margins[m]
            if empty != "partial":
                hint = (
                    "; make_reweighter(..., empty='partial') rakes such a replicate to the "
                    "margin's other categories"
                    if replicate
                    else ""
                )
                raise WeightingError(
                    f"margin {margin.name}: category {margin.categories[int(lost[0])]!r} has no "
                    f"weight{replicate} (every respondent in it has a zero base weight){hint}"
                )
            dropped += [(margin.name, margin.categories[int(j)]) for j in lost]
            kept = targets[m].copy()
            kept[lost] = 0.0
            targets[m] = kept * (total / kept.sum())
    if bounds is not None:
        _feasible_bounds(prep, dcell, targets, bounds)
    fit = _ipf(
        dcell,
        prep.cell_codes,
        prep.sizes,
        targets,
        total,
        tol,
        max_iter,
        bounds,
        stall=STALL if bounds is not None else None,
        start=start,
    )
    if not fit.max_error <= tol and bounds is not None and fit.iterations < max_iter:
        # Stalled: either the bounds cannot be met (a linear programme decides) or convergence
        # is merely slow, in which case iterate on without giving up early.
        if not check_feasible or not _jointly_feasible(prep, dcell, targets, total, bounds):
            _raise_unconverged(prep, fit, tol, bounds, dcell, targets, total, infeasible=True)
        fit = _ipf(dcell, prep.cell_codes, prep.sizes, targets, total, tol, max_iter, bounds)
    if not fit.max_error <= tol:
        _raise_unconverged(prep, fit, tol, bounds, dcell, targets, total)
    return dcell, fit, dropped


def _kish_cells(
    g: np.ndarray, base_cell_sum: np.ndarray, base_cell_sq: np.ndarray, n: int
) -> float:
    s = float(g @ base_cell_sum)
    return n * float((g * g) @ base_cell_sq) / (s * s)


def _trim_bounds(
    prep: _Prepared,
    base: np.ndarray,
    total: float,
    tol: float,
    max_iter: int,
    bounds: tuple[float, float] | None,
    target_deff: float,
) -> tuple[float, float] | None:
    """The loosest bounds (1/c, c), within ``bounds``, whose raked weights have Kish deff <= target.

    Kish's design effect of the final weights includes the base weights' own variation. Assumes,
    as trimming does, that tightening the bounds does not raise the design effect; the result is
    checked.
    """
    if not target_deff >= 1:
        raise WeightingError(f"trim_deff must be at least 1, not {target_deff!r}")
    pos = base > 0
    n = int(pos.sum())
    bsum = np.bincount(prep.cell, weights=base, minlength=prep.n_cells)
    bsq = np.bincount(prep.cell, weights=base * base, minlength=prep.n_cells)
    _, fit, _ = _cells_fit(prep, base, total, tol, max_iter, bounds)
    deff0 = _kish_cells(fit.g, bsum, bsq, n)
    if deff0 <= target_deff:
        return bounds
    lo0, hi0 = bounds if bounds is not None else (0.0, math.inf)
    g = fit.g[bsum > 0]  # factors relative to the base rescaled to the total, as bounds are
    c_hi = max(float(g.max()), 1 / float(g.min()))

    def attempt(c: float) -> float | None:
        b = (max(lo0, 1 / c), min(hi0, c))
        try:
            _, f, _ = _cells_fit(prep, base, total, tol, max_iter, b, check_feasible=False)
        except WeightingError:
            return None
        return _kish_cells(f.g, bsum, bsq, n)

    # Phase 1: the tightest feasible c (feasibility is monotone in c).
    a, b = 0.0, math.log(c_hi)
    for _ in range(40):
        mid = 0.5 * (a + b)
        if attempt(math.exp(mid)) is None:
            a = mid
        else:
            b = mid
        if b - a < 1e-6:
            break
    tightest = attempt(math.exp(b))
    if tightest is None or tightest > target_deff:
        raise WeightingError(
            f"trim_deff {target_deff:g} cannot be met: the tightest bounds that still meet the "
            f"margins, ({1 / math.exp(b):.4g}, {math.exp(b):.4g}) relative to the base weight, "
            f"give a Kish design effect of {math.nan if tightest is None else tightest:.4g} "
            f"(untrimmed: {deff0:.4g})"
        )
    # Phase 2: loosen as far as the target allows.
    a, b = b, math.log(c_hi)
    for _ in range(60):
        mid = 0.5 * (a + b)
        d = attempt(math.exp(mid))
        if d is not None and d <= target_deff:
            a = mid
        else:
            b = mid
        if b - a < 1e-7:
            break
    c = math.exp(a)
    return (max(lo0, 1 / c), min(hi0, c))


# -- public API --------------------------------------------------------------------------------
@dataclass
class RakeResult:
    """Raked weights with what produced them: the fit, the margins actually used, collapses."""

    weights: pd.Series
    margins: list[Margin]
    base: np.ndarray
    collapsed: pd.DataFrame
    bounds: tuple[float, float] | None
    total: float


def _rake(
    data: pd.DataFrame,
    targets: Targets,
    base_weight: Any = None,
    *,
    tol: float = 1e-10,
    max_iter: int = 1000,
    bounds: Any = None,
    total: Any = None,
    missing: str = "error",
    missing_label: str = MISSING_LABEL,
    collapse: Mapping[str, Any] | None = None,
    trim_deff: float | None = None,
) -> RakeResult:
    if not (isinstance(tol, int | float) and tol > 0):
        raise WeightingError(f"tol must be a positive number, not {tol!r}")
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise WeightingError(f"max_iter must be a positive integer, not {max_iter!r}")
    bnds = _check_bounds(bounds)
    base, prep = _base_and_margins(data, targets, base_weight, missing, missing_label, collapse)
    t = _resolve_total(prep.margins, total, int((base > 0).sum()), float(base.sum()))
    if trim_deff is not None:
        bnds = _trim_bounds(prep, base, t, tol, max_iter, bnds, float(trim_deff))
    _, fit, _ = _cells_fit(prep, base, t, tol, max_iter, bnds)
    w = base * (t / base.sum()) * fit.g[prep.cell]
    # Report the margins as the returned row weights meet them, not as the cells did.
    targets_abs = [s * t for s in prep.shares()]
    achieved = max(
        float(np.max(np.abs(np.bincount(c.codes, weights=w, minlength=k) - targets_abs[m]) / t))
        for m, (c, k) in enumerate(zip(prep.codings, prep.sizes, strict=True))
    )
    logger.info(
        "raked %d rows to %d margins in %d iterations (max margin error %.3g)",
        len(data),
        len(prep.margins),
        fit.iterations,
        achieved,
    )
    series = pd.Series(w, index=data.index, name=WEIGHT_NAME)
    series.attrs.update(
        iterations=fit.iterations,
        method=fit.method if bnds is None else "bounded",
        converged=True,
        max_margin_error=achieved,
        tol=tol,
        bounds=bnds,
        total=t,
        n_cells=prep.n_cells,
        margins=[m.name for m in prep.margins],
    )
    return RakeResult(series, prep.margins, base, prep.collapsed(), bnds, t)


def rake(
    data: pd.DataFrame,
    targets: Targets,
    base_weight: Any = None,
    *,
    tol: float = 1e-10,
    max_iter: int = 1000,
    bounds: Any = None,
    total: Any = None,
    missing: str = "error",
    missing_label: str = MISSING_LABEL,
    collapse: Mapping[str, Any] | None = None,
    trim_deff: float | None = None,
) -> pd.Series:
    """Rake ``base_weight`` so the weighted data meet every margin of ``targets``.

    ``targets``: ``{"sex": {"Female": .52, "Male": .48}, ("sex", "age_band"): {"Female|18-29":
    ...}}``, a list of :class:`Margin` or a :class:`TargetSet` (see :func:`load_targets`).
    ``base_weight``: a column name, an array or None (equal weights). ``tol``: the largest
    allowed difference between achieved and target share on any category of any margin.
    ``bounds=(low, high)``: limits on the final weight relative to the base weight rescaled to
    the same total, met jointly with the margins. ``total``: the sum of the weights: by default
    the population total when targets are totals, else the number of respondents (``"sample"``);
    ``"base"`` keeps the base weights' sum; or a number. ``missing``: ``"error"``, or
    ``"category"`` to rake missing values as ``missing_label`` with its own target.
    ``collapse``: ``{margin name: {"min_count": k, "merge": "adjacent" | {sparse: partner}}}``.
    ``trim_deff``: choose the loosest bounds ``(1/c, c)`` that bring Kish's design effect down
    to this value.

    Returns a Series named ``weight`` aligned to ``data.index`` whose ``attrs`` hold
    ``iterations``, ``converged`` (always True: failure raises :class:`WeightingError`),
    ``max_margin_error``, ``tol``, ``bounds``, ``total``, ``n_cells`` and ``margins``.
    """
    return _rake(
        data,
        targets,
        base_weight,
        tol=tol,
        max_iter=max_iter,
        bounds=bounds,
        total=total,
        missing=missing,
        missing_label=missing_label,
        collapse=collapse,
        trim_deff=trim_deff,
    ).weights


class Reweighter:
    """Re-rakes any base-weight vector (a replicate) to fixed margins, codes precomputed once.

    Built by :func:`make_reweighter`. Calling it with an ``(n,)`` array returns the raked
    ``(n,)`` weights; with an ``(n, R)`` matrix, each column is raked. The total, the bounds
    (including those chosen by ``trim_deff`` on the full sample) and any collapsing are fixed
    when it is built, so every replicate is raked exactly as the full sample was.

    A replicate in which a whole category has zero weight (a bootstrap or jackknife replicate
    that dropped every PSU holding it) raises :class:`WeightingError`, unless ``empty="partial"``:
    then that replicate is raked to the margin's other categories, their shares renormalised (as
    R's ``postStratify(partial=TRUE)``), and :attr:`partial` records (call, margin, category).

    A replicate whose margins cannot be met within the bounds raises :class:`WeightingError`,
    unless ``infeasible="unbounded"``: then that replicate (never the first call, the full
    sample) is raked to the same margins without bounds, and :attr:`unbounded` records the call.
    Its variance contribution then reflects the raking but not the trimming.
    """

    def __init__(
        self,
        prep: _Prepared,
        total: float,
        tol: float,
        max_iter: int,
        bounds: tuple[float, float] | None,
        empty: str = "error",
        infeasible: str = "error",
    ) -> None:
        if empty not in ("error", "partial"):
            raise WeightingError(f"empty must be 'error' or 'partial', not {empty!r}")
        if infeasible not in ("error", "unbounded"):
            raise WeightingError(f"infeasible must be 'error' or 'unbounded', not {infeasible!r}")
        self.infeasible = infeasible
        self.unbounded: list[int] = []
        self._prep = prep
        self.total = total
        self.tol = tol
        self.max_iter = max_iter
        self.bounds = bounds
        self.empty = empty
        self.margins = prep.margins
        self.calls = 0
        self.iterations: list[int] = []
        self.partial: list[tuple[int, str, str]] = []
        self._start: _Fit | None = None

    @property
    def n(self) -> int:
        return len(self._prep.cell)

    def __call__(self, base: np.ndarray) -> np.ndarray:
        base = np.asarray(base, dtype=float)
        if base.ndim == 2:
            if base.shape[0] != self.n:
                raise WeightingError(
                    f"replicate weights have {base.shape[0]} rows, the data {self.n}"
                )
            return np.column_stack(
                [
                    self._one(base[:, r], f" in column {r} of the replicate weights")
                    for r in range(base.shape[1])
                ]
            )
        if base.shape != (self.n,):
            raise WeightingError(
                f"base weights have shape {base.shape}, the data has {self.n} rows"
            )
        return self._one(base, "")

    def _one(self, base: np.ndarray, where: str) -> np.ndarray:
        self.calls += 1
        where = where or f" in call {self.calls} of the reweighter"
        bad = ~np.isfinite(base) | (base < 0)
        if bad.any():
            raise WeightingError(
                f"base weights{where} must be finite and non-negative; {int(bad.sum())} are not"
            )
        if not (base > 0).any():
            raise WeightingError(f"base weights{where} are all zero")
        try:
            _, fit, dropped = _cells_fit(
                self._prep,
                base,
                self.total,
                self.tol,
                self.max_iter,
                self.bounds,
                where,
                self.empty,
                start=self._start,
            )
        except WeightingError:
            if self.infeasible != "unbounded" or self.bounds is None or self.calls == 1:
                raise
            _, fit, dropped = _cells_fit(
                self._prep, base, self.total, self.tol, self.max_iter, None, where, self.empty
            )
            self.unbounded.append(self.calls)
        if self._start is None and not dropped:
            self._start = fit  # later calls (replicates) start from these factors
        self.partial += [(self.calls, m, c) for m, c in dropped]
        self.iterations.append(fit.iterations)
        return base * (self.total / base.sum()) * fit.g[self._prep.cell]


def make_reweighter(
    data: pd.DataFrame,
    targets: Targets,
    *,
    empty: str = "error",
    infeasible: str = "error",
    **options: Any,
) -> Reweighter:
    """A function from base weights to raked weights, for re-raking replicate weights.

    ``options`` are those of :func:`rake_from_config` (``base_weight``, ``tol``, ``max_iter``,
    ``bounds``, ``trim_deff``, ``total``, ``missing``, ``missing_label``, ``collapse``); the
    full-sample base weight decides collapsing, the ``"base"`` total and ``trim_deff``'s bounds,
    which then stay fixed for every replicate so that replicate variance reflects the weighting.
    ``empty``: what a replicate with a category of zero weight does; ``infeasible``: what a
    replicate whose margins cannot be met within the bounds does (see :class:`Reweighter`).
    """
    opts = _options(options, allow_diagnostics=False)
    bnds = _check_bounds(opts["bounds"])
    base, prep = _base_and_margins(
        data, targets, opts["base_weight"], opts["missing"], opts["missing_label"], opts["collapse"]
    )
    t = _resolve_total(prep.margins, opts["total"], int((base > 0).sum()), float(base.sum()))
    if opts["trim_deff"] is not None:
        bnds = _trim_bounds(
            prep, base, t, opts["tol"], opts["max_iter"], bnds, float(opts["trim_deff"])
        )
    return Reweighter(prep, t, opts["tol"], opts["max_iter"], bnds, empty, infeasible)


def calibration(data: pd.DataFrame, targets: Targets, **options: Any):
    """The raking margins coded on ``data``, for linearisation that reflects the weighting.

    ``options`` are those of :func:`rake_from_config` that decide the margins' categories
    (``base_weight``, ``missing``, ``missing_label``, ``collapse``; the rest are accepted and
    ignored). Returns a :class:`social_licence.design.Calibration`: pass it as
    ``SurveyDesign(..., calibration=)`` on the raked weights, and the design's standard errors
    use the residuals from the margins (a raked share has a standard error of zero). Categories
    are those raking used, after collapse rules and any missing category.
    """
    from .design import Calibration

    opts = _options(options, allow_diagnostics=False)
    base, prep = _base_and_margins(
        data, targets, opts["base_weight"], opts["missing"], opts["missing_label"], opts["collapse"]
    )
    codes = (
        np.column_stack([c.codes for c in prep.codings])
        if prep.codings
        else np.zeros((len(data), 0), dtype=np.intp)
    )
    return Calibration(
        codes=codes,
        sizes=tuple(prep.sizes),
        base=base,
        index=data.index,
    )


# -- configuration -----------------------------------------------------------------------------
RAKE_OPTIONS: dict[str, Any] = {
    "base_weight": "design_weight",
    "tol": 1e-10,
    "max_iter": 1000,
    "bounds": None,
    "trim_deff": None,
    "total": None,
    "missing": "error",
    "missing_label": MISSING_LABEL,
    "collapse": None,
}
"""Options :func:`rake_from_config` and :func:`make_reweighter` accept, with their defaults."""

DIAGNOSTIC_OPTIONS: dict[str, Any] = {"covariates": (), "reference": None}
"""Further options of :func:`rake_from_config`: covariates for the balance table and their
population reference values."""


def _options(options: Mapping[str, Any] | None, allow_diagnostics: bool) -> dict[str, Any]:
    allowed = dict(RAKE_OPTIONS, **(DIAGNOSTIC_OPTIONS if allow_diagnostics else {}))
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown weighting option(s) {unknown}; known: {', '.join(sorted(allowed))}"
        )
    return {**allowed, **options}


def rake_from_config(
    data: pd.DataFrame, targets: Targets, options: Mapping[str, Any] | None = None
) -> tuple[pd.Series, dict[str, pd.DataFrame]]:
    """Rake as configured and return the weights with every diagnostic table.

    ``options`` (see :data:`RAKE_OPTIONS` and :data:`DIAGNOSTIC_OPTIONS`): ``base_weight``
    (column, default ``design_weight``; null for equal weights), ``tol``, ``max_iter``,
    ``bounds`` ([low, high] relative to the base weight), ``trim_deff``, ``total``,
    ``missing``, ``missing_label``, ``collapse``, ``covariates`` (not used in weighting, for the
    balance table) and ``reference`` (their population shares or means, optional).

    Diagnostics: ``summary`` (:func:`weight_summary`), ``margins`` (:func:`margin_table`),
    ``balance`` (:func:`balance_table`), ``collapsed`` (categories merged before raking) and
    ``convergence`` (one row: iterations, max margin error, bounds, design effect...).
    """
    opts = _options(options, allow_diagnostics=True)
    if isinstance(opts["base_weight"], str) and opts["base_weight"] not in data.columns:
        raise ConfigError(
            f"weighting option base_weight names column {opts['base_weight']!r}, which is not in "
            "the data; set base_weight: null to start from equal weights"
        )
    result = _rake(
        data,
        targets,
        opts["base_weight"],
        tol=opts["tol"],
        max_iter=opts["max_iter"],
        bounds=opts["bounds"],
        total=opts["total"],
        missing=opts["missing"],
        missing_label=opts["missing_label"],
        collapse=opts["collapse"],
        trim_deff=opts["trim_deff"],
    )
    w = result.weights
    reference = opts["reference"]
    if reference is None and isinstance(targets, TargetSet):
        reference = targets.reference_shares()
    used = {v for m in result.margins for v in m.variables}
    overlap = sorted(used & set(opts["covariates"] or ()))
    if overlap:
        raise ConfigError(f"balance covariates {overlap} are weighting variables; list others")
    diagnostics = {
        "summary": weight_summary(w, result.base),
        "margins": margin_table(
            data,
            w,
            result.base,
            result.margins,
            missing=opts["missing"],
            missing_label=opts["missing_label"],
        ),
        "balance": balance_table(
            data, w, list(opts["covariates"] or ()), base=result.base, reference=reference
        ),
        "collapsed": result.collapsed,
        "convergence": pd.DataFrame(
            [
                {
                    "margins": len(result.margins),
                    "cells": w.attrs["n_cells"],
                    "iterations": w.attrs["iterations"],
                    "converged": True,
                    "max_margin_error": w.attrs["max_margin_error"],
                    "tol": w.attrs["tol"],
                    "bound_low": result.bounds[0] if result.bounds else np.nan,
                    "bound_high": result.bounds[1] if result.bounds else np.nan,
                    "trim_deff": np.nan if opts["trim_deff"] is None else float(opts["trim_deff"]),
                    "total": result.total,
                    "deff_kish": kish_deff(w.to_numpy()),
                    "n_effective": effective_n(w.to_numpy()),
                }
            ]
        ),
    }
    return w, diagnostics


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"targets file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"targets file {path} is not valid YAML: {exc}") from None


def load_targets(
    path: str | Path,
    set_name: str,
    *,
    instrument: Any = None,
    data: pd.DataFrame | None = None,
    missing_label: str = MISSING_LABEL,
    schema: str | Path | None = None,
) -> TargetSet:
    """Read one target set from ``targets.yaml`` and check it.

    Checks: the set exists; every margin names its variable(s), source and date, and gives
    ``shares`` summing to 1 (within :data:`SHARE_TOLERANCE`) or ``totals``; totals agree across
    margins; with ``instrument``, every variable and category exists there (``missing_label`` is
    also allowed); with ``data``, every category has respondents. With ``schema`` (the path of
    ``targets.schema.yaml``), the file is first validated against it.
    """
    path = Path(path)
    raw = _load_yaml(path)
    where = str(path)
    if schema is not None:
        import jsonschema

        try:
            jsonschema.validate(raw, _load_yaml(Path(schema)))
        except jsonschema.ValidationError as exc:
            loc = "/".join(str(p) for p in exc.absolute_path)
            raise ConfigError(f"{where}: {loc}: {exc.message}") from None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("sets"), Mapping):
        raise ConfigError(f"{where}: expected a mapping with 'sets'")
    sets = raw["sets"]
    if set_name not in sets:
        raise ConfigError(
            f"{where}: target set {set_name!r} is not there (sets: {', '.join(sets)})"
        )
    spec = sets[set_name] or {}
    where = f"{where}: set {set_name}"
    if not spec.get("margins"):
        raise ConfigError(f"{where}: no margins")
    unknown = sorted(set(spec) - {"description", "margins", "reference"})
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}")
    margins = []
    for i, ms in enumerate(spec["margins"], start=1):
        margins.append(_parse_margin(ms, f"{where}, margin {i}", instrument, missing_label))
    try:
        margins = as_margins(margins)
        _resolve_total(margins, None, 1, 1.0)
    except WeightingError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    reference = tuple(
        _parse_margin(ms, f"{where}, reference {i}", instrument, missing_label)
        for i, ms in enumerate(spec.get("reference") or [], start=1)
    )
    weighted = {v for m in margins for v in m.variables}
    for ref in reference:
        if len(ref.variables) != 1 or ref.variables[0] in weighted:
            raise ConfigError(
                f"{where}: reference {ref.name} must be one covariate that is not raked on"
            )
    target_set = TargetSet(set_name, tuple(margins), spec.get("description"), str(path), reference)
    if data is not None:
        # Coding the data checks every category: no respondents, or respondents without target.
        # Missing values are left to rake's ``missing`` option, so they are set aside here.
        for m in margins:
            for v in m.variables:
                if v not in data.columns:
                    raise WeightingError(f"weighting variable {v!r} is not in the data")
            answered = data[list(m.variables)].notna().all(axis=1).to_numpy()
            kept = {c: t for c, t in m.targets.items() if missing_label not in c.split(SEPARATOR)}
            if kept and answered.any():
                _code_margin(
                    data.loc[answered],
                    replace(m, targets=kept),
                    None,
                    "error",
                    missing_label,
                    m.collapse,
                )
    return target_set


def _parse_margin(ms: Any, where: str, instrument: Any, missing_label: str) -> Margin:
    if not isinstance(ms, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {ms!r}")
    known = {"variable", "variables", "shares", "totals", "source", "date", "note", "collapse"}
    unknown = sorted(set(ms) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}")
    if ("variable" in ms) == ("variables" in ms):
        raise ConfigError(f"{where}: give exactly one of 'variable' or 'variables'")
    variables = (ms["variable"],) if "variable" in ms else tuple(ms["variables"])
    name = " x ".join(str(v) for v in variables)
    where = f"{where} ({name})"
    if ("shares" in ms) == ("totals" in ms):
        raise ConfigError(f"{where}: give exactly one of 'shares' or 'totals'")
    for key in ("source", "date"):
        if not ms.get(key):
            raise ConfigError(f"{where}: every margin needs its {key}")
    kind = "shares" if "shares" in ms else "totals"
    values = ms[kind]
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: {kind} must map categories to numbers")
    collapse = (
        CollapseRule.from_config(ms["collapse"], f"{where}: collapse")
        if ms.get("collapse")
        else None
    )
    try:
        margin = make_margin(
            variables,
            values,
            kind,
            source=str(ms["source"]),
            date=str(ms["date"]),
            note=ms.get("note"),
            collapse=collapse,
        )
    except WeightingError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if instrument is not None:
        for pos, v in enumerate(variables):
            if v not in instrument:
                raise ConfigError(f"{where}: variable {v!r} is not in the instrument")
            labels = set(instrument[v].labels) | {missing_label}
            for lab in instrument[v].labels:
                if SEPARATOR in lab and len(variables) > 1:
                    raise ConfigError(
                        f"{where}: label {lab!r} contains the separator {SEPARATOR!r}"
                    )
            for cat in margin.categories:
                part = cat.split(SEPARATOR)[pos] if len(variables) > 1 else cat
                if part not in labels:
                    raise ConfigError(
                        f"{where}: category {part!r} is not a label of {v} in the instrument "
                        f"({', '.join(instrument[v].labels)})"
                    )
    return margin


# -- diagnostics -------------------------------------------------------------------------------
def kish_deff(w: np.ndarray | pd.Series) -> float:
    """Kish's design effect from unequal weighting, n * sum(w^2) / sum(w)^2 = 1 + CV^2.

    Over units with positive weight (CV with divisor n, as Kish 1965).
    """
    w = np.asarray(w, dtype=float)
    w = w[w > 0]
    return float(len(w) * np.sum(w * w) / np.sum(w) ** 2)


def effective_n(w: np.ndarray | pd.Series) -> float:
    """Kish's effective sample size, sum(w)^2 / sum(w^2): n divided by the design effect."""
    w = np.asarray(w, dtype=float)
    w = w[w > 0]
    return float(np.sum(w) ** 2 / np.sum(w * w))


def _summary_row(name: str, w: np.ndarray, with_deff: bool = True) -> dict[str, Any]:
    q = np.quantile(w, [0.25, 0.5, 0.75]) if len(w) else [np.nan] * 3
    mean = float(np.mean(w)) if len(w) else np.nan
    return {
        "weights": name,
        "n": len(w),
        "total": float(np.sum(w)),
        "mean": mean,
        "min": float(np.min(w)) if len(w) else np.nan,
        "q25": float(q[0]),
        "median": float(q[1]),
        "q75": float(q[2]),
        "max": float(np.max(w)) if len(w) else np.nan,
        "cv": float(np.std(w) / mean) if len(w) else np.nan,
        "deff_kish": kish_deff(w) if with_deff and len(w) else np.nan,
        "n_effective": effective_n(w) if with_deff and len(w) else np.nan,
    }


def weight_summary(
    weights: pd.Series | np.ndarray, base: pd.Series | np.ndarray | None = None
) -> pd.DataFrame:
    """Min, quartiles, max, CV (divisor n), Kish design effect and effective n of the weights.

    Rows: ``base`` (if given), ``final``, and ``adjustment`` = final / base rescaled to the same
    total (the factor raking applied; its spread is what bounds limit). Units with zero weight
    are left out.
    """
    w = np.asarray(weights, dtype=float)
    rows = []
    if base is not None:
        b = np.asarray(base, dtype=float)
        rows.append(_summary_row("base", b[b > 0]))
    rows.append(_summary_row("final", w[w > 0]))
    if base is not None:
        pos = b > 0
        ratio = w[pos] / (b[pos] * (w.sum() / b.sum()))
        rows.append(_summary_row("adjustment", ratio, with_deff=False))
    return pd.DataFrame(rows)


def margin_table(
    data: pd.DataFrame,
    weights: pd.Series | np.ndarray,
    base: pd.Series | np.ndarray | None,
    targets: Targets,
    *,
    missing: str = "error",
    missing_label: str = MISSING_LABEL,
) -> pd.DataFrame:
    """Each margin category's target share, share before (base weights) and after raking.

    Columns: ``margin``, ``category``, ``target``, ``before``, ``after``, ``abs_diff_before``,
    ``abs_diff_after`` (absolute differences from the target, in share points of 1),
    ``count_unweighted`` (respondents in the category).
    """
    margins = as_margins(targets)
    w = np.asarray(weights, dtype=float)
    b = np.ones(len(data)) if base is None else np.asarray(base, dtype=float)
    rows = []
    for m in margins:
        coding = _code_margin(
            data, m, None if (b > 0).all() else b > 0, missing, missing_label, None
        )
        k = len(m.categories)
        counts = np.bincount(coding.codes, minlength=k)
        before = np.bincount(coding.codes, weights=b, minlength=k) / b.sum()
        after = np.bincount(coding.codes, weights=w, minlength=k) / w.sum()
        target = m.shares()
        for j, cat in enumerate(m.categories):
            rows.append(
                {
                    "margin": m.name,
                    "category": cat,
                    "target": target[j],
                    "before": before[j],
                    "after": after[j],
                    "abs_diff_before": abs(before[j] - target[j]),
                    "abs_diff_after": abs(after[j] - target[j]),
                    "count_unweighted": int(counts[j]),
                }
            )
    return pd.DataFrame(rows)


def _weighted_mean_sd(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    mean = float(np.sum(w * x) / np.sum(w))
    sd = float(np.sqrt(np.sum(w * (x - mean) ** 2) / np.sum(w)))
    return mean, sd


def balance_table(
    data: pd.DataFrame,
    weights: pd.Series | np.ndarray,
    covariates: Sequence[str],
    *,
    base: pd.Series | np.ndarray | None = None,
    reference: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Absolute standardised mean differences of covariates that were not used in weighting.

    A categorical covariate contributes one row per level (its indicator); a numeric one, one
    row. ``mean_before`` and ``mean_after`` are weighted by the base and the final weights over
    respondents with a valid value; ``sd`` is the base-weighted standard deviation (divisor the
    sum of weights). ``asmd_shift`` = |after - before| / sd says how far weighting moved the
    covariate. With ``reference`` (``{covariate: {level: population share}}`` or
    ``{covariate: population mean}``), ``asmd_before`` and ``asmd_after`` = |mean - reference| /
    sd say whether weighting brought the sample closer to the population.
    """
    w = np.asarray(weights, dtype=float)
    b = np.ones(len(data)) if base is None else np.asarray(base, dtype=float)
    reference = reference or {}
    rows = []
    for cov in covariates:
        if cov not in data.columns:
            raise WeightingError(f"balance covariate {cov!r} is not in the data")
        col = data[cov]
        valid = col.notna().to_numpy()
        if isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col):
            levels = (
                list(col.cat.categories)
                if isinstance(col.dtype, pd.CategoricalDtype)
                else sorted(col.dropna().unique(), key=str)
            )
            series = [(str(lev), (col == lev).to_numpy(dtype=float)) for lev in levels]
            ref = reference.get(cov, {})
            refs = [ref.get(name) if isinstance(ref, Mapping) else None for name, _ in series]
        else:
            series = [("", col.to_numpy(dtype=float))]
            ref = reference.get(cov)
            refs = [None if isinstance(ref, Mapping) else ref]
        for (level, x), r in zip(series, refs, strict=True):
            xv, bv, wv = x[valid], b[valid], w[valid]
            before, sd = _weighted_mean_sd(xv, bv)
            after = float(np.sum(wv * xv) / np.sum(wv))
            scale = sd if sd > 0 else np.nan
            rows.append(
                {
                    "covariate": cov,
                    "level": level,
                    "n_unweighted": int(valid.sum()),
                    "mean_before": before,
                    "mean_after": after,
                    "sd": sd,
                    "reference": np.nan if r is None else float(r),
                    "asmd_before": np.nan if r is None else abs(before - float(r)) / scale,
                    "asmd_after": np.nan if r is None else abs(after - float(r)) / scale,
                    "asmd_shift": abs(after - before) / scale,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "covariate",
            "level",
            "n_unweighted",
            "mean_before",
            "mean_after",
            "sd",
            "reference",
            "asmd_before",
            "asmd_after",
            "asmd_shift",
        ],
    )


def margin_label(margin: str, instrument: Any = None) -> str:
    """A margin's name for readers: 'sex x age_band' -> 'parent sex by parent age band'."""
    if instrument is None:
        return margin
    names = []
    for var in margin.split(" x "):
        label = instrument.variables[var].label if var in instrument.variables else var
        names.append(label[:1].lower() + label[1:])
    return " by ".join(names)


def methods_note(diagnostics: Mapping[str, pd.DataFrame], instrument: Any = None) -> str:
    """One paragraph for the brief's methods box, from :func:`rake_from_config`'s diagnostics.

    With the instrument, margins are named by their variables' labels.
    """
    conv = diagnostics["convergence"].iloc[0]
    margins = ", ".join(
        margin_label(m, instrument) for m in dict.fromkeys(diagnostics["margins"]["margin"])
    )
    final = diagnostics["summary"].set_index("weights").loc["final"]
    text = (
        f"Weights were raked to {int(conv['margins'])} population margins ({margins}) in "
        f"{int(conv['iterations'])} iterations; every margin category is met to within "
        f"{conv['max_margin_error']:.1e} (share)."
    )
    if not math.isnan(conv["bound_low"]):
        text += (
            f" Each weight was kept between {conv['bound_low']:.3g} and "
            f"{conv['bound_high']:.3g} times its base weight."
        )
    if len(diagnostics["collapsed"]):
        text += f" {len(diagnostics['collapsed'])} sparse categories were merged before raking."
    if pd.isna(final["n"]):  # withheld by disclosure control: too few respondents
        return text + " The weight summary is withheld [c]: too few respondents to publish it."
    text += (
        f" Weights range from {final['min']:.3g} to {final['max']:.3g} (CV {final['cv']:.2f});"
        f" Kish's design effect from weighting is {final['deff_kish']:.2f}, an effective sample"
        f" size of {final['n_effective']:.0f} from {int(final['n'])} respondents."
    )
    return text


def weights_figure(
    weights: pd.Series | np.ndarray, base: pd.Series | np.ndarray | None = None, bins: int = 40
):
    """Histogram of the weights relative to their mean (or of the raking adjustment to ``base``).

    Returns a plotnine ``ggplot``; it only builds the plot.
    """
    from plotnine import aes, geom_histogram, geom_vline, ggplot, labs, theme_minimal

    w = np.asarray(weights, dtype=float)
    if base is not None:
        b = np.asarray(base, dtype=float)
        pos = b > 0
        values = w[pos] / (b[pos] * (w.sum() / b.sum()))
        xlab = "Final weight / base weight (rescaled to the same total)"
    else:
        pos = w > 0
        values = w[pos] / w[pos].mean()
        xlab = "Weight / mean weight"
    frame = pd.DataFrame({"value": values})
    return (
        ggplot(frame, aes("value"))
        + geom_histogram(bins=bins, fill="#4c72b0", color="white")
        + geom_vline(xintercept=1.0, linetype="dashed")
        + labs(x=xlab, y="Respondents", title="Distribution of the raked weights")
        + theme_minimal()
    )


def margins_figure(table: pd.DataFrame):
    """Dot plot of each margin category's share before and after raking against its target.

    ``table`` is :func:`margin_table`'s output; returns a plotnine ``ggplot``.
    """
    from plotnine import aes, coord_flip, facet_wrap, geom_point, ggplot, labs, theme_minimal

    long = table.melt(
        id_vars=["margin", "category"],
        value_vars=["before", "after", "target"],
        var_name="weights",
        value_name="share",
    )
    long["weights"] = pd.Categorical(long["weights"], ["before", "after", "target"])
    long["category"] = pd.Categorical(
        long["category"], list(dict.fromkeys(table["category"]))[::-1]
    )
    return (
        ggplot(long, aes("category", "share", color="weights", shape="weights"))
        + geom_point(size=2.5)
        + coord_flip()
        + facet_wrap("~margin", scales="free_y")
        + labs(x="", y="Share", color="", shape="", title="Margins before and after raking")
        + theme_minimal()
    )


__all__ = [
    "SEPARATOR",
    "MISSING_LABEL",
    "RAKE_OPTIONS",
    "DIAGNOSTIC_OPTIONS",
    "CollapseRule",
    "Margin",
    "TargetSet",
    "RakeResult",
    "Reweighter",
    "as_margins",
    "balance_table",
    "collapse_margin",
    "effective_n",
    "kish_deff",
    "load_targets",
    "make_margin",
    "make_reweighter",
    "margin_table",
    "margins_figure",
    "methods_note",
    "rake",
    "rake_from_config",
    "weight_summary",
    "weights_figure",
]
