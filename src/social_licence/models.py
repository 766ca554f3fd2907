"""Survey-weighted regression models: GLMs (``svyglm``) and proportional odds (``svyolr``).

Point estimates maximise the design-weighted (pseudo-)likelihood; standard errors are the
sandwich ``V = A^-1 B A^-1``, with ``A`` the weighted information and ``B`` the design covariance
of the score totals from :meth:`SurveyDesign.vcov_total` (R ``survey``'s ``svy.varcoef``). Rows
that a model does not use (missing values, a ``subset``) get zero scores and stay in the design,
as R does with ``design[-na.action, ]``. Repeated ratings of one parent are handled by the design:
:func:`long_design` makes the parent's PSU (or the parent) the cluster of all their ratings.

Written by hand on purpose: statsmodels' ``GLM`` takes weights but knows no strata, PSUs or FPC,
and its ``OrderedModel`` takes no weights at all. Formulas go through patsy (term names as patsy
gives them, e.g. ``ethnicity[T.Black]``). Proven against R ``svyglm``/``svyolr`` numbers in
``../shared/reference/api/r_reference/`` and against statsmodels on unweighted data
(``tests/test_models*.py``).

On a replicate-weight design (``SurveyDesign.with_replicates``: JK1, JKn, bootstrap, optionally
re-raked) the model is refitted with each replicate's weights from the full-sample estimate and
the variance is the replicates' spread (R's ``svrVar``), so it includes the weighting step.

Inference follows ``summary.svyglm``: Wald t statistics on ``degf(design) + 1 - p`` degrees of
freedom (``df_resid``), for p-values and confidence intervals alike (R's ``confint.svyglm`` uses
the normal instead unless ``ddf`` is given: pass ``df=np.inf`` to :meth:`ModelResult.conf_int`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import patsy
import yaml
from scipy import linalg, optimize, special, stats

from .design import SurveyDesign
from .errors import ConfigError, ModelError
from .grid import DK_OPTIONS, long_format
from .instrument import Instrument
from .spec import EVAL_NAMESPACE, evaluate_subset, parse_formula, parse_subset

FAMILIES = ("binomial", "gaussian", "poisson")
MODEL_FAMILIES = (*FAMILIES, "ordinal")
DATA_KINDS = ("long", "respondent")
# Above this standard error (log-odds or log-rate scale) an estimate carries no information:
# the usual cause is (quasi-)separation or a near-empty cell, which we report instead.
MAX_SE = 10.0

_EVAL_ENV = patsy.EvalEnvironment([EVAL_NAMESPACE])


# -- formulas -------------------------------------------------------------------------------
def formula_variables(formula: str) -> tuple[list[str], list[str]]:
    """Variables of the left- and right-hand side of a formula, in order of appearance
    (the formula checked against the grammar of :mod:`social_licence.spec`)."""
    parsed = parse_formula(formula)
    return list(parsed.lhs), list(parsed.rhs)


def _check_formula(formula: str, columns: Sequence[str], model: str) -> tuple[list[str], list[str]]:
    """The formula checked against the grammar and the data's columns before patsy sees it."""
    parsed = parse_formula(formula, columns, model=model)
    if not parsed.lhs:
        raise ModelError(f"model {model!r}: formula {formula!r} has no outcome (left of '~')")
    return list(parsed.lhs), list(parsed.rhs)


# -- design matrices ------------------------------------------------------------------------
@dataclass
class _Matrices:
    y: np.ndarray  # outcome per fitted row (0/1, numeric or ordinal code)
    X: np.ndarray  # model matrix of the fitted rows
    terms: list[str]
    rows: np.ndarray  # positions of fitted rows in the design
    design_info: Any  # patsy DesignInfo, to rebuild X for counterfactual data
    outcome: str
    outcome_label: str  # the level a binary model predicts, or "mean"
    levels: list[str] = field(default_factory=list)  # ordinal outcome levels
    intercept: bool = True


def _subset_mask(design: SurveyDesign, subset, model: str) -> np.ndarray:
    n = design.n
    if subset is None:
        return np.ones(n, dtype=bool)
    if isinstance(subset, str):
        mask = evaluate_subset(subset, design.data, model=model)
    else:
        mask = subset
    mask = np.asarray(mask)
    if mask.shape != (n,) or mask.dtype != bool:
        raise ModelError(f"model {model!r}: subset must give one True/False per design row")
    if not mask.any():
        raise ModelError(f"model {model!r}: subset {subset!r} selects no rows")
    return mask


def _matrices(design: SurveyDesign, formula: str, family: str, subset, model: str) -> _Matrices:
    data = design.data
    lhs, _ = _check_formula(formula, list(data.columns), model)
    mask = _subset_mask(design, subset, model)
    frame = data.reset_index(drop=True)
    frame = frame.loc[mask & (design.weights > 0)]
    rhs_formula = formula.split("~", 1)[1]
    ordinal = family == "ordinal"
    try:
        if ordinal:
            X = patsy.dmatrix(
                rhs_formula, frame, eval_env=_EVAL_ENV, NA_action="drop", return_type="dataframe"
            )
            Y = None
        else:
            Y, X = patsy.dmatrices(
                formula, frame, eval_env=_EVAL_ENV, NA_action="drop", return_type="dataframe"
            )
    except patsy.PatsyError as exc:
        raise ModelError(f"model {model!r}: formula {formula!r} cannot be built: {exc}") from None
    design_info = X.design_info
    outcome = lhs[0]
    levels: list[str] = []
    if ordinal:
        if len(lhs) != 1:
            raise ModelError(f"model {model!r}: an ordinal outcome must be one column, not {lhs}")
        yser = frame[outcome]
        if not isinstance(yser.dtype, pd.CategoricalDtype):
            raise ModelError(
                f"model {model!r}: ordinal outcome {outcome!r} must be an ordered categorical"
            )
        keep = X.index[yser.loc[X.index].notna().to_numpy()]
        X = X.loc[keep]
        levels = [str(c) for c in yser.cat.categories]
        y = yser.loc[keep].cat.codes.to_numpy().astype(np.int64)
        outcome_label = ""
    else:
        if Y.shape[1] == 2 and family == "binomial":
            # A two-level factor outcome: the second level is the event, as in R's glm.
            y = Y.iloc[:, 1].to_numpy(dtype=float)
            name = str(Y.columns[1])
            outcome_label = name[name.find("[") + 1 : -1] if "[" in name else name
        elif Y.shape[1] == 1:
            y = Y.iloc[:, 0].to_numpy(dtype=float)
            outcome_label = outcome if family == "binomial" else "mean"
        else:
            raise ModelError(
                f"model {model!r}: outcome {outcome!r} gives {Y.shape[1]} columns "
                f"({', '.join(map(str, Y.columns))}); a {family} outcome needs one numeric column"
                " or a two-level factor"
            )
    rows = X.index.to_numpy()
    if rows.size == 0:
        raise ModelError(f"model {model!r}: no rows with complete values for {formula!r}")
    terms = [str(c) for c in X.columns]
    has_intercept = "Intercept" in terms
    Xa = X.to_numpy(dtype=float)
    if ordinal:
        if not has_intercept:
            raise ModelError(f"model {model!r}: an ordinal formula needs its intercept (no '- 1')")
        j = terms.index("Intercept")
        Xa = np.delete(Xa, j, axis=1)
        terms.pop(j)
    return _Matrices(y, Xa, terms, rows, design_info, outcome, outcome_label, levels, has_intercept)


