"""Estimates by wave, changes between waves and pooled estimates (design/change.py).

Expected numbers: R survey 4.1.1 on the same data (tests/data/reference/waves/, made by
waves_reference.R from waves.csv), and hand computations stated in each test.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from social_licence.design.change import (
    change_tests,
    check_harmonised,
    combine_waves,
    estimates_by_wave,
    pooled_estimates,
    wave_changes,
)
from social_licence.design.design import SurveyDesign
from social_licence.errors import EstimationError, InputError
from social_licence.survey.survey import Survey

WAVES_REFERENCE = Path(__file__).parent / "data" / "reference" / "waves"


@pytest.fixture(scope="module")
def stacked() -> pd.DataFrame:
    data = pd.read_csv(WAVES_REFERENCE / "waves.csv", keep_default_na=False, na_values=[""])
    data["lone"] = pd.Categorical(data["lone"], categories=["Yes", "No"])
    data["item"] = pd.Categorical(data["item"].astype("Int64").astype(str).replace("<NA>", np.nan))
    return data


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(WAVES_REFERENCE / "waves_reference.csv")


def _ref(reference, design, quantity, group="all") -> float:
    row = reference[
        (reference["design"] == design)
        & (reference["quantity"] == quantity)
        & (reference["group"] == group)
    ]
    assert len(row) == 1
    return float(row["value"].iloc[0])


def _designs(stacked) -> dict[str, SurveyDesign]:
    return {
        name: SurveyDesign(
            part.drop(columns="wave").reset_index(drop=True),
            weights="weight",
            strata="stratum",
            psu="psu",
        )
        for name, part in stacked.groupby("wave", sort=True)
    }


@pytest.mark.parametrize("design", ["panel", "independent"])
def test_change_and_se_match_r_survey(stacked, reference, design):
    waves = combine_waves(_designs(stacked), panel="id" if design == "panel" else None)
    assert waves.n_overlap == (150 if design == "panel" else 0)
    change = wave_changes(waves, "y", None)
    assert change["difference"].iloc[0] == pytest.approx(
        _ref(reference, design, "change"), abs=1e-12
    )
    assert change["se"].iloc[0] == pytest.approx(_ref(reference, design, "se_change"), rel=1e-9)
    by_lone = wave_changes(waves, "y", None, by="lone").set_index("lone")
    for group in ("Yes", "No"):
        assert by_lone.loc[group, "difference"] == pytest.approx(
            _ref(reference, design, "change", group), abs=1e-12
        )
        assert by_lone.loc[group, "se"] == pytest.approx(
            _ref(reference, design, "se_change", group), rel=1e-9
        )
    assert by_lone["family_size"].eq(2).all()
    assert by_lone["family"].iloc[0].startswith("changes in mean y since wave 'wave1' within lone")


@pytest.mark.parametrize("design", ["panel", "independent"])
def test_rao_scott_test_of_change_matches_svychisq(stacked, reference, design):
    waves = combine_waves(_designs(stacked), panel="id" if design == "panel" else None)
    test = change_tests(waves, "item").iloc[0]
    assert test["statistic"] == pytest.approx(_ref(reference, design, "rao_scott_F"), rel=1e-8)
    assert test["ndf"] == pytest.approx(_ref(reference, design, "rao_scott_ndf"), rel=1e-8)
    assert test["ddf"] == pytest.approx(_ref(reference, design, "rao_scott_ddf"), rel=1e-8)
    assert test["p_value"] == pytest.approx(_ref(reference, design, "rao_scott_p"), rel=1e-7)


def test_independent_change_is_the_hand_computed_difference_of_two_wave_estimates():
    # Hand computation. Wave A: one stratum, PSUs {1: y=1,1 w=1,1}, {2: y=0,1 w=1,1},
    # {3: y=0,0 w=2,2}: mean = (2 + 1 + 0) / 8 = 0.375. Linearised PSU totals of
    # w (y - 0.375) / 8: (2 * 0.625) / 8, (0.625 - 0.375) / 8, (-4 * 0.375) / 8
    # = 0.15625, 0.03125, -0.1875 (mean 0); V_A = 3/2 * (0.15625^2 + 0.03125^2 + 0.1875^2)
    # = 3/2 * 0.060546875 = 0.0908203125. Wave B: unweighted, PSUs = rows, y = 1, 0, 0, 1, 1 (mean 0.6):
    # V_B = s^2 / n = 0.3 / 5 = 0.06. Change B - A = 0.225, SE = sqrt(V_A + V_B).
    a = pd.DataFrame({"y": [1, 1, 1, 0, 0, 0], "w": [1, 1, 1, 1, 2, 2], "psu": [1, 1, 2, 2, 3, 3]})
    b = pd.DataFrame({"y": [1, 0, 0, 1, 1]})
    waves = combine_waves({"A": SurveyDesign(a, weights="w", psu="psu"), "B": SurveyDesign(b)})
    row = wave_changes(waves, "y", None).iloc[0]
    assert (row["wave"], row["baseline"]) == ("B", "A")
    assert row["estimate_b"] == pytest.approx(0.375)
    assert row["difference"] == pytest.approx(0.225, abs=1e-15)
    assert row["se"] == pytest.approx(np.sqrt(0.0908203125 + 0.06), rel=1e-12)


def test_each_wave_estimate_equals_its_single_wave_estimate(stacked):
    designs = _designs(stacked)
    stacked_item = estimates_by_wave(combine_waves(designs), "item")
    for name, design in designs.items():
        alone = design.proportion("item")
        mine = stacked_item[stacked_item["wave"] == name].reset_index(drop=True)
        np.testing.assert_allclose(mine["estimate"], alone["estimate"], rtol=1e-12)
        np.testing.assert_allclose(mine["se"], alone["se"], rtol=1e-10)


def test_pooled_estimate_rescales_each_wave(stacked):
    # By hand: with scale="sample_size" the pooled mean is sum_k (n_k / W_k) sum_i w_i y_i over the
    # rescaled weights of the answering rows; with "equal" each wave's weights sum to the mean n.
    designs = _designs(stacked)
    for scale in ("sample_size", "equal"):
        table, method = pooled_estimates(designs, "item", scale=scale)
        num = np.zeros(5)
        den = 0.0
        for design in designs.values():
            d = design.data
            target = len(d) if scale == "sample_size" else np.mean([x.n for x in designs.values()])
            w = design.weights * target / design.weights.sum()
            ok = d["item"].notna().to_numpy()
            den += w[ok].sum()
            num += np.array([w[ok & (d["item"] == str(k)).to_numpy()].sum() for k in range(1, 6)])
        np.testing.assert_allclose(table["estimate"], num / den, rtol=1e-12)
        assert "rescaled" in method and "independent" in method


def _survey(name, labels, file):
    data = pd.DataFrame({"q": pd.Categorical(list(labels.values()))})
    meta = {"source": {"file": file}, "variables": {"q": {"value_labels": labels, "missing": {}}}}
    return Survey(data, meta)


def test_a_code_labelled_differently_in_one_wave_names_wave_file_variable_and_value():
    one = _survey("w1", {1: "a", 2: "b"}, "wave1.sav")
    two = _survey("w2", {1: "a", 2: "B"}, "wave2.sav")
    with pytest.raises(InputError) as err:
        check_harmonised({"wave1": one, "wave2": two})
    message = str(err.value)
    for part in ("wave 'wave2'", "file: wave2.sav", "variable: q", "value: '2'", "'B'", "'b'"):
        assert part in message


def test_a_variable_absent_from_a_wave_is_an_error():
    one = _survey("w1", {1: "a", 2: "b"}, "wave1.sav")
    two = Survey(pd.DataFrame({"r": [1]}), {"source": {"file": "w2.sav"}, "variables": {}})
    with pytest.raises(InputError, match="wave 'later' lacks.*w2.sav.*variable: q"):
        check_harmonised({"first": one, "later": two})


def test_a_panel_id_repeated_within_a_wave_is_an_error():
    d = pd.DataFrame({"id": ["a", "a"], "y": [1.0, 0.0]})
    with pytest.raises(EstimationError, match="wave 'w1'.*repeats"):
        combine_waves({"w1": SurveyDesign(d), "w2": SurveyDesign(d.iloc[:1])}, panel="id")


def test_known_change_is_recovered_and_unchanged_cells_are_not_flagged():
    # Truth from the generator (synthetic/waves.py): lone parents' acceptance of risk scoring
    # -8 points, the other 7 lone parent x purpose cells unchanged. Four seeded draws: a 95%
    # CI missing the truth in 2+ of 4 draws has probability 0.014; the Holm family of 8 has a
    # family-wise false-flag rate <= 5%, so 2+ flagged of the 28 unchanged cells is unlikely.
    # benchmarks/bench_wave_change.py runs the same over 200 draws and prints the rates.
    from social_licence.survey.instrument import load_instrument
    from social_licence.synthetic.waves import change_draw

    inst = load_instrument(Path(__file__).parents[1] / "config" / "instrument.yaml")
    draws = pd.concat([change_draw(d, instrument=inst) for d in range(4)], ignore_index=True)
    changed = draws["true_change"] != 0
    assert changed.sum() == 4 and (draws.loc[changed, "true_change"] == -0.08).all()
    covered = (draws["ci_low"] <= draws["true_change"]) & (draws["true_change"] <= draws["ci_high"])
    assert covered[changed].sum() >= 3
    assert covered[~changed].mean() >= 0.85
    assert draws.loc[~changed, "flagged"].sum() <= 1
    assert (draws["family_size"] == 8).all()


@pytest.mark.parametrize("design", ["panel", "independent"])
def test_pooled_share_and_se_match_r_survey_on_the_stacked_rescaled_design(stacked, reference, design):
    # R: each wave's weights times n_wave / sum(weights of the wave), then svymean(~y) and
    # svyby(~y, ~lone) on the stacked design (waves_reference.R, "pooled_*").
    table, method = pooled_estimates(
        _designs(stacked), "y", scale="sample_size", panel="id" if design == "panel" else None
    )
    table = table[table["level"].astype(float) == 1]
    assert table["estimate"].iloc[0] == pytest.approx(_ref(reference, design, "pooled_estimate"), rel=1e-12)
    assert table["se"].iloc[0] == pytest.approx(_ref(reference, design, "pooled_se"), rel=1e-9)
    by_lone, _ = pooled_estimates(
        _designs(stacked), "y", by="lone", scale="sample_size", panel="id" if design == "panel" else None
    )
    by_lone = by_lone[by_lone["level"].astype(float) == 1].set_index("lone")
    for group in ("Yes", "No"):
        assert by_lone.loc[group, "estimate"] == pytest.approx(_ref(reference, design, "pooled_estimate", group), rel=1e-12)
        assert by_lone.loc[group, "se"] == pytest.approx(_ref(reference, design, "pooled_se", group), rel=1e-9)
    assert "number of respondents" in method


@pytest.mark.parametrize("design", ["panel", "independent"])
def test_model_with_a_wave_term_matches_r_svyglm_on_the_stacked_waves(stacked, reference, design):
    # R: svyglm(y ~ wave + lone, family = quasibinomial()) on the stacked design
    # (waves_reference.R, "model_wave_*").
    from social_licence.models.fit import svyglm

    waves = combine_waves(_designs(stacked), panel="id" if design == "panel" else None)
    fit = svyglm(waves.design, "y ~ wave + lone", "binomial")
    for term, group in (("wave[T.wave2]", "wave2"), ("lone[T.No]", "loneNo")):
        assert fit.params[term] == pytest.approx(_ref(reference, design, "model_wave_coef", group), rel=1e-7)
        assert fit.bse[term] == pytest.approx(_ref(reference, design, "model_wave_se", group), rel=1e-6)


def _raked_wave(seed: int, n: int = 240) -> pd.DataFrame:
    """A raked wave: 6 strata x 4 PSUs, unequal design weights, two margins (sex, age)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "stratum": np.repeat(np.arange(6), n // 6),
            "psu": np.repeat(np.arange(24), n // 24),
            "d": rng.uniform(1.0, 4.0, n),
            "sex": rng.choice(["F", "M"], n, p=[0.6, 0.4]),
            "age": rng.choice(["young", "mid", "old"], n, p=[0.2, 0.5, 0.3]),
        },
        index=pd.Index([f"p{i:03d}" for i in range(n)], name="respondent"),
    )
    score = 1.2 * (df["sex"] == "F") + 1.0 * (df["age"] == "old") + rng.normal(0, 1, n)
    df["agree"] = (score > 1.0).astype(float)
    return df


