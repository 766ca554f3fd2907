"""Survey-weighted regression models: GLMs (``svyglm``) and proportional odds (``svyolr``).

Point estimates maximise the design-weighted (pseudo-)likelihood; standard errors are the
sandwich ``V = A^-1 B A^-1``, with ``A`` the weighted information and ``B`` the design covariance
of the score totals from :meth:`SurveyDesign.vcov_total` (R ``survey``'s ``svy.varcoef``). Rows
that a model does not use (missing values, a ``subset``) get zero scores and stay in the design,
as R does with ``design[-na.action, ]``. Repeated ratings of one parent are handled by the design:
:func:`long_design` makes the parent's PSU (or the parent) the cluster of all their ratings.

GLM point estimates come from statsmodels' IRLS (the weights as ``var_weights``,
:mod:`.engine`); the design-based sandwich is ours, as statsmodels knows no strata, PSUs or FPC.
Both fit the rows collapsed to groups of equal covariate pattern and outcome (exact: the same
estimating equations), so a million respondents' ratings cost memory by pattern, not by rating.
The proportional-odds model is hand-written: statsmodels' ``OrderedModel`` takes no weights. Formulas go through patsy (term names as patsy
gives them, e.g. ``ethnicity[T.Black]``). Proven against R ``svyglm``/``svyolr`` numbers in
``tests/data/reference/api/r_reference/`` and against statsmodels on unweighted data
(``tests/test_models*.py``).

On a replicate-weight design (``SurveyDesign.with_replicates``: JK1, JKn, bootstrap, optionally
re-raked) the model is refitted with each replicate's weights from the full-sample estimate and
the variance is the replicates' spread (R's ``svrVar``), so it includes the weighting step.

Inference follows ``summary.svyglm``: Wald t statistics on ``degf(design) + 1 - p`` degrees of
freedom (``df_resid``), for p-values and confidence intervals alike (R's ``confint.svyglm`` uses
the normal instead unless ``ddf`` is given: pass ``df=np.inf`` to :meth:`ModelResult.conf_int`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, special

from ..config import defaults
from ..design.build import build_design, check_variance
from ..design.design import SurveyDesign
from ..design.replicates import ReplicateDesign
from ..errors import ConfigError, ModelError
from ..survey.grid import DK_OPTIONS, RESPONDENT, grid_rows, long_format
from ..survey.instrument import Instrument
from .engine import (
    check_columns,
    check_standard_errors,
    design_matrices,
    df_check,
    finish,
    glm_core,
    glm_replicates,
    is_replicate_design,
    replicate_fail,
    replicate_weights_of,
)
from .formula import parse_formula, parse_subset
from .indices import INDEX_COLUMNS, add_indices, cronbach_alpha
from .results import GLMResult, ModelResult, OrdinalResult
from .spec import DESIGN_OPTION_KEYS, FAMILIES, MAX_SE, ModelSpec


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
    m = design_matrices(design, formula, family, subset, model)
    w = m.group_sums(design.weights[m.rows])
    df_check(design, m.Xg.shape[1], model)
    fit, h = glm_core(m.Xg, m.yg, w, family, m.terms, model, maxiter, tol, m.rows_per_group)
    reps = None
    if is_replicate_design(design):
        reps = glm_replicates(design, m, family, fit.beta, model, maxiter, tol)
        V = design.replicate_variance(reps, fit.beta)
        if family != "gaussian":
            check_standard_errors(V, m.terms, model, max_se)
    else:
        V = finish(design, m, h, m.terms, model, family != "gaussian", max_se)
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
    m = design_matrices(design, formula, "ordinal", subset, model)
    w_rows = design.weights[m.rows]
    w = m.group_sums(w_rows)
    K = len(m.levels)
    if K < 3:
        raise ModelError(
            f"model {model!r}: an ordinal outcome needs 3 or more levels, has {m.levels}"
        )
    counts = np.bincount(m.yg, weights=(w > 0).astype(float), minlength=K)
    if np.any(counts == 0):
        empty = [lev for lev, c in zip(m.levels, counts, strict=True) if c == 0]
        raise ModelError(
            f"model {model!r}: outcome level(s) {empty} of {m.outcome!r} never occur "
            "among the fitted rows; merge them with a neighbour"
        )
    # The cut-points play the intercept's part: a term aliased with a constant is rank deficient.
    check_columns(np.column_stack([np.ones(len(w)), m.Xg]), ["(cut-points)", *m.terms], w, model)
    p = m.Xg.shape[1]
    df_check(design, p + K - 1, model)
    wn = w / w_rows.mean()  # the groups' sums of the rows' weights scaled to mean 1
    cum = np.cumsum(np.bincount(m.yg, weights=wn, minlength=K))[:-1] / wn.sum()
    theta0 = np.concatenate([np.zeros(p), special.logit(cum)])
    theta, converged, it, step = _olr_newton(m.Xg, m.yg, wn, K, theta0, maxiter, tol)
    names = list(m.terms) + [f"{a}|{b}" for a, b in zip(m.levels[:-1], m.levels[1:], strict=True)]
    if not converged:
        moving = [names[j] for j in np.argsort(-np.abs(step))[:3]]
        raise ModelError(
            f"model {model!r}: did not converge in {it} iterations; the parameters "
            f"still changing most are {', '.join(moving)} (separation or a "
            "near-empty level?)"
        )
    _, G, Hs = _olr_parts(theta, m.Xg, m.yg, w, K)
    h = G @ linalg.inv(-Hs)
    reps = None
    if is_replicate_design(design):
        RW = replicate_weights_of(design, m)
        reps = np.empty((RW.shape[1], len(theta)))
        for r in range(RW.shape[1]):
            keep = RW[:, r] > 0
            wr = RW[keep, r] / RW[keep, r].mean()
            if np.bincount(m.yg[keep], minlength=K).min() == 0:
                raise replicate_fail(model, r, RW.shape[1], "has no rows in some outcome level")
            reps[r], ok, _, _ = _olr_newton(m.Xg[keep], m.yg[keep], wr, K, theta, maxiter, tol)
            if not ok:
                raise replicate_fail(model, r, RW.shape[1], "did not converge")
        V = design.replicate_variance(reps, theta)
        check_standard_errors(V, names, model, max_se)
    else:
        V = finish(design, m, h, names, model, True, max_se)
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


def long_design(
    data: pd.DataFrame,
    instrument: Instrument,
    *,
    grid: str,
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



def _model_long_frame(data, instrument, grid, dk, keep) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`_long_frame` for a model and the position in ``data`` of each row's design row.

    The item stays a Categorical (levels sorted, as patsy orders text) rather than one string
    per row, and no respondent is looked up by name: what a million respondents' ratings cost.
    """
    if grid not in instrument.grids:
        raise ConfigError(
            f"grid {grid!r} is not in the instrument (has {', '.join(instrument.grids)})"
        )
    g = instrument.grids[grid]
    produced = {RESPONDENT, "item", g.row_name, g.column_name, "rating", "response", "acceptable"}
    keep = [k for k in dict.fromkeys(keep) if k not in produced]
    frame, positions = grid_rows(data, instrument, grid, dk=dk, keep=keep)
    frame["item"] = frame["item"].cat.reorder_categories(
        sorted(frame["item"].cat.categories, key=str)
    )
    return frame, positions


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
        "lonely_psu": defaults("estimation")["lonely_psu"],
        "variance": "linearisation",
        "replicates": None,
        "seed": None,
        "reweighter": None,
        "base_weights": None,
        "mse": False,
        "calibration": None,
    }
    out.update(opts)
    check_variance(out["variance"])
    return out