def _check_columns(X: np.ndarray, terms: list[str], w: np.ndarray, model: str) -> None:
    """Empty levels and aliased (rank-deficient) terms, named."""
    if X.shape[1] == 0:
        return
    used = np.any(X[w > 0] != 0, axis=0)
    empty = [t for t, u in zip(terms, used, strict=True) if not u]
    if empty:
        raise ModelError(
            f"model {model!r}: term(s) {', '.join(empty)} have no observations among the fitted "
            "rows (an empty level or combination); merge or drop the level, or change the subset"
        )
    # As R's glm: a column in the span of the columns before it is aliased. Computed on the
    # weighted cross-product with unit diagonal, where 1 - R^2 of column j on the kept earlier
    # columns is C[j,j] - C[j,K] C[K,K]^-1 C[K,j].
    C = X.T @ (X * w[:, None])
    s = 1 / np.sqrt(np.diag(C))
    C = C * s[:, None] * s[None, :]
    kept: list[int] = []
    aliased = []
    for j in range(C.shape[0]):
        resid = C[j, j]
        if kept:
            resid -= C[j, kept] @ linalg.solve(C[np.ix_(kept, kept)], C[kept, j], assume_a="pos")
        if resid < 1e-10:
            aliased.append(terms[j])
        else:
            kept.append(j)
    rank = len(kept)
    if aliased:
        raise ModelError(
            f"model {model!r}: the model matrix is rank deficient ({rank} of {X.shape[1]} "
            f"columns independent); term(s) {', '.join(aliased)} are aliased with others "
            "(a combination never observed, or a variable that is a function of others)"
        )


# -- GLM fitting ----------------------------------------------------------------------------
def _family_functions(family: str):
    """(inverse link, d mu / d eta, variance, link) of the canonical link of a family."""
    if family == "binomial":
        return (
            special.expit,
            lambda eta, mu: mu * (1 - mu),
            lambda mu: mu * (1 - mu),
            lambda mu: special.logit(mu),
        )
    if family == "poisson":
        return np.exp, lambda eta, mu: mu, lambda mu: mu, np.log
    if family == "gaussian":
        return (
            lambda eta: eta,
            lambda eta, mu: np.ones_like(mu),
            lambda mu: np.ones_like(mu),
            lambda mu: mu,
        )
    raise ModelError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")


def _deviance(family: str, y: np.ndarray, mu: np.ndarray, w: np.ndarray) -> float:
    if family == "binomial":
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(y > 0, y * np.log(y / mu), 0) + np.where(
                y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0
            )
        return float(2 * np.sum(w * d))
    if family == "poisson":
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(y > 0, y * np.log(y / mu), 0) - (y - mu)
        return float(2 * np.sum(w * d))
    return float(np.sum(w * (y - mu) ** 2))


@dataclass
class _GLMFit:
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    converged: bool
    iterations: int
    last_step: np.ndarray


def _irls(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    family: str,
    maxiter: int,
    tol: float,
    start: np.ndarray | None = None,
) -> _GLMFit:
    """Weighted IRLS for a canonical-link GLM; the convergence rule is R's ``glm.fit``'s.
    ``start`` (e.g. the full-sample estimate, for a replicate) replaces R's starting values."""
    linkinv, mu_eta, variance, link = _family_functions(family)
    wn = w / w.mean()
    if start is not None:
        eta = X @ start
        with np.errstate(over="ignore"):
            mu = linkinv(eta)
        if family == "binomial":
            mu = np.clip(mu, 1e-300, 1 - 1e-16)
    elif family == "binomial":
        mu = (wn * y + 0.5) / (wn + 1)
    elif family == "poisson":
        mu = y + 0.1
    else:
        mu = y.astype(float).copy()
    if start is None:
        eta = link(mu)
    beta = np.zeros(X.shape[1]) if start is None else np.asarray(start, dtype=float).copy()
    step = np.full(X.shape[1], np.inf)
    dev_old = np.inf
    converged = False
    it = 0
    while it < maxiter:
        it += 1
        dmu = mu_eta(eta, mu)
        ww = wn * dmu**2 / variance(mu)
        z = eta + (y - mu) / dmu
        sw = np.sqrt(ww)
        new = linalg.lstsq(X * sw[:, None], z * sw, lapack_driver="gelsy", check_finite=False)[0]
        step = new - beta
        beta = new
        eta = X @ beta
        with np.errstate(over="ignore"):
            mu = linkinv(eta)
        if family == "binomial":
            mu = np.clip(mu, 1e-300, 1 - 1e-16)
        elif family == "poisson":
            mu = np.maximum(mu, 1e-300)
        dev = _deviance(family, y, mu, wn)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
            converged = True
            break
        dev_old = dev
    return _GLMFit(beta, eta, mu, converged, it, step)


