"""Design-based estimates: proportions, means, totals, group comparisons and tests of association.

Somewhat over 800 lines: the estimators written once for linearised and replicate designs
(proportions, means, totals, comparisons, Rao-Scott tests) share the domain-coding helpers.

Every estimate here is a ratio of weighted totals (or a total) over domains; the design supplies
the point estimates and their (co)variance through ``_ratio`` (Taylor linearisation in
:class:`social_licence.design.SurveyDesign`, replicate weights in
:class:`social_licence.replicates.ReplicateDesign`), so each estimator is written once for both.
Domains (``by``) are group codes over the *whole* design, never subsets of rows.

Written by hand, like the variance, because no Python library reproduces R ``survey``:
- intervals for proportions on the logit scale, as ``svyciprop(method="logit")``;
- design effects as R's ``deff="replace"`` (default) or ``deff=TRUE`` (``"srswor"``), with the
  simple-random-sampling variance computed from the domain's own rows as ``svyby`` does;
- the Rao-Scott second-order (F) and first-order (Chisq) corrections of ``svychisq``.
Multiple-comparison adjustment uses :func:`pingouin.multicomp`.

Output is the project's *tidy estimate frame*: ``[*by]``, ``variable``, ``level``, ``estimate``,
``se``, ``ci_low``, ``ci_high``, ``deff``, ``n_unweighted`` (rows with a valid answer in the
domain), ``count_unweighted`` (rows in the level), ``n_weighted`` (weighted base of the domain).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, EstimationError
from ..survey.grid import DK_OPTIONS
from ..survey.missing import DONT_KNOW_LABEL, reason_column, reasons
from .structure import respondent_positions

#: The numbers of an estimate, after its keys (``variable``, ``level``).
ESTIMATE_COLUMNS = (
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "deff",
    "n_unweighted",
    "count_unweighted",
    "n_weighted",
)
TABLE_COLUMNS = ("variable", "level", *ESTIMATE_COLUMNS)
#: Distinct respondents in an estimate's base and answer, where a respondent has several rows.
RESPONDENT_COLUMNS = ("n_respondents", "count_respondents")
COMPARE_COLUMNS = (
    "variable",
    "level",
    "group_variable",
    "group_a",
    "group_b",
    "estimate_a",
    "estimate_b",
    "difference",
    "se",
    "ci_low",
    "ci_high",
    "statistic",
    "df",
    "p_value",
    "n_unweighted_a",
    "n_unweighted_b",
    "p_adjusted",
    "adjust_method",
    "family",
    "family_size",
)
CI_OPTIONS = ("t", "normal")
CI_METHODS = ("logit", "wald")
DEFF_OPTIONS = ("replace", "srswor", None)
# Accepted names -> pingouin.multicomp method (pingouin's own names are accepted as they are).
ADJUST_METHODS = {
    "holm": "holm",
    "bh": "fdr_bh",
    "fdr_bh": "fdr_bh",
    "fdr_by": "fdr_by",
    "bonferroni": "bonf",
    "bonf": "bonf",
    "sidak": "sidak",
    "none": "none",
}
ADJUST_NAMES = {
    "holm": "Holm",
    "fdr_bh": "Benjamini-Hochberg",
    "fdr_by": "Benjamini-Yekutieli",
    "bonf": "Bonferroni",
    "sidak": "Sidak",
    "none": "none",
}
OVERALL = "All"


@dataclass(frozen=True)
class Cells:
    """What to estimate, as integer cell codes per row (``-1``: the row is in no cell).

    Numerator cell ``j`` has total ``sum w_i v_i`` over its rows (``v`` = ``num_value`` or 1).
    With ``den_cell`` each numerator is divided by the weighted total of its denominator cell
    ``num_to_den[j]`` (a ratio: mean or proportion); without, the estimate is the total itself.
    """

    num_cell: np.ndarray
    n_num: int
    num_value: np.ndarray | None = None
    den_cell: np.ndarray | None = None
    n_den: int = 0
    num_to_den: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # When given, the arrays above hold only these rows (positions), all of them in a cell.
    rows: np.ndarray | None = None

    def numerator(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Row positions in a numerator cell, their cells and values (None: all 1)."""
        if self.rows is not None:
            return self.rows, self.num_cell, self.num_value
        rows = np.flatnonzero(self.num_cell >= 0)
        vals = None if self.num_value is None else self.num_value[rows]
        return rows, self.num_cell[rows], vals

    def denominator(self) -> tuple[np.ndarray, np.ndarray]:
        """Row positions in a denominator cell and their cells."""
        if self.rows is not None:
            return self.rows, self.den_cell
        rows = np.flatnonzero(self.den_cell >= 0)
        return rows, self.den_cell[rows]


# -- helpers over the analysis frame ---------------------------------------------------------
def as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


def _column(data: pd.DataFrame, name: str, role: str) -> pd.Series:
    if name not in data.columns:
        raise EstimationError(f"{role} {name!r} is not a column of the analysis frame")
    return data[name]


