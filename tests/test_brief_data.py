"""Example inputs for the output tests (tables, figures, disclosure, brief), and proof they are right.

The output modules consume tidy estimate frames made by the estimation module. To test them
without it, this file computes such frames itself with the project's design core
(``SurveyDesign.vcov_total``) on a small seeded example survey, keeping exactly to the contract's
column names; the tests at the bottom prove the estimator used here against R ``survey``
(``svymean`` proportions and ``svyby`` domain means on the api data) and a hand calculation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DATA
from test_ingest_support import BALLOTS  # ballot code -> purposes asked

from social_licence.config import read_yaml
from social_licence.design.design import SurveyDesign
from social_licence.survey.instrument import load_instrument
from social_licence.survey.plan import Plan, build_plan

ROOT = Path(__file__).resolve().parents[1]
INSTRUMENT = ROOT / "config" / "instrument.yaml"
REFERENCE = DATA / "reference" / "api"
Z95 = 1.959963984540054

CONTRACT = [
    "variable",
    "level",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "deff",
    "n_unweighted",
    "count_unweighted",
    "n_weighted",
]
GROUP_VARIABLES = ("ethnicity", "income_band", "lone_parent", "services_contact", "age_band")


def example_plan(inst, groups: Sequence[str] = ("ethnicity",), models: Sequence[str] = ("acceptability_police",), headline=None) -> Plan:
    """The plan of the bundled example's config (its questions, words and headline), with the
    groups these hand-built frames hold."""
    config = read_yaml(Path(__file__).resolve().parents[1] / "config" / "config.yaml", "config")
    config["estimation"]["groups"] = list(groups)
    if headline is not None:
        config["report"]["headline"] = headline
    return build_plan(config, inst, models=models)


def instrument():
    return load_instrument(INSTRUMENT)


# -- a design-based ratio estimator, the textbook way ----------------------------------------------
def ratio(design: SurveyDesign, y: np.ndarray, d: np.ndarray) -> tuple[float, float, float]:
    """Weighted ratio sum(w y) / sum(w d), its linearised SE and the denominator sum(w d)."""
    w = design.weights
    den = float((w * d).sum())
    est = float((w * y).sum()) / den
    z = (y - est * d) / den
    se = float(np.sqrt(design.vcov_total(z)[0, 0]))
    return est, se, den


def _row(design, y, d, count, **keys):
    if d.sum() == 0:
        return None
    est, se, n_w = ratio(design, y, d)
    n_unw = int((d > 0).sum())
    v_srs = est * (1 - est) / n_unw if n_unw else np.nan
    deff = se**2 / v_srs if v_srs and v_srs > 0 else np.nan
    return {
        **keys,
        "estimate": est,
        "se": se,
        "ci_low": est - Z95 * se,
        "ci_high": est + Z95 * se,
        "deff": deff,
        "n_unweighted": n_unw,
        "count_unweighted": int(count),
        "n_weighted": n_w,
    }


def proportions(
    data: pd.DataFrame,
    design: SurveyDesign,
    variable: str,
    *,
    levels: Sequence[str] | None = None,
    domain: np.ndarray | None = None,
    keys: dict | None = None,
) -> list[dict]:
    """Proportion of each level of a Categorical among valid answers within a domain."""
    x = data[variable]
    levels = list(levels) if levels is not None else list(x.cat.categories)
    dom = np.ones(len(data), bool) if domain is None else domain
    valid = (x.notna().to_numpy() & dom).astype(float)
    out = []
    for lv in levels:
        y = ((x.astype(object) == lv).to_numpy() & (valid > 0)).astype(float)
        r = _row(design, y, valid, y.sum(), variable=variable, level=lv, **(keys or {}))
        if r is not None:
            out.append(r)
    return out


def acceptable(data, design, item, inst, *, domain=None, keys=None):
    """Proportion rating an item in the scale's positive categories."""
    var = inst[item]
    x = data[item]
    dom = np.ones(len(data), bool) if domain is None else domain
    valid = (x.notna().to_numpy() & dom).astype(float)
    y = (x.astype(object).isin(var.positive_labels).to_numpy() & (valid > 0)).astype(float)
    r = _row(design, y, valid, y.sum(), variable=item, level="acceptable", **(keys or {}))
    return [r] if r is not None else []