def _separation_direction(X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """A direction b with (2y-1) x'b >= 0 for every row and > 0 for some: (quasi-)separation.

    The linear programme of Konis (2007): it is 0 exactly when the maximum likelihood estimate
    exists. Columns are scaled to a common range first so that the tolerance means the same
    for every term. Returns None when the data are not separated.
    """
    if not np.all((y == 0) | (y == 1)):
        return None
    scale = np.maximum(np.abs(X).max(axis=0), 1e-300)
    S = (2 * y - 1)[:, None] * (X / scale)
    res = optimize.linprog(
        -S.sum(axis=0),
        A_ub=-S,
        b_ub=np.zeros(len(y)),
        bounds=[(-1, 1)] * X.shape[1],
        method="highs",
    )
    if res.status != 0 or -res.fun <= 1e-7 * max(1.0, np.sqrt(len(y))):
        return None
    return res.x


def _describe_separation(X, y, terms, direction) -> str:
    names = [t for t, b in zip(terms, direction, strict=True) if abs(b) > 1e-6 and t != "Intercept"]
    detail = []
    for t in names:
        j = terms.index(t)
        col = X[:, j]
        if set(np.unique(col)) <= {0.0, 1.0}:
            yy = y[col == 1]
            if yy.size and np.all(yy == yy[0]):
                detail.append(f"all {yy.size} rows with {t} have outcome {int(yy[0])}")
    text = ", ".join(names) if names else ", ".join(terms)
    return text + (f" ({'; '.join(detail)})" if detail else "")


# -- results --------------------------------------------------------------------------------
class ModelResult:
    """A fitted survey model: statsmodels-like attributes plus tidy tables for reports.

    ``params``, ``bse``, ``tvalues``, ``pvalues`` are Series indexed by term; ``cov_params()``
    is the design-based covariance; ``conf_int()`` Wald limits on ``df_resid`` degrees of freedom.
    """

    family: str

    def __init__(
        self,
        *,
        name: str,
        formula: str,
        design: SurveyDesign,
        m: _Matrices,
        params: np.ndarray,
        vcov: np.ndarray,
        influence: np.ndarray,
        unit: str | None,
        replicates: np.ndarray | None = None,
        converged: bool,
        iterations: int,
    ) -> None:
        self.name = name
        self.formula = formula
        self.design = design
        self._m = m
        self.params = pd.Series(params, index=self._param_names(), name="estimate")
        self._vcov = pd.DataFrame(vcov, index=self.params.index, columns=self.params.index)
        self._influence = influence  # (n_fit, p): rows' influence on the estimates, unweighted
        self._replicates = replicates  # (R, p) replicate estimates of a replicate-weight design
        self.unit = unit
        self._codes: np.ndarray | None = None
        self.converged = converged
        self.iterations = iterations
        self.nobs = len(m.rows)
        self.df_resid = design.df + 1 - len(params)
        self.outcome = m.outcome
        # Extra tables a fit carries to its outputs (e.g. the reliability of an index).
        self.notes: dict[str, pd.DataFrame] = {}
        # Categories of variables whose reference level was moved first, in their own order.
        self.level_order: dict[str, list] = {}

    def _param_names(self) -> list[str]:
        return list(self._m.terms)

    # statsmodels-like interface
    def cov_params(self) -> pd.DataFrame:
        return self._vcov.copy()

    @property
    def bse(self) -> pd.Series:
        return pd.Series(
            np.sqrt(np.diag(self._vcov.to_numpy())), index=self.params.index, name="se"
        )

    @property
    def tvalues(self) -> pd.Series:
        return (self.params / self.bse).rename("t")

    @property
    def pvalues(self) -> pd.Series:
        p = 2 * stats.t.sf(np.abs(self.tvalues.to_numpy()), self.df_resid)
        return pd.Series(p, index=self.params.index, name="p_value")

    def conf_int(self, alpha: float = 0.05, df: float | None = None) -> pd.DataFrame:
        """Wald limits, columns 0 and 1 as statsmodels; ``df=np.inf`` for normal limits."""
        q = stats.t.ppf(1 - alpha / 2, self.df_resid if df is None else df)
        se = self.bse
        return pd.DataFrame({0: self.params - q * se, 1: self.params + q * se})

    @property
    def is_logit(self) -> bool:
        return self.family in ("binomial", "ordinal")

    def _kind(self) -> list[str]:
        return ["coefficient"] * len(self.params)

    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per parameter: estimate, SE, t, df, p, CI, and odds (rate) ratios where apt."""
        ci = self.conf_int(alpha)
        out = pd.DataFrame(
            {
                "model": self.name,
                "term": self.params.index,
                "kind": self._kind(),
                "estimate": self.params.to_numpy(),
                "se": self.bse.to_numpy(),
                "statistic": self.tvalues.to_numpy(),
                "df": float(self.df_resid),
                "p_value": self.pvalues.to_numpy(),
                "ci_low": ci[0].to_numpy(),
                "ci_high": ci[1].to_numpy(),
            }
        )
        if self.family in ("binomial", "ordinal", "poisson"):
            ratio = "odds_ratio" if self.is_logit else "rate_ratio"
            coef = out["kind"] == "coefficient"
            out[ratio] = np.where(coef, np.exp(out["estimate"]), np.nan)
            out[f"{ratio}_low"] = np.where(coef, np.exp(out["ci_low"]), np.nan)
            out[f"{ratio}_high"] = np.where(coef, np.exp(out["ci_high"]), np.nan)
        out["n_unweighted"] = self.n_units()
        out["n_weighted"] = self._unit_weight(self._m.rows)
        return out

    def _unit_codes(self) -> np.ndarray | None:
        """Integer code of each design row's unit (respondent), computed once."""
        if self.unit is None:
            return None
        if self._codes is None:
            self._codes = pd.factorize(self.design.data[self.unit])[0]
        return self._codes

    def n_units(self, rows: np.ndarray | None = None) -> int:
        """Unweighted count of units (respondents where known) among fitted rows."""
        rows = self._m.rows if rows is None else rows
        codes = self._unit_codes()
        return int(len(rows)) if codes is None else int(np.unique(codes[rows]).size)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name!r}: {self.family} {self.formula!r}, "
            f"{self.nobs} rows, df_resid={self.df_resid}>"
        )

    # -- prediction and marginal effects ----------------------------------------------------
    def _fit_frame(self) -> pd.DataFrame:
        return self.design.data.iloc[self._m.rows]

    def _model_matrix(self, newdata: pd.DataFrame) -> np.ndarray:
        try:
            (X,) = patsy.build_design_matrices([self._m.design_info], newdata, NA_action="raise")
        except patsy.PatsyError as exc:
            raise ModelError(f"model {self.name!r}: cannot build predictions: {exc}") from None
        X = np.asarray(X, dtype=float)
        if not self._m.intercept or self.family != "ordinal":
            return X
        names = list(self._m.design_info.column_names)
        return np.delete(X, names.index("Intercept"), axis=1)

    def _outcome_sets(self, outcome_levels) -> list[tuple[str, Any]]:
        return [(self._m.outcome_label, None)]

    def _predict(self, X: np.ndarray, which, params=None) -> tuple[np.ndarray, np.ndarray]:
        """Predictions per row and their derivatives with respect to the parameters (at
        ``params``, default the estimates)."""
        raise NotImplementedError

    def predict(self, newdata: pd.DataFrame | None = None) -> np.ndarray:
        """Predicted mean (probability of the event for a binomial model) per row."""
        frame = self._fit_frame() if newdata is None else newdata
        m, _ = self._predict(self._model_matrix(frame), self._outcome_sets(None)[0][1])
        return m

    def marginal_effects(
        self,
        by: str | Sequence[str],
        *,
        within: str | None = None,
        outcome_levels: Sequence[str] | None = None,
        alpha: float = 0.05,
    ) -> pd.DataFrame:
        """Predicted outcome by group and differences from the reference group.

        Counterfactual prediction over the fitted sample: every fitted row is set to group
        ``g`` of ``by`` (several variables: every combination), the model predicts, and the
        design-weighted mean of the predictions is the group's predicted probability (or mean).
        ``statistic="difference"`` rows are the gaps from the reference group (the first
        level: in percentage points x 100 for a probability). Standard errors are design-based:
        the delta method through the coefficients' influence plus the influence of the weighted
        mean itself, as R's ``svypredmeans``. ``within`` averages within each level of another
        variable (a domain: its rows keep zero influence elsewhere). For an ordinal model
        ``outcome_levels`` sums the probabilities of those response levels; by default each
        level is reported.
        """
        bys = [by] if isinstance(by, str) else list(by)
        frame = self._fit_frame()
        _, rhs = formula_variables(self.formula)
        level_lists = []
        for b in bys:
            if b not in rhs:
                raise ModelError(
                    f"model {self.name!r}: marginal effects by {b!r}, which is not "
                    f"in the formula {self.formula!r}"
                )
            if not isinstance(frame[b].dtype, pd.CategoricalDtype):
                raise ModelError(
                    f"model {self.name!r}: marginal effects need a categorical "
                    f"variable; {b!r} is {frame[b].dtype}"
                )
            level_lists.append(list(frame[b].cat.categories))
        combos = list(itertools.product(*level_lists))
        w = self.design.weights[self._m.rows]
        if within is None:
            domains: list[tuple[Any, np.ndarray]] = [(None, np.ones(len(frame), dtype=bool))]
        else:
            if within not in frame.columns:
                raise ModelError(
                    f"model {self.name!r}: within variable {within!r} is not in the data"
                )
            wv = frame[within]
            levels = (
                list(wv.cat.categories)
                if isinstance(wv.dtype, pd.CategoricalDtype)
                else sorted(wv.dropna().unique())
            )
            domains = [(lev, (wv == lev).to_numpy()) for lev in levels if (wv == lev).any()]
        needed = [c for c in rhs if c in frame.columns]
        Xg = []
        for combo in combos:
            cf = frame[needed].copy()
            for b, lev in zip(bys, combo, strict=True):
                cf[b] = pd.Categorical([lev] * len(cf), dtype=frame[b].dtype)
            Xg.append(self._model_matrix(cf))
        crit = stats.t.ppf(1 - alpha / 2, self.df_resid)
        actual = np.ones((len(frame), len(combos)), dtype=bool)
        for k, combo in enumerate(combos):
            for b, lev in zip(bys, combo, strict=True):
                actual[:, k] &= (frame[b] == lev).to_numpy()
        records = []
        for dlev, dmask in domains:
            W = w[dmask].sum()
            for olabel, which in self._outcome_sets(outcome_levels):
                est = np.zeros(len(combos))
                if self._replicates is None:
                    Z = np.zeros((self.design.n, len(combos)))
                    for k, X in enumerate(Xg):
                        m, J = self._predict(X, which)
                        p = np.sum(w[dmask] * m[dmask]) / W
                        jbar = (w[dmask, None] * J[dmask]).sum(axis=0) / W
                        z = self._influence @ jbar
                        z[dmask] += (m[dmask] - p) / W
                        Z[self._m.rows, k] = z
                        est[k] = p
                    V = self.design.vcov_total(Z)
                else:
                    # Replicate designs: the whole estimate (refitted coefficients, replicate-
                    # weighted mean of the predictions) per replicate, then svrVar.
                    RW = _replicate_weights(self.design, self._m.rows)[dmask]
                    E = np.zeros((RW.shape[1], len(combos)))
                    for k, X in enumerate(Xg):
                        m, _ = self._predict(X, which)
                        est[k] = np.sum(w[dmask] * m[dmask]) / W
                        for r, params in enumerate(self._replicates):
                            mr, _ = self._predict(X[dmask], which, params)
                            E[r, k] = RW[:, r] @ mr / RW[:, r].sum()
                    V = self.design.replicate_variance(E, est)
                n_domain = self.n_units(self._m.rows[dmask])
                for k, combo in enumerate(combos):
                    rows_k = self._m.rows[dmask & actual[:, k]]
                    base = {
                        "model": self.name,
                        **{b: lev for b, lev in zip(bys, combo, strict=True)},
                        **({within: dlev} if within is not None else {}),
                        "variable": self.outcome,
                        "level": olabel,
                        "n_unweighted": n_domain,
                        "count_unweighted": self.n_units(rows_k),
                        "n_weighted": float(self._unit_weight(rows_k)),
                    }
                    se = float(np.sqrt(max(V[k, k], 0.0)))
                    records.append(
                        {
                            **base,
                            "statistic": "predicted",
                            "reference": None,
                            "estimate": est[k],
                            "se": se,
                            "ci_low": est[k] - crit * se,
                            "ci_high": est[k] + crit * se,
                            "p_value": np.nan,
                        }
                    )
                    if k == 0:
                        continue
                    d = est[k] - est[0]
                    sd = float(np.sqrt(max(V[k, k] + V[0, 0] - 2 * V[k, 0], 0.0)))
                    pval = 2 * stats.t.sf(abs(d) / sd, self.df_resid) if sd > 0 else np.nan
                    records.append(
                        {
                            **base,
                            "statistic": "difference",
                            "reference": "|".join(map(str, combos[0])),
                            "estimate": d,
                            "se": sd,
                            "ci_low": d - crit * sd,
                            "ci_high": d + crit * sd,
                            "p_value": pval,
                        }
                    )
        out = pd.DataFrame.from_records(records)
        out["deff"] = np.nan
        cols = [
            "model",
            *bys,
            *([within] if within else []),
            "variable",
            "level",
            "statistic",
            "reference",
            "estimate",
            "se",
            "ci_low",
            "ci_high",
            "p_value",
            "deff",
            "n_unweighted",
            "count_unweighted",
            "n_weighted",
        ]
        out = out[cols]
        for b, levs in zip(bys, level_lists, strict=True):
            # rows in the instrument's order even when the reference level was moved first
            order = [c for c in self.level_order.get(b, levs) if c in levs]
            out[b] = pd.Categorical(out[b], categories=order)
        return out.sort_values(["statistic", *bys], kind="stable", key=_stat_order).reset_index(
            drop=True
        )

    def _unit_weight(self, rows: np.ndarray) -> float:
        """Weighted count of units: one weight per respondent where the unit is known."""
        codes = self._unit_codes()
        if codes is None:
            return float(self.design.weights[rows].sum())
        _, first = np.unique(codes[rows], return_index=True)
        return float(self.design.weights[rows][first].sum())

    def marginal_effects_stacked(self, by: Sequence[str], **kwargs) -> pd.DataFrame:
        """:meth:`marginal_effects` for several variables, stacked with ``group_variable``/``group``."""
        pieces = []
        for b in by:
            one = self.marginal_effects(b, **kwargs)
            one.insert(1, "group_variable", b)
            one.insert(2, "group", one.pop(b).astype(str))
            pieces.append(one)
        return pd.concat(pieces, ignore_index=True)


