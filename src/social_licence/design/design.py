"""The survey design: weights, strata, PSUs and FPC, and the one place design variance is computed.

Written by hand on purpose: statsmodels has no survey designs and Python survey packages have
shipped wrong standard errors. The variance follows R ``survey``'s ``svyrecvar``/``onestrat``
(ultimate-cluster, with-replacement first stage unless an FPC is given) and is proven against
R ``survey`` numbers in ``tests/data/reference/api/r_reference/`` (see ``tests/test_design*.py``).

Every estimator (means, proportions, totals, model coefficients) reduces to a weighted total of
per-row influence values ``z``; :meth:`SurveyDesign.vcov_total` is the only function that turns
such totals into a covariance matrix (estimators that aggregate influence values to PSU totals
themselves, for speed, hand those totals to the same engine, :meth:`SurveyDesign.vcov_psu_totals`).
Domains are estimated by zeroing ``z`` outside the domain, never by dropping rows, so the design's
PSU structure is kept.

Weights calibrated (raked) to population margins: with a :class:`Calibration` the influence values
are replaced by their residuals from the design-weighted regression on the margins' category
indicators before they reach the variance engine (Deville and Sarndal 1992), as R ``survey``
does for ``calibrate(..., calfun="raking")``; a share fixed by the raking then has a standard
error of zero, and estimates correlated with the margins gain precision. R's ``rake()`` centres
by unweighted backfitting instead, which differs slightly when design weights vary.

The estimators (``proportion``, ``mean``, ``total``, ``compare``, ``chisq``, ``breakdown``) live
in :mod:`social_licence.estimates`; replicate-weight designs in :mod:`social_licence.replicates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import EstimationError
from ..weighting.calibration import Calibration
from .estimators import Bases, Cells, Coding, Estimators, Ratio
from .replicates import ReplicateDesign, make_replicates
from .structure import (
    Calibrated,
    Structure,
    align_calibration,
    as_array,
    bad_rows,
    group_sum,
)

LONELY_PSU_OPTIONS = ("fail", "remove", "certainty", "adjust", "average")


class SurveyDesign(Estimators):
    """How the sample was drawn: weights, optional strata, PSUs and finite population correction.

    Parameters mirror R's ``svydesign(ids=, strata=, weights=, fpc=)``: each may be a column name
    of ``data`` or an array-like aligned to it. ``fpc`` is either the population number of PSUs
    in the stratum (values > 1) or the sampling fraction (values <= 1), constant within strata.
    Without ``weights`` but with ``fpc`` the weights are population / sample PSUs per stratum, as
    R derives them; without either every weight is 1. PSUs are nested in strata (``nest=TRUE``).
    ``lonely_psu`` follows ``options(survey.lonely.psu=)``: ``fail``, ``remove``, ``certainty``,
    ``adjust`` (a lonely PSU is centred on the mean PSU total of the whole sample, as R >= 4.2)
    or ``average``.
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
        calibration: Calibration | None = None,
    ) -> None:
        if lonely_psu not in LONELY_PSU_OPTIONS:
            raise EstimationError(
                f"lonely_psu must be one of {', '.join(LONELY_PSU_OPTIONS)}, not {lonely_psu!r}"
            )
        self.data = data
        self.lonely_psu = lonely_psu
        self._strata_spec, self._psu_spec, self._fpc_spec = strata, psu, fpc
        self._structure = self._build_structure(
            as_array(data, strata, "strata"),
            as_array(data, psu, "psu"),
            as_array(data, fpc, "fpc"),
        )
        w = as_array(data, weights, "weights")
        if w is None:
            st = self._structure
            if np.isfinite(st.popsize).all():
                # R: probs <- 1/weights(fpc, final=FALSE), i.e. population/sample PSUs per stratum.
                w = (st.popsize / st.n_psu)[st.stratum]
            else:
                w = np.ones(len(data))
        try:
            w = np.asarray(w, dtype=float)
        except (TypeError, ValueError):
            raise EstimationError(f"design weights {weights!r} are not numeric") from None
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            name = weights if isinstance(weights, str) else "weights"
            raise EstimationError(
                f"design weights {name!r} must be finite and non-negative; bad in rows "
                f"{bad_rows(data, bad)} (values {w[bad][:5].tolist()})"
            )
        self.weights = w
        self._cal = (
            None
            if calibration is None
            else align_calibration(calibration, data, w, self._structure.psu, self.n_psu)
        )

    @classmethod
    def _from_parts(
        cls,
        data: pd.DataFrame,
        weights: np.ndarray,
        structure: Structure,
        lonely_psu: str,
        cal: Calibrated | None = None,
    ) -> SurveyDesign:
        """A design over new rows that share this design's strata and PSUs (see :meth:`long`)."""
        obj = cls.__new__(cls)
        obj.data = data
        obj.lonely_psu = lonely_psu
        obj._strata_spec = obj._psu_spec = obj._fpc_spec = None
        obj._structure = structure
        obj.weights = weights
        obj._cal = cal
        return obj

    # -- structure ---------------------------------------------------------------------------
    def _build_structure(self, strata, psu, fpc) -> Structure:
        data = self.data
        n = len(data)
        if strata is None:
            s_codes, s_labels = np.zeros(n, dtype=np.int64), np.array(["all"], dtype=object)
        else:
            missing = pd.isna(strata)
            if missing.any():
                raise EstimationError(
                    f"design strata have missing values in rows {bad_rows(data, missing)}"
                )
            s_codes, s_labels = pd.factorize(strata, sort=True)
            s_labels = np.asarray(s_labels, dtype=object)
        if psu is None:
            p_codes = np.arange(n, dtype=np.int64)
        else:
            missing = pd.isna(psu)
            if missing.any():
                raise EstimationError(
                    f"design PSUs have missing values in rows {bad_rows(data, missing)}"
                )
            # PSUs are nested in strata: the same PSU label in two strata is two PSUs (nest=TRUE).
            p_codes, _ = pd.factorize(pd.MultiIndex.from_arrays([s_codes, psu]), sort=True)
        p_codes = np.asarray(p_codes, dtype=np.int64)
        n_strata = len(s_labels)
        n_psu_total = int(p_codes.max()) + 1 if n else 0
        psu_stratum = np.zeros(n_psu_total, dtype=np.int64)
        psu_stratum[p_codes] = s_codes
        n_psu = np.bincount(psu_stratum, minlength=n_strata).astype(float)
        if fpc is None:
            f = np.ones(n_strata)
            pop = np.full(n_strata, np.inf)
        else:
            try:
                fpc = np.asarray(fpc, dtype=float)
            except (TypeError, ValueError):
                raise EstimationError("design fpc is not numeric") from None
            if np.isnan(fpc).any():
                raise EstimationError(
                    f"design fpc has missing values in rows {bad_rows(data, np.isnan(fpc))}"
                )
            per_stratum = pd.Series(fpc).groupby(s_codes).agg(["min", "max"])
            varying = per_stratum.index[per_stratum["min"] != per_stratum["max"]]
            if len(varying):
                raise EstimationError(f"fpc varies within stratum {s_labels[varying[0]]!r}")
            vals = per_stratum["min"].to_numpy()
            if (vals > 1).any() and not (vals >= 1).all():
                raise EstimationError(
                    "fpc must be all population sizes (>= 1) or all fractions (<= 1)"
                )
            if (vals <= 0).any():
                raise EstimationError("fpc sampling fractions must be positive")
            pop = vals if (vals > 1).any() else n_psu / vals
            if (pop < n_psu - 1e-9).any():
                h = int(np.flatnonzero(pop < n_psu - 1e-9)[0])
                raise EstimationError(
                    f"fpc implies more than 100% sampling in stratum {s_labels[h]!r}"
                )
            f = np.where(np.isinf(pop), 1.0, (pop - n_psu) / pop)
        return Structure(s_codes, p_codes, psu_stratum, n_psu, f, s_labels, pop)

    @property
    def structure(self) -> Structure:
        """The integer-coded strata, PSUs and FPC (what replicate weights are built from)."""
        return self._structure

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

    @property
    def has_fpc(self) -> bool:
        return bool((self._structure.f < 1).any())

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
        totals = group_sum(self._structure.psu, z * self.weights[:, None], self.n_psu)
        if self._cal is not None:
            xdu = np.asarray(self._cal.indicator().T @ (self._cal.d[:, None] * z))
            totals = totals - self._cal.adjustment(xdu)
        return self.vcov_psu_totals(totals)

    def vcov_total_indexed(
        self, rows: np.ndarray, index: np.ndarray, table: np.ndarray
    ) -> np.ndarray:
        """:meth:`vcov_total` of influence values given by a table: design row ``rows[i]`` has
        ``table[index[i]]``, every other row zero (e.g. the rows of one group of a model share
        their group's influence).

        The ``(n, p)`` matrix is never formed: the weights of each PSU (and calibration
        category) are summed per table row, chunk by chunk of rows, then multiplied by the table.
        """
        table = np.asarray(table, dtype=float)
        if table.ndim == 1:
            table = table[:, None]
        rows = np.asarray(rows, dtype=np.int64)
        index = np.asarray(index, dtype=np.int64)
        if rows.shape != index.shape:
            raise EstimationError(f"{len(rows)} rows but {len(index)} table indices")
        st, cal, m = self._structure, self._cal, len(table)
        totals = np.zeros((self.n_psu, table.shape[1]))
        xdu = None if cal is None else np.zeros((cal.k, table.shape[1]))
        for start in range(0, len(rows), _CHUNK_ROWS):
            r, i = rows[start : start + _CHUNK_ROWS], index[start : start + _CHUNK_ROWS]
            totals += _sums_by(st.psu[r], i, self.weights[r], self.n_psu, m) @ table
            if cal is not None:
                d = cal.d[r]
                for margin, size in enumerate(cal.sizes):
                    c = cal.codes[r, margin]
                    ok = c >= 0
                    block = _sums_by(c[ok], i[ok], d[ok], size, m) @ table
                    xdu[cal.offsets[margin] : cal.offsets[margin] + size] += block
        if cal is not None:
            totals = totals - cal.adjustment(xdu)
        return self.vcov_psu_totals(totals)

    def vcov_psu_totals(self, totals: np.ndarray, *, diagonal: bool = False) -> np.ndarray:
        """The variance engine: covariance of totals from their per-PSU weighted totals.

        ``totals`` is ``(C, p)``: for each PSU (code order) the sum of ``w_i z_i`` over its rows.
        Follows R's ``onestrat``: deviations from the stratum mean PSU total, scaled by
        ``f_h n_h / (n_h - 1)``; strata with a single PSU as ``lonely_psu`` says. With
        ``diagonal=True`` only the variances ``(p,)`` are returned (cheap for many columns).
        """
        totals = np.asarray(totals, dtype=float)
        if totals.ndim == 1:
            totals = totals[:, None]
        st = self._structure
        if totals.shape[0] != self.n_psu:
            raise EstimationError(
                f"PSU totals have {totals.shape[0]} rows, design has {self.n_psu} PSUs"
            )
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
        factor = 1.0
        if self.lonely_psu == "average" and lonely.any():
            n_ok = int((n_h > 1).sum())
            contrib = contrib[~lonely]
            factor = self.n_strata / n_ok if n_ok else 0.0
        if diagonal:
            return np.einsum("ij,ij->j", contrib, contrib) * factor
        return (contrib.T @ contrib) * factor

    def _ratio(self, cells: Cells, cov: bool) -> Ratio:
        """Point estimates and (co)variances of the ratios or totals described by ``cells``.

        Influence values are aggregated straight to PSU x cell totals with ``np.bincount``
        (never an n x cells matrix), in column chunks so that memory stays bounded, and handed
        to :meth:`vcov_psu_totals`.
        """
        w = self.weights
        psu = self._structure.psu
        cal = self._cal
        C = self.n_psu
        J = cells.n_num
        vn, num, vals = cells.numerator()
        w_vn = w[vn]
        wn = w_vn if vals is None else w_vn * vals
        t_num = np.bincount(num, weights=wn, minlength=J)
        same = cells.den_cell is cells.num_cell  # means and proportions of an indicator
        if cells.den_cell is not None:
            vd, den = (vn, num) if same else cells.denominator()
            w_vd = w_vn if same else w[vd]
            t_den = np.bincount(den, weights=w_vd, minlength=cells.n_den)
            t_d = t_den[cells.num_to_den]
            with np.errstate(invalid="ignore", divide="ignore"):
                est = t_num / t_d
        else:
            est = t_num
        chunk = J if cov else max(1, min(J, _CHUNK_CELLS // max(C, 1)))
        psu_vn = psu[vn]
        parts = []
        for start in range(0, J, chunk):
            stop = min(J, start + chunk)
            k = stop - start
            sel = slice(None) if k == J else (num >= start) & (num < stop)
            key = (psu_vn if k == J else psu_vn[sel]) * k + (num[sel] - start)
            s_num = np.bincount(key, weights=wn[sel], minlength=C * k).reshape(C, k)
            if cal is not None:
                n_rows = vn if k == J else vn[sel]
                n_cols = num if k == J else num[sel] - start
                n_vals = np.ones(len(n_rows)) if vals is None else (vals if k == J else vals[sel])
                xd_num = cal.sums(n_rows, n_cols, k, n_vals)
            if cells.den_cell is None:
                z = s_num
                if cal is not None:
                    z = z - cal.adjustment(xd_num)
            else:
                # Denominator cells of this chunk, numbered 0..m-1.
                dens, inverse = np.unique(cells.num_to_den[start:stop], return_inverse=True)
                m = len(dens)
                if same and k == J and m == J:
                    s_den = np.bincount(key, weights=w_vn, minlength=C * m).reshape(C, m)
                    d_rows, d_code = vn, num
                else:
                    if m == cells.n_den:
                        d_rows, d_code = vd, den
                    else:
                        lookup = np.full(cells.n_den, -1)
                        lookup[dens] = np.arange(len(dens))
                        keep = lookup[den] >= 0
                        d_rows, d_code = vd[keep], lookup[den[keep]]
                    s_den = np.bincount(
                        psu[d_rows] * m + d_code, weights=w[d_rows], minlength=C * m
                    ).reshape(C, m)
                with np.errstate(invalid="ignore", divide="ignore"):
                    z = (s_num - est[start:stop] * s_den[:, inverse]) / t_d[start:stop]
                    if cal is not None:
                        xd_den = cal.sums(d_rows, d_code, m, np.ones(len(d_rows)))
                        xdu = (xd_num - est[start:stop] * xd_den[:, inverse]) / t_d[start:stop]
                        z = z - cal.adjustment(xdu)
            parts.append(self.vcov_psu_totals(z, diagonal=not cov))
        if cov:
            return est, parts[0]
        return est, np.concatenate(parts) if parts else np.zeros(0)

    def _ratios(
        self, rows: np.ndarray, values: np.ndarray, codings: Sequence[Coding], bases: Bases = None
    ) -> list[Ratio]:
        """:meth:`Estimators._ratios` with the per-row weights, products and PSU codes computed
        once for every coding. Each estimated cell sums the same rows in the same order as
        :meth:`_ratio` (other cells are computed and dropped): the same numbers, to the bit.
        """
        every = len(rows) == self.n  # rows are distinct positions: all of them, in order
        w_r = self.weights if every else self.weights[rows]
        wy = w_r * values
        psu_r = self._structure.psu if every else self._structure.psu[rows]
        cal = self._cal
        C = self.n_psu
        out = []
        for i, (d, size, present) in enumerate(codings):
            if C * size > _CHUNK_CELLS:  # too many cells for one block: the chunked path
                out.extend(super()._ratios(rows, values, [(d, size, present)]))
                continue
            G = len(present)
            t_num = np.bincount(d, weights=wy, minlength=size)[present]
            if bases is None:
                t_d = np.bincount(d, weights=w_r, minlength=size)[present]
            else:
                t_d = bases[i]
            key = psu_r * size
            key += d
            s_num = np.bincount(key, weights=wy, minlength=C * size).reshape(C, size)[:, present]
            s_den = np.bincount(key, weights=w_r, minlength=C * size).reshape(C, size)[:, present]
            with np.errstate(invalid="ignore", divide="ignore"):
                est = t_num / t_d
                z = (s_num - est * s_den) / t_d
                if cal is not None:
                    lookup = np.full(size, -1, dtype=np.int64)
                    lookup[present] = np.arange(G)
                    code = lookup[d]
                    ok = code >= 0
                    sub, code = rows[ok], code[ok]
                    xd_num = cal.sums(sub, code, G, values[ok])
                    xd_den = cal.sums(sub, code, G, np.ones(len(sub)))
                    z = z - cal.adjustment((xd_num - est * xd_den) / t_d)
            out.append((est, self.vcov_psu_totals(z, diagonal=True)))
        return out

    # -- derived designs ---------------------------------------------------------------------
    def _rows(self, frame: pd.DataFrame, pos: np.ndarray) -> SurveyDesign:
        """The design of ``frame`` whose row i belongs to this design's row ``pos[i]``."""
        st = self._structure
        structure = replace(st, stratum=st.stratum[pos], psu=st.psu[pos])
        cal = None if self._cal is None else self._cal.rows(pos)
        return SurveyDesign._from_parts(frame, self.weights[pos], structure, self.lonely_psu, cal)

    # A replicate-weight version of this design (:func:`social_licence.replicates.make_replicates`)
    with_replicates = make_replicates
    # A design from an export's replicate weight columns (:class:`ReplicateDesign`)
    from_replicate_weights = staticmethod(ReplicateDesign.from_columns)

    def __repr__(self) -> str:
        kind = "Stratified " if self.n_strata > 1 else ""
        clus = "independent sampling" if self.n_psu == self.n else f"{self.n_psu} PSUs"
        return f"<SurveyDesign: {kind}{clus}, n={self.n}, {self.n_strata} strata, df={self.df}>"


def _sums_by(codes: np.ndarray, index: np.ndarray, values: np.ndarray, n_codes: int, m: int):
    """``(n_codes, m)`` sums of ``values`` by (code, index): dense when small, else sparse."""
    if n_codes * m <= _CHUNK_CELLS:
        key = codes * m + index
        return np.bincount(key, weights=values, minlength=n_codes * m).reshape(n_codes, m)
    return sparse.csr_matrix((values, (codes, index)), shape=(n_codes, m))


# Largest PSU x cell block held in memory at once when only variances are needed (~100 MB).
_CHUNK_CELLS = 12_000_000
# Rows summed at once by vcov_total_indexed (~50 bytes a row while summed).
_CHUNK_ROWS = 1_000_000