def domain_codes(data: pd.DataFrame, by: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Domain code per row (``-1`` where a ``by`` value is missing) and the domains' ``by`` values.

    Domains are the observed combinations of the ``by`` columns, ordered as their categories
    (Categoricals) or sorted values; the frame keeps each column's dtype.
    """
    n = len(data)
    if not by:
        return np.zeros(n, dtype=np.int64), pd.DataFrame(index=pd.RangeIndex(1))
    codes, uniques = [], []
    for col in by:
        s = _column(data, col, "by variable")
        if isinstance(s.dtype, pd.CategoricalDtype):
            c = s.cat.codes.to_numpy().astype(np.int64)
            u = s.cat.categories
        else:
            c, u = pd.factorize(s, sort=True)
            c = np.asarray(c, dtype=np.int64)
        codes.append(c)
        uniques.append(u)
    combined = np.zeros(n, dtype=np.int64)
    missing = np.zeros(n, dtype=bool)
    for c, u in zip(codes, uniques, strict=True):
        combined = combined * max(len(u), 1) + np.maximum(c, 0)
        missing |= c < 0
    space = int(np.prod([max(len(u), 1) for u in uniques], dtype=np.float64))
    if space <= max(4 * n, 1_000_000):  # small code space: count instead of hashing
        seen = np.bincount(combined[~missing], minlength=space)
        present = np.flatnonzero(seen)
        lookup = np.full(space, -1, dtype=np.int64)
        lookup[present] = np.arange(len(present))
        dom = np.where(missing, -1, lookup[combined])
    else:
        present = np.unique(combined[~missing])
        dom = np.where(missing, -1, np.searchsorted(present, combined))
    frame = {}
    rest = present.copy()
    parts = []
    for u in reversed(uniques):  # undo the mixed-radix code, last column fastest
        k = max(len(u), 1)
        parts.append(rest % k)
        rest = rest // k
    parts.reverse()
    for col, part, u in zip(by, parts, uniques, strict=True):
        s = data[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            frame[col] = pd.Categorical.from_codes(part, dtype=s.dtype)
        else:
            frame[col] = pd.Series(np.asarray(u)[part], dtype=s.dtype)
    return dom, pd.DataFrame(frame)


def level_codes(data: pd.DataFrame, variable: str, dk: str = "exclude") -> tuple[np.ndarray, list]:
    """Category code per row (``-1`` outside the base) and the level labels, in order.

    ``dk="include"`` adds "Don't know" (from the ``variable__reason`` column) as the last level;
    by-design, not-asked, refused and unexplained missing values are never in the base.
    """
    if dk not in DK_OPTIONS:
        raise ConfigError(f"dk must be one of {', '.join(DK_OPTIONS)}, not {dk!r}")
    s = _column(data, variable, "variable")
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy().astype(np.int64)
        labels = list(s.cat.categories)
    else:
        codes, uniq = pd.factorize(s, sort=True)
        codes = np.asarray(codes, dtype=np.int64)
        labels = list(uniq)
    if dk == "include":
        if reason_column(variable) not in data.columns:
            raise EstimationError(
                f"dk='include' needs the missing-reason column {reason_column(variable)!r} of "
                f"variable {variable!r}, which is not in the frame"
            )
        if DONT_KNOW_LABEL in labels:
            raise EstimationError(f"variable {variable!r} already has a level {DONT_KNOW_LABEL!r}")
        is_dk = (codes < 0) & (reasons(data, variable) == "dont_know").to_numpy()
        codes = np.where(is_dk, len(labels), codes)
        labels.append(DONT_KNOW_LABEL)
    return codes, labels


def numeric_values(data: pd.DataFrame, variable: str) -> np.ndarray:
    """Float values of a numeric (or boolean) variable, NaN where missing."""
    s = _column(data, variable, "variable")
    if isinstance(s.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
    ):
        raise EstimationError(
            f"variable {variable!r} is not numeric ({s.dtype}); use proportion() for categories"
        )
    return s.astype("float64").to_numpy(na_value=np.nan)


def _keep_domains(dom: np.ndarray, ok: np.ndarray, n_dom: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the rows in the base (``ok``), renumbered over the domains that have any such
    row; every other row gets ``-1``. Returns the codes and which domains were kept."""
    ok = ok & (dom >= 0)
    present = np.bincount(dom[ok], minlength=n_dom) > 0
    lookup = np.append(np.cumsum(present) - 1, -1)  # index -1 (no domain) maps to -1
    return np.where(ok, lookup[dom], -1), present


def quantile(ci_level: float, ci: str, df: float) -> float:
    """Two-sided critical value: Student t on ``df`` degrees of freedom, or normal."""
    if not 0 < ci_level < 1:
        raise ConfigError(f"ci_level must be between 0 and 1, not {ci_level!r}")
    if ci not in CI_OPTIONS:
        raise ConfigError(f"ci must be one of {', '.join(CI_OPTIONS)}, not {ci!r}")
    from scipy import stats  # slow to import (~0.5 s): only in jobs that compute intervals

    upper = 1 - (1 - ci_level) / 2
    if ci == "normal":
        return float(stats.norm.ppf(upper))
    if df is None or not df >= 1:
        return float("nan")
    return float(stats.t.ppf(upper, df))


def logit_interval(p: np.ndarray, se: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """``svyciprop(method="logit")``: a Wald interval for logit(p), SE/(p(1-p)), back-transformed.

    Where p is 0 or 1, or the SE is 0, the interval is the point itself.
    """
    p = np.asarray(p, dtype=float)
    se = np.asarray(se, dtype=float)
    inner = (p > 0) & (p < 1) & (se > 0)
    lo, hi = p.copy(), p.copy()
    pi = p[inner]
    eta = np.log(pi / (1 - pi))
    half = q * se[inner] / (pi * (1 - pi))
    lo[inner] = 1 / (1 + np.exp(-(eta - half)))
    hi[inner] = 1 / (1 + np.exp(-(eta + half)))
    return lo, hi


def _srs_variance(s2: np.ndarray, n: np.ndarray, big_n: np.ndarray, deff: str | None) -> np.ndarray:
    """Variance of a mean under simple random sampling of ``n`` from ``N`` (R's ``deff``)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if deff == "replace":
            return s2 / n
        return np.where(big_n > n, s2 * (big_n - n) / (big_n * n), np.nan)


def _check_options(ci_level: float, ci: str, deff: str | None) -> None:
    quantile(ci_level, ci, 1)
    if deff not in DEFF_OPTIONS:
        raise ConfigError(f"deff must be 'replace', 'srswor' or None, not {deff!r}")


# A coding of rows into cells: the cell of each row, the number of cells, the cells estimated.
Coding = tuple[np.ndarray, int, np.ndarray]
Bases = Sequence[np.ndarray] | None  # each coding's weighted totals of its estimated cells
Ratio = tuple[np.ndarray, np.ndarray]  # estimates and their variances (or covariance matrix)


@dataclass(frozen=True)
class _Domains:
    """The domains an estimate is made in: each row's domain (``-1``: not in the base)."""

    dom: np.ndarray
    ok: np.ndarray  # dom >= 0
    frame: pd.DataFrame  # the domains' by values, one row each
    n_base: np.ndarray  # respondents (rows) in each domain's base
    big_w: np.ndarray  # their weight

    @property
    def size(self) -> int:
        return len(self.frame)


# -- the estimators shared by linearisation and replicate designs ----------------------------
class Estimators:
    """Estimators of a design; the design supplies ``data``, ``weights``, ``df`` and ``_ratio``."""

    data: pd.DataFrame
    weights: np.ndarray

    @property
    def df(self) -> float:  # pragma: no cover - overridden by every design
        raise NotImplementedError

    def _ratio(self, cells: Cells, cov: bool) -> Ratio:  # pragma: no cover
        raise NotImplementedError

    def _rows(self, frame: pd.DataFrame, pos: np.ndarray):  # pragma: no cover
        raise NotImplementedError

    def _quantile(self, ci_level: float, ci: str, df: float | None, deff: str | None) -> float:
        """Check the options; the quantile of the intervals on ``df`` (default the design's)."""
        _check_options(ci_level, ci, deff)
        return quantile(ci_level, ci, self.df if df is None else df)

    def _domains(self, dom_all: np.ndarray, ok: np.ndarray, dom_frame: pd.DataFrame) -> _Domains:
        """The domains of ``dom_frame`` with rows among ``ok``, numbered from 0, and their bases."""
        dom, present = _keep_domains(dom_all, ok, len(dom_frame))
        ok = dom >= 0
        G = int(present.sum())
        return _Domains(
            dom,
            ok,
            dom_frame[present].reset_index(drop=True),
            np.bincount(dom[ok], minlength=G),
            np.bincount(dom[ok], weights=self.weights[ok], minlength=G),
        )

    def _ratios(
        self, rows: np.ndarray, values: np.ndarray, codings: Sequence[Coding], bases: Bases = None
    ) -> list[Ratio]:
        """Domain means of ``values`` (at ``rows``) and their variances, for several codings of
        the same rows. Each coding is a cell code per row (``0 .. size-1``), the number of
        cells ``size``, and the cells to estimate (``present``, ascending); rows in other cells
        are left out. ``bases``, when the caller has them, are each coding's weighted totals of
        the present cells (``np.bincount(d, weights=w[rows])[present]``). The same numbers as
        one :meth:`_ratio` per coding (which this does; a design may share the per-row work
        between codings instead)."""
        out = []
        for d, size, present in codings:
            lookup = np.full(size, -1, dtype=np.int64)
            lookup[present] = np.arange(len(present))
            code = lookup[d]
            ok = code >= 0
            code = code[ok]
            G = len(present)
            cells = Cells(code, G, values[ok], code, G, np.arange(G), rows=rows[ok])
            out.append(self._ratio(cells, cov=False))
        return out

    def with_data(self, frame: pd.DataFrame):
        """The same design over ``frame``: the same respondents, in the same order, with other
        or changed columns (e.g. indices added, a reference level moved first)."""
        if not frame.index.equals(self.data.index):
            raise EstimationError("with_data needs a frame of the design's respondents, in order")
        return self._rows(frame, np.arange(len(self.data)))

    def long(
        self, frame: pd.DataFrame, respondent: str = "respondent", positions: np.ndarray | None = None
    ):
        """The design of a long frame with several rows per respondent (``grid.long_format``).

        Each row takes its respondent's weight, stratum and PSU (or replicate weights), so rows
        of one respondent are clustered together (on the PSU, or on the respondent when the
        design has no PSUs) and the strata, PSU counts and FPC stay the respondent design's.
        ``positions``: the design row each frame row copies, where the design's rows are not
        one per respondent (a long export's ratings); by default looked up from ``respondent``.
        """
        if positions is None:
            positions = respondent_positions(self.data, frame, respondent)
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) != len(frame) or (len(positions) and not (
            (positions >= 0).all() and (positions < len(self.data)).all()
        )):
            raise EstimationError("positions must give a design row for every row of the frame")
        return self._rows(frame, positions)

    # .. public estimators ..................................................................
    def proportion(
        self,
        variable: str | Sequence[str],
        by: str | Sequence[str] | None = None,
        *,
        dk: str = "exclude",
        ci_level: float = 0.95,
        ci: str = "t",
        df: float | None = None,
        ci_method: str = "logit",
        deff: str | None = "replace",
    ) -> pd.DataFrame:
        """Proportion in each level of categorical ``variable`` (several stack), per ``by`` domain.

        The base is the rows with a substantive answer (plus "Don't know" when
        ``dk="include"``). Intervals are on the logit scale (``ci_method="logit"``, as
        ``svyciprop``) or symmetric (``"wald"``), with Student t on ``df`` (default the
        design's degrees of freedom) or normal quantiles (``ci="normal"``).
        """
        if ci_method not in CI_METHODS:
            raise ConfigError(f"ci_method must be one of {', '.join(CI_METHODS)}, not {ci_method!r}")
        q = self._quantile(ci_level, ci, df, deff)
        by = as_list(by)
        dom_all, dom_frame_all = domain_codes(self.data, by)
        pieces = []
        for var in as_list(variable):
            lvl, labels = level_codes(self.data, var, dk)
            d = self._domains(dom_all, lvl >= 0, dom_frame_all)
            dom, ok, n_base, big_w = d.dom, d.ok, d.n_base, d.big_w
            G, K = d.size, len(labels)
            num = np.where(ok, dom * K + lvl, -1)
            cells = Cells(num, G * K, None, np.where(ok, dom, -1), G, np.repeat(np.arange(G), K))
            est, var_ = self._ratio(cells, cov=False)
            count = np.bincount(num[ok], minlength=G * K)
            se = np.sqrt(np.maximum(var_, 0))
            if ci_method == "logit":
                lo, hi = logit_interval(est, se, q)
            else:
                lo, hi = est - q * se, est + q * se
            deffs = self._deff_proportion(est, var_, np.repeat(n_base, K), np.repeat(big_w, K), deff)
            pieces.append(_tidy(d.frame, var, labels, est, se, lo, hi, deffs, n_base, count, big_w))
        return _concat(pieces, by)

    def mean(
        self,
        variable: str | Sequence[str],
        by: str | Sequence[str] | None = None,
        *,
        ci_level: float = 0.95,
        ci: str = "t",
        df: float | None = None,
        deff: str | None = "replace",
    ) -> pd.DataFrame:
        """Mean of numeric ``variable`` (several stack) per ``by`` domain; ``level`` is "mean"."""
        q = self._quantile(ci_level, ci, df, deff)
        by = as_list(by)
        dom_all, dom_frame_all = domain_codes(self.data, by)
        pieces = []
        for var in as_list(variable):
            y = numeric_values(self.data, var)
            d = self._domains(dom_all, ~np.isnan(y), dom_frame_all)
            dom, ok, n_base, big_w, G = d.dom, d.ok, d.n_base, d.big_w, d.size
            code = np.where(ok, dom, -1)
            yv = np.where(ok, y, 0.0)
            est, var_ = self._ratio(Cells(code, G, yv, code, G, np.arange(G)), cov=False)
            se = np.sqrt(np.maximum(var_, 0))
            s2 = self._domain_s2(dom, ok, yv, est, n_base, big_w, G)
            with np.errstate(invalid="ignore", divide="ignore"):
                deffs = var_ / _srs_variance(s2, n_base, big_w, deff) if deff else np.full(G, np.nan)
            lo, hi = est - q * se, est + q * se
            pieces.append(_tidy(d.frame, var, ["mean"], est, se, lo, hi, deffs, n_base, n_base, big_w))
        return _concat(pieces, by)

    def total(
        self,
        variable: str | Sequence[str],
        by: str | Sequence[str] | None = None,
        *,
        dk: str = "exclude",
        ci_level: float = 0.95,
        ci: str = "t",
        df: float | None = None,
        deff: str | None = "replace",
    ) -> pd.DataFrame:
        """Estimated population total of a numeric variable (``level`` "total"), or the number in
        each level of a categorical one, per ``by`` domain, as ``svytotal``."""
        q = self._quantile(ci_level, ci, df, deff)
        by = as_list(by)
        dom_all, dom_frame_all = domain_codes(self.data, by)
        pieces = []
        for var in as_list(variable):
            s = _column(self.data, var, "variable")
            categorical = isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s)
            if categorical:
                lvl, labels = level_codes(self.data, var, dk)
                ok = (dom_all >= 0) & (lvl >= 0)
                yv = None
            else:
                y = numeric_values(self.data, var)
                ok = (dom_all >= 0) & ~np.isnan(y)
                lvl, labels = np.zeros(len(y), dtype=np.int64), ["total"]
                yv = np.where(ok, y, 0.0)
            d = self._domains(dom_all, ok, dom_frame_all)
            dom, ok, n_base, big_w = d.dom, d.ok, d.n_base, d.big_w
            G, K = d.size, len(labels)
            num = np.where(ok, dom * K + lvl, -1)
            est, var_ = self._ratio(Cells(num, G * K, yv), cov=False)
            count = np.bincount(num[ok], minlength=G * K)
            se = np.sqrt(np.maximum(var_, 0))
            with np.errstate(invalid="ignore", divide="ignore"):
                if categorical:
                    p = est / np.repeat(big_w, K)
                    s2 = p * (1 - p) * _bessel(np.repeat(n_base, K))
                else:
                    s2 = self._domain_s2(dom, ok, yv, est / big_w, n_base, big_w, G)
                bw = np.repeat(big_w, K)
                vsrs = _srs_variance(s2, np.repeat(n_base, K), bw, deff) * bw**2
                deffs = var_ / vsrs if deff else np.full(G * K, np.nan)
            lo, hi = est - q * se, est + q * se
            pieces.append(_tidy(d.frame, var, labels, est, se, lo, hi, deffs, n_base, count, big_w))
        return _concat(pieces, by)

    def breakdown(
        self,
        variables: str | Sequence[str],
        groups: str | Sequence[str],
        *,
        statistic: str = "proportion",
        overall: bool = True,
        **options: Any,
    ) -> pd.DataFrame:
        """One estimate table per grouping variable, stacked with ``group_variable``/``group``.

        ``statistic`` is ``proportion``, ``mean`` or ``total``; ``options`` go to it. With
        ``overall`` the whole-sample rows come first, with ``group_variable`` and ``group`` "All".
        """
        if statistic not in ("proportion", "mean", "total"):
            raise ConfigError(f"statistic must be proportion, mean or total, not {statistic!r}")
        estimator = getattr(self, statistic)
        pieces = []
        if overall:
            t = estimator(variables, by=None, **options)
            t.insert(0, "group", OVERALL)
            t.insert(0, "group_variable", OVERALL)
            pieces.append(t)
        for g in as_list(groups):
            t = estimator(variables, by=g, **options)
            t.insert(0, "group", t.pop(g).astype(object))
            t.insert(0, "group_variable", g)
            pieces.append(t)
        out = pd.concat(pieces, ignore_index=True)
        out["group"] = out["group"].astype(object)
        return out

    def compare(
        self,
        variable: str,
        by: str,
        *,
        level=None,
        dk: str = "exclude",
        reference=None,
        ci_level: float = 0.95,
        ci: str = "t",
        df: float | None = None,
        adjust: str = "holm",
        family: str | None = None,
    ) -> pd.DataFrame:
        """Differences between the groups of ``by`` in the proportion in ``level`` of a
        categorical ``variable`` (or in the mean of a numeric one).

        The SE of each difference uses the covariance of the two domain estimates from the
        joint influence functions (groups share PSUs), not an independence assumption.
        ``reference`` compares every group with that one; otherwise every pair. P-values are
        two-sided (t on the design's df, or normal), adjusted across the rows returned by
        ``adjust`` (``holm``, ``bh``, ``bonferroni`` or ``none``); ``family`` names that family.
        """
        y, ok, level, categorical = self._comparison_values(variable, level, dk)
        dom_all, dom_frame = domain_codes(self.data, [by])
        out = self._differences(y, ok, dom_all, dom_frame, [], by, reference, ci_level, ci, df)
        out.insert(0, "level", level)
        out.insert(0, "variable", variable)
        if family is None:
            what = f"{variable}={level}" if categorical else f"mean {variable}"
            kind = f"vs {reference!r}" if reference is not None else "pairwise"
            family = f"{kind} differences in {what} between {by} groups"
        return adjust_pvalues(out, method=adjust, family=family)

    def _comparison_values(self, variable, level, dk):
        """The 0/1 indicator of ``level`` (or numeric values) to compare, and its base."""
        s = _column(self.data, variable, "variable")
        categorical = isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s)
        if categorical:
            lvl, labels = level_codes(self.data, variable, dk)
            if level is None:
                raise EstimationError(
                    f"compare() of categorical variable {variable!r} needs level= (one of {labels})"
                )
            if level not in labels:
                raise EstimationError(f"level {level!r} is not a level of {variable!r}: {labels}")
            return (lvl == labels.index(level)).astype(float), lvl >= 0, level, True
        y = numeric_values(self.data, variable)
        return y, ~np.isnan(y), "mean", False

    def _differences(
        self, y, ok, dom_all, dom_frame, cell_cols, by, reference, ci_level, ci, df
    ) -> pd.DataFrame:
        """Pairwise differences of domain means of ``y`` between groups of ``by`` within each
        combination of ``cell_cols`` (the other columns of ``dom_frame``), one covariance."""
        deg = self.df if df is None else df
        q = quantile(ci_level, ci, deg)
        d = self._domains(dom_all, ok, dom_frame)
        dom, ok, frame, n_base, G = d.dom, d.ok, d.frame, d.n_base, d.size
        code = np.where(ok, dom, -1)
        est, V = self._ratio(Cells(code, G, np.where(ok, y, 0.0), code, G, np.arange(G)), cov=True)
        if cell_cols:
            cell_id = frame.groupby(cell_cols, observed=True, sort=False).ngroup().to_numpy()
        else:
            cell_id = np.zeros(G, dtype=np.int64)
        groups = frame[by].to_numpy(dtype=object)
        if reference is not None and reference not in set(groups):
            raise EstimationError(
                f"reference group {reference!r} is not among {by!r} groups {sorted(set(groups), key=str)}"
            )
        a_idx, b_idx = [], []
        for c in np.unique(cell_id):
            members = np.flatnonzero(cell_id == c)
            if reference is not None:
                ref = [m for m in members if groups[m] == reference]
                if not ref:
                    continue
                a_idx += [m for m in members if m != ref[0]]
                b_idx += [ref[0]] * (len(members) - 1)
            else:
                for i, a in enumerate(members):
                    for b in members[i + 1 :]:
                        a_idx.append(a)
                        b_idx.append(b)
        a_idx = np.asarray(a_idx, dtype=np.int64)
        b_idx = np.asarray(b_idx, dtype=np.int64)
        diff = est[a_idx] - est[b_idx]
        var_d = V[a_idx, a_idx] + V[b_idx, b_idx] - 2 * V[a_idx, b_idx]
        se = np.sqrt(np.maximum(var_d, 0))
        with np.errstate(invalid="ignore", divide="ignore"):
            tstat = diff / se
        from scipy import stats  # slow to import: only where p-values are computed

        if ci == "normal":
            p = 2 * stats.norm.sf(np.abs(tstat))
            deg = np.inf
        elif deg is not None and deg >= 1:
            p = 2 * stats.t.sf(np.abs(tstat), deg)
        else:
            p = np.full(len(a_idx), np.nan)
        out = frame.loc[a_idx, cell_cols].reset_index(drop=True)
        out["group_variable"] = by
        out["group_a"] = pd.Series(groups[a_idx], dtype=object)
        out["group_b"] = pd.Series(groups[b_idx], dtype=object)
        out["estimate_a"] = est[a_idx]
        out["estimate_b"] = est[b_idx]
        out["difference"] = diff
        out["se"] = se
        out["ci_low"] = diff - q * se
        out["ci_high"] = diff + q * se
        out["statistic"] = tstat
        out["df"] = float(deg) if deg is not None else np.nan
        out["p_value"] = p
        out["n_unweighted_a"] = n_base[a_idx]
        out["n_unweighted_b"] = n_base[b_idx]
        return out

    def chisq(
        self,
        row: str,
        col: str,
        *,
        statistic: str = "F",
        dk: str = "exclude",
        where: np.ndarray | pd.Series | None = None,
    ) -> RaoScottTest:
        """Rao-Scott test of association of two categorical variables, as R's ``svychisq``.

        ``statistic="F"``: Pearson's X^2 / trace(Delta) on F(d, d * df) with d the
        Satterthwaite degrees of freedom (second-order correction). ``"Chisq"``: p-value of
        X^2 / mean eigenvalue of Delta on chi-square((r-1)(c-1)) (first order); the statistic
        reported is Pearson's X^2, as R does. X^2 is computed on the weighted table scaled to the
        number of rows with both answers. ``where`` restricts the test to a domain (a boolean
        mask), estimated on the whole design.
        """
        if statistic not in ("F", "Chisq"):
            raise ConfigError(f"statistic must be 'F' or 'Chisq', not {statistic!r}")
        r_code, r_labels = level_codes(self.data, row, dk)
        c_code, c_labels = level_codes(self.data, col, dk)
        ok = (r_code >= 0) & (c_code >= 0)
        if where is not None:
            ok &= np.asarray(where, dtype=bool)
        r_used = np.unique(r_code[ok])
        c_used = np.unique(c_code[ok])
        nr, nc = len(r_used), len(c_used)
        if nr < 2 or nc < 2:
            raise EstimationError(
                f"chisq({row!r}, {col!r}) needs at least two observed levels of each; "
                f"found {nr} and {nc}"
            )
        ri = np.searchsorted(r_used, np.maximum(r_code, 0))
        ci_ = np.searchsorted(c_used, np.maximum(c_code, 0))
        cell = np.where(ok, ri + nr * ci_, -1)  # rows vary fastest, as R's interaction()
        J = nr * nc
        den = np.where(ok, 0, -1)
        p, V = self._ratio(Cells(cell, J, None, den, 1, np.zeros(J, dtype=np.int64)), cov=True)
        n = int(ok.sum())
        delta = _rao_scott_delta(p, V, nr, nc, n)
        table = p.reshape(nc, nr).T * n
        expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
        with np.errstate(invalid="ignore", divide="ignore"):
            pearson = float(np.nansum((table - expected) ** 2 / expected))
        tr = float(np.trace(delta))
        tr2 = float(np.trace(delta @ delta))
        d0 = tr**2 / tr2
        k = (nr - 1) * (nc - 1)
        from scipy import stats  # slow to import: only where p-values are computed

        if statistic == "F":
            nu = self.df
            f_stat = pearson / tr
            pval = float(stats.f.sf(f_stat, d0, d0 * nu))
            return RaoScottTest(row, col, "F", f_stat, d0, d0 * nu, pval, pearson, tr / k, n, nr, nc)
        pval = float(stats.chi2.sf(pearson / (tr / k), k))
        return RaoScottTest(row, col, "Chisq", pearson, float(k), None, pval, pearson, tr / k, n, nr, nc)

    # .. helpers ............................................................................
    def _domain_s2(self, dom, ok, y, means, n_base, big_w, G) -> np.ndarray:
        """Weighted variance of ``y`` within each domain with the n/(n-1) factor (R ``svyvar``)."""
        w = self.weights
        dev = np.where(ok, y - means[np.maximum(dom, 0)], 0.0)
        ss = np.bincount(dom[ok], weights=(w * dev * dev)[ok], minlength=G)
        with np.errstate(invalid="ignore", divide="ignore"):
            return ss / big_w * _bessel(n_base)

    def _deff_proportion(self, p, var_, n, big_w, deff) -> np.ndarray:
        if deff is None:
            return np.full(len(p), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            s2 = p * (1 - p) * _bessel(n)
            vsrs = _srs_variance(s2, n, big_w, deff)
            return np.where(vsrs > 0, var_ / vsrs, np.nan)

    def _indicator_table(
        self,
        indicator: np.ndarray,
        dom_all: np.ndarray,
        dom_frame: pd.DataFrame,
        variable: str,
        level: str,
        *,
        ci_level: float,
        ci: str,
        df: float | None,
        deff: str | None,
    ) -> pd.DataFrame:
        """Proportion of rows with ``indicator`` 1 among rows with 0 or 1 (NaN: not in base)."""
        q = self._quantile(ci_level, ci, df, deff)
        rows = np.flatnonzero((dom_all >= 0) & ~np.isnan(indicator))
        d_all = dom_all[rows]
        present = np.bincount(d_all, minlength=len(dom_frame)) > 0
        d = (np.cumsum(present) - 1)[d_all]
        G = int(present.sum())
        y = indicator[rows]
        est, var_ = self._ratio(Cells(d, G, y, d, G, np.arange(G), rows=rows), cov=False)
        n_base = np.bincount(d, minlength=G)
        big_w = np.bincount(d, weights=self.weights[rows], minlength=G)
        count = np.bincount(d, weights=y, minlength=G)
        se = np.sqrt(np.maximum(var_, 0))
        lo, hi = logit_interval(est, se, q)
        deffs = self._deff_proportion(est, var_, n_base, big_w, deff)
        return _tidy(
            dom_frame[present].reset_index(drop=True), variable, [level],
            est, se, lo, hi, deffs, n_base, count, big_w,
        )


    def _indicator_by_groups(
        self,
        indicator: np.ndarray,
        cell: np.ndarray,
        cell_frame: pd.DataFrame,
        groups: Sequence[tuple[str, np.ndarray, np.ndarray]],
        variable: str,
        level: str,
        *,
        ci_level: float,
        ci: str,
        df: float | None,
        deff: str | None,
        first: tuple[np.ndarray, np.ndarray] | str | None = None,
    ) -> pd.DataFrame:
        """:meth:`_indicator_table` in every ``cell`` crossed with the levels of each grouping,
        all at once: the per-row work is shared and the frame is built once.

        ``groups`` holds ``(group_variable, code per row (-1: missing), labels)``; the rows of
        each come in that order with ``group_variable`` and ``group`` (object) after the
        ``cell_frame`` columns (none when ``groups`` is empty: the cells alone). ``first`` marks
        the first row of each respondent in its cell, among all rows and among rows with
        ``indicator`` 1 (:func:`first_rows`), or is ``"rows"`` when no respondent has two rows in
        a cell; with it, ``n_respondents`` and ``count_respondents`` count distinct respondents,
        which needs group values constant within a respondent.
        """
        q = self._quantile(ci_level, ci, df, deff)
        n_cells = len(cell_frame)
        stacked = groups if groups else [("", np.zeros(len(cell), dtype=np.int8), np.array([""]))]
        base = (cell >= 0) & ~np.isnan(indicator)
        every = bool(base.all())
        rows = np.arange(len(cell)) if every else np.flatnonzero(base)

        def at_rows(x: np.ndarray) -> np.ndarray:
            return x if every else x[rows]

        y = at_rows(indicator)
        cell_r = at_rows(cell)
        w_r = at_rows(self.weights)
        every_first = isinstance(first, str)
        if first is not None and not every_first:
            first_all, first_one = at_rows(first[0]), at_rows(first[1])
            every_first = bool(first_all.all()) and bool((first_one == (y == 1)).all())
        # Each cell has one slot per group level after a slot for rows missing the group
        # (dropped), so that no row needs a mask: slot = cell * (k + 1) + code + 1.
        codings, parts = [], []
        for name, g, labels in stacked:
            k = len(labels)
            size = n_cells * (k + 1)
            d = cell_r * (k + 1)  # int64: what bincount reads without a copy
            d += at_rows(g) + np.int8(1) if k < 127 else at_rows(g).astype(np.int64) + 1
            n_slot = np.bincount(d, minlength=size)
            n_slot[:: k + 1] = 0
            present = np.flatnonzero(n_slot)
            codings.append((d, size, present))
            piece = {
                "cell": present // (k + 1),
                "gv": np.full(len(present), name, dtype=object),
                "group": np.asarray(labels, dtype=object)[present % (k + 1) - 1],
                "n": n_slot[present],
                "w": np.bincount(d, weights=w_r, minlength=size)[present],
                "count": np.bincount(d, weights=y, minlength=size)[present],
            }
            if first is not None:
                piece["n_resp"] = piece["n"] if every_first else np.bincount(d[first_all], minlength=size)[present]
                piece["count_resp"] = (
                    piece["count"] if every_first else np.bincount(d[first_one], minlength=size)[present]
                )
            parts.append(piece)
        results = self._ratios(rows, y, codings, [p["w"] for p in parts])
        cat = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        est = np.concatenate([r[0] for r in results])
        var_ = np.concatenate([r[1] for r in results])
        n_base, big_w = cat["n"], cat["w"]
        se = np.sqrt(np.maximum(var_, 0))
        lo, hi = logit_interval(est, se, q)
        out = cell_frame.iloc[cat["cell"]].reset_index(drop=True)
        if groups:
            out["group_variable"] = cat["gv"]
            out["group"] = pd.Series(cat["group"], dtype=object)
        out["variable"] = variable
        out["level"] = pd.Series(np.full(len(est), level, dtype=object), dtype=object)
        out["estimate"] = est
        out["se"] = se
        out["ci_low"] = lo
        out["ci_high"] = hi
        out["deff"] = self._deff_proportion(est, var_, n_base, big_w, deff)
        out["n_unweighted"] = n_base.astype(np.int64)
        out["count_unweighted"] = cat["count"].astype(np.int64)
        out["n_weighted"] = big_w
        if first is not None:
            out["n_respondents"] = cat["n_resp"].astype(np.int64)
            out["count_respondents"] = cat["count_resp"].astype(np.int64)
        return out


def first_rows(cell: np.ndarray, unit: np.ndarray, item: np.ndarray | None = None) -> np.ndarray:
    """True at the first row of each (``cell``, ``unit``) pair among rows with ``cell >= 0``.

    Counting these rows per domain counts distinct units (respondents). ``item`` (a code per
    row, with each (item, unit) pair at most once, as in a grid's long frame) lets cells that
    hold a single item skip the sort: every row of theirs is a first.
    """
    ok = cell >= 0
    if item is not None and ok.any():
        n_cells, n_items = int(cell.max()) + 1, int(item.max()) + 1
        seen = np.bincount(cell[ok] * n_items + item[ok], minlength=n_cells * n_items) > 0
        if (seen.reshape(n_cells, n_items).sum(axis=1) <= 1).all():
            return ok
    key = np.where(ok, cell.astype(np.int64) * (int(unit.max()) + 1 if len(unit) else 1) + unit, -1)
    _, first = np.unique(key, return_index=True)
    out = np.zeros(len(cell), dtype=bool)
    out[first] = True
    return out & ok


def _bessel(n) -> np.ndarray:
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1, n / (n - 1), np.nan)