def _stat_order(col: pd.Series) -> pd.Series:
    if col.name == "statistic":
        return col.map({"predicted": 0, "difference": 1})
    return col


class GLMResult(ModelResult):
    """Result of :func:`svyglm`."""

    def __init__(self, *, family: str, **kwargs) -> None:
        self.family = family
        super().__init__(**kwargs)

    def _predict(self, X, which, params=None):
        eta = X @ (self.params.to_numpy() if params is None else params)
        if self.family == "binomial":
            m = special.expit(eta)
            return m, X * (m * (1 - m))[:, None]
        if self.family == "poisson":
            m = np.exp(eta)
            return m, X * m[:, None]
        return eta, X


class OrdinalResult(ModelResult):
    """Result of :func:`svyolr`: coefficients then cut-points named ``lower|upper``."""

    family = "ordinal"

    def _param_names(self) -> list[str]:
        lev = self._m.levels
        return list(self._m.terms) + [f"{a}|{b}" for a, b in zip(lev[:-1], lev[1:], strict=True)]

    def _kind(self) -> list[str]:
        p = len(self._m.terms)
        return ["coefficient"] * p + ["threshold"] * (len(self.params) - p)

    @property
    def levels(self) -> list[str]:
        return list(self._m.levels)

    def _outcome_sets(self, outcome_levels):
        if outcome_levels is None:
            return [(lev, [k]) for k, lev in enumerate(self._m.levels)]
        unknown = [v for v in outcome_levels if v not in self._m.levels]
        if unknown:
            raise ModelError(
                f"model {self.name!r}: outcome levels {unknown} are not among {self._m.levels}"
            )
        return [(" or ".join(outcome_levels), [self._m.levels.index(v) for v in outcome_levels])]

    def _predict(self, X, which, params=None):
        p = X.shape[1]
        theta = self.params.to_numpy() if params is None else params
        beta, zeta = theta[:p], theta[p:]
        eta = X @ beta
        K = len(zeta) + 1
        which = [K - 1] if which is None else which
        m = np.zeros(len(eta))
        J = np.zeros((len(eta), len(theta)))
        for k in which:
            hi = special.expit(zeta[k] - eta) if k < K - 1 else np.ones_like(eta)
            lo = special.expit(zeta[k - 1] - eta) if k > 0 else np.zeros_like(eta)
            fhi, flo = hi * (1 - hi), lo * (1 - lo)
            m += hi - lo
            J[:, :p] -= X * (fhi - flo)[:, None]
            if k < K - 1:
                J[:, p + k] += fhi
            if k > 0:
                J[:, p + k - 1] -= flo
        return m, J

    def proportional_odds_check(self, alpha: float = 0.05) -> pd.DataFrame:
        """Compare each coefficient with its binary splits ``y > level_k`` (a design-based Brant test).

        Each split is a survey-weighted logistic model on the same rows and design; their joint
        covariance comes from stacking the splits' influence values in one
        :meth:`SurveyDesign.vcov_total` (or their replicate refits, for a replicate design). Per term (and for all terms, ``term="(all)"``) the Wald
        statistic of "equal across splits" is referred to F(q, df_resid) as R's ``regTermTest``.
        """
        m = self._m
        K = len(m.levels)
        X1 = np.column_stack([np.ones(len(m.y)), m.X])
        w = self.design.weights[m.rows]
        p = m.X.shape[1]
        replicate = is_replicate_design(self.design)
        betas, infl, reps = [], [], []
        for k in range(K - 1):
            yk = (m.y > k).astype(float)
            split = f"{m.levels[k]}|{m.levels[k + 1]}"
            name = f"{self.name} (split {split})"
            fit, h = _glm_core(X1, yk, w, "binomial", ["Intercept", *m.terms], name, 100, 1e-12)
            betas.append(fit.beta[1:])
            infl.append(h[:, 1:])
            if replicate:
                r = _glm_replicates(self.design, m, "binomial", fit.beta, name, 100, 1e-12, X1, yk)
                reps.append(r[:, 1:])
        B = np.concatenate(betas)
        if replicate:
            V = self.design.replicate_variance(np.hstack(reps), B)
        else:
            H = np.zeros((self.design.n, p * (K - 1)))
            H[m.rows] = np.hstack(infl)
            V = self.design.vcov_total(H)
        records = []
        ddf = self.df_resid

        def wald(idx_sets):
            C = []
            for idx in idx_sets:
                for k in range(1, K - 1):
                    row = np.zeros(p * (K - 1))
                    row[k * p + idx] = 1
                    row[idx] = -1
                    C.append(row)
            C = np.array(C)
            d = C @ B
            CV = C @ V @ C.T
            stat = float(d @ np.linalg.pinv(CV) @ d)
            q = int(np.linalg.matrix_rank(CV))
            return stat, q

        for j, t in enumerate(m.terms):
            stat, q = wald([j])
            rec = {
                "model": self.name,
                "term": t,
                "ordinal": self.params.iloc[j],
                "ordinal_se": self.bse.iloc[j],
            }
            for k in range(K - 1):
                split = f"{m.levels[k]}|{m.levels[k + 1]}"
                rec[f"split {split}"] = betas[k][j]
                rec[f"split {split} se"] = float(np.sqrt(V[k * p + j, k * p + j]))
            rec.update(
                wald_chisq=stat,
                ndf=q,
                ddf=ddf,
                F=stat / q,
                p_value=float(stats.f.sf(stat / q, q, ddf)),
            )
            records.append(rec)
        stat, q = wald(list(range(p)))
        records.append(
            {
                "model": self.name,
                "term": "(all)",
                "wald_chisq": stat,
                "ndf": q,
                "ddf": ddf,
                "F": stat / q,
                "p_value": float(stats.f.sf(stat / q, q, ddf)),
            }
        )
        out = pd.DataFrame.from_records(records)
        out["proportional_odds_rejected"] = out["p_value"] < alpha
        return out