RAKING_TARGETS = {"sex": {"F": 0.52, "M": 0.48}, "age": {"young": 0.3, "mid": 0.4, "old": 0.3}}


def _calibrated_wave(df: pd.DataFrame, psu: str = "psu") -> SurveyDesign:
    from social_licence.weighting.solver import calibration, rake

    df = df.assign(w=rake(df, RAKING_TARGETS, base_weight="d").weights)
    return SurveyDesign(
        df, weights="w", strata="stratum" if psu == "psu" else None, psu=psu,
        calibration=calibration(df, RAKING_TARGETS, base_weight="d"),
    )


def test_calibrated_waves_keep_their_published_ses_and_a_change_sums_their_variances():
    # By hand: independent waves, each linearised on its own raking margins, so a wave's SE in
    # the stacked design is its single-wave (published) SE and Var(change) = V1 + V2.
    one, two = _calibrated_wave(_raked_wave(1)), _calibrated_wave(_raked_wave(2))
    se1 = one.mean("agree")["se"].iloc[0]
    se2 = two.mean("agree")["se"].iloc[0]
    waves = combine_waves({"w1": one, "w2": two})
    assert waves.calibrated and "raking linearised" in waves.method
    by_wave = waves.design.mean("agree", by="wave")
    np.testing.assert_allclose(by_wave["se"], [se1, se2], rtol=1e-10)
    change = wave_changes(waves, "agree", None).iloc[0]
    assert change["se"] == pytest.approx(np.sqrt(se1**2 + se2**2), rel=1e-10)
    # the raking matters: with the same weights taken as fixed the SE is another number
    fixed = SurveyDesign(one.data, weights=one.weights, strata="stratum", psu="psu")
    assert abs(fixed.mean("agree")["se"].iloc[0] - se1) > 1e-4


