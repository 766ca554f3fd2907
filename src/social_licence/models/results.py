"""Results of a survey-weighted model, as statsmodels names them: ``params``, ``bse``,
``conf_int()``, ``pvalues``, ``summary()``, plus ``table()`` and marginal effects."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import patsy
from scipy import special

from ..design.design import SurveyDesign
from ..errors import ModelError
from .engine import Matrices, glm_core, glm_replicates, is_replicate_design
from .spec import formula_variables


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
        m: Matrices,
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
        self._influence = influence  # (groups, p): influence of each group's rows, unweighted
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
        from scipy import stats  # slow to import: only where p-values and intervals are computed

        p = 2 * stats.t.sf(np.abs(self.tvalues.to_numpy()), self.df_resid)
        return pd.Series(p, index=self.params.index, name="p_value")

    def conf_int(self, alpha: float = 0.05, df: float | None = None) -> pd.DataFrame:
        """Wald limits, columns 0 and 1 as statsmodels; ``df=np.inf`` for normal limits."""
        from scipy import stats  # slow to import: only where p-values and intervals are computed

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
        if codes is None:
            return int(len(rows))
        return int(np.count_nonzero(np.bincount(codes[rows], minlength=len(codes))))

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
        from scipy import stats  # slow to import: only where p-values and intervals are computed

        bys = [by] if isinstance(by, str) else list(by)
        mm = self._m
        # Predictions depend on a row's covariate pattern only: computed once per pattern.
        patterns = mm.patterns
        _, rhs = formula_variables(self.formula)
        level_lists = []
        for b in bys:
            if b not in rhs:
                raise ModelError(
                    f"model {self.name!r}: marginal effects by {b!r}, which is not "
                    f"in the formula {self.formula!r}"
                )
            if not isinstance(patterns[b].dtype, pd.CategoricalDtype):
                raise ModelError(
                    f"model {self.name!r}: marginal effects need a categorical "
                    f"variable; {b!r} is {patterns[b].dtype}"
                )
            level_lists.append(list(patterns[b].cat.categories))
        combos = list(itertools.product(*level_lists))
        rows = mm.rows
        w = self.design.weights[rows]
        row_pattern = mm.pattern[mm.group]
        n_patterns, n_groups = len(patterns), len(mm.yg)
        if within is None:
            domains: list[tuple[Any, np.ndarray]] = [(None, np.ones(len(rows), dtype=bool))]
        else:
            if within not in self.design.data.columns:
                raise ModelError(
                    f"model {self.name!r}: within variable {within!r} is not in the data"
                )
            wv = self.design.data[within].iloc[rows]
            levels = (
                list(wv.cat.categories)
                if isinstance(wv.dtype, pd.CategoricalDtype)
                else sorted(wv.dropna().unique())
            )
            domains = [(lev, (wv == lev).to_numpy()) for lev in levels if (wv == lev).any()]
        needed = [c for c in rhs if c in patterns.columns]
        Xg = []
        for combo in combos:
            cf = patterns[needed].copy()
            for b, lev in zip(bys, combo, strict=True):
                cf[b] = pd.Categorical([lev] * len(cf), dtype=patterns[b].dtype)
            Xg.append(self._model_matrix(cf))
        crit = stats.t.ppf(1 - alpha / 2, self.df_resid)
        in_combo = np.ones((n_patterns, len(combos)), dtype=bool)
        for k, combo in enumerate(combos):
            for b, lev in zip(bys, combo, strict=True):
                in_combo[:, k] &= (patterns[b] == lev).to_numpy()
        records = []
        for dlev, dmask in domains:
            w_pattern = np.bincount(row_pattern[dmask], weights=w[dmask], minlength=n_patterns)
            W = w_pattern.sum()
            # a row's influence: its group's through the coefficients, plus (in the domain)
            # its pattern's prediction less the mean: table rows 0..G-1 out of the domain,
            # G..2G-1 in it
            index = mm.group + n_groups * dmask
            for olabel, which in self._outcome_sets(outcome_levels):
                est = np.zeros(len(combos))
                if self._replicates is None:
                    table = np.zeros((2 * n_groups, len(combos)))
                    for k, X in enumerate(Xg):
                        m, J = self._predict(X, which)
                        p = w_pattern @ m / W
                        jbar = w_pattern @ J / W
                        z = self._influence @ jbar
                        table[:n_groups, k] = z
                        table[n_groups:, k] = z + (m[mm.pattern] - p) / W
                        est[k] = p
                    V = self.design.vcov_total_indexed(rows, index, table)
                else:
                    # Replicate designs: the whole estimate (refitted coefficients, replicate-
                    # weighted mean of the predictions) per replicate, then svrVar.
                    RW = self.design.replicate_weight_totals(
                        rows[dmask], row_pattern[dmask], n_patterns
                    )
                    E = np.zeros((RW.shape[1], len(combos)))
                    for k, X in enumerate(Xg):
                        m, _ = self._predict(X, which)
                        est[k] = w_pattern @ m / W
                        for r, params in enumerate(self._replicates):
                            mr, _ = self._predict(X, which, params)
                            E[r, k] = RW[:, r] @ mr / RW[:, r].sum()
                    V = self.design.replicate_variance(E, est)
                n_domain = self.n_units(rows[dmask])
                for k, combo in enumerate(combos):
                    rows_k = rows[dmask & in_combo[row_pattern, k]]
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
        # each unit's first row among rows, units in code order
        first = np.full(len(codes), -1, dtype=np.int64)
        first[codes[rows][::-1]] = rows[::-1]
        return float(self.design.weights[first[first >= 0]].sum())

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
        from scipy import stats  # slow to import: only where p-values and intervals are computed

        m = self._m
        K = len(m.levels)
        X1 = np.column_stack([np.ones(len(m.yg)), m.Xg])
        w = m.group_sums(self.design.weights[m.rows])
        counts = m.rows_per_group
        p = m.Xg.shape[1]
        replicate = is_replicate_design(self.design)
        betas, infl, reps = [], [], []
        for k in range(K - 1):
            yk = (m.yg > k).astype(float)
            split = f"{m.levels[k]}|{m.levels[k + 1]}"
            name = f"{self.name} (split {split})"
            fit, h = glm_core(
                X1, yk, w, "binomial", ["Intercept", *m.terms], name, 100, 1e-12, counts
            )
            betas.append(fit.beta[1:])
            infl.append(h[:, 1:])
            if replicate:
                r = glm_replicates(self.design, m, "binomial", fit.beta, name, 100, 1e-12, X1, yk)
                reps.append(r[:, 1:])
        B = np.concatenate(betas)
        if replicate:
            V = self.design.replicate_variance(np.hstack(reps), B)
        else:
            V = self.design.vcov_total_indexed(m.rows, m.group, np.hstack(infl))
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