# -- fitting entry points -------------------------------------------------------------------
def _glm_core(X, y, w, family, terms, model, maxiter, tol, max_se: float = MAX_SE):
    """Fit, diagnose, and return the fit and the per-row influence ``U A^-1`` (fitted rows)."""
    _check_columns(X, terms, w, model)
    if family == "binomial" and (np.any(y < 0) or np.any(y > 1)):
        bad = np.unique(y[(y < 0) | (y > 1)])[:5].tolist()
        raise ModelError(
            f"model {model!r}: a binomial outcome must be 0/1 (or a proportion); found {bad}"
        )
    if family == "poisson" and np.any(y < 0):
        raise ModelError(f"model {model!r}: a poisson outcome cannot be negative")
    fit = _irls(X, y, w, family, maxiter, tol)
    boundary = False
    if family == "binomial":
        boundary = bool(np.any(fit.mu < 1e-8) or np.any(fit.mu > 1 - 1e-8))
    if family == "binomial" and (boundary or not fit.converged):
        direction = _separation_direction(X[w > 0], y[w > 0])
        if direction is not None:
            raise ModelError(
                f"model {model!r}: perfect or quasi-perfect separation: the outcome is predicted "
                f"exactly by term(s) {_describe_separation(X[w > 0], y[w > 0], terms, direction)}; "
                "merge sparse levels, drop the term, or restrict the subset"
            )
    if not fit.converged or not np.all(np.isfinite(fit.beta)):
        moving = [terms[j] for j in np.argsort(-np.abs(fit.last_step))[:3]]
        raise ModelError(
            f"model {model!r}: did not converge in {fit.iterations} iterations; the terms still "
            f"changing most are {', '.join(moving)}"
        )
    _, mu_eta, variance, _ = _family_functions(family)
    dmu = mu_eta(fit.eta, fit.mu)
    ww = dmu**2 / variance(fit.mu)
    U = X * ((y - fit.mu) * dmu / variance(fit.mu))[:, None]
    A = X.T @ (X * (w * ww)[:, None])
    try:
        Ainv = linalg.inv(A)
    except linalg.LinAlgError:
        raise ModelError(f"model {model!r}: the information matrix is singular") from None
    return fit, U @ Ainv


def _finish(
    design: SurveyDesign,
    rows: np.ndarray,
    h: np.ndarray,
    terms: list[str],
    model: str,
    check_se: bool,
    max_se: float,
) -> np.ndarray:
    H = np.zeros((design.n, h.shape[1]))
    H[rows] = h
    V = design.vcov_total(H)
    if check_se:
        _check_se(V, terms, model, max_se)
    return V


def _df_check(design: SurveyDesign, p: int, model: str) -> None:
    if design.df + 1 - p <= 0:
        raise ModelError(
            f"model {model!r}: {p} parameters but only {design.df} design degrees of "
            "freedom (PSUs minus strata); simplify the model"
        )


def is_replicate_design(design) -> bool:
    """True for a replicate-weight design (variance from refits, not linearisation)."""
    return not hasattr(design, "vcov_total") and hasattr(design, "replicate_weights")


def _replicate_weights(design, rows: np.ndarray) -> np.ndarray:
    return np.asarray(design.replicate_weights(), dtype=float)[rows]


def _replicate_fail(model: str, r: int, R: int, what: str) -> ModelError:
    return ModelError(
        f"model {model!r}: replicate {r + 1} of {R} {what}; a replicate that loses every row of "
        "a level cannot estimate its term: merge sparse levels or use linearisation"
    )


def _glm_replicates(
    design,
    m: _Matrices,
    family: str,
    start: np.ndarray,
    model: str,
    maxiter: int,
    tol: float,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
) -> np.ndarray:
    """Coefficients refitted with each replicate's weights (warm start): ``(R, p)``."""
    X = m.X if X is None else X
    y = m.y if y is None else y
    RW = _replicate_weights(design, m.rows)
    R = RW.shape[1]
    out = np.empty((R, X.shape[1]))
    for r in range(R):
        w = RW[:, r]
        keep = w > 0
        if not np.all(np.any(X[keep] != 0, axis=0)):
            raise _replicate_fail(model, r, R, "has no rows for some term")
        fit = _irls(X[keep], y[keep], w[keep], family, maxiter, tol, start=start)
        if not fit.converged or not np.all(np.isfinite(fit.beta)):
            raise _replicate_fail(model, r, R, "did not converge")
        out[r] = fit.beta
    return out


