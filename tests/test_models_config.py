"""Models declared in config, the long design of repeated ratings, and the respondent indices.

Expected numbers are hand calculations written out here (cluster variance of a ratio, Cronbach's
alpha and Feldt's interval from their textbook formulas) or counts of the frame built here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from test_ingest_support import BALLOTS  # ballot code -> purposes asked

from social_licence.design.design import SurveyDesign
from social_licence.errors import ConfigError, ModelError
from social_licence.models.fit import fit_model, long_design, model_tables, svyglm
from social_licence.models.indices import add_indices, cronbach_alpha, licence_index, trust_index
from social_licence.models.spec import ModelSpec, get_model, load_models, parse_models
from social_licence.survey.instrument import load_instrument

ROOT = Path(__file__).resolve().parents[1]
INSTRUMENT = load_instrument(ROOT / "config" / "instrument.yaml")


def analysis_frame(n: int = 600, seed: int = 7, n_psu: int = 60) -> pd.DataFrame:
    """A cleaned analysis frame as the contract describes: labels as Categoricals, NaN where
    missing with ``v__reason`` beside it, respondent id as index, design columns and ``weight``."""
    rng = np.random.default_rng(seed)
    ins = INSTRUMENT
    d = pd.DataFrame(index=pd.Index([f"r{i:04d}" for i in range(n)], name="respondent"))
    for var in ["sex", "age_band", "ethnicity", "income_band", "lone_parent", "services_contact"]:
        v = ins[var]
        probs = {"ethnicity": [0.6, 0.1, 0.15, 0.1, 0.05]}.get(var)
        d[var] = pd.Categorical(
            rng.choice(v.labels, size=n, p=probs), categories=v.labels, ordered=v.ordered
        )
    d["stratum"] = rng.integers(1, 4, size=n)
    d["psu"] = d["stratum"] * 100 + rng.integers(0, n_psu // 3, size=n)
    d["weight"] = rng.uniform(0.5, 2.0, size=n)
    d["ballot"] = rng.integers(1, 7, size=n)
    scale = [ins.scales["acceptability5"]["codes"][c] for c in range(1, 6)]
    g = ins.grids["acceptability"]
    black = (d["ethnicity"] == "Black").to_numpy()
    person = rng.normal(scale=0.8, size=n)
    for var, row, col in g.cells():
        asked = np.array([col in BALLOTS[b] for b in d["ballot"]])
        latent = person - 0.6 * black + 0.3 * (row == "health") - 0.5 * (col == "risk_scoring")
        code = np.digitize(latent + rng.logistic(size=n), [-1.5, -0.5, 0.3, 1.5])
        values = np.array(scale, dtype=object)[code]
        dk = asked & (rng.random(n) < 0.05)
        values[~asked | dk] = None
        d[var] = pd.Categorical(values, categories=scale, ordered=True)
        d[var + "__reason"] = pd.Categorical(
            np.where(~asked, "by_design", np.where(dk, "dont_know", None)),
            categories=["dont_know", "refused", "not_asked", "by_design", "system"],
        )
    tlabels = [ins.scales["trust4"]["codes"][c] for c in range(1, 5)]
    for var in ins.grids["trust"].variables:
        code = np.clip(np.round(2.5 + person + rng.normal(scale=0.6, size=n)), 1, 4).astype(int)
        values = np.array(tlabels, dtype=object)[code - 1]
        values[rng.random(n) < 0.03] = None
        d[var] = pd.Categorical(values, categories=tlabels, ordered=True)
    return d


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return analysis_frame()


# -- long design ----------------------------------------------------------------------------
def test_long_design_has_one_row_per_rated_item_and_keeps_the_design_structure(frame):
    data = frame.copy()
    items = INSTRUMENT.grids["acceptability"].variables
    data.loc["r0000", items] = np.nan  # a parent who rated nothing (all Don't know)
    for v in items:
        if data.loc["r0000", v + "__reason"] != "by_design":
            data.loc["r0000", v + "__reason"] = "dont_know"
    design = long_design(data, INSTRUMENT, weights="weight", strata="stratum", psu="psu", grid="acceptability")
    long = design.data
    rated = int(data[items].notna().sum().sum())
    assert long["rating"].notna().sum() == rated  # no by-design cell, no Don't know
    assert long["respondent"].nunique() == len(data) - 1  # r0000 rated nothing: no rows
    # ... but the design keeps the respondent-level structure (every PSU, strata, df).
    resp = SurveyDesign(data, weights="weight", strata="stratum", psu="psu")
    assert (design.n_psu, design.n_strata, design.df) == (resp.n_psu, resp.n_strata, resp.df)
    np.testing.assert_array_equal(
        design.weights, data["weight"].to_numpy()[data.index.get_indexer(long["respondent"])]
    )
    # every parent rated each data type for two purposes at most
    assert long.groupby("respondent")["item"].count().max() == 12
    with_dk = long_design(data, INSTRUMENT, dk="include", weights="weight", psu="psu", grid="acceptability")
    n_dk = int((data[[v + "__reason" for v in items]] == "dont_know").sum().sum())
    assert with_dk.data["response"].notna().sum() == rated + n_dk


def test_long_design_clusters_on_the_parent_without_psu(frame):
    """Intercept-only logistic on the long frame = weighted share of acceptable ratings; its SE
    is the with-replacement variance of the parents' totals of the ratio's influence,
    n/(n-1) sum_i (t_i - tbar)^2, written out here."""
    design = long_design(frame, INSTRUMENT, weights="weight", grid="acceptability")
    assert design.n_psu == len(frame)
    fit = svyglm(design, "acceptable ~ 1", unit="respondent")
    me_share = 1 / (1 + np.exp(-fit.params["Intercept"]))
    long = design.data.dropna(subset=["acceptable"])
    w, y = long["weight"].to_numpy(), long["acceptable"].to_numpy()
    p = np.sum(w * y) / np.sum(w)
    assert me_share == pytest.approx(p, rel=1e-10)
    t = pd.Series(w * (y - p) / np.sum(w)).groupby(long["respondent"].to_numpy()).sum()
    t = t.reindex(frame.index, fill_value=0.0).to_numpy()
    n = len(t)
    se_p = np.sqrt(n / (n - 1) * np.sum((t - t.mean()) ** 2))
    # delta method: se(logit p) = se(p) / (p (1 - p))
    assert fit.bse["Intercept"] == pytest.approx(se_p / (p * (1 - p)), rel=1e-8)
    # Treating the ratings as independent would understate it here (parents' ratings correlate).
    naive = SurveyDesign(long, weights="weight")
    assert svyglm(naive, "acceptable ~ 1").bse["Intercept"] < fit.bse["Intercept"]


# -- config ---------------------------------------------------------------------------------
@pytest.mark.slow  # many seconds: left out of make test-fast
def test_shipped_models_config_loads_and_fits(frame):
    specs = load_models(ROOT / "config" / "models.yaml")
    names = [s.name for s in specs]
    assert names == [
        "acceptability_logit",
        "acceptability_ordinal",
        "licence_index_linear",
        "trust_index_linear",
    ]
    families = {s.name: s.family for s in specs}
    assert families["acceptability_ordinal"] == "ordinal"
    opts = {"weights": "weight", "strata": "stratum", "psu": "psu"}
    for spec in specs:
        res = fit_model(spec, frame, INSTRUMENT, opts)
        table = res.table()
        assert table["se"].gt(0).all() and np.isfinite(table["se"]).all()
        assert not any("[T.White]" in t for t in table["term"])  # White is the reference
        tables = model_tables(res, spec)
        me = tables["effects"]
        assert set(me["group_variable"]) == set(spec.marginal_effects)
        assert ("proportional_odds" in tables) == (spec.family == "ordinal")
        assert ("reliability" in tables) == (spec.name == "trust_index_linear")
    main = fit_model(get_model(specs, "acceptability_logit"), frame, INSTRUMENT, opts)
    assert "data_type[T.police]:purpose[T.risk_scoring]" in main.params.index
    assert main.df_resid == frame["psu"].nunique() - 3 + 1 - len(main.params)
    age = main.marginal_effects("age_band")  # reference 30-39, rows in instrument order
    assert list(age[age["statistic"] == "predicted"]["age_band"]) == INSTRUMENT["age_band"].labels
    assert set(age.loc[age["statistic"] == "difference", "reference"]) == {"30-39"}
    eth = main.marginal_effects("ethnicity")
    gap = eth[(eth["statistic"] == "difference") & (eth["ethnicity"] == "Black")].iloc[0]
    assert gap["reference"] == "White" and gap["estimate"] < 0  # built into analysis_frame
    assert (
        gap["n_unweighted"] == frame.shape[0]
        and gap["count_unweighted"] == (frame["ethnicity"] == "Black").sum()
    )


def test_subset_is_a_domain_of_the_full_design(frame):
    spec = ModelSpec(
        name="risk",
        formula="acceptable ~ data_type + ethnicity",
        family="binomial",
        subset="purpose == 'risk_scoring'",
    )
    res = fit_model(
        spec, frame, INSTRUMENT, {"weights": "weight", "psu": "psu", "strata": "stratum"}
    )
    assert res.design.n > res.nobs  # the other purposes stay in the design
    assert set(res.design.data.iloc[res._m.rows]["purpose"]) == {"risk_scoring"}


def test_formula_naming_an_unknown_variable_names_model_and_term(frame):
    spec = ModelSpec(name="typo", formula="acceptable ~ data_type + ethnicty", family="binomial")
    with pytest.raises(ConfigError, match=r"model 'typo'.*'ethnicty'.*not a column"):
        fit_model(spec, frame, INSTRUMENT, {"weights": "weight"})


def test_reference_level_must_exist(frame):
    spec = ModelSpec(
        name="m",
        formula="acceptable ~ ethnicity",
        family="binomial",
        reference={"ethnicity": "Martian"},
    )
    with pytest.raises(
        ModelError, match=r"model 'm': reference level 'Martian' is not a level of 'ethnicity'"
    ):
        fit_model(spec, frame, INSTRUMENT, {"weights": "weight"})


@pytest.mark.parametrize(
    "item,message",
    [
        ({"name": "m", "formula": "y ~ x", "family": "probit"}, r"models/0/family|family 'probit'"),
        ({"name": "m", "formula": "y x", "family": "binomial"}, r"formula|'~'"),
        ({"name": "m", "formula": "y ~ x", "family": "binomial", "data": "wide"}, r"data|wide"),
        (
            {"name": "m", "formula": "y ~ x", "family": "binomial", "outcome": "z"},
            r"outcome 'z' differs",
        ),
        ({"name": "2bad", "formula": "y ~ x", "family": "binomial"}, r"name"),
    ],
)
def test_bad_models_config_is_a_config_error(item, message):
    with pytest.raises(ConfigError, match=message):
        parse_models({"models": [item]}, "models.yaml")


def test_duplicate_model_names_and_rhs_only_formula():
    item = {"name": "m", "formula": "~ x", "family": "gaussian", "outcome": "y"}
    with pytest.raises(ConfigError, match=r"'m' is used twice"):
        parse_models({"models": [item, item]}, "models.yaml")
    (spec,) = parse_models({"models": [item]}, "models.yaml")
    assert spec.full_formula == "y ~ x"


def test_schema_declares_description_and_default_on_every_key():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "models.schema.yaml").read_text())
    props = schema["properties"]["models"]["items"]["properties"]
    for key, spec in props.items():
        assert "description" in spec and "default" in spec, key


# -- indices --------------------------------------------------------------------------------
def test_licence_and_trust_index_by_hand():
    d = analysis_frame(n=5, seed=3)
    g = INSTRUMENT.grids["acceptability"]
    r = d.index[0]
    rated = [v for v in g.variables if pd.notna(d.loc[r, v])]
    positive = {"Somewhat acceptable", "Very acceptable"}
    expected = np.mean([d.loc[r, v] in positive for v in rated])
    assert licence_index(d, INSTRUMENT).loc[r] == pytest.approx(expected)
    codes = {"Not at all": 1, "Not very much": 2, "A fair amount": 3, "A great deal": 4}
    tv = INSTRUMENT.grids["trust"].variables
    answered = [codes[d.loc[r, v]] for v in tv if pd.notna(d.loc[r, v])]
    assert trust_index(d, INSTRUMENT).loc[r] == pytest.approx(np.mean(answered))
    with_idx = add_indices(d, INSTRUMENT)
    assert {"licence_index", "trust_index"} <= set(with_idx.columns)


def test_cronbach_alpha_matches_the_formula_and_feldt_interval(frame):
    codes = {"Not at all": 1, "Not very much": 2, "A fair amount": 3, "A great deal": 4}
    items = (
        frame[INSTRUMENT.grids["trust"].variables]
        .apply(lambda c: c.astype(object).map(codes))
        .dropna()
    )
    k, n = items.shape[1], items.shape[0]
    alpha = k / (k - 1) * (1 - items.var(ddof=1).sum() / items.sum(axis=1).var(ddof=1))
    low = 1 - (1 - alpha) * stats.f.isf(0.025, n - 1, (n - 1) * (k - 1))
    high = 1 - (1 - alpha) * stats.f.isf(0.975, n - 1, (n - 1) * (k - 1))
    got = cronbach_alpha(frame, INSTRUMENT)
    assert got["alpha"] == pytest.approx(alpha, rel=1e-9)
    assert got["n"] == n and got["items"] == k
    # pingouin rounds its interval to 3 decimals
    assert got["ci_low"] == pytest.approx(low, abs=6e-4)
    assert got["ci_high"] == pytest.approx(high, abs=6e-4)
