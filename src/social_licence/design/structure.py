"""The integer-coded structure of a design (strata, PSUs, FPC), aligned calibration, and helpers.

Shared by :class:`~social_licence.design.design.SurveyDesign` and the replicate designs, so that
neither reaches into the other's private parts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import EstimationError, describe_rows
from ..weighting.calibration import Calibration


@dataclass(frozen=True)
class Structure:
    """Integer-coded design structure shared by every variance computation."""

    stratum: np.ndarray  # (n,) stratum code 0..H-1
    psu: np.ndarray  # (n,) PSU code 0..C-1, unique across strata
    psu_stratum: np.ndarray  # (C,) stratum of each PSU
    n_psu: np.ndarray  # (H,) PSUs sampled per stratum
    f: np.ndarray  # (H,) 1 - sampling fraction (1 without FPC)
    stratum_labels: np.ndarray  # (H,) original stratum values, for messages
    popsize: np.ndarray  # (H,) population PSUs per stratum (inf without FPC)


@dataclass(frozen=True)
class Calibrated:
    """A :class:`Calibration` aligned to a design's rows, with what every projection needs."""

    codes: np.ndarray  # (n, M) category per margin, -1: none
    offsets: np.ndarray  # (M,) first column of each margin among the K indicators
    sizes: tuple[int, ...]
    d: np.ndarray  # (n,) base (pre-calibration) weights
    solve: np.ndarray  # (K, K) pseudo-inverse of sum_i d_i x_i x_i' over respondents
    psu_x: np.ndarray  # (C, K) per PSU sum of w_i x_i over respondents

    @property
    def k(self) -> int:
        return int(sum(self.sizes))

    def sums(
        self, rows: np.ndarray, cols: np.ndarray, n_cols: int, values: np.ndarray
    ) -> np.ndarray:
        """``(K, n_cols)``: sum of ``d_i x_ik values`` over ``rows`` falling in column ``cols``."""
        d_vals = self.d[rows] * values
        out = np.zeros((self.k, n_cols))
        for m, size in enumerate(self.sizes):
            c = self.codes[rows, m]
            ok = c >= 0
            block = np.bincount(
                c[ok] * n_cols + cols[ok], weights=d_vals[ok], minlength=size * n_cols
            )
            out[self.offsets[m] : self.offsets[m] + size] = block.reshape(size, n_cols)
        return out

    def indicator(self) -> sparse.csr_matrix:
        """``(n, K)`` indicators of the margins' categories, one block of columns per margin."""
        return indicators(self.codes, self.offsets, self.k)

    def adjustment(self, xdu: np.ndarray) -> np.ndarray:
        """``(C, p)`` PSU totals of ``w_i x_i' B`` for the regression coefficients of ``xdu``."""
        return self.psu_x @ (self.solve @ xdu)

    def rows(self, pos: np.ndarray) -> Calibrated:
        """The same calibration for rows that copy respondents ``pos`` (a long frame)."""
        return replace(self, codes=self.codes[pos], d=self.d[pos])


def indicators(codes: np.ndarray, offsets: np.ndarray, k: int) -> sparse.csr_matrix:
    """``(n, k)`` 0/1 matrix: row i has a 1 in column ``offsets[m] + codes[i, m]`` for each
    margin m where it has a category (code >= 0)."""
    rows, margin = np.nonzero(codes >= 0)
    cols = codes[rows, margin] + offsets[margin]
    return sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(codes), k))


def align_calibration(
    cal: Calibration, data: pd.DataFrame, weights: np.ndarray, psu: np.ndarray, n_psu: int
) -> Calibrated:
    if not data.index.is_unique or not cal.index.is_unique:
        raise EstimationError("a calibrated design needs unique respondent ids in the index")
    pos = cal.index.get_indexer(data.index)
    if (pos < 0).any() or len(cal.index) != len(data):
        absent = data.index[pos < 0]
        raise EstimationError(
            "the calibration's respondents are not the design's: "
            + (
                f"{describe_rows(data.index, pos < 0)} are not in the calibration"
                if len(absent)
                else f"the calibration has {len(cal.index)} respondents, the design {len(data)}"
            )
        )
    codes = np.asarray(cal.codes, dtype=np.int64)[pos]
    d = np.asarray(cal.base, dtype=float)[pos]
    sizes = tuple(int(s) for s in cal.sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    n = len(data)
    x = indicators(codes, offsets, int(sum(sizes)))
    xdx = np.asarray((x.T @ x.multiply(d[:, None])).todense())
    solve = np.linalg.pinv(xdx, rcond=1e-12, hermitian=True)
    psu_x = np.asarray(
        (sparse.csr_matrix((weights, (psu, np.arange(n))), shape=(n_psu, n)) @ x).todense()
    )
    return Calibrated(codes, offsets, sizes, d, solve, psu_x)


def as_array(data: pd.DataFrame, spec, name: str) -> np.ndarray | None:
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


def bad_rows(data: pd.DataFrame, mask: np.ndarray, limit: int = 5) -> str:
    """Row labels where ``mask`` is true, for messages; never respondent IDs or pseudonyms."""
    return describe_rows(data.index, mask, limit).removeprefix("rows ")


def group_sum(codes: np.ndarray, x: np.ndarray, n_groups: int) -> np.ndarray:
    """Column sums of ``x`` (n, p) within integer groups ``codes``: a vectorised ``rowsum``."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[1] == 0:
        return np.zeros((n_groups, 0))
    if x.shape[1] <= 4:
        return np.column_stack(
            [np.bincount(codes, weights=x[:, j], minlength=n_groups) for j in range(x.shape[1])]
        )
    indicator = sparse.csr_matrix(
        (np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(n_groups, len(codes))
    )
    return np.asarray(indicator @ x)


def respondent_positions(data: pd.DataFrame, frame: pd.DataFrame, respondent: str) -> np.ndarray:
    """Row positions in ``data`` of the respondents named in ``frame[respondent]``."""
    if respondent not in frame.columns:
        raise EstimationError(f"the long frame has no {respondent!r} column naming the respondent")
    if not data.index.is_unique:
        raise EstimationError("the design data's index (the respondent id) has duplicate values")
    pos = data.index.get_indexer(frame[respondent])
    if (pos < 0).any():
        missing = frame[respondent].to_numpy()[pos < 0]
        raise EstimationError(
            f"the long frame names respondents that are not in the design data: "
            f"{', '.join(str(x) for x in missing[:5])}"
        )
    return pos
