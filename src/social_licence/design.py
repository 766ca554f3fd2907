"""The survey design: weights, strata, PSUs and FPC, and the one place design variance is computed.

Written by hand on purpose: statsmodels has no survey designs and Python survey packages have
shipped wrong standard errors. The variance follows R ``survey``'s ``svyrecvar``/``onestrat``
(ultimate-cluster, with-replacement first stage unless an FPC is given) and is proven against
R ``survey`` numbers in ``../shared/reference/api/r_reference/`` (see ``tests/test_design*.py``).

Every estimator (means, proportions, totals, model coefficients) reduces to a weighted total of
per-row influence values ``z``; :meth:`SurveyDesign.vcov_total` is the only function that turns
such totals into a covariance matrix. Domains are estimated by zeroing ``z`` outside the domain,
never by dropping rows, so the design's PSU structure is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import EstimationError

LONELY_PSU_OPTIONS = ("fail", "remove", "certainty", "adjust", "average")


@dataclass(frozen=True)
class _Structure:
    """Integer-coded design structure shared by every variance computation."""

    stratum: np.ndarray  # (n,) stratum code 0..H-1
    psu: np.ndarray  # (n,) PSU code 0..C-1, unique across strata
    psu_stratum: np.ndarray  # (C,) stratum of each PSU
    n_psu: np.ndarray  # (H,) PSUs sampled per stratum
    f: np.ndarray  # (H,) 1 - sampling fraction (1 without FPC)
    stratum_labels: np.ndarray  # (H,) original stratum values, for messages


def _as_array(data: pd.DataFrame, spec, name: str) -> np.ndarray | None:
    """Resolve a design argument given as a column name, a Series or an array."""
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in data.columns:
            raise EstimationError(f"design {name} column {spec!r} is not in the data")
        values = data[spec]
    else:
        values = spec
    if isinstance(values, pd.Series):
        if not values.index.equals(data.index):
            values = values.reindex(data.index)
        values = values.to_numpy()
    values = np.asarray(values)
    if values.shape[0] != len(data):
        raise EstimationError(
            f"design {name} has {values.shape[0]} values but the data has {len(data)} rows"
        )
    return values


class SurveyDesign:
    """How the sample was drawn: weights, optional strata, PSUs and finite population correction.

    Parameters mirror R's ``svydesign(ids=, strata=, weights=, fpc=)``: each may be a column name
    of ``data`` or an array-like aligned to it. ``fpc`` is either the population number of PSUs
    in the stratum (values > 1) or the sampling fraction (values <= 1), constant within strata.
    ``lonely_psu`` follows ``options(survey.lonely.psu=)``: ``fail``, ``remove``, ``certainty``,
    ``adjust`` or ``average``.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        weights=None,
        strata=None,
        psu=None,
        fpc=None,
        *,
        lonely_psu: str = "fail",
    ) -> None:
        if lonely_psu not in LONELY_PSU_OPTIONS:
            raise EstimationError(
                f"lonely_psu must be one of {', '.join(LONELY_PSU_OPTIONS)}, not {lonely_psu!r}"
            )
        self.data = data
        self.lonely_psu = lonely_psu
        n = len(data)
        w = _as_array(data, weights, "weights")
        if w is None:
            w = np.ones(n)
        w = np.asarray(w, dtype=float)
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        if bad.size:
            raise EstimationError(
                f"design weights must be finite and non-negative; first bad rows {bad[:5].tolist()}"
                f" have {w[bad[:5]].tolist()}"
            )
        self.weights = w
        self._strata_spec, self._psu_spec, self._fpc_spec = strata, psu, fpc
        self._structure = self._build_structure(
            _as_array(data, strata, "strata"),
            _as_array(data, psu, "psu"),
            _as_array(data, fpc, "fpc"),
        )

    # -- structure ---------------------------------------------------------------------------
    def _build_structure(self, strata, psu, fpc) -> _Structure:
        n = len(self.data)
        if strata is None:
            s_codes, s_labels = np.zeros(n, dtype=np.int64), np.array(["all"], dtype=object)
        else:
            if pd.isna(strata).any():
                raise EstimationError(f"design strata have missing values in {int(pd.isna(strata).sum())} rows")
            s_codes, s_labels = pd.factorize(strata, sort=True)
            s_labels = np.asarray(s_labels, dtype=object)
        if psu is None:
            p_codes = np.arange(n, dtype=np.int64)
        else:
            if pd.isna(psu).any():
                raise EstimationError(f"design PSUs have missing values in {int(pd.isna(psu).sum())} rows")
            # PSUs are nested in strata: the same PSU label in two strata is two PSUs (nest=TRUE).
            p_codes, _ = pd.factorize(pd.MultiIndex.from_arrays([s_codes, psu]), sort=True)
        n_strata = len(s_labels)
        n_psu_total = int(p_codes.max()) + 1 if n else 0
        psu_stratum = np.zeros(n_psu_total, dtype=np.int64)
        psu_stratum[p_codes] = s_codes
        n_psu = np.bincount(psu_stratum, minlength=n_strata).astype(float)
        if fpc is None:
            f = np.ones(n_strata)
        else:
            fpc = np.asarray(fpc, dtype=float)
            if np.isnan(fpc).any():
                raise EstimationError("design fpc has missing values")
            per_stratum = pd.Series(fpc).groupby(s_codes).agg(["min", "max"])
            varying = per_stratum.index[per_stratum["min"] != per_stratum["max"]]
            if len(varying):
                raise EstimationError(f"fpc varies within stratum {s_labels[varying[0]]!r}")
            vals = per_stratum["min"].to_numpy()
            if (vals > 1).any() and not (vals >= 1).all():
                raise EstimationError("fpc must be all population sizes (>= 1) or all fractions (<= 1)")
            pop = vals if (vals > 1).any() else n_psu / vals
            if (pop < n_psu - 1e-9).any():
                h = int(np.flatnonzero(pop < n_psu - 1e-9)[0])
                raise EstimationError(f"fpc implies more than 100% sampling in stratum {s_labels[h]!r}")
            f = np.where(np.isinf(pop), 1.0, (pop - n_psu) / pop)
        return _Structure(s_codes, p_codes, psu_stratum, n_psu, f, s_labels)

    @property
    def n(self) -> int:
        return len(self.data)

    @property
    def n_strata(self) -> int:
        return len(self._structure.n_psu)

    @property
    def n_psu(self) -> int:
        return len(self._structure.psu_stratum)

    @property
    def df(self) -> int:
        """Design degrees of freedom, as R's ``degf()``: PSUs minus strata."""
        return self.n_psu - self.n_strata

    # -- variance ----------------------------------------------------------------------------
    def vcov_total(self, z: np.ndarray) -> np.ndarray:
        """Covariance of the weighted totals ``sum_i w_i z_i`` under the design.

        ``z`` is ``(n,)`` or ``(n, p)``: per-row values or influence functions, *not* yet
        weighted, with zeros outside a domain. Returns a ``(p, p)`` matrix (``(1, 1)`` for 1-d).
        """
        z = np.asarray(z, dtype=float)
        if z.ndim == 1:
            z = z[:, None]
        if z.shape[0] != self.n:
            raise EstimationError(f"influence values have {z.shape[0]} rows, design has {self.n}")
        st = self._structure
        x = z * self.weights[:, None]
        totals = group_sum(st.psu, x, self.n_psu)
        n_h = st.n_psu
        lonely = n_h[st.psu_stratum] == 1
        if lonely.any() and self.lonely_psu == "fail":
            h = st.psu_stratum[np.flatnonzero(lonely)[0]]
            raise EstimationError(
                f"stratum {st.stratum_labels[h]!r} has only one PSU; choose lonely_psu="
                "'remove', 'certainty', 'adjust' or 'average'"
            )
        sums = group_sum(st.psu_stratum, totals, self.n_strata)
        centre = sums[st.psu_stratum] / n_h[st.psu_stratum][:, None]
        if self.lonely_psu == "adjust" and lonely.any():
            centre[lonely] = totals.sum(axis=0) / self.n_psu
        dev = totals - centre
        scale = np.where(n_h > 1, st.f * n_h / np.maximum(n_h - 1, 1), st.f)
        contrib = dev * np.sqrt(scale[st.psu_stratum])[:, None]
        if self.lonely_psu == "average" and lonely.any():
            keep = ~lonely
            v = contrib[keep].T @ contrib[keep]
            n_ok = int((n_h > 1).sum())
            return v * (self.n_strata / n_ok) if n_ok else v * 0.0
        return contrib.T @ contrib

    def __repr__(self) -> str:
        kind = "Stratified " if self.n_strata > 1 else ""
        clus = "independent sampling" if self.n_psu == self.n else f"{self.n_psu} PSUs"
        return f"<SurveyDesign: {kind}{clus}, n={self.n}, {self.n_strata} strata, df={self.df}>"

    # -- models (implemented in models.py) ---------------------------------------------------
    def glm(self, formula: str, family: str = "binomial", **kwargs):
        """Survey-weighted generalised linear model; see :func:`social_licence.models.svyglm`."""
        from .models import svyglm

        return svyglm(self, formula, family=family, **kwargs)

    def ordinal(self, formula: str, **kwargs):
        """Weighted proportional-odds model; see :func:`social_licence.models.svyolr`."""
        from .models import svyolr

        return svyolr(self, formula, **kwargs)


def group_sum(codes: np.ndarray, x: np.ndarray, n_groups: int) -> np.ndarray:
    """Column sums of ``x`` (n, p) within integer groups ``codes``: a vectorised ``rowsum``."""
    return np.column_stack(
        [np.bincount(codes, weights=x[:, j], minlength=n_groups) for j in range(x.shape[1])]
    ) if x.shape[1] else np.zeros((n_groups, 0))


def design_columns(strata: str | None, psu: str | None, fpc: str | None) -> Sequence[str]:
    """The data columns a design reads, for selecting them from a wider frame."""
    return [c for c in (strata, psu, fpc) if c]