def _order(frame: pd.DataFrame) -> pd.DataFrame:
    by = [c for c in frame.columns if c not in CONTRACT]
    return frame[by + CONTRACT]


# -- the example survey -----------------------------------------------------------------------------
DATA_EFFECT = {"health": 0.6, "school": 0.8, "police": -0.4, "social_care": -0.1, "benefits_tax": -0.7, "housing": 0.2}
PURPOSE_EFFECT = {"early_help": 0.3, "risk_scoring": -0.9, "planning": 0.9, "eligibility": 0.1}
ETHNIC_COUNTS = (("White", 0.70), ("Asian", 0.15), ("Black", 0.10), ("Mixed", 0.04), ("Other", 0.01))


def _cat(codes: np.ndarray, var, inst) -> pd.Categorical:
    v = inst[var]
    labels = v.labels
    dtype = pd.CategoricalDtype(labels, ordered=v.ordered)
    return pd.Categorical([v.codes.get(int(c)) for c in codes], dtype=dtype)


def example_respondents(n: int = 600, seed: int = 20240501) -> pd.DataFrame:
    """A seeded analysis frame as the pipeline builds one: Categoricals of labels, reasons, design."""
    inst = instrument()
    rng = np.random.default_rng(seed)
    counts = [int(round(share * n)) for _, share in ETHNIC_COUNTS]
    counts[0] += n - sum(counts)
    eth_codes = np.repeat([1, 3, 4, 2, 5], counts)  # White, Asian, Black, Mixed, Other
    rng.shuffle(eth_codes)
    frame = pd.DataFrame(index=pd.Index([f"P{i:04d}" for i in range(1, n + 1)], name="respondent"))
    frame["ethnicity"] = _cat(eth_codes, "ethnicity", inst)
    frame["sex"] = _cat(rng.choice([1, 2], n, p=[0.55, 0.45]), "sex", inst)
    frame["age_band"] = _cat(rng.choice([1, 2, 3, 4], n, p=[0.15, 0.4, 0.35, 0.1]), "age_band", inst)
    income = rng.choice([1, 2, 3, 4], n, p=[0.25, 0.35, 0.25, 0.15])
    income_dk = rng.random(n) < 0.05
    frame["income_band"] = _cat(np.where(income_dk, 0, income), "income_band", inst)
    frame["income_band__reason"] = pd.Categorical(np.where(income_dk, "dont_know", None))
    lone = rng.choice([1, 2], n, p=[0.2, 0.8])
    frame["lone_parent"] = _cat(lone, "lone_parent", inst)
    contact = rng.choice([1, 2], n, p=[0.25, 0.75])
    frame["services_contact"] = _cat(contact, "services_contact", inst)
    stratum = rng.integers(1, 5, n)
    frame["stratum"] = stratum
    frame["psu"] = stratum * 100 + rng.integers(1, 11, n)
    frame["design_weight"] = np.round(rng.gamma(8.0, 1 / 8.0, n) * (1 + 0.3 * (stratum == 2)), 4)
    frame["weight"] = np.round(frame["design_weight"] * np.where(frame["sex"] == "Male", 1.15, 0.9), 4)
    ballot = rng.integers(1, 7, n)
    frame["ballot"] = _cat(ballot, "ballot", inst)
    group_shift = np.select([eth_codes == 4, eth_codes == 3], [-0.6, -0.2], 0.0) - 0.5 * (contact == 1)
    for dt, de in DATA_EFFECT.items():
        for pu, pe in PURPOSE_EFFECT.items():
            item = f"acc_{dt}__{pu}"
            asked = np.array([pu in BALLOTS[b] for b in ballot])
            latent = 3.0 + 1.1 * (de + pe + group_shift) + rng.normal(0, 1.2, n)
            rating = np.clip(np.round(latent), 1, 5).astype(int)
            dk = asked & (rng.random(n) < 0.04)
            codes = np.where(asked & ~dk, rating, 0)
            frame[item] = _cat(codes, item, inst)
            frame[item + "__reason"] = pd.Categorical(np.where(~asked, "by_design", np.where(dk, "dont_know", None)))
    for k, org in enumerate(inst.grids["trust"].rows):
        latent = 3.2 - 0.35 * k + rng.normal(0, 0.9, n) - 0.3 * (contact == 1)
        frame[f"trust_{org}"] = _cat(np.clip(np.round(latent), 1, 4).astype(int), f"trust_{org}", inst)
    # drawn last, so every draw above (and every number the other tests expect) is unchanged
    for k, right in enumerate(inst.grids["rights"].rows):
        latent = 4.3 - 0.3 * k + rng.normal(0, 0.9, n) - 0.4 * (eth_codes == 4)
        dk = rng.random(n) < 0.03
        item = f"rights_{right}"
        frame[item] = _cat(np.where(dk, 0, np.clip(np.round(latent), 1, 5).astype(int)), item, inst)
        frame[item + "__reason"] = pd.Categorical(np.where(dk, "dont_know", None))
    return frame