def test_calibrated_panel_change_se_is_the_person_clustered_residual_variance():
    # By hand (dense): residuals e of each wave's influence values u from that wave's
    # d-weighted least-squares fit on its own margins' indicators; per-person totals t of w e
    # over both waves; Var = C / (C - 1) * sum (t - mean t)^2 over the C people.
    a, b = _raked_wave(3), _raked_wave(4)
    b.index = pd.Index([f"p{i:03d}" if i < 80 else f"q{i:03d}" for i in range(len(b))], name="respondent")
    waves = {}
    for name, df in (("w1", a), ("w2", b)):
        df = df.assign(person=df.index.to_numpy())
        waves[name] = _calibrated_wave(df, psu="person")
    combined = combine_waves(waves, panel="person")
    assert combined.n_overlap == 80
    change = wave_changes(combined, "agree", None).iloc[0]
    totals = {}
    for sign, design in ((-1, waves["w1"]), (1, waves["w2"])):
        df, w = design.data, design.weights
        y = df["agree"].to_numpy()
        mean = np.sum(w * y) / w.sum()
        u = (y - mean) / w.sum()
        x = np.column_stack([(df[v] == c).to_numpy(float) for v in RAKING_TARGETS for c in RAKING_TARGETS[v]])
        sd = np.sqrt(df["d"].to_numpy())
        beta = np.linalg.lstsq(x * sd[:, None], u * sd, rcond=None)[0]
        e = u - x @ beta
        for person, value in zip(df.index, sign * w * e, strict=True):
            totals[person] = totals.get(person, 0.0) + value
    t = np.array(list(totals.values()))
    variance = len(t) / (len(t) - 1) * np.sum((t - t.mean()) ** 2)
    assert change["se"] == pytest.approx(np.sqrt(variance), rel=1e-9)