def _tidy(dom_frame, variable, labels, est, se, lo, hi, deffs, n_base, count, big_w) -> pd.DataFrame:
    """The tidy estimate frame for G domains x K levels (domains outer)."""
    G, K = len(dom_frame), len(labels)
    out = dom_frame.iloc[np.repeat(np.arange(G), K)].reset_index(drop=True)
    out["variable"] = variable
    out["level"] = pd.Series(list(labels) * G, dtype=object)
    out["estimate"] = est
    out["se"] = se
    out["ci_low"] = lo
    out["ci_high"] = hi
    out["deff"] = deffs
    out["n_unweighted"] = np.repeat(n_base, K).astype(np.int64)
    out["count_unweighted"] = np.asarray(count, dtype=np.int64)
    out["n_weighted"] = np.repeat(big_w, K)
    return out


def _concat(pieces: list[pd.DataFrame], by: list[str]) -> pd.DataFrame:
    if not pieces:
        raise EstimationError("no variable was given to estimate")
    out = pd.concat(pieces, ignore_index=True)
    for col in by:  # concat of Categoricals with equal dtypes keeps them; make sure of it
        if isinstance(pieces[0][col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(pieces[0][col].dtype)
    return out[[*by, *TABLE_COLUMNS]]


def _rao_scott_delta(p: np.ndarray, V: np.ndarray, nr: int, nc: int, n: int) -> np.ndarray:
    """Design-effect matrix of the interaction contrasts of an nr x nc table (``svychisq``)."""
    rows = np.tile(np.arange(nr), nc)
    cols = np.repeat(np.arange(nc), nr)
    x1 = np.column_stack(
        [np.ones(nr * nc)]
        + [(rows == i).astype(float) for i in range(1, nr)]
        + [(cols == j).astype(float) for j in range(1, nc)]
    )
    x12 = np.column_stack(
        [((rows == i) & (cols == j)).astype(float) for j in range(1, nc) for i in range(1, nr)]
    )
    coef, *_ = np.linalg.lstsq(x1, x12, rcond=None)
    cmat = x12 - x1 @ coef
    with np.errstate(divide="ignore"):
        inv = np.where(p == 0, 0.0, 1 / p)
    denom = (cmat.T * (inv / n)) @ cmat
    numr = (cmat.T * inv) @ V @ (inv[:, None] * cmat)
    return np.linalg.solve(denom, numr)


@dataclass(frozen=True)
class RaoScottTest:
    """Result of :meth:`Estimators.chisq`, named as R's ``htest`` parts."""

    row: str
    col: str
    statistic_name: str  # "F" (second-order Rao-Scott) or "Chisq" (first order)
    statistic: float
    ndf: float
    ddf: float | None
    p_value: float
    pearson: float  # Pearson's X^2 on the weighted table scaled to n
    mean_deff: float  # mean eigenvalue of the design-effect matrix Delta
    n: int
    n_rows: int
    n_cols: int

    @property
    def method(self) -> str:
        order = "second-order" if self.statistic_name == "F" else "first-order"
        return f"Pearson's X^2: Rao & Scott adjustment ({order})"

    def table(self) -> pd.DataFrame:
        """One row: the test as a tidy frame for tables."""
        return pd.DataFrame(
            [
                {
                    "row_variable": self.row,
                    "col_variable": self.col,
                    "test": self.statistic_name,
                    "statistic": self.statistic,
                    "ndf": self.ndf,
                    "ddf": np.nan if self.ddf is None else self.ddf,
                    "p_value": self.p_value,
                    "pearson": self.pearson,
                    "mean_deff": self.mean_deff,
                    "n_unweighted": self.n,
                    "method": self.method,
                }
            ]
        )


# -- multiple comparisons ----------------------------------------------------------------------
def adjust_pvalues(
    table: pd.DataFrame, method: str = "holm", family: str | None = None, *, column: str = "p_value"
) -> pd.DataFrame:
    """Adjust ``table[column]`` for multiple comparisons across all its rows (one family).

    ``method``: ``holm`` (family-wise error), ``bh``/``fdr_bh`` (Benjamini-Hochberg false
    discovery rate), ``fdr_by``, ``bonferroni``/``bonf``, ``sidak`` or ``none``, computed by
    :func:`pingouin.multicomp`. Adds ``p_adjusted``,
    ``adjust_method``, ``family`` (what the family of tests is) and ``family_size``.
    """
    import pingouin  # slow to import (it loads matplotlib): only when p-values are adjusted

    if method not in ADJUST_METHODS:
        raise ConfigError(f"adjust must be one of {', '.join(ADJUST_METHODS)}, not {method!r}")
    if column not in table.columns:
        raise EstimationError(f"the table has no {column!r} column to adjust")
    out = table.copy()
    p = out[column].to_numpy(dtype=float)
    finite = ~np.isnan(p)
    adjusted = np.full(len(p), np.nan)
    if finite.any():
        _, adj = pingouin.multicomp(p[finite], method=ADJUST_METHODS[method])
        adjusted[finite] = adj
    out["p_adjusted"] = adjusted
    out["adjust_method"] = ADJUST_NAMES[ADJUST_METHODS[method]]
    out["family"] = family if family is not None else f"all {int(finite.sum())} tests in this table"
    out["family_size"] = int(finite.sum())
    return out
