"""Raking survey weights to population margins, with bounds, trimming and diagnostics.

Raking (iterative proportional fitting) adjusts the design weights so that the weighted sample
reproduces known population shares of several variables at once (sex, age band, ethnicity,
income band, lone parenthood, region...). Panels under-represent exactly the parents whose trust
is most fragile, so unweighted or badly weighted figures overstate social licence.

Written by hand on purpose: Python rakers have shipped weights that never converged, ignored
their trimming caps, or let an empty category through. This one
- matches R ``survey::rake`` (``tests/test_weighting_r.py``, R numbers in
  ``tests/data/reference/api/r_reference/``),
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

About 880 lines on purpose: the cell engine (Newton, IPF, bounded IPF, the feasibility check,
trimming) and its three entry points (:func:`rake`, :class:`Reweighter`, :func:`calibration`)
share the prepared cells and fit state; split, they would reach into each other's internals.
Margins and their coding on the data are in :mod:`.margins`, target sets and raking as
configured in :mod:`.targets`, diagnostics in :mod:`.diagnostics`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..config import defaults
from ..errors import ConfigError, WeightingError
from .calibration import Calibration
from .margins import (
    MISSING_LABEL,
    WEIGHT_NAME,
    Margin,
    Prepared,
    Targets,
    base_and_margins,
    resolve_total,
)

logger = logging.getLogger(__name__)

NEWTON_ITER = 50
"""Newton iterations for unbounded raking before falling back to classical IPF."""

STALL = 100
"""Bounded raking whose error has not halved in this many iterations stops: bounds that cannot
be met (confirmed by a linear programme before the error is raised)."""

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
    prep: Prepared, dcell: np.ndarray, targets: Sequence[np.ndarray], bounds: tuple[float, float]
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
    prep: Prepared,
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
    low, high = bounds
    rows, cols, vals, rhs = [], [], [], []
    offset = 0
    for m, k in enumerate(prep.sizes):
        rows.append(offset + prep.cell_codes[:, m])
        cols.append(np.arange(prep.n_cells))
        vals.append(dcell / total)
        rhs.append(targets[m] / total)
        offset += k
    # scipy (slow to import): only when bounds are checked, not at every DAG build or job start
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix

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
    prep: Prepared,
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


_SOLVES = [0]


def raking_solves() -> int:
    """How many times this process has solved a raking problem (full sample or replicate);
    the weight stage logs it, and a test checks that no later stage rakes."""
    return _SOLVES[0]


def _cells_fit(
    prep: Prepared,
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
    _SOLVES[0] += 1
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
    prep: Prepared,
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
    """Raked weights with their diagnostics: the fit, the margins actually used, collapses.

    ``converged`` is always True (failure raises :class:`WeightingError`); ``method`` is the
    solver that converged (``bounded`` with bounds); ``max_margin_error`` is the largest share
    difference of the returned weights from a target.
    """

    weights: pd.Series
    margins: list[Margin]
    base: np.ndarray
    collapsed: pd.DataFrame
    bounds: tuple[float, float] | None
    total: float
    iterations: int
    method: str
    max_margin_error: float
    tol: float
    n_cells: int
    converged: bool = True

    @property
    def margin_names(self) -> list[str]:
        return [m.name for m in self.margins]


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
) -> RakeResult:
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

    Returns a :class:`RakeResult`: ``weights`` (a Series named ``weight`` aligned to
    ``data.index``) and the diagnostics ``iterations``, ``converged``, ``max_margin_error``,
    ``tol``, ``bounds``, ``total``, ``n_cells``, ``margins``.
    """
    if not (isinstance(tol, int | float) and tol > 0):
        raise WeightingError(f"tol must be a positive number, not {tol!r}")
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise WeightingError(f"max_iter must be a positive integer, not {max_iter!r}")
    bnds = _check_bounds(bounds)
    base, prep = base_and_margins(data, targets, base_weight, missing, missing_label, collapse)
    t = resolve_total(prep.margins, total, int((base > 0).sum()), float(base.sum()))
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
    return RakeResult(
        weights=pd.Series(w, index=data.index, name=WEIGHT_NAME),
        margins=prep.margins,
        base=base,
        collapsed=prep.collapsed(),
        bounds=bnds,
        total=t,
        iterations=fit.iterations,
        method=fit.method if bnds is None else "bounded",
        max_margin_error=achieved,
        tol=tol,
        n_cells=prep.n_cells,
    )


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
        prep: Prepared,
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
    opts = checked_options(options, allow_diagnostics=False)
    bnds = _check_bounds(opts["bounds"])
    base, prep = base_and_margins(
        data, targets, opts["base_weight"], opts["missing"], opts["missing_label"], opts["collapse"]
    )
    t = resolve_total(prep.margins, opts["total"], int((base > 0).sum()), float(base.sum()))
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
    opts = checked_options(options, allow_diagnostics=False)
    base, prep = base_and_margins(
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


# -- options ---------------------------------------------------------------------------------
RAKE_OPTIONS: dict[str, Any] = {
    "base_weight": "design_weight",
    **{k: v for k, v in defaults("weighting").items() if k in ("tol", "max_iter", "bounds", "trim_deff", "missing")},
    "total": None,
    "missing_label": MISSING_LABEL,
    "collapse": None,
}
"""Options :func:`rake_from_config` and :func:`make_reweighter` accept, with their defaults
(those of the ``weighting`` section come from the config schema)."""

DIAGNOSTIC_OPTIONS: dict[str, Any] = {"covariates": (), "reference": None}
"""Further options of :func:`rake_from_config`: covariates for the balance table and their
population reference values."""


def checked_options(options: Mapping[str, Any] | None, allow_diagnostics: bool) -> dict[str, Any]:
    allowed = dict(RAKE_OPTIONS, **(DIAGNOSTIC_OPTIONS if allow_diagnostics else {}))
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown weighting option(s) {unknown}; known: {', '.join(sorted(allowed))}"
        )
    return {**allowed, **options}