def _check_se(V: np.ndarray, terms: list[str], model: str, max_se: float) -> None:
    se = np.sqrt(np.clip(np.diag(V), 0, None))
    huge = [t for t, s in zip(terms, se, strict=False) if not s <= max_se]
    if huge:
        raise ModelError(
            f"model {model!r}: standard errors too large to trust (> {max_se} on the log "
            f"scale) for term(s) {', '.join(huge)}: too few observations or near-separation "
            "in those levels; merge sparse levels or drop the term"
        )


def svyglm(
    design: SurveyDesign,
    formula: str,
    family: str = "binomial",
    *,
    subset=None,
    name: str | None = None,
    unit: str | None = None,
    maxiter: int = 100,
    tol: float = 1e-12,
    max_se: float = MAX_SE,
) -> GLMResult:
    """Survey-weighted GLM by pseudo-likelihood with linearisation (sandwich) standard errors.

    Equals R's ``svyglm(formula, design, family=quasibinomial())`` (``binomial``), the default
    gaussian, or ``quasipoisson()``. ``subset`` (a query string or boolean array) restricts the
    fit to a domain without dropping rows from the design. ``unit`` names the column of the
    respondent for counts in tables (rows of a long frame are ratings).
    """
    model = name or formula
    if family not in FAMILIES:
        raise ModelError(
            f"model {model!r}: family must be one of {', '.join(FAMILIES)}, not {family!r}"
        )
    m = _matrices(design, formula, family, subset, model)
    w = design.weights[m.rows]
    _df_check(design, m.X.shape[1], model)
    fit, h = _glm_core(m.X, m.y, w, family, m.terms, model, maxiter, tol)
    reps = None
    if is_replicate_design(design):
        reps = _glm_replicates(design, m, family, fit.beta, model, maxiter, tol)
        V = design.replicate_variance(reps, fit.beta)
        if family != "gaussian":
            _check_se(V, m.terms, model, max_se)
    else:
        V = _finish(design, m.rows, h, m.terms, model, family != "gaussian", max_se)
    return GLMResult(
        family=family,
        name=model,
        formula=formula,
        design=design,
        m=m,
        params=fit.beta,
        vcov=V,
        influence=h,
        replicates=reps,
        unit=unit,
        converged=fit.converged,
        iterations=fit.iterations,
    )


def _olr_parts(theta, X, yk, w, K, need_hessian=True):
    """Weighted log-likelihood, per-row scores (unweighted) and weighted Hessian of the
    logistic proportional-odds model ``logit P(Y <= k) = zeta_k - x'beta``."""
    n, p = X.shape
    beta, zeta = theta[:p], theta[p:]
    eta = X @ beta
    zext = np.concatenate([[-np.inf], zeta, [np.inf]])
    Fhi = special.expit(zext[yk + 1] - eta)
    Flo = special.expit(zext[yk] - eta)
    prob = Fhi - Flo
    if np.any(prob <= 0):
        return -np.inf, None, None
    ll = float(np.sum(w * np.log(prob)))
    fhi, flo = Fhi * (1 - Fhi), Flo * (1 - Flo)
    Ehi = np.zeros((n, K - 1))
    Elo = np.zeros((n, K - 1))
    top, bottom = yk < K - 1, yk > 0
    Ehi[np.flatnonzero(top), yk[top]] = 1.0
    Elo[np.flatnonzero(bottom), yk[bottom] - 1] = 1.0
    Dhi = np.hstack([-X, Ehi])
    Dlo = np.hstack([-X, Elo])
    G = (Dhi * fhi[:, None] - Dlo * flo[:, None]) / prob[:, None]
    if not need_hessian:
        return ll, G, None
    dfhi, dflo = fhi * (1 - 2 * Fhi), flo * (1 - 2 * Flo)
    a, b = w * dfhi / prob, w * dflo / prob
    Hs = Dhi.T @ (Dhi * a[:, None]) - Dlo.T @ (Dlo * b[:, None]) - G.T @ (G * w[:, None])
    return ll, G, Hs


def _olr_newton(X, y, w, K, theta, maxiter, tol):
    """Newton's method with step halving on the weighted ordinal log-likelihood (concave for
    the logistic link). Returns (theta, converged, iterations, last step)."""
    ll, G, Hs = _olr_parts(theta, X, y, w, K)
    step = np.zeros_like(theta)
    if G is None:
        return theta, False, 0, step
    it = 0
    while it < maxiter:
        it += 1
        g = (G * w[:, None]).sum(axis=0)
        try:
            step = linalg.solve(-Hs, g, assume_a="sym")
        except (linalg.LinAlgError, ValueError):
            return theta, False, it, step
        t = 1.0
        while True:
            new = theta + t * step
            ll_new, G_new, H_new = _olr_parts(new, X, y, w, K)
            if ll_new >= ll - 1e-12 * abs(ll) or t < 1e-10:
                break
            t /= 2
        if G_new is None:
            return theta, False, it, step
        theta, ll, G, Hs = new, ll_new, G_new, H_new
        if np.max(np.abs(t * step)) < tol * (1 + np.max(np.abs(theta))):
            return theta, bool(np.all(np.isfinite(theta))), it, step
    return theta, False, it, step


def svyolr(
    design: SurveyDesign,
    formula: str,
    *,
    subset=None,
    name: str | None = None,
    unit: str | None = None,
    maxiter: int = 100,
    tol: float = 1e-10,
    max_se: float = MAX_SE,
) -> OrdinalResult:
    """Weighted proportional-odds (ordinal logistic) model with design-based standard errors.

    ``logit P(Y <= k) = zeta_k - x'beta`` as R's ``polr``/``svyolr``: a positive coefficient
    moves answers up the scale. Fitted by Newton's method on the design-weighted likelihood
    (analytic score and Hessian, step halving); sandwich variance through ``vcov_total``. The
    outcome must be an ordered categorical; every level must occur.
    """
    model = name or formula
    m = _matrices(design, formula, "ordinal", subset, model)
    w = design.weights[m.rows]
    K = len(m.levels)
    if K < 3:
        raise ModelError(
            f"model {model!r}: an ordinal outcome needs 3 or more levels, has {m.levels}"
        )
    counts = np.bincount(m.y, weights=(w > 0).astype(float), minlength=K)
    if np.any(counts == 0):
        empty = [lev for lev, c in zip(m.levels, counts, strict=True) if c == 0]
        raise ModelError(
            f"model {model!r}: outcome level(s) {empty} of {m.outcome!r} never occur "
            "among the fitted rows; merge them with a neighbour"
        )
    # The cut-points play the intercept's part: a term aliased with a constant is rank deficient.
    _check_columns(np.column_stack([np.ones(len(w)), m.X]), ["(cut-points)", *m.terms], w, model)
    p = m.X.shape[1]
    _df_check(design, p + K - 1, model)
    wn = w / w.mean()
    cum = np.cumsum(np.bincount(m.y, weights=wn, minlength=K))[:-1] / wn.sum()
    theta0 = np.concatenate([np.zeros(p), special.logit(cum)])
    theta, converged, it, step = _olr_newton(m.X, m.y, wn, K, theta0, maxiter, tol)
    names = list(m.terms) + [f"{a}|{b}" for a, b in zip(m.levels[:-1], m.levels[1:], strict=True)]
    if not converged:
        moving = [names[j] for j in np.argsort(-np.abs(step))[:3]]
        raise ModelError(
            f"model {model!r}: did not converge in {it} iterations; the parameters "
            f"still changing most are {', '.join(moving)} (separation or a "
            "near-empty level?)"
        )
    _, G, Hs = _olr_parts(theta, m.X, m.y, w, K)
    h = G @ linalg.inv(-Hs)
    reps = None
    if is_replicate_design(design):
        RW = _replicate_weights(design, m.rows)
        reps = np.empty((RW.shape[1], len(theta)))
        for r in range(RW.shape[1]):
            keep = RW[:, r] > 0
            wr = RW[keep, r] / RW[keep, r].mean()
            if np.bincount(m.y[keep], minlength=K).min() == 0:
                raise _replicate_fail(model, r, RW.shape[1], "has no rows in some outcome level")
            reps[r], ok, _, _ = _olr_newton(m.X[keep], m.y[keep], wr, K, theta, maxiter, tol)
            if not ok:
                raise _replicate_fail(model, r, RW.shape[1], "did not converge")
        V = design.replicate_variance(reps, theta)
        _check_se(V, names, model, max_se)
    else:
        V = _finish(design, m.rows, h, names, model, True, max_se)
    return OrdinalResult(
        name=model,
        formula=formula,
        design=design,
        m=m,
        params=theta,
        vcov=V,
        influence=h,
        replicates=reps,
        unit=unit,
        converged=converged,
        iterations=it,
    )


