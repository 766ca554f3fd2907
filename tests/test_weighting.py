"""Raking: hand-calculated cases, bounded raking against an independent optimiser, bad input,
trimming, collapsing, replicates, diagnostics and properties.

Where each expected number comes from is said in the test: a formula written out here, an
independent solver (scipy's BFGS on the dual of bounded raking), or a property every raked
weight vector must have. R's numbers are in ``test_weighting_r.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, minimize_scalar

from social_licence.errors import ConfigError, WeightingError
from social_licence.weighting.diagnostics import (
    balance_table,
    effective_n,
    kish_deff,
    margin_table,
    methods_note,
    weight_summary,
)
from social_licence.weighting.margins import Margin, collapse_margin, make_margin
from social_licence.weighting.solver import make_reweighter, rake
from social_licence.weighting.targets import rake_from_config


def frame(**cols) -> pd.DataFrame:
    """Columns as Categoricals in the given order of first appearance, as the analysis frame."""
    out = {}
    for name, values in cols.items():
        if isinstance(values, pd.Categorical):
            out[name] = values
        else:
            cats = list(dict.fromkeys(v for v in values if isinstance(v, str)))
            out[name] = pd.Categorical(values, categories=cats)
    d = pd.DataFrame(out)
    d.index = pd.Index([f"R{i:03d}" for i in range(len(d))], name="respondent")
    return d


# -- hand-calculated results -------------------------------------------------------------------
def test_one_margin_is_post_stratification():
    # One margin: w_i = d_i * T_c / sum_{j in c} d_j, in one step (hand formula).
    d = frame(sex=["F", "F", "F", "M"])
    base = np.array([1.0, 2.0, 1.0, 4.0])
    w_fit = rake(d, {"sex": {"F": 0.5, "M": 0.5}}, base, total=8.0)
    w = w_fit.weights
    np.testing.assert_allclose(w.to_numpy(), [1.0, 2.0, 1.0, 4.0])
    w_fit = rake(d, {"sex": {"F": 0.75, "M": 0.25}}, base, total=8.0)
    w = w_fit.weights
    np.testing.assert_allclose(w.to_numpy(), [6 / 4, 12 / 4, 6 / 4, 2.0])
    assert w.name == "weight" and w.index.equals(d.index)


def test_two_by_two_raking_preserves_the_odds_ratio():
    """Counts n11=10, n12=20, n21=30, n22=40 raked to rows 50/50 and columns 40/60.

    Raking keeps the cross-product ratio theta = n11 n22 / (n12 n21) = 2/3; with x12 = 50 - x11,
    x21 = 40 - x11, x22 = 10 + x11: (1 - theta) x11^2 + (10 + 90 theta) x11 - 2000 theta = 0.
    """
    rows = ["A"] * 30 + ["B"] * 70
    cols = ["X"] * 10 + ["Y"] * 20 + ["X"] * 30 + ["Y"] * 40
    d = frame(row=rows, col=cols)
    w_fit = rake(d, {"row": {"A": 50, "B": 50}, "col": {"X": 40, "Y": 60}})
    w = w_fit.weights
    theta = 10 * 40 / (20 * 30)
    a, b, c = 1 - theta, 10 + 90 * theta, -2000 * theta
    x11 = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    expected = {
        ("A", "X"): x11 / 10,
        ("A", "Y"): (50 - x11) / 20,
        ("B", "X"): (40 - x11) / 30,
        ("B", "Y"): (10 + x11) / 40,
    }
    got = w.groupby([d["row"], d["col"]], observed=True).first()
    for cell, value in expected.items():
        assert got[cell] == pytest.approx(value, rel=1e-9)
    assert w_fit.iterations > 1 and w_fit.converged is True
    assert w_fit.max_margin_error <= 1e-10


def test_interlocked_margin_is_post_stratification_on_cells():
    d = frame(sex=["F", "F", "M", "M", "M"], age=["young", "old", "young", "old", "old"])
    targets = {("sex", "age"): {"F|young": 0.1, "F|old": 0.4, "M|young": 0.2, "M|old": 0.3}}
    w_fit = rake(d, targets, total=10.0)
    w = w_fit.weights
    # each cell's rows share its total 10 * share (hand formula)
    np.testing.assert_allclose(w.to_numpy(), [1.0, 4.0, 2.0, 1.5, 1.5])
    nested = {("sex", "age"): {"F": {"young": 0.1, "old": 0.4}, "M": {"young": 0.2, "old": 0.3}}}
    np.testing.assert_allclose(rake(d, nested, total=10.0).weights.to_numpy(), w.to_numpy())


def test_total_defaults_to_sample_size_for_shares_and_population_for_totals():
    d = frame(sex=["F", "M", "M", "M"])
    base = np.array([10.0, 10.0, 10.0, 10.0])
    assert rake(d, {"sex": {"F": 0.5, "M": 0.5}}, base).weights.sum() == pytest.approx(4)
    assert rake(d, {"sex": {"F": 0.5, "M": 0.5}}, base, total="base").weights.sum() == pytest.approx(40)
    assert rake(d, {"sex": {"F": 0.5, "M": 0.5}}, base, total=123.0).weights.sum() == pytest.approx(123)
    assert rake(d, {"sex": {"F": 300, "M": 700}}, base).weights.sum() == pytest.approx(1000)


def test_missing_category_gets_its_own_target():
    d = frame(sex=["F", None, "M", "M"])
    w_fit = rake(d, {"sex": {"F": 0.4, "M": 0.4, "Missing": 0.2}}, missing="category", total=10.0)
    w = w_fit.weights
    np.testing.assert_allclose(w.to_numpy(), [4.0, 2.0, 2.0, 2.0])


# -- bad input: each a clear error naming the margin and category --------------------------------
def test_missing_value_is_an_error_naming_variable_and_respondents():
    d = frame(sex=["F", None, "M", None])
    # respondent IDs are never printed: the rows are given by position (R001, R003 are 2 and 4)
    with pytest.raises(WeightingError, match=r"'sex' is missing for 2 respondents \(rows 2, 4\)"):
        rake(d, {"sex": {"F": 0.5, "M": 0.5}})


def test_missing_category_without_a_target_is_an_error():
    d = frame(sex=["F", None, "M"])
    # by position, never the respondent ID (R001 is the second row)
    with pytest.raises(WeightingError, match=r"margin sex: value\(s\) 'Missing' .*\(rows 2\)"):
        rake(d, {"sex": {"F": 0.5, "M": 0.5}}, missing="category")


def test_category_with_no_respondents_is_an_error():
    d = frame(eth=pd.Categorical(["White", "Asian"], categories=["White", "Asian", "Black"]))
    with pytest.raises(WeightingError, match="margin eth: category 'Black' has no respondents"):
        rake(d, {"eth": {"White": 0.8, "Asian": 0.1, "Black": 0.1}})


def test_category_whose_respondents_all_have_zero_base_weight_is_an_error():
    d = frame(eth=["White", "Black", "White"])
    with pytest.raises(WeightingError, match="margin eth: category 'Black' has no respondents"):
        rake(d, {"eth": {"White": 0.9, "Black": 0.1}}, np.array([1.0, 0.0, 1.0]))


def test_shares_not_summing_to_one_are_an_error_naming_the_margin():
    d = frame(sex=["F", "M"], age=["a", "b"])
    with pytest.raises(WeightingError, match="sum to different totals .sex: 0.97, age: 1."):
        rake(d, {"sex": {"F": 0.5, "M": 0.47}, "age": {"a": 0.5, "b": 0.5}})
    with pytest.raises(WeightingError, match="margin sex: shares sum to 0.97, not 1"):
        rake(
            d,
            [
                make_margin("age", {"a": 0.5, "b": 0.5}),
                Margin(("sex",), {"F": 0.5, "M": 0.47}, kind="shares"),
            ],
        )


def test_data_value_without_a_target_is_an_error():
    d = frame(eth=["White", "Other", "Other"])
    with pytest.raises(WeightingError, match=r"margin eth: value\(s\) 'Other' of 2 respondents"):
        rake(d, {"eth": {"White": 1.0}})


def test_bad_base_weights_are_an_error_naming_respondents():
    d = frame(sex=["F", "M", "M"])
    with pytest.raises(WeightingError, match=r"\(rows 2; first value") as err:
        rake(d, {"sex": {"F": 0.5, "M": 0.5}}, np.array([1.0, -1.0, 1.0]))
    assert "R001" not in str(err.value)
    with pytest.raises(WeightingError, match="not in the data"):
        rake(d, {"sex": {"F": 0.5, "M": 0.5}}, "design_weight")


def test_contradictory_margins_do_not_converge_and_raise():
    # A rows are all X and B rows all Y, so A's total must equal X's: 0.5 cannot be 0.3.
    d = frame(a=["A", "A", "B", "B"], x=["X", "X", "Y", "Y"])
    with pytest.raises(WeightingError, match="raking did not converge after 50 iterations"):
        rake(d, {"a": {"A": 0.5, "B": 0.5}, "x": {"X": 0.3, "Y": 0.7}}, max_iter=50)


# -- bounds ------------------------------------------------------------------------------------
def _dual_bounded_raking(x: np.ndarray, d: np.ndarray, t: np.ndarray, low: float, high: float):
    """Independent reference: minimise the dual of bounded raking with scipy's BFGS.

    Bounded raking minimises sum d_i (g_i log g_i - g_i + 1) over L <= g_i <= U subject to
    X'(d g) = T; its dual is min_lam sum d_i F(x_i' lam) - lam' T with F' = clip(exp(.), L, U),
    and the weights are g_i = clip(exp(x_i' lam), L, U).
    """
    ll, lu = math.log(low), math.log(high)

    def big_f(u):
        return np.where(
            u < ll,
            low * (u - ll) + low,
            np.where(u > lu, high * (u - lu) + high, np.exp(np.clip(u, ll, lu))),
        )

    def objective(lam):
        return float(np.sum(d * big_f(x @ lam)) - lam @ t)

    def gradient(lam):
        return x.T @ (d * np.clip(np.exp(x @ lam), low, high)) - t

    res = minimize(
        objective,
        np.zeros(x.shape[1]),
        jac=gradient,
        method="BFGS",
        options={"gtol": 1e-11, "maxiter": 10000},
    )
    assert np.abs(gradient(res.x)).max() < 1e-8 * t.max()
    return np.clip(np.exp(x @ res.x), low, high)


def test_bounded_raking_is_the_optimum_an_independent_solver_finds():
    rng = np.random.default_rng(7)
    n = 300
    d = frame(
        a=list(rng.choice(["x", "y", "z"], n, p=[0.6, 0.3, 0.1])),
        b=list(rng.choice(["p", "q"], n, p=[0.7, 0.3])),
    )
    base = rng.uniform(0.5, 2.0, n)
    targets = {"a": {"x": 0.4, "y": 0.35, "z": 0.25}, "b": {"p": 0.5, "q": 0.5}}
    free = rake(d, targets, base).weights
    g_free = free.to_numpy() / (base * n / base.sum())
    low, high = 0.5 * g_free.min(), 0.9 * g_free.max()  # the upper bound binds
    w_fit = rake(d, targets, base, bounds=(low, high))
    w = w_fit.weights
    g = w.to_numpy() / (base * n / base.sum())
    x = np.column_stack([(d["a"] == c) for c in "xyz"] + [(d["b"] == c) for c in "pq"]).astype(
        float
    )
    t = np.array([0.4, 0.35, 0.25, 0.5, 0.5]) * n
    reference = _dual_bounded_raking(x, base * n / base.sum(), t, low, high)
    np.testing.assert_allclose(g, reference, atol=1e-7)
    assert g.max() == pytest.approx(high) and g.min() >= low - 1e-12
    assert w_fit.max_margin_error <= 1e-10 and w_fit.bounds == (low, high)


def test_bounds_a_single_category_cannot_reach_are_an_error_with_the_needed_factor():
    # F has 1 of 4 equal weights (share 0.25); a 0.5 target needs factor 0.5 / 0.25 = 2.
    d = frame(sex=["F", "M", "M", "M"])
    with pytest.raises(
        WeightingError,
        match=r"category 'F' needs its weights multiplied by 2 "
        r"on average, beyond the upper bound 1\.5",
    ):
        rake(d, {"sex": {"F": 0.5, "M": 0.5}}, bounds=(0.5, 1.5))


def _joint_case():
    """Cells AX=3, AY=1, BX=1, BY=3 (unit weights, total 8) raked to A=B=4, X=6.4, Y=1.6.

    Each category on its own needs a factor of 1, 1, 1.6 or 0.4. Jointly the solutions are
    g_AX = t, g_AY = 4 - 3t, g_BX = 6.4 - 3t, g_BY = t - 0.8 (by hand from the four equations).
    Within (0.35, 1.7): g_AY >= 0.35 needs t <= 1.2167 but g_BX <= 1.7 needs t >= 1.5667, so no
    solution. Within (0.1, 3): t in [1.1333, 1.3].
    """
    d = frame(a=["A"] * 4 + ["B"] * 4, x=["X", "X", "X", "Y", "X", "Y", "Y", "Y"])
    return d, {"a": {"A": 0.5, "B": 0.5}, "x": {"X": 0.8, "Y": 0.2}}


def test_bounds_that_cannot_be_met_together_are_an_error():
    d, targets = _joint_case()
    with pytest.raises(WeightingError, match=r"bounds \(0\.35, 1\.7\) cannot be met: no weights"):
        rake(d, targets, bounds=(0.35, 1.7))


def test_feasible_bounds_give_the_optimum_along_the_hand_derived_line():
    d, targets = _joint_case()
    w_fit = rake(d, targets, bounds=(0.1, 3.0))
    w = w_fit.weights.to_numpy()

    def distance(t):  # raking distance of the one-parameter family, cell counts 3, 1, 1, 3
        g = np.array([t, 4 - 3 * t, 6.4 - 3 * t, t - 0.8])
        return float(np.sum(np.array([3, 1, 1, 3]) * (g * np.log(g) - g + 1)))

    best = minimize_scalar(
        distance, bounds=(1.1334, 1.3), method="bounded", options={"xatol": 1e-12}
    ).x
    np.testing.assert_allclose(
        w[[0, 3, 4, 5]], [best, 4 - 3 * best, 6.4 - 3 * best, best - 0.8], atol=1e-7
    )


def test_trim_deff_takes_the_loosest_bounds_that_reach_the_target():
    rng = np.random.default_rng(3)
    n = 400
    d = frame(
        a=list(rng.choice(["x", "y", "z"], n, p=[0.7, 0.2, 0.1])),
        b=list(rng.choice(["p", "q"], n, p=[0.8, 0.2])),
    )
    targets = {"a": {"x": 0.3, "y": 0.3, "z": 0.4}, "b": {"p": 0.4, "q": 0.6}}
    untrimmed = kish_deff(rake(d, targets).weights)
    goal = 1 + 0.8 * (untrimmed - 1)
    w_fit = rake(d, targets, trim_deff=goal)
    w = w_fit.weights
    low, high = w_fit.bounds
    assert kish_deff(w) <= goal + 1e-9
    assert low == pytest.approx(1 / high)
    looser = rake(d, targets, bounds=(1 / (high * 1.001), high * 1.001)).weights
    assert kish_deff(looser) > goal
    assert w_fit.max_margin_error <= 1e-10
    # the base weight's scale does not matter to the bounds chosen
    scaled_fit = rake(d, targets, np.full(n, 250.0), trim_deff=goal)
    assert scaled_fit.bounds == pytest.approx((low, high), rel=1e-6)


def test_trim_deff_that_cannot_be_reached_is_an_error():
    d = frame(a=["x"] * 9 + ["y"])
    with pytest.raises(WeightingError, match="trim_deff 1.0001 cannot be met"):
        rake(d, {"a": {"x": 0.5, "y": 0.5}}, trim_deff=1.0001)


# -- collapsing ----------------------------------------------------------------------------------
def test_adjacent_collapse_merges_a_sparse_category_into_its_smaller_neighbour():
    m = make_margin("inc", {"a": 0.3, "b": 0.1, "c": 0.4, "d": 0.2})
    out, records = collapse_margin(
        m, {"a": 50, "b": 3, "c": 40, "d": 20}, rule=_rule(10, "adjacent")
    )
    assert out.targets == pytest.approx({"a": 0.3, "b + c": 0.5, "d": 0.2})
    assert out.members["b + c"] == ("b", "c")
    assert [r["category"] for r in records] == ["b", "c"]


def test_collapse_rule_from_config_rakes_the_merged_category():
    d = frame(eth=["White"] * 6 + ["Mixed"] + ["Other"] * 3)
    targets = {"eth": {"White": 0.8, "Mixed": 0.05, "Other": 0.15}}
    with pytest.raises(WeightingError):
        rake(d, targets, bounds=(0.9, 1.1))
    w_fit = rake(
        d, targets, total=10.0, collapse={"eth": {"min_count": 2, "merge": {"Mixed": "Other"}}}
    )
    w = w_fit.weights
    # after merging: White 8 over 6 rows, Mixed + Other 2 over 4 rows (hand formula)
    np.testing.assert_allclose(w.to_numpy(), [8 / 6] * 6 + [0.5] * 4)
    with pytest.raises(ConfigError, match="names no margin"):
        rake(d, targets, collapse={"ethnicity": {"min_count": 2}})


def _rule(min_count, merge):
    from social_licence.weighting.margins import CollapseRule

    return CollapseRule(min_count=min_count, merge=merge)


# -- replicates ----------------------------------------------------------------------------------
def test_reweighter_reproduces_rake_and_rakes_each_replicate_column():
    rng = np.random.default_rng(11)
    n = 500
    d = frame(a=list(rng.choice(["x", "y", "z"], n)), b=list(rng.choice(["p", "q"], n)))
    targets = {"a": {"x": 0.2, "y": 0.3, "z": 0.5}, "b": {"p": 0.6, "q": 0.4}}
    base = rng.uniform(1, 3, n)
    d["dw"] = base
    rw = make_reweighter(d, targets, base_weight="dw", bounds=(0.2, 5))
    np.testing.assert_allclose(
        rw(base), rake(d, targets, "dw", bounds=(0.2, 5)).weights.to_numpy(), rtol=1e-12
    )
    reps = base[:, None] * rng.exponential(size=(n, 3))
    out = rw(reps)
    for r in range(3):
        # both meet every margin to 1e-10 (the replicate starts from the full sample's factors)
        np.testing.assert_allclose(
            out[:, r], rake(d, targets, reps[:, r], bounds=(0.2, 5)).weights, rtol=1e-8
        )
        assert out[:, r].sum() == pytest.approx(n)


def test_replicate_that_loses_a_category_errors_or_rakes_the_rest_when_partial():
    d = frame(a=["x", "x", "y", "z", "z"])
    targets = {"a": {"x": 0.5, "y": 0.2, "z": 0.3}}
    rep = np.array([1.0, 1.0, 0.0, 1.0, 1.0])
    with pytest.raises(
        WeightingError, match="category .y. has no weight in call 1.*empty=.partial."
    ):
        make_reweighter(d, targets, base_weight=None)(rep)
    rw = make_reweighter(d, targets, base_weight=None, empty="partial")
    # x and z keep their targets' proportions 0.5 : 0.3 of the total 5 (hand formula)
    np.testing.assert_allclose(rw(rep), [5 * 0.5 / 0.8 / 2] * 2 + [0] + [5 * 0.3 / 0.8 / 2] * 2)
    assert rw.partial == [(1, "a", "y")]


# -- diagnostics --------------------------------------------------------------------------------
def test_kish_design_effect_and_effective_n_by_hand():
    # w = 1, 1, 2, 4: n = 4, sum 8, sum of squares 22 -> deff 4*22/64, n_eff 64/22.
    w = np.array([1.0, 1.0, 2.0, 4.0, 0.0])  # a zero weight is not a respondent
    assert kish_deff(w) == pytest.approx(1.375)
    assert effective_n(w) == pytest.approx(64 / 22)


def test_weight_summary_by_hand():
    # w = 1, 2, 3, 4, 10: quartiles 2, 3, 4; mean 4; sd (divisor n) sqrt(50 / 5).
    s = weight_summary(np.array([1.0, 2, 3, 4, 10]), base=np.ones(5)).set_index("weights")
    final = s.loc["final"]
    assert (final["min"], final["q25"], final["median"], final["q75"], final["max"]) == (
        1,
        2,
        3,
        4,
        10,
    )
    assert final["cv"] == pytest.approx(math.sqrt(10) / 4)
    assert final["deff_kish"] == pytest.approx(1 + 10 / 16)
    assert s.loc["adjustment", "mean"] == pytest.approx(1.0)  # base rescaled to the same total


def test_margin_table_by_hand():
    d = frame(sex=["F", "F", "M", "M"])
    t = margin_table(d, np.array([1.0, 1.0, 3.0, 3.0]), np.ones(4), {"sex": {"F": 0.25, "M": 0.75}})
    f = t.set_index("category").loc["F"]
    assert (f["target"], f["before"], f["after"]) == (0.25, 0.5, 0.25)
    assert f["abs_diff_before"] == pytest.approx(0.25) and f["abs_diff_after"] == 0
    assert f["count_unweighted"] == 2


def test_balance_table_by_hand():
    # Indicator of "yes" over 4 respondents, base weights 1: mean 0.5, sd 0.5.
    # Final weights 3, 1, 1, 3 put 4/8 on "yes" rows 0 and 3 -> 0.5; 1, 1, 1, 5 -> 0.75.
    d = frame(cov=["yes", "no", "no", "yes"])
    t = balance_table(d, np.array([1.0, 1.0, 1.0, 5.0]), ["cov"], reference={"cov": {"yes": 0.6}})
    yes = t.set_index("level").loc["yes"]
    assert yes["mean_before"] == 0.5 and yes["mean_after"] == 0.75 and yes["sd"] == 0.5
    assert yes["asmd_shift"] == pytest.approx(0.5)
    assert yes["asmd_before"] == pytest.approx(0.2) and yes["asmd_after"] == pytest.approx(0.3)
    assert math.isnan(t.set_index("level").loc["no", "asmd_before"])


def test_rake_from_config_returns_every_diagnostic_and_refuses_unknown_options():
    rng = np.random.default_rng(5)
    n = 200
    d = frame(
        a=list(rng.choice(["x", "y"], n)),
        b=list(rng.choice(["p", "q", "r"], n)),
        c=list(rng.choice(["u", "v"], n)),
    )
    d["design_weight"] = rng.uniform(1, 2, n)
    targets = {"a": {"x": 0.5, "y": 0.5}, "b": {"p": 0.2, "q": 0.3, "r": 0.5}}
    w, diag = rake_from_config(d, targets, {"bounds": [0.25, 4], "covariates": ["c"]})
    assert set(diag) == {"summary", "margins", "balance", "collapsed", "convergence"}
    conv = diag["convergence"].iloc[0]
    assert conv["bound_low"] == 0.25 and conv["converged"] and conv["iterations"] >= 1
    assert diag["margins"]["abs_diff_after"].max() <= 1e-10
    assert list(diag["balance"]["covariate"]) == ["c", "c"]
    assert "2 population margins (a, b)" in methods_note(diag)
    with pytest.raises(ConfigError, match="unknown weighting option"):
        rake_from_config(d, targets, {"bound": [0.3, 3]})
    with pytest.raises(ConfigError, match="covariates .* are weighting variables"):
        rake_from_config(d, targets, {"covariates": ["a"]})


# -- properties ---------------------------------------------------------------------------------
@st.composite
def problems(draw):
    """A sample holding every combination of categories (so raking always has a solution),
    random extra rows and base weights, and random targets with every share at least 0.05."""
    seed = draw(st.integers(0, 2**32 - 1))
    sizes = draw(st.lists(st.integers(2, 4), min_size=1, max_size=3))
    extra = draw(st.integers(0, 150))
    rng = np.random.default_rng(seed)
    grid = (
        np.array(np.meshgrid(*[np.arange(k) for k in sizes], indexing="ij"))
        .reshape(len(sizes), -1)
        .T
    )
    more = (
        np.column_stack([rng.integers(0, k, extra) for k in sizes])
        if extra
        else np.zeros((0, len(sizes)), int)
    )
    codes = np.vstack([grid, more])
    cols = {
        f"v{m}": pd.Categorical.from_codes(codes[:, m], [f"c{j}" for j in range(k)])
        for m, k in enumerate(sizes)
    }
    data = pd.DataFrame(cols)
    data.index = pd.Index([f"R{i}" for i in range(len(data))], name="respondent")
    targets = {}
    for m, k in enumerate(sizes):
        s = 0.05 + rng.dirichlet(np.ones(k)) * (1 - 0.05 * k)
        targets[f"v{m}"] = {f"c{j}": float(v) for j, v in enumerate(s)}
    base = rng.uniform(0.2, 5.0, len(data))
    return data, targets, base, rng


@settings(max_examples=40, deadline=None)
@given(problems())
def test_raked_weights_are_positive_and_meet_every_margin(problem):
    data, targets, base, _ = problem
    w_fit = rake(data, targets, base, tol=1e-10)
    w = w_fit.weights
    assert (w > 0).all()
    for var, shares in targets.items():
        got = w.groupby(data[var], observed=False).sum() / w.sum()
        for cat, share in shares.items():
            assert abs(got[cat] - share) <= 1e-10
    assert w.sum() == pytest.approx(len(data))


@settings(max_examples=30, deadline=None)
@given(problems())
def test_raking_is_invariant_to_row_order_and_base_weight_scale(problem):
    data, targets, base, rng = problem
    # margins met to 1e-10 pin the weights only to about that over the conditioning of the
    # problem; converge further so that equal solutions must agree to 1e-9
    w_fit = rake(data, targets, base, tol=1e-13)
    w = w_fit.weights
    order = rng.permutation(len(data))
    shuffled = rake(data.iloc[order], targets, base[order], tol=1e-13).weights
    pd.testing.assert_series_equal(shuffled.loc[w.index], w, check_exact=False, rtol=1e-9)
    scaled_fit = rake(data, targets, base * 1234.5, tol=1e-13)
    scaled = scaled_fit.weights
    np.testing.assert_allclose(scaled.to_numpy(), w.to_numpy(), rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(problems(), st.floats(0.2, 0.9), st.floats(1.2, 5.0))
def test_bounded_weights_stay_within_bounds_or_raise(problem, low, high):
    data, targets, base, _ = problem
    try:
        w_fit = rake(data, targets, base, bounds=(low, high))
        w = w_fit.weights
    except WeightingError as exc:
        assert "cannot be met" in str(exc)
        return
    g = w.to_numpy() / (base * len(data) / base.sum())
    assert g.min() >= low * (1 - 1e-12) and g.max() <= high * (1 + 1e-12)
    for var, shares in targets.items():
        got = w.groupby(data[var], observed=False).sum() / w.sum()
        assert max(abs(got[c] - s) for c, s in shares.items()) <= 1e-10
