"""Replicate-weight designs: jackknife (JK1, JKn), Rao-Wu bootstrap, and weights from an export.

A replicate design re-computes every estimate with each column of replicate weights and takes
the variance from the spread of the replicate estimates, as R's ``svrVar``:
``scale * sum_r rscales_r (theta_r - centre)^2`` with ``centre`` the mean of the replicates
(or the full-sample estimate when ``mse=True``). Because a replicate can be re-raked to the
population margins (``reweighter``), the variance then includes the weighting step.

Written by hand to follow R ``survey``'s conventions exactly (``jk1weights``, ``jknweights``,
``subbootweights``, ``svrepdesign``), which no Python library implements:
- JK1: one replicate per PSU, deleted PSU weight 0 and the others ``n/(n-1)``; ``scale``
  ``f (n-1)/n`` (``f`` = 1 - sampling fraction), ``rscales`` 1.
- JKn: one replicate per PSU, deletions within the PSU's stratum; ``rscales``
  ``f_h (n_h-1)/n_h``, ``scale`` 1. Lonely PSUs as R's ``survey.lonely.psu``.
- bootstrap: Rao-Wu rescaling with ``n_h - 1`` PSUs drawn with replacement in each stratum,
  multiplier ``count * n_h/(n_h-1)``, ``scale`` ``1/(R-1)`` (R's ``type="subbootstrap"``).
Degrees of freedom follow R's ``degf()``: the rank of the replicate weights minus one.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import ConfigError, EstimationError, InputError
from .estimators import Cells, Estimators, Ratio
from .structure import as_array

REPLICATE_KINDS = ("jk1", "jkn", "bootstrap")
#: Replicate weights held in memory at once (2.4 GB of float64); also what the workflow's memory
#: requests assume for a jackknife, whose replicate count is unknown before the data is read.
MAX_WEIGHTS = 300_000_000
EXPORT_TYPES = ("jk1", "jkn", "bootstrap", "brr", "fay", "other")
DEFAULT_BOOTSTRAP_REPLICATES = 200


class ReplicateDesign(Estimators):
    """A design whose variance comes from replicate weights; same estimators as SurveyDesign.

    ``weights`` are the full-sample analysis weights per row; ``repweights`` the analysis
    weights of each replicate per *unit* ``(U, R)``; ``unit`` maps each row to its unit (``None``:
    row i is unit i; a long frame maps its rows to the respondents' units).
    """

    def __init__(
        self,
        data: pd.DataFrame,
        weights: np.ndarray,
        repweights: np.ndarray,
        *,
        type: str,  # noqa: A002 - R's name
        scale: float,
        rscales: np.ndarray,
        mse: bool = False,
        df: float | None = None,
        unit: np.ndarray | None = None,
    ) -> None:
        self.data = data
        self.weights = np.asarray(weights, dtype=float)
        self.repweights = np.asarray(repweights, dtype=float)
        if self.repweights.ndim != 2:
            raise EstimationError("replicate weights must be a (units, replicates) matrix")
        self.type = type
        self.scale = float(scale)
        self.rscales = np.broadcast_to(np.asarray(rscales, dtype=float), (self.replicates,)).copy()
        self.mse = bool(mse)
        self._unit = None if unit is None else np.asarray(unit, dtype=np.int64)
        n_units = len(data) if unit is None else None
        if n_units is not None and self.repweights.shape[0] != n_units:
            raise EstimationError(
                f"replicate weights have {self.repweights.shape[0]} rows, the data {n_units}"
            )
        self._df = df

    @property
    def n(self) -> int:
        return len(self.data)

    @property
    def replicates(self) -> int:
        return self.repweights.shape[1]

    @property
    def df(self) -> float:
        """R's ``degf()`` for replicate designs: rank of the replicate weights minus one."""
        if self._df is None:
            self._df = replicate_rank(self.repweights) - 1
        return self._df

    def __repr__(self) -> str:
        mse = ", MSE" if self.mse else ""
        return f"<ReplicateDesign: {self.type} with {self.replicates} replicates{mse}, n={self.n}, df={self.df}>"

    # -- derived designs ---------------------------------------------------------------------
    def _rows(self, frame: pd.DataFrame, pos: np.ndarray) -> ReplicateDesign:
        """The design of ``frame`` whose row i belongs to this design's row ``pos[i]``."""
        unit = pos if self._unit is None else self._unit[pos]
        return ReplicateDesign(
            frame,
            self.weights[pos],
            self.repweights,
            type=self.type,
            scale=self.scale,
            rscales=self.rscales,
            mse=self.mse,
            df=self.df,
            unit=unit,
        )

    # -- estimation --------------------------------------------------------------------------
    def _units(self) -> np.ndarray:
        return np.arange(self.n) if self._unit is None else self._unit

    def _ratio(self, cells: Cells, cov: bool) -> Ratio:
        unit = self._units()
        n_units = self.repweights.shape[0]
        vn, num, vals = cells.numerator()
        if vals is None:
            vals = np.ones(len(vn))
        t_num = np.bincount(num, weights=self.weights[vn] * vals, minlength=cells.n_num)
        a = sparse.csr_matrix((vals, (num, unit[vn])), shape=(cells.n_num, n_units))
        rep_num = np.asarray(a @ self.repweights)
        if cells.den_cell is None:
            est, rep = t_num, rep_num
        else:
            vd, den = cells.denominator()
            t_den = np.bincount(den, weights=self.weights[vd], minlength=cells.n_den)
            b = sparse.csr_matrix(
                (np.ones(len(vd)), (den, unit[vd])), shape=(cells.n_den, n_units)
            )
            rep_den = np.asarray(b @ self.repweights)
            with np.errstate(invalid="ignore", divide="ignore"):
                est = t_num / t_den[cells.num_to_den]
                rep = rep_num / rep_den[cells.num_to_den]
        return est, self.replicate_variance(rep.T, est, diagonal=not cov)

    def replicate_variance(
        self, thetas: np.ndarray, estimate: np.ndarray, *, diagonal: bool = False
    ) -> np.ndarray:
        """R's ``svrVar``: variance from replicate estimates ``thetas`` (R, p).

        Replicates with a missing estimate are dropped, with a warning, as R does.
        """
        thetas = np.asarray(thetas, dtype=float)
        if thetas.ndim == 1:
            thetas = thetas[:, None]
        rscales = self.rscales
        bad = np.isnan(thetas).any(axis=1)
        if bad.any():
            if bad.all():
                raise EstimationError("every replicate gave a missing estimate")
            warnings.warn(
                f"{int(bad.sum())} replicates gave missing estimates and were discarded",
                stacklevel=3,
            )
            thetas, rscales = thetas[~bad], rscales[~bad]
        centre = estimate if self.mse else thetas[rscales > 0].mean(axis=0)
        dev = (thetas - centre) * np.sqrt(rscales)[:, None]
        if diagonal:
            return np.einsum("ij,ij->j", dev, dev) * self.scale
        return (dev.T @ dev) * self.scale

    # -- construction from an export ---------------------------------------------------------
    @classmethod
    def from_columns(
        cls,
        data: pd.DataFrame,
        weights,
        repweights: Sequence[str] | str,
        *,
        type: str = "bootstrap",  # noqa: A002 - R's name
        scale: float | None = None,
        rscales=None,
        mse: bool = False,
        combined: bool = True,
        rho: float | None = None,
        df: float | None = None,
    ) -> ReplicateDesign:
        """A replicate design from weight columns that arrive in an export, as R's ``svrepdesign``.

        ``repweights`` is a list of column names or a regular expression matching them;
        ``combined=True`` means they already include the sampling weight. Defaults as R:
        ``bootstrap`` scale 1/(R-1); ``jk1`` scale (R-1)/R (warned, as R does); ``brr`` 1/R;
        ``fay`` 1/(R (1-rho)^2); ``jkn`` needs ``rscales`` and ``other`` needs ``scale``.
        """
        kind = str(type).lower()
        if kind not in EXPORT_TYPES:
            raise ConfigError(f"replicate type must be one of {', '.join(EXPORT_TYPES)}, not {type!r}")
        if isinstance(repweights, str):
            pattern = re.compile(repweights)
            columns = [c for c in data.columns if pattern.search(str(c))]
        else:
            columns = list(repweights)
        missing = [c for c in columns if c not in data.columns]
        if missing:
            raise InputError("replicate weight columns are not in the data", variable=", ".join(map(str, missing)))
        if len(columns) < 2:
            raise ConfigError(f"need at least two replicate weight columns, found {columns}")
        try:
            rw = data[columns].to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            raise InputError("replicate weight columns are not numeric", variable=", ".join(columns)) from None
        bad = ~np.isfinite(rw)
        if bad.any():
            col = columns[int(np.flatnonzero(bad.any(axis=0))[0])]
            rows = np.flatnonzero(bad.any(axis=1))
            raise InputError(
                "replicate weights are missing or not finite",
                variable=col,
                rows=[str(x) for x in data.index[rows]],
            )
        w = as_array(data, weights, "weights")
        if w is None:
            raise ConfigError("from_replicate_weights needs the full-sample weights")
        w = np.asarray(w, dtype=float)
        if not np.isfinite(w).all():
            raise InputError("full-sample weights are missing or not finite", variable=str(weights))
        if not combined:
            rw = rw * w[:, None]
        R = rw.shape[1]
        if kind == "brr":
            scale = 1 / R if scale is None else scale
        elif kind == "fay":
            if rho is None:
                raise ConfigError("type='fay' needs rho, the Fay coefficient")
            scale = 1 / (R * (1 - rho) ** 2) if scale is None else scale
        elif kind == "bootstrap":
            scale = 1 / (R - 1) if scale is None else scale
        elif kind == "jk1" and scale is None:
            warnings.warn(
                f"JK1 scale not given: using (R-1)/R with R={R} replicates (one per PSU)",
                stacklevel=3,
            )
            scale = (R - 1) / R
        elif kind == "jkn":
            if rscales is None:
                raise ConfigError("type='jkn' needs rscales, (n_h - 1)/n_h for each replicate")
            scale = 1.0 if scale is None else scale
        elif kind == "other" and scale is None:
            raise ConfigError("type='other' needs scale (and rscales unless all 1)")
        rscales = np.ones(R) if rscales is None else np.asarray(rscales, dtype=float)
        if rscales.ndim and len(rscales) not in (1, R):
            raise ConfigError(f"rscales has {len(rscales)} values for {R} replicates")
        return cls(data, w, rw, type=kind, scale=scale, rscales=rscales, mse=mse, df=df)

    def replicate_weights(self) -> np.ndarray:
        """The (rows, replicates) analysis weights of this design."""
        return self.repweights[self._units()]

    def replicate_weight_totals(
        self, rows: np.ndarray, index: np.ndarray, size: int
    ) -> np.ndarray:
        """``(size, replicates)``: each replicate's weights of design rows ``rows`` summed by
        ``index`` (e.g. a model's groups of rows), without the (rows, replicates) matrix."""
        unit = self._units()[rows]
        counts = sparse.csr_matrix(
            (np.ones(len(unit)), (index, unit)), shape=(size, self.repweights.shape[0])
        )
        return np.asarray(counts @ self.repweights)


def replicate_rank(repweights: np.ndarray, tol: float = 1e-5) -> int:
    """Numerical rank of the replicate weights (singular values above ``tol`` x the largest)."""
    gram = repweights.T @ repweights
    eig = np.linalg.eigvalsh(gram)
    top = eig.max()
    if top <= 0:
        return 0
    return int((eig > (tol**2) * top).sum())


# -- generating replicates from a linearisation design ----------------------------------------
@dataclass(frozen=True)
class Multipliers:
    """The PSU-level multipliers ``(C, R)`` of a replicate design and the constants of its
    variance: deterministic from the design (and the bootstrap's seed), so any job can make
    them again and re-weight only its own share of the replicates."""

    values: np.ndarray
    kind: str
    scale: float
    rscales: np.ndarray
    df: int

    @property
    def replicates(self) -> int:
        return self.values.shape[1]


def replicate_multipliers(
    design,
    kind: str = "bootstrap",
    replicates: int | None = None,
    *,
    seed: int | None = None,
    ignore_fpc: bool = False,
) -> Multipliers:
    """The replicate multipliers of ``design`` (a :class:`SurveyDesign`); arguments as
    :func:`make_replicates`, whose checks are made here."""
    kind = str(kind).lower()
    if kind not in REPLICATE_KINDS:
        raise ConfigError(f"replicate kind must be one of {', '.join(REPLICATE_KINDS)}, not {kind!r}")
    st = design.structure
    if kind == "jk1":
        if design.n_strata > 1:
            raise EstimationError("JK1 is for unstratified designs; use kind='jkn' for a stratified one")
        mult, scale, rscales, df = _jk1(st)
    elif kind == "jkn":
        if design.n_strata < 2:
            raise EstimationError("JKn is for stratified designs; use kind='jk1' or 'bootstrap'")
        mult, scale, rscales, df = _jkn(st, design.lonely_psu)
    else:
        if design.has_fpc and not ignore_fpc:
            raise EstimationError(
                "the Rao-Wu bootstrap cannot use the design's finite population correction; "
                "use kind='jk1'/'jkn', or pass ignore_fpc=True to estimate without it"
            )
        if seed is None:
            raise ConfigError("a bootstrap needs seed= so that the replicates can be reproduced")
        replicates = DEFAULT_BOOTSTRAP_REPLICATES if replicates is None else int(replicates)
        if replicates < 2:
            raise ConfigError(f"a bootstrap needs at least 2 replicates, not {replicates}")
        mult, scale, rscales, df = _rao_wu(st, replicates, seed, design.lonely_psu)
    if kind != "bootstrap" and replicates is not None and replicates != mult.shape[1]:
        raise ConfigError(
            f"{kind} has one replicate per PSU ({mult.shape[1]} here), not {replicates}; "
            "leave replicates unset"
        )
    if design.n * mult.shape[1] > MAX_WEIGHTS:
        raise EstimationError(
            f"{kind} would need {design.n:,} x {mult.shape[1]:,} replicate weights; with this "
            "many PSUs use kind='bootstrap' with a few hundred replicates"
        )
    return Multipliers(mult, kind, float(scale), np.asarray(rscales, dtype=float), df)


def replicate_weights(
    design,
    multipliers: Multipliers,
    share: range | None = None,
    *,
    reweighter: Callable[[np.ndarray], np.ndarray] | None = None,
    base_weights=None,
) -> np.ndarray:
    """The ``(n, len(share))`` weights of the replicates in ``share`` (0-based, contiguous;
    default all): ``design``'s weights times each row's PSU multiplier, or with ``reweighter``
    that product of the base weights re-raked (see :func:`make_replicates`). A replicate's
    weights do not depend on which others are made in the same call, so shares made apart
    give, column by column, the same numbers as all made at once."""
    share = range(multipliers.replicates) if share is None else share
    st = design.structure
    per_unit = multipliers.values[:, share.start : share.stop][st.psu]  # (n, |share|)
    w = design.weights
    if reweighter is None:
        return w[:, None] * per_unit
    base = w if base_weights is None else np.asarray(as_array(design.data, base_weights, "base_weights"), dtype=float)
    full = np.asarray(reweighter(base.copy()), dtype=float)
    scale_w = np.abs(w).mean()
    if full.shape != w.shape or not np.allclose(full, w, rtol=1e-6, atol=1e-6 * scale_w):
        raise EstimationError(
            "the reweighter does not turn the base weights into the design's weights; pass "
            "base_weights= the weights it starts from (e.g. the design weight column)"
        )
    repweights = np.empty((len(w), len(share)))
    for j, r in enumerate(share):
        out = np.asarray(reweighter(base * per_unit[:, j]), dtype=float)
        if out.shape != w.shape or not np.isfinite(out).all():
            raise EstimationError(f"the reweighter returned invalid weights for replicate {r + 1}")
        repweights[:, j] = out
    return repweights


def make_replicates(
    design,
    kind: str = "bootstrap",
    replicates: int | None = None,
    *,
    seed: int | None = None,
    reweighter: Callable[[np.ndarray], np.ndarray] | None = None,
    base_weights=None,
    mse: bool = False,
    ignore_fpc: bool = False,
) -> ReplicateDesign:
    """Replicate weights for ``design`` (a :class:`SurveyDesign`), optionally re-raked.

    ``kind``: ``jk1`` (unstratified designs), ``jkn`` (stratified) or ``bootstrap`` (Rao-Wu,
    ``replicates`` default 200, ``seed`` required). With ``reweighter`` (from
    ``social_licence.weighting.make_reweighter``) every replicate's weights are
    ``reweighter(base * multiplier)``, so the variance includes the raking; ``base_weights``
    (column or array; default the design's weights) must be what the reweighter turns into the
    design's weights, which is checked. The Rao-Wu bootstrap has no finite population
    correction, so a design with one is refused unless ``ignore_fpc``.
    """
    multipliers = replicate_multipliers(
        design, kind, replicates, seed=seed, ignore_fpc=ignore_fpc
    )
    repweights = replicate_weights(
        design, multipliers, reweighter=reweighter, base_weights=base_weights
    )
    return ReplicateDesign(
        design.data,
        design.weights,
        repweights,
        type=multipliers.kind,
        scale=multipliers.scale,
        rscales=multipliers.rscales,
        mse=mse,
        df=multipliers.df,
    )


def _jk1(st) -> tuple[np.ndarray, float, np.ndarray, int]:
    """R's ``jk1weights``: PSU-level multipliers (C, C)."""
    n = len(st.psu_stratum)
    if n < 2:
        raise EstimationError("a jackknife needs at least two PSUs")
    if n * n > MAX_WEIGHTS:
        raise EstimationError(
            f"JK1 would need {n:,} replicates of {n:,} PSUs; use kind='bootstrap' instead"
        )
    f = float(st.f[0])
    mult = np.full((n, n), n / (n - 1))
    np.fill_diagonal(mult, 0.0)
    return mult, f * (n - 1) / n, np.ones(n), n - 1


def _jkn(st, lonely_psu: str) -> tuple[np.ndarray, float, np.ndarray, int]:
    """R's ``jknweights``: one replicate per PSU within its stratum, lonely PSUs as R."""
    C = len(st.psu_stratum)
    H = len(st.n_psu)
    if C * C > MAX_WEIGHTS:
        raise EstimationError(f"JKn would need {C:,} replicates of {C:,} PSUs; use kind='bootstrap' instead")
    columns, rscales = [], []
    for h in range(H):
        psus = np.flatnonzero(st.psu_stratum == h)
        n_h = len(psus)
        f = float(st.f[h])
        if f == 0:
            continue  # exhaustively sampled stratum: no replicates (survey.drop.replicates)
        if n_h == 1:
            if lonely_psu == "fail":
                raise EstimationError(
                    f"stratum {st.stratum_labels[h]!r} has only one PSU; choose lonely_psu="
                    "'remove', 'certainty', 'adjust' or 'average'"
                )
            if lonely_psu == "adjust":
                col = np.where(st.psu_stratum == h, 0.0, H / (H - 1))
                columns.append(col)
                rscales.append((H - 1) / H)
            continue
        for c in psus:
            col = np.ones(C)
            col[psus] = n_h / (n_h - 1)
            col[c] = 0.0
            columns.append(col)
            rscales.append(f * (n_h - 1) / n_h)
    if not columns:
        raise EstimationError("every stratum was sampled exhaustively or has one PSU: no replicates")
    mult = np.column_stack(columns)
    scale = 1.0
    if len(columns) < C and lonely_psu == "average":
        scale = C / len(columns)
    # The replicates of a stratum sum to n_h times the all-ones column: one linear dependency
    # per stratum with replicates, so R's degf (rank - 1) is columns - strata with replicates.
    df = len(columns) - len(_strata_with_replicates(st))
    return mult, scale, np.asarray(rscales), df


def _strata_with_replicates(st) -> np.ndarray:
    """Strata that get JKn replicates: two or more PSUs and not sampled exhaustively."""
    return np.flatnonzero((st.n_psu >= 2) & (st.f > 0))


def _rao_wu(st, replicates: int, seed: int, lonely_psu: str) -> tuple[np.ndarray, float, np.ndarray, int]:
    """Rao-Wu rescaling bootstrap, ``n_h - 1`` PSUs drawn with replacement (``subbootweights``)."""
    rng = np.random.default_rng(seed)
    C = len(st.psu_stratum)
    H = len(st.n_psu)
    mult = np.ones((C, replicates))
    for h in range(H):
        psus = np.flatnonzero(st.psu_stratum == h)
        n_h = len(psus)
        if n_h == 1:
            if lonely_psu in ("certainty", "remove"):
                continue  # multiplier 1: the stratum adds no variance
            raise EstimationError(
                f"stratum {st.stratum_labels[h]!r} has only one PSU, which a bootstrap cannot "
                "resample; use lonely_psu='certainty' or 'remove', or collapse strata"
            )
        batch = max(1, 4_000_000 // n_h)
        for start in range(0, replicates, batch):
            stop = min(replicates, start + batch)
            k = stop - start
            draws = rng.integers(0, n_h, size=(k, n_h - 1))
            counts = np.bincount(
                (draws + (np.arange(k) * n_h)[:, None]).ravel(), minlength=k * n_h
            ).reshape(k, n_h)
            mult[psus, start:stop] = counts.T * (n_h / (n_h - 1))
    n_free = int(sum(n - 1 for n in st.n_psu if n > 1)) + 1
    return mult, 1 / (replicates - 1), np.ones(replicates), min(replicates, n_free) - 1
