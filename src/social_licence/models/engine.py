"""The fitting engine under the models: design matrices from patsy, IRLS for the GLMs, separation
checks, replicate refits and the design sandwich.

Memory stays bounded by the number of distinct covariate patterns, not of rows: the model
matrix is built once per pattern, fitted rows with the same pattern and outcome are fitted as
one weighted group (:class:`Matrices`), and influence values reach the variance engine as a table
indexed by group (:meth:`SurveyDesign.vcov_total_indexed`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import patsy
from scipy import linalg, special

from ..design.design import SurveyDesign
from ..errors import ModelError
from .formula import evaluate_subset
from .spec import EVAL_ENV, FAMILIES, check_formula


# -- design matrices ------------------------------------------------------------------------
@dataclass
class Matrices:
    """A model's data collapsed to groups: fitted rows with the same covariate pattern and
    outcome are one group, carrying the sum of their weights.

    Exact for every quantity the models need: the estimating equations, information matrix
    and log-likelihood are sums over rows whose terms are equal within a group, and a row's
    score (hence its influence) is its group's. So a million respondents' ratings never become
    a dense per-rating model matrix: the matrix has one row per group, and rows are mapped to
    their group by ``group`` when influence values are totalled per PSU.
    """

    yg: np.ndarray  # outcome per group (0/1, numeric or ordinal code)
    Xg: np.ndarray  # model matrix per group
    group: np.ndarray  # group of each fitted row
    pattern: np.ndarray  # covariate pattern of each group: a row of ``patterns``
    patterns: pd.DataFrame  # the right-hand variables of each covariate pattern
    terms: list[str]
    rows: np.ndarray  # positions of fitted rows in the design
    design_info: Any  # patsy DesignInfo, to rebuild X for counterfactual data
    outcome: str
    outcome_label: str  # the level a binary model predicts, or "mean"
    levels: list[str] = field(default_factory=list)  # ordinal outcome levels
    intercept: bool = True

    @property
    def X(self) -> np.ndarray:
        """The model matrix of the fitted rows, expanded (small data and checks only)."""
        return self.Xg[self.group]

    @property
    def y(self) -> np.ndarray:
        """The outcome of the fitted rows, expanded."""
        return self.yg[self.group]

    def group_sums(self, w: np.ndarray) -> np.ndarray:
        """Per-row values (e.g. the fitted rows' weights) summed within groups."""
        return np.bincount(self.group, weights=w, minlength=len(self.yg))

    @property
    def rows_per_group(self) -> np.ndarray:
        return np.bincount(self.group, minlength=len(self.yg))


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


def _patterns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Code of each row's combination of values of ``frame``'s columns (missing values a value
    of their own) and the position of each combination's first row."""
    key = np.zeros(len(frame), dtype=np.int64)
    size = 1
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes, card = s.cat.codes.to_numpy().astype(np.int64) + 1, len(s.cat.categories) + 1
        else:
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            codes, card = codes.astype(np.int64) + 1, len(uniques) + 1
        if size * card >= 2**62:  # renumber the combinations seen so far before they overflow
            key, uniques = pd.factorize(key, sort=True)
            size = len(uniques)
        key = key * card + codes
        size *= card
    code, uniques = pd.factorize(key, sort=True)
    first = np.empty(len(uniques), dtype=np.int64)
    first[code[::-1]] = np.arange(len(code) - 1, -1, -1)
    return code.astype(np.int64), first


def design_matrices(design: SurveyDesign, formula: str, family: str, subset, model: str) -> Matrices:
    """The model's outcome and model matrix, collapsed to groups (:class:`Matrices`).

    patsy learns the formula (levels, and the state of ``center()``/``standardize()``) from all
    the rows it would see, then builds the model matrix only for the distinct covariate patterns:
    every row of it equals the row patsy builds for the full data.
    """
    data = design.data
    lhs, rhs = check_formula(formula, list(data.columns), model)
    mask = _subset_mask(design, subset, model)
    fitted = np.flatnonzero(mask & (design.weights > 0))
    variables = list(dict.fromkeys([*lhs, *rhs]))
    frame = data[variables].iloc[fitted].reset_index(drop=True)
    rhs_formula = formula.split("~", 1)[1]
    ordinal = family == "ordinal"
    outcome = lhs[0]
    try:
        if ordinal:
            x_info = patsy.incr_dbuilder(
                rhs_formula, lambda: iter([frame]), eval_env=EVAL_ENV, NA_action="drop"
            )
        else:
            y_info, x_info = patsy.incr_dbuilders(
                formula, lambda: iter([frame]), eval_env=EVAL_ENV, NA_action="drop"
            )
        x_code, x_first = _patterns(frame[rhs]) if rhs else _patterns(frame.iloc[:, :0])
        patterns = frame[rhs].iloc[x_first].reset_index(drop=True)
        (X,) = patsy.build_design_matrices(
            [x_info], patterns, NA_action="drop", return_type="dataframe"
        )
        if not ordinal:
            y_code, y_first = _patterns(frame[lhs])
            (Y,) = patsy.build_design_matrices(
                [y_info], frame[lhs].iloc[y_first].reset_index(drop=True),
                NA_action="drop", return_type="dataframe",
            )
    except patsy.PatsyError as exc:
        raise ModelError(f"model {model!r}: formula {formula!r} cannot be built: {exc}") from None
    levels: list[str] = []
    if ordinal:
        if len(lhs) != 1:
            raise ModelError(f"model {model!r}: an ordinal outcome must be one column, not {lhs}")
        yser = frame[outcome]
        if not isinstance(yser.dtype, pd.CategoricalDtype):
            raise ModelError(
                f"model {model!r}: ordinal outcome {outcome!r} must be an ordered categorical"
            )
        levels = [str(c) for c in yser.cat.categories]
        y_code = yser.cat.codes.to_numpy().astype(np.int64)
        y_kept = np.arange(len(levels))
        y_values = y_kept.copy()
        outcome_label = ""
    else:
        y_kept = Y.index.to_numpy()
        if Y.shape[1] == 2 and family == "binomial":
            # A two-level factor outcome: the second level is the event, as in R's glm.
            y_values = Y.iloc[:, 1].to_numpy(dtype=float)
            name = str(Y.columns[1])
            outcome_label = name[name.find("[") + 1 : -1] if "[" in name else name
        elif Y.shape[1] == 1:
            y_values = Y.iloc[:, 0].to_numpy(dtype=float)
            outcome_label = outcome if family == "binomial" else "mean"
        else:
            raise ModelError(
                f"model {model!r}: outcome {outcome!r} gives {Y.shape[1]} columns "
                f"({', '.join(map(str, Y.columns))}); a {family} outcome needs one numeric column"
                " or a two-level factor"
            )
    # rows whose covariate pattern and outcome patsy kept (no missing value), numbered
    x_pos = np.full(len(x_first), -1, dtype=np.int64)
    x_pos[X.index.to_numpy()] = np.arange(len(X))
    # outcome codes: the ordinal levels, or the distinct left-hand values (-1: missing level)
    y_pos = np.full(len(levels) if ordinal else len(y_first), -1, dtype=np.int64)
    y_pos[y_kept] = np.arange(len(y_kept))
    xr = x_pos[x_code]
    yr = np.full(len(y_code), -1, dtype=np.int64)
    answered = y_code >= 0
    yr[answered] = y_pos[y_code[answered]]
    keep = (xr >= 0) & (yr >= 0)
    rows = fitted[keep]
    if rows.size == 0:
        raise ModelError(f"model {model!r}: no rows with complete values for {formula!r}")
    group, group_first = _patterns(pd.DataFrame({"x": xr[keep], "y": yr[keep]}, copy=False))
    pattern = xr[keep][group_first]
    terms = [str(c) for c in X.columns]
    has_intercept = "Intercept" in terms
    Xa = X.to_numpy(dtype=float)
    if ordinal:
        if not has_intercept:
            raise ModelError(f"model {model!r}: an ordinal formula needs its intercept (no '- 1')")
        j = terms.index("Intercept")
        Xa = np.delete(Xa, j, axis=1)
        terms.pop(j)
    return Matrices(
        yg=y_values[yr[keep][group_first]],
        Xg=Xa[pattern],
        group=group,
        pattern=pattern,
        patterns=patterns.iloc[X.index.to_numpy()].reset_index(drop=True),
        terms=terms,
        rows=rows,
        design_info=x_info,
        outcome=outcome,
        outcome_label=outcome_label,
        levels=levels,
        intercept=has_intercept,
    )


def check_columns(X: np.ndarray, terms: list[str], w: np.ndarray, model: str) -> None:
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


_SM_FAMILIES = {"binomial": "Binomial", "poisson": "Poisson", "gaussian": "Gaussian"}
"""statsmodels family classes by our family names (looked up when a model is fitted)."""


def _irls(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    family: str,
    maxiter: int,
    tol: float,
    start: np.ndarray | None = None,
) -> _GLMFit:
    """Point estimates of a canonical-link GLM by statsmodels' IRLS.

    The weights enter as ``var_weights`` (rescaled to mean 1): the estimating equations
    ``sum_i w_i x_i (y_i - mu_i) = 0`` of the design-weighted pseudo-likelihood, whatever the
    weights' scale. Convergence is on the relative change in deviance, as R's ``glm.fit``.
    ``start`` (e.g. the full-sample estimate, for a replicate) replaces the starting values.
    """
    wn = w / w.mean()
    # slow to import (~1.7 s; statsmodels.api, which loads every model, ~2.4 s): only in the
    # jobs that fit models
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    model = GLM(y, X, family=getattr(families, _SM_FAMILIES[family])(), var_weights=wn)
    with warnings.catch_warnings():
        # non-convergence and separation are diagnosed and reported by glm_core
        warnings.simplefilter("ignore")
        res = model.fit(
            method="IRLS", maxiter=maxiter, tol=0.0, atol=0.0, rtol=tol, start_params=start
        )
    history = res.fit_history.get("params") or [res.params]
    last_step = (
        np.asarray(history[-1]) - np.asarray(history[-2])
        if len(history) > 1
        else np.full(X.shape[1], np.inf)
    )
    beta = np.asarray(res.params, dtype=float)
    eta = X @ beta
    with np.errstate(over="ignore"):
        mu = _family_functions(family)[0](eta)
    if family == "binomial":
        mu = np.clip(mu, 1e-300, 1 - 1e-16)
    elif family == "poisson":
        mu = np.maximum(mu, 1e-300)
    return _GLMFit(beta, eta, mu, bool(res.converged), int(res.fit_history["iteration"]), last_step)


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
    from scipy import optimize  # slow to import (~0.4 s): only when separation is checked

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


def _describe_separation(X, y, terms, direction, counts) -> str:
    """The separating terms; ``counts``: rows behind each row of ``X`` (groups of rows)."""
    names = [t for t, b in zip(terms, direction, strict=True) if abs(b) > 1e-6 and t != "Intercept"]
    detail = []
    for t in names:
        j = terms.index(t)
        col = X[:, j]
        if set(np.unique(col)) <= {0.0, 1.0}:
            yy = y[col == 1]
            if yy.size and np.all(yy == yy[0]):
                detail.append(f"all {int(counts[col == 1].sum())} rows with {t} have outcome {int(yy[0])}")
    text = ", ".join(names) if names else ", ".join(terms)
    return text + (f" ({'; '.join(detail)})" if detail else "")



# -- fitting entry points -------------------------------------------------------------------
def glm_core(X, y, w, family, terms, model, maxiter, tol, counts=None):
    """Fit, diagnose, and return the fit and the per-row influence ``U A^-1`` (fitted rows).

    Rows may be groups of rows (:class:`Matrices`): ``w`` then sums their weights and
    ``counts`` gives how many rows each stands for (for messages); the influence is per group.
    """
    counts = np.ones(len(y), dtype=np.int64) if counts is None else counts
    check_columns(X, terms, w, model)
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
                f"exactly by term(s) "
                f"{_describe_separation(X[w > 0], y[w > 0], terms, direction, counts[w > 0])}; "
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


def finish(
    design: SurveyDesign,
    m: Matrices,
    h: np.ndarray,
    terms: list[str],
    model: str,
    check_se: bool,
    max_se: float,
) -> np.ndarray:
    """Design covariance of the estimates from the influence ``h`` of each group of ``m``."""
    V = design.vcov_total_indexed(m.rows, m.group, h)
    if check_se:
        check_standard_errors(V, terms, model, max_se)
    return V


def df_check(design: SurveyDesign, p: int, model: str) -> None:
    if design.df + 1 - p <= 0:
        raise ModelError(
            f"model {model!r}: {p} parameters but only {design.df} design degrees of "
            "freedom (PSUs minus strata); simplify the model"
        )


def is_replicate_design(design) -> bool:
    """True for a replicate-weight design (variance from refits, not linearisation)."""
    return not hasattr(design, "vcov_total") and hasattr(design, "replicate_weights")


def replicate_weights_of(design, m: Matrices) -> np.ndarray:
    """``(groups, R)``: each replicate's weights summed over the fitted rows of each group."""
    return design.replicate_weight_totals(m.rows, m.group, len(m.yg))


def replicate_fail(model: str, r: int, R: int, what: str) -> ModelError:
    return ModelError(
        f"model {model!r}: replicate {r + 1} of {R} {what}; a replicate that loses every row of "
        "a level cannot estimate its term: merge sparse levels or use linearisation"
    )


def glm_replicates(
    design,
    m: Matrices,
    family: str,
    start: np.ndarray,
    model: str,
    maxiter: int,
    tol: float,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
) -> np.ndarray:
    """Coefficients refitted with each replicate's weights (warm start): ``(R, p)``.

    ``X`` and ``y`` (default ``m``'s) are per group of ``m``.
    """
    X = m.Xg if X is None else X
    y = m.yg if y is None else y
    RW = replicate_weights_of(design, m)
    R = RW.shape[1]
    out = np.empty((R, X.shape[1]))
    for r in range(R):
        w = RW[:, r]
        keep = w > 0
        if not np.all(np.any(X[keep] != 0, axis=0)):
            raise replicate_fail(model, r, R, "has no rows for some term")
        fit = _irls(X[keep], y[keep], w[keep], family, maxiter, tol, start=start)
        if not fit.converged or not np.all(np.isfinite(fit.beta)):
            raise replicate_fail(model, r, R, "did not converge")
        out[r] = fit.beta
    return out


def check_standard_errors(V: np.ndarray, terms: list[str], model: str, max_se: float) -> None:
    se = np.sqrt(np.clip(np.diag(V), 0, None))
    huge = [t for t, s in zip(terms, se, strict=False) if not s <= max_se]
    if huge:
        raise ModelError(
            f"model {model!r}: standard errors too large to trust (> {max_se} on the log "
            f"scale) for term(s) {', '.join(huge)}: too few observations or near-separation "
            "in those levels; merge sparse levels or drop the term"
        )