# -- long frames ----------------------------------------------------------------------------
RESPONDENT = "respondent"


def long_design(
    data: pd.DataFrame,
    instrument: Instrument,
    *,
    grid: str = "acceptability",
    dk: str = "exclude",
    weights: str = "weight",
    strata: str | None = None,
    psu: str | None = None,
    fpc: str | None = None,
    lonely_psu: str = "fail",
    keep: Sequence[str] | None = None,
) -> SurveyDesign:
    """A design on the long frame (one row per parent x rated item): each rating carries its
    parent's weight, stratum and PSU (:meth:`SurveyDesign.long`).

    Without a PSU the parent is the cluster, so the repeated ratings of one parent are never
    treated as independent; parents with no rated item keep their PSU in the design. ``keep``
    lists the respondent columns to carry (default: all but grid items and missing reasons).
    """
    if dk not in DK_OPTIONS:
        raise ConfigError(f"dk must be one of {', '.join(DK_OPTIONS)}, not {dk!r}")
    base = SurveyDesign(
        data, weights=weights, strata=strata, psu=psu, fpc=fpc, lonely_psu=lonely_psu
    )
    return base.long(_long_frame(data, instrument, grid, dk, keep))


def _long_frame(data, instrument, grid, dk, keep) -> pd.DataFrame:
    if grid not in instrument.grids:
        raise ConfigError(
            f"grid {grid!r} is not in the instrument (has {', '.join(instrument.grids)})"
        )
    g = instrument.grids[grid]
    produced = {RESPONDENT, "item", g.row_name, g.column_name, "rating", "response", "acceptable"}
    if keep is None:
        items = set(g.variables)
        keep = [c for c in data.columns if c not in items and not str(c).endswith("__reason")]
    keep = [k for k in dict.fromkeys(keep) if k not in produced]
    return long_format(data, instrument, grid, dk=dk, keep=keep)


# -- models declared in config --------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """One model of ``config/models.yaml``."""

    name: str
    formula: str
    family: str
    data: str = "long"
    outcome: str | None = None
    description: str = ""
    subset: str | None = None
    reference: Mapping[str, str] = field(default_factory=dict)
    dk: str = "exclude"
    grid: str = "acceptability"
    marginal_effects: tuple[str, ...] = ()
    within: str | None = None
    outcome_levels: tuple[str, ...] = ()

    @property
    def full_formula(self) -> str:
        """The formula with its outcome: a right-hand-side-only formula gets ``outcome ~``."""
        if "~" in self.formula and self.formula.split("~", 1)[0].strip():
            return self.formula
        return f"{self.outcome} ~ {self.formula.split('~', 1)[-1].strip()}"


_SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "models.schema.yaml"


def _validate_schema(raw: Any, source: str, schema_path: Path | None) -> None:
    path = schema_path or _SCHEMA
    if not path.exists():
        return
    import jsonschema

    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(raw), key=lambda e: list(e.path)
    )
    if errors:
        e = errors[0]
        where = "/".join(map(str, e.absolute_path)) or "(top)"
        raise ConfigError(f"{source}: {where}: {e.message}")


def parse_models(
    raw: Any, source: str = "models config", schema_path: Path | None = None
) -> list[ModelSpec]:
    """Check a parsed models mapping (``{models: [...]}``) and build the specs."""
    _validate_schema(raw, source, schema_path)
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        raise ConfigError(f"{source}: must hold a list under 'models'")
    specs, seen = [], set()
    for i, item in enumerate(raw["models"]):
        where = f"{source}: models[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a mapping")
        name = item.get("name")
        if not name or not isinstance(name, str):
            raise ConfigError(f"{where}: needs a name")
        if name in seen:
            raise ConfigError(f"{where}: model name {name!r} is used twice")
        seen.add(name)
        family = item.get("family", "binomial")
        if family not in MODEL_FAMILIES:
            raise ConfigError(
                f"{where} ({name}): family {family!r} is not one of {', '.join(MODEL_FAMILIES)}"
            )
        kind = item.get("data", "long")
        if kind not in DATA_KINDS:
            raise ConfigError(
                f"{where} ({name}): data {kind!r} is not one of {', '.join(DATA_KINDS)}"
            )
        dk = item.get("dk", "exclude")
        if dk not in DK_OPTIONS:
            raise ConfigError(f"{where} ({name}): dk {dk!r} is not one of {', '.join(DK_OPTIONS)}")
        formula = item.get("formula")
        if not formula or "~" not in formula:
            raise ConfigError(f"{where} ({name}): formula {formula!r} needs a '~'")
        parse_formula(formula, model=name)
        if item.get("subset") is not None:
            parse_subset(item["subset"], model=name)
        lhs = formula.split("~", 1)[0].strip()
        outcome = item.get("outcome") or lhs or None
        if not outcome:
            raise ConfigError(f"{where} ({name}): give an outcome or put it left of '~'")
        if lhs and item.get("outcome") and lhs != item["outcome"]:
            raise ConfigError(
                f"{where} ({name}): outcome {item['outcome']!r} differs from the "
                f"formula's left-hand side {lhs!r}"
            )
        reference = item.get("reference") or {}
        if not isinstance(reference, dict):
            raise ConfigError(f"{where} ({name}): reference must map variable to level")
        specs.append(
            ModelSpec(
                name=name,
                formula=formula,
                family=family,
                data=kind,
                outcome=outcome,
                description=str(item.get("description", "")),
                subset=item.get("subset"),
                reference={str(k): str(v) for k, v in reference.items()},
                dk=dk,
                grid=item.get("grid", "acceptability"),
                marginal_effects=tuple(item.get("marginal_effects") or ()),
                within=item.get("within"),
                outcome_levels=tuple(item.get("outcome_levels") or ()),
            )
        )
    return specs