def _base_design(frame: pd.DataFrame, opts: Mapping[str, Any]):
    """The respondent-level design, with replicate weights when the variance asks for them."""
    return build_design(
        frame,
        weights=opts["weights"],
        strata=opts["strata"],
        psu=opts["psu"],
        fpc=opts["fpc"],
        lonely_psu=opts["lonely_psu"],
        variance=opts["variance"],
        calibration=opts["calibration"],
        replicates=opts["replicates"],
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
    *,
    design: SurveyDesign | ReplicateDesign | None = None,
    layout: str = "wide",
) -> ModelResult:
    """Fit one configured model on the analysis frame (respondent rows, ``respondent`` index).

    ``layout="long"``: ``data`` is a long export, one row per rating (the index repeats the
    respondent); the respondent is the cluster of their ratings unless a PSU is declared.
    A ``respondent`` model then fits the export's rows (rating-level predictors such as the
    scenario or its framing may enter the formula); a ``long`` model stacks the grid's items
    within each rating, every stacked row keeping its rating's weight and cluster.

    ``design_options``: ``weights`` (default ``weight``), ``strata``/``psu``/``fpc`` (default the
    instrument's design columns), ``lonely_psu``; ``variance`` ``linearisation`` (default; with
    ``calibration``, :func:`social_licence.weighting.calibration`, it reflects the raking) or
    ``jk1``/``jkn``/``bootstrap`` replicate weights (``replicates``, ``seed``, and a
    ``reweighter`` with its ``base_weights`` to re-rake every replicate, so the variance includes
    the weighting), each model then refitted per replicate. Long models get the long design
    (:meth:`SurveyDesign.long`); respondent models get the licence and trust indices added when
    the formula uses them.

    ``design``: the respondent design already built (the weight stage's, through
    :func:`social_licence.design.build.load_design`), over ``data``; ``design_options`` are then
    not used and nothing is re-raked.
    """
    if design is not None:
        if design_options:
            raise ConfigError("give design= or design_options=, not both")
        if design.data is not data:
            raise ModelError("design= must be the design of data (design.data is data)")
    else:
        opts = _design_options(design_options, instrument)
        if layout == "long" and opts["psu"] is None:
            opts["psu"] = np.asarray(data.index)  # the respondent clusters their ratings
        design = _base_design(data, opts)
    if layout not in ("wide", "long"):
        raise ConfigError(f"layout must be wide or long, not {layout!r}")
    respondent_design = design
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
        # one row per rating (a long export) or per respondent: each stacked row keeps the
        # position of the design row it copies, and names its respondent
        keep = [c for c in dict.fromkeys(needed) if c in data.columns]
        long, positions = _model_long_frame(data, instrument, spec.grid, spec.dk, keep)
        orders = _level_orders(long, spec)
        design = respondent_design.long(_apply_reference(long, spec), positions=positions)
        unit = RESPONDENT
    elif layout == "long":
        frame = data.assign(**{RESPONDENT: np.asarray(data.index)})
        orders = _level_orders(frame, spec)
        design = respondent_design.with_data(_apply_reference(frame, spec))
        unit = RESPONDENT
    else:
        frame = data
        if any(v in INDEX_COLUMNS and v not in data.columns for v in needed):
            frame = add_indices(data, instrument, dk=spec.dk)
        orders = _level_orders(frame, spec)
        design = respondent_design.with_data(_apply_reference(frame, spec))
        unit = None
    result: ModelResult
    if spec.family == "ordinal":
        result = svyolr(design, formula, subset=spec.subset, name=spec.name, unit=unit)
    else:
        result = svyglm(design, formula, spec.family, subset=spec.subset, name=spec.name, unit=unit)
    result.level_order = orders
    if spec.data == "respondent" and "trust_index" in needed:
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