def example_design(data: pd.DataFrame) -> SurveyDesign:
    return SurveyDesign(data, weights="weight", strata="stratum", psu="psu")


# -- tidy frames of the kinds the brief publishes ---------------------------------------------------
def grid_table(data, design, inst, *, group_variables=(), grid="acceptability") -> pd.DataFrame:
    """% acceptable per grid item (by data_type, purpose), optionally stacked by group."""
    g = inst.grids[grid]
    rows = []
    for item, row, col in g.cells():
        keys = {g.row_name: row, g.column_name: col}
        if not group_variables:
            rows += acceptable(data, design, item, inst, keys=keys)
            continue
        rows += acceptable(data, design, item, inst, keys={**keys, "group_variable": "All", "group": "All"})
        for gv in group_variables:
            for lv in data[gv].cat.categories:
                dom = (data[gv].astype(object) == lv).to_numpy()
                rows += acceptable(data, design, item, inst, domain=dom, keys={**keys, "group_variable": gv, "group": lv})
    out = pd.DataFrame(rows)
    out["variable"] = grid  # as the estimation module labels grid summaries
    for dim, values in ((g.row_name, g.rows), (g.column_name, g.columns)):
        out[dim] = pd.Categorical(out[dim], categories=list(values), ordered=True)
    return _order(out)


def headline_by_group(data, design, inst, item, group_variables=GROUP_VARIABLES) -> pd.DataFrame:
    """% acceptable of one item by each social group, stacked (group_variable, group)."""
    rows = acceptable(data, design, item, inst, keys={"group_variable": "All", "group": "All"})
    for gv in group_variables:
        for lv in data[gv].cat.categories:
            dom = (data[gv].astype(object) == lv).to_numpy()
            rows += acceptable(data, design, item, inst, domain=dom, keys={"group_variable": gv, "group": lv})
    return _order(pd.DataFrame(rows))


def ratings_by(data, design, inst, by: str, grid: str = "acceptability") -> pd.DataFrame:
    """Distribution of a grid's ratings pooled over the items of each value of one dimension.

    Each respondent contributes every item of that value they answered; the ratio estimator's
    influence is summed within respondent, so the SE respects the clustering of a parent's answers.
    """
    g = inst.grids[grid]
    scale = inst.scales[g.scale]
    levels = [scale["codes"][c] for c in sorted(scale["codes"])]
    values = g.rows if by == g.row_name else g.columns
    rows = []
    for value in values:
        items = [v for v, r, c in g.cells() if (r if by == g.row_name else c) == value]
        answered = np.column_stack([data[i].notna().to_numpy() for i in items])
        d = answered.sum(axis=1).astype(float)
        for lv in levels:
            y = np.column_stack([(data[i].astype(object) == lv).to_numpy() for i in items]).sum(axis=1).astype(float)
            r = _row(design, y, d, (y > 0).sum(), **{by: value, "variable": grid, "level": lv})
            r["count_unweighted"] = int(y.sum())
            r["n_unweighted"] = int(d.sum())
            rows.append(r)
    return _order(pd.DataFrame(rows))


def trust_table(data, design, inst) -> pd.DataFrame:
    g = inst.grids["trust"]
    rows = []
    for item, org, _ in g.cells():
        rows += proportions(data, design, item, keys={"organisation": org})
    return _order(pd.DataFrame(rows))


def rights_table(data, design, inst) -> pd.DataFrame:
    """Distribution of agreement with each rights statement, one block per ``right``."""
    g = inst.grids["rights"]
    rows = []
    for item, right, _ in g.cells():
        rows += proportions(data, design, item, keys={g.row_name: right})
    out = _order(pd.DataFrame(rows))
    out["variable"] = "rights"  # as the estimation module labels grid summaries
    return out


