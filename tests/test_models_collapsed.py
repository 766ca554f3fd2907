"""Models fitted on rows collapsed to groups (same covariate pattern and outcome) equal the plain
fit on every row.

The references are independent of the collapsing: statsmodels' GLM on the expanded rows (one row
per respondent, the weights as ``var_weights``), the hand-written ordinal Newton fit run on the
expanded rows, and the sandwich built from per-row influence values ``U A^-1`` (n x p) handed to
the dense variance engine :meth:`SurveyDesign.vcov_total` (itself proven against R ``survey``).
The frame has ties (few covariate patterns and weights), strata, PSUs, missing values in a
covariate and in the outcome, a stateful transform and a subset; the variance of a calibrated
design too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import linalg, special

from social_licence.design.design import SurveyDesign
from social_licence.models import fit as M
from social_licence.models.engine import design_matrices
from social_licence.weighting.calibration import Calibration

FORMULA = "y ~ g * h + center(age)"


def _frame(n: int = 900, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b", "c"], n)
    h = rng.choice(["u", "v"], n)
    age = rng.choice([25.0, 35.0, 45.0, 55.0], n)
    eta = -0.3 + 0.6 * (g == "b") - 0.5 * (g == "c") + 0.4 * (h == "v") + 0.02 * (age - 40)
    y = (rng.random(n) < special.expit(eta)).astype(float)
    band = np.digitize(eta + rng.logistic(size=n), [-1.0, 0.0, 1.0])
    frame = pd.DataFrame(
        {
            "g": pd.Categorical(g),
            "h": pd.Categorical(h),
            "age": age,
            "y": y,
            "band": pd.Categorical.from_codes(band, ["lo", "mid", "high", "top"], ordered=True),
            "stratum": rng.integers(0, 3, n),
            "psu": rng.integers(0, 12, n),
            # few distinct weights, so rows of a pattern tie on weight too
            "w": rng.choice([0.5, 1.0, 2.0, 4.0], n),
            "region": rng.choice(["n", "s"], n),
        }
    )
    frame.loc[rng.choice(n, 40, replace=False), "g"] = np.nan
    frame.loc[rng.choice(n, 30, replace=False), "y"] = np.nan
    frame.loc[rng.choice(n, 30, replace=False), "band"] = np.nan
    return frame


def _design(frame: pd.DataFrame) -> SurveyDesign:
    return SurveyDesign(frame, weights="w", strata="stratum", psu="psu")


def _fitted(frame: pd.DataFrame, outcome: str) -> np.ndarray:
    """Rows a model uses: in the subset, with the outcome and every covariate present."""
    ok = (frame["region"] == "n") & frame["g"].notna() & frame[outcome].notna()
    return np.flatnonzero(ok.to_numpy())


def _expanded_x(frame: pd.DataFrame, rows: np.ndarray, intercept: bool) -> np.ndarray:
    """The model matrix built row by row, by hand (treatment coding, reference a and u)."""
    f = frame.iloc[rows]
    gb, gc = (f["g"] == "b").to_numpy(float), (f["g"] == "c").to_numpy(float)
    hv = (f["h"] == "v").to_numpy(float)
    # center() learns its mean from every row patsy is given: the subset's (missing values too)
    age_mean = frame.loc[frame["region"] == "n", "age"].mean()
    cols = [gb, gc, hv, gb * hv, gc * hv, f["age"].to_numpy() - age_mean]
    return np.column_stack(([np.ones(len(rows))] if intercept else []) + cols)


def test_collapsed_logistic_fit_equals_statsmodels_on_every_row():
    frame = _frame()
    design = _design(frame)
    fit = M.svyglm(design, FORMULA, "binomial", subset="region == 'n'")
    m = fit._m
    rows = _fitted(frame, "y")
    np.testing.assert_array_equal(m.rows, rows)
    assert len(m.yg) < len(rows) / 2  # the rows did collapse
    X = _expanded_x(frame, rows, intercept=True)
    np.testing.assert_allclose(m.X, X, rtol=0, atol=1e-12)
    y = frame["y"].to_numpy()[rows]
    w = frame["w"].to_numpy()[rows]
    ref = sm.GLM(y, X, family=sm.families.Binomial(), var_weights=w).fit(tol=1e-14)
    np.testing.assert_allclose(fit.params.to_numpy(), ref.params, rtol=0, atol=1e-10)
    # sandwich from every row's influence U A^-1, through the dense variance engine
    mu = special.expit(X @ ref.params)
    A = X.T @ (X * (w * mu * (1 - mu))[:, None])
    H = np.zeros((design.n, X.shape[1]))
    H[rows] = (X * (y - mu)[:, None]) @ linalg.inv(A)
    V = design.vcov_total(H)
    np.testing.assert_allclose(fit.cov_params().to_numpy(), V, rtol=1e-8, atol=1e-14)


def test_collapsed_ordinal_fit_equals_the_hand_fit_on_every_row():
    frame = _frame()
    design = _design(frame)
    fit = M.svyolr(design, "band ~ g * h + center(age)", subset="region == 'n'")
    m = fit._m
    rows = _fitted(frame, "band")
    np.testing.assert_array_equal(m.rows, rows)
    assert len(m.yg) < len(rows) / 2
    f = frame.iloc[rows]
    X = _expanded_x(frame, rows, intercept=False)
    np.testing.assert_allclose(m.X, X, rtol=0, atol=1e-12)
    yk = f["band"].cat.codes.to_numpy().astype(np.int64)
    w = f["w"].to_numpy()
    K = 4
    wn = w / w.mean()
    cum = np.cumsum(np.bincount(yk, weights=wn, minlength=K))[:-1] / wn.sum()
    theta0 = np.concatenate([np.zeros(X.shape[1]), special.logit(cum)])
    theta, ok, _, _ = M._olr_newton(X, yk, wn, K, theta0, 100, 1e-12)
    assert ok
    np.testing.assert_allclose(fit.params.to_numpy(), theta, rtol=0, atol=1e-9)
    _, G, Hs = M._olr_parts(theta, X, yk, w, K)
    H = np.zeros((design.n, len(theta)))
    H[rows] = G @ linalg.inv(-Hs)
    np.testing.assert_allclose(fit.cov_params().to_numpy(), design.vcov_total(H), rtol=1e-7)


def test_indexed_totals_equal_the_dense_variance_engine():
    """vcov_total_indexed (rows mapped to a table of values) equals vcov_total on the expanded
    matrix, with and without calibration to margins (one with a row in no category)."""
    frame = _frame()
    codes = np.column_stack(
        [frame["stratum"].to_numpy(), (frame["region"] == "s").to_numpy(int)]
    ).astype(np.int64)
    codes[3, 1] = -1
    cal = Calibration(codes=codes, sizes=(3, 2), base=frame["w"].to_numpy(), index=frame.index)
    for design in (
        _design(frame),
        SurveyDesign(frame, weights="w", strata="stratum", psu="psu", calibration=cal),
    ):
        m = design_matrices(design, FORMULA, "binomial", None, "t")
        table = np.random.default_rng(5).normal(size=(len(m.yg), 3))
        dense = np.zeros((design.n, 3))
        dense[m.rows] = table[m.group]
        np.testing.assert_allclose(
            design.vcov_total_indexed(m.rows, m.group, table),
            design.vcov_total(dense),
            rtol=1e-12,
        )