def load_models(path: str | Path, schema_path: str | Path | None = None) -> list[ModelSpec]:
    """Read and check ``config/models.yaml`` (against ``workflow/schemas/models.schema.yaml``)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"models file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"models file {path} is not valid YAML: {exc}") from None
    return parse_models(raw, str(path), Path(schema_path) if schema_path else None)


def get_model(specs: Sequence[ModelSpec], name: str) -> ModelSpec:
    """The spec called ``name`` (the Snakemake ``{model}`` wildcard)."""
    for s in specs:
        if s.name == name:
            return s
    raise ConfigError(f"no model called {name!r}; models are {', '.join(s.name for s in specs)}")


DESIGN_OPTION_KEYS = (
    "weights",
    "strata",
    "psu",
    "fpc",
    "lonely_psu",
    "variance",
    "replicates",
    "seed",
    "reweighter",
    "base_weights",
    "mse",
    "calibration",
)
VARIANCE_METHODS = ("linearisation", "jk1", "jkn", "bootstrap")


def _design_options(options: Mapping[str, Any] | None, instrument: Instrument) -> dict[str, Any]:
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(DESIGN_OPTION_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown design option(s) {unknown}; expected {', '.join(DESIGN_OPTION_KEYS)}"
        )
    out = {
        "weights": "weight",
        "strata": instrument.design.get("strata"),
        "psu": instrument.design.get("psu"),
        "fpc": instrument.design.get("fpc"),
        "lonely_psu": "fail",
        "variance": "linearisation",
        "replicates": None,
        "seed": None,
        "reweighter": None,
        "base_weights": None,
        "mse": False,
        "calibration": None,
    }
    out.update(opts)
    if out["variance"] not in VARIANCE_METHODS:
        raise ConfigError(
            f"variance must be one of {', '.join(VARIANCE_METHODS)}, not {out['variance']!r}"
        )
    return out


def _base_design(frame: pd.DataFrame, opts: Mapping[str, Any]):
    """The respondent-level design, with replicate weights when the variance asks for them."""
    design = SurveyDesign(
        frame,
        weights=opts["weights"],
        strata=opts["strata"],
        psu=opts["psu"],
        fpc=opts["fpc"],
        lonely_psu=opts["lonely_psu"],
        calibration=opts["calibration"],
    )
    if opts["variance"] == "linearisation":
        return design
    return design.with_replicates(
        opts["variance"],
        opts["replicates"],
        seed=opts["seed"],
        reweighter=opts["reweighter"],
        base_weights=opts["base_weights"],
        mse=opts["mse"],
    )


def _level_orders(frame: pd.DataFrame, spec: ModelSpec) -> dict[str, list]:
    return {
        v: list(frame[v].cat.categories)
        for v in spec.reference
        if v in frame.columns and isinstance(frame[v].dtype, pd.CategoricalDtype)
    }


def _apply_reference(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    frame = frame.copy() if spec.reference else frame
    for var, level in spec.reference.items():
        if var not in frame.columns:
            raise ModelError(f"model {spec.name!r}: reference variable {var!r} is not in the data")
        col = frame[var]
        if not isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype("category")
        cats = [str(c) for c in col.cat.categories]
        if level not in cats:
            raise ModelError(
                f"model {spec.name!r}: reference level {level!r} is not a level of "
                f"{var!r} (levels: {', '.join(cats)})"
            )
        order = [col.cat.categories[cats.index(level)]] + [
            c for c in col.cat.categories if str(c) != level
        ]
        frame[var] = col.cat.reorder_categories(order)
    return frame


def fit_model(
    spec: ModelSpec,
    data: pd.DataFrame,
    instrument: Instrument,
    design_options: Mapping[str, Any] | None = None,
) -> ModelResult:
    """Fit one configured model on the analysis frame (respondent rows, ``respondent`` index).

    ``design_options``: ``weights`` (default ``weight``), ``strata``/``psu``/``fpc`` (default the
    instrument's design columns), ``lonely_psu``; ``variance`` ``linearisation`` (default; with
    ``calibration``, :func:`social_licence.weighting.calibration`, it reflects the raking) or
    ``jk1``/``jkn``/``bootstrap`` replicate weights (``replicates``, ``seed``, and a
    ``reweighter`` with its ``base_weights`` to re-rake every replicate, so the variance includes
    the weighting), each model then refitted per replicate. Long models get the long design
    (:meth:`SurveyDesign.long`); respondent models get the licence and trust indices added when
    the formula uses them.
    """
    opts = _design_options(design_options, instrument)
    formula = spec.full_formula
    parsed = parse_formula(formula, model=spec.name)
    lhs, rhs = list(parsed.lhs), list(parsed.rhs)
    needed = [*lhs, *rhs, *spec.reference]
    if spec.subset:
        needed += parse_subset(spec.subset, model=spec.name).variables
    if spec.within:
        needed.append(spec.within)
    unit: str | None
    if spec.data == "long":
        base = _base_design(data, opts)
        keep = [c for c in dict.fromkeys(needed) if c in data.columns]
        long = _long_frame(data, instrument, spec.grid, spec.dk, keep)
        orders = _level_orders(long, spec)
        design = base.long(_apply_reference(long, spec))
        unit = RESPONDENT
    else:
        from .indices import INDEX_COLUMNS, add_indices

        frame = data
        if any(v in INDEX_COLUMNS and v not in data.columns for v in needed):
            frame = add_indices(data, instrument, dk=spec.dk)
        orders = _level_orders(frame, spec)
        design = _base_design(_apply_reference(frame, spec), opts)
        unit = None
    result: ModelResult
    if spec.family == "ordinal":
        result = svyolr(design, formula, subset=spec.subset, name=spec.name, unit=unit)
    else:
        result = svyglm(design, formula, spec.family, subset=spec.subset, name=spec.name, unit=unit)
    result.level_order = orders
    if spec.data == "respondent" and "trust_index" in needed:
        from .indices import cronbach_alpha

        alpha = cronbach_alpha(data, instrument, ci=0.95)
        result.notes["reliability"] = pd.DataFrame([{"model": spec.name, **alpha}])
    return result


def model_tables(
    result: ModelResult, spec: ModelSpec, ci_level: float = 0.95
) -> dict[str, pd.DataFrame]:
    """The tidy outputs of one configured model, for the Snakemake rule to write.

    ``coefficients``: :meth:`ModelResult.table` (odds ratios for logistic and ordinal models);
    ``effects``: predicted outcome by group and gaps from the reference group for each of
    ``spec.marginal_effects`` (stacked with ``group_variable``/``group``, also within
    ``spec.within`` when set); ``proportional_odds``: the check of an ordinal model;
    ``reliability``: Cronbach's alpha of the trust items for a model of the trust index.
    """
    alpha = 1 - ci_level
    out = {"coefficients": result.table(alpha)}
    levels = list(spec.outcome_levels) or None
    pieces = []
    if spec.marginal_effects:
        pieces.append(
            result.marginal_effects_stacked(
                list(spec.marginal_effects), alpha=alpha, outcome_levels=levels
            )
        )
        if spec.within:
            by = [b for b in spec.marginal_effects if b != spec.within]
            if by:
                pieces.append(
                    result.marginal_effects_stacked(
                        by, within=spec.within, alpha=alpha, outcome_levels=levels
                    )
                )
    out["effects"] = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()
    if isinstance(result, OrdinalResult):
        out["proportional_odds"] = result.proportional_odds_check(alpha)
    out.update(result.notes)
    return out