def example_inputs(n: int = 600, seed: int = 20240501) -> dict:
    """Every input of the brief, built from the example survey (models and QA flow by hand)."""
    inst = instrument()
    data = example_respondents(n, seed)
    design = example_design(data)
    headline_item = "acc_police__early_help"
    w = data["weight"].to_numpy()
    b = data["design_weight"].to_numpy()
    kish = len(w) * (w**2).sum() / w.sum() ** 2
    target = {"Female": 0.52, "Male": 0.48}
    # as social_licence.weighting.margin_table lays it out
    margins = pd.DataFrame(
        {
            "margin": "sex",
            "category": ["Female", "Male"],
            "target": [target["Female"], target["Male"]],
            "before": [b[data["sex"] == c].sum() / b.sum() for c in ("Female", "Male")],
            "after": [w[data["sex"] == c].sum() / w.sum() for c in ("Female", "Male")],
            "count_unweighted": [int((data["sex"] == c).sum()) for c in ("Female", "Male")],
        }
    )
    # as social_licence.weighting.weight_summary: one row per set of weights
    weight_summary = pd.DataFrame(
        {
            "weights": ["base", "final"],
            "n": [n, n],
            "min": [b.min(), w.min()],
            "max": [b.max(), w.max()],
            "cv": [b.std() / b.mean(), w.std() / w.mean()],
            "deff_kish": [len(b) * (b**2).sum() / b.sum() ** 2, kish],
            "n_effective": [b.sum() ** 2 / (b**2).sum(), w.sum() ** 2 / (w**2).sum()],
        }
    )
    # as ModelResult.table(): coefficients on the log-odds scale with odds ratios beside them
    models = pd.DataFrame(
        {
            "model": "acceptability_police",
            "term": ["Intercept", "C(ethnicity)[T.Asian]", "C(ethnicity)[T.Black]", "C(services_contact)[T.No]", "C(lone_parent)[T.No]"],
            "kind": "coefficient",
            "estimate": [0.10, -0.25, -0.62, 0.48, 0.05],
            "se": [0.12, 0.20, 0.24, 0.19, 0.21],
        }
    )
    models["ci_low"] = models["estimate"] - Z95 * models["se"]
    models["ci_high"] = models["estimate"] + Z95 * models["se"]
    models["p_value"] = [0.40, 0.21, 0.0098, 0.0115, 0.81]
    models["odds_ratio"] = np.exp(models["estimate"])
    models["odds_ratio_low"] = np.exp(models["ci_low"])
    models["odds_ratio_high"] = np.exp(models["ci_high"])
    models["n_unweighted"] = n
    # as ModelResult.marginal_effects_stacked(): predicted shares and differences by group
    eff = []
    for gv, ref, others in (("ethnicity", "White", (("Asian", -0.05, 90), ("Black", -0.14, 60), ("Other", 0.02, 6))),
                            ("services_contact", "Yes", (("No", 0.11, 450),))):
        eff.append({"model": "acceptability_police", "group_variable": gv, "group": ref, "statistic": "predicted",
                    "reference": None, "estimate": 0.25, "ci_low": 0.2, "ci_high": 0.3, "count_unweighted": 150})
        for g, d, count in others:
            eff.append({"model": "acceptability_police", "group_variable": gv, "group": g, "statistic": "predicted",
                        "reference": None, "estimate": 0.25 + d, "ci_low": 0.15 + d, "ci_high": 0.35 + d, "count_unweighted": count})
            eff.append({"model": "acceptability_police", "group_variable": gv, "group": g, "statistic": "difference",
                        "reference": ref, "estimate": d, "ci_low": d - 0.09, "ci_high": d + 0.09, "count_unweighted": count,
                        "p_value": 0.002 if abs(d) > 0.1 else 0.3})
    effects = pd.DataFrame(eff)
    effects.insert(3, "variable", "acceptable_police")
    effects.insert(4, "level", "acceptable")
    effects["n_unweighted"] = n
    qa_flow = pd.DataFrame(
        {
            "step": [0, 1, 2, 3, 4],
            "rule": ["received", "withdrawn", "attention_check", "speeders", "analysed"],
            "excluded": [0, 3, 14, 9, 0],
            "remaining": [n + 26, n + 23, n + 9, n, n],
            "detail": ["", "withdrew consent", "failed the attention check", "under 30% of the median time", ""],
        }
    )
    return {
        "instrument": inst,
        "respondents": data,
        "grid": grid_table(data, design, inst),
        "grid_groups": grid_table(data, design, inst, group_variables=("ethnicity",)),
        "groups": headline_by_group(data, design, inst, headline_item),
        "ratings_data_type": ratings_by(data, design, inst, "data_type"),
        "ratings_purpose": ratings_by(data, design, inst, "purpose"),
        "trust": trust_table(data, design, inst),
        "rights": rights_table(data, design, inst),
        "models": models,
        "marginal_effects": effects,
        "qa_flow": qa_flow,
        "weight_summary": weight_summary,
        "margins": margins,
    }