def test_calibrated_waves_cannot_be_combined_row_per_rating():
    one = _calibrated_wave(_raked_wave(5))
    with pytest.raises(EstimationError, match="raked weights"):
        combine_waves({"w1": one, "w2": one}, repeated=True)


def test_pooled_share_of_calibrated_waves_is_the_hand_linearised_ratio():
    # By hand (dense): weights w' = w * n_k / sum(w_k) per wave (sample_size); p = sum w'y /
    # sum w'; influence u = (y - p) / sum w'; residuals e of u from each wave's d-weighted
    # least-squares fit on its own margins; PSU totals of w'e with strata nested in waves;
    # Var = sum_h n_h / (n_h - 1) sum_c (t_hc - mean_h t)^2.
    waves = {"w1": _calibrated_wave(_raked_wave(6)), "w2": _calibrated_wave(_raked_wave(7, n=192))}
    table, method = pooled_estimates(waves, "agree", scale="sample_size")
    row = table[table["level"].astype(float) == 1].iloc[0]
    parts = []
    for name, design in waves.items():
        df = design.data
        w = design.weights * design.n / design.weights.sum()
        parts.append((name, df, w))
    total = sum(w.sum() for _, _, w in parts)
    p = sum(np.sum(w * df["agree"].to_numpy()) for _, df, w in parts) / total
    assert row["estimate"] == pytest.approx(p, rel=1e-12)
    variance = 0.0
    for _, df, w in parts:
        u = (df["agree"].to_numpy() - p) / total
        x = np.column_stack([(df[v] == c).to_numpy(float) for v in RAKING_TARGETS for c in RAKING_TARGETS[v]])
        sd = np.sqrt(df["d"].to_numpy())
        beta = np.linalg.lstsq(x * sd[:, None], u * sd, rcond=None)[0]
        t = pd.Series(w * (u - x @ beta)).groupby([df["stratum"].to_numpy(), df["psu"].to_numpy()]).sum()
        for _, totals in t.groupby(level=0):
            n_h = len(totals)
            variance += n_h / (n_h - 1) * np.sum((totals - totals.mean()) ** 2)
    assert row["se"] == pytest.approx(np.sqrt(variance), rel=1e-9)
    assert "raking linearised" in method