# -- proof of the estimator used above --------------------------------------------------------------


DESIGNS = {
    "srs_w": ("apisrs.csv", {"weights": "pw"}),
    "strat_w": ("apistrat.csv", {"weights": "pw", "strata": "stype"}),
    "clus1_w": ("apiclus1.csv", {"weights": "pw", "psu": "dnum"}),
}


@pytest.mark.parametrize("design_name", sorted(DESIGNS))
def test_proportion_helper_matches_r_svymean(design_name):
    """Expected: R survey svymean(~awards) (tests/data/reference/api/r_reference/proportions.csv)."""
    file, spec = DESIGNS[design_name]
    api = pd.read_csv(REFERENCE / file)
    api["awards"] = pd.Categorical(api["awards"], categories=["No", "Yes"])
    design = SurveyDesign(api, **spec)
    got = pd.DataFrame(proportions(api, design, "awards"))
    ref = pd.read_csv(REFERENCE / "r_reference" / "proportions.csv")
    ref = ref[(ref["design"] == design_name) & (ref["variable"] == "awards")]
    for _, r in ref.iterrows():
        row = got[got["level"] == r["level"]].iloc[0]
        assert row["estimate"] == pytest.approx(r["mean_est"], rel=1e-6)
        assert row["se"] == pytest.approx(r["mean_se"], rel=1e-6)
        assert row["n_weighted"] == pytest.approx(api["pw"].sum(), rel=1e-9)


def test_domain_helper_matches_r_svyby():
    """Expected: R survey svyby(~api00, ~stype, svymean) under clus1_w (svyby.csv)."""
    api = pd.read_csv(REFERENCE / "apiclus1.csv")
    design = SurveyDesign(api, weights="pw", psu="dnum")
    ref = pd.read_csv(REFERENCE / "r_reference" / "svyby.csv")
    ref = ref[ref["design"] == "clus1_w"]
    y = api["api00"].to_numpy(dtype=float)
    for _, r in ref.iterrows():
        d = (api["stype"] == r["stype"]).to_numpy(dtype=float)
        est, se, _ = ratio(design, y * d, d)
        assert est == pytest.approx(r["estimate"], rel=1e-6)
        assert se == pytest.approx(r["se"], rel=1e-6)


def test_example_survey_has_the_structure_the_output_tests_rely_on():
    """Hand counts: 1% of 600 is 6 'Other' parents; split ballot asks each item of about a third."""
    data = example_respondents()
    assert (data["ethnicity"] == "Other").sum() == 6
    assert (data["ethnicity"] == "Mixed").sum() == 24
    asked = data["acc_police__early_help__reason"].astype(object) != "by_design"
    assert 150 < asked.sum() < 450
    inputs = example_inputs()
    grid = inputs["grid"]
    assert len(grid) == 24 and grid["level"].eq("acceptable").all()
    # the unweighted base of an item is the parents who rated it (not by design, not DK)
    item = data["acc_police__early_help"]
    row = grid[(grid["data_type"] == "police") & (grid["purpose"] == "early_help")].iloc[0]
    assert row["n_unweighted"] == item.notna().sum()
    w = data["weight"].to_numpy()
    ok = item.notna().to_numpy()
    hand = w[ok & item.astype(object).isin(["Somewhat acceptable", "Very acceptable"]).to_numpy()].sum() / w[ok].sum()
    assert row["estimate"] == pytest.approx(hand, rel=1e-12)
