"""The synthetic example survey: its files follow the instrument, its sample behaves as documented,
and its truth is what the generator produces.

Expected values come from three independent places, named in each test: the instrument file
(`config/instrument.yaml`), hand calculations from the documented model, and large samples drawn
from the generator, whose estimates must fall within 4 standard errors of the census truth
(standard errors from statsmodels' cluster-robust GLM or from the design-based variance of
`SurveyDesign`, proven against R `survey` elsewhere).
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
import yaml
from scipy import integrate, stats

from social_licence.design.design import SurveyDesign
from social_licence.errors import ConfigError
from social_licence.survey.instrument import load_instrument, parse_instrument
from social_licence.synthetic import parents as syn

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "raw" / "example"
GENERATED = ("parents.sav", "parents_qualtrics.csv", "truth.json", "withdrawals.csv")
Z = 4.0  # tolerance in standard errors for sample-vs-census comparisons


@pytest.fixture(scope="module")
def instrument():
    return load_instrument(ROOT / "config" / "instrument.yaml")


@pytest.fixture(scope="module")
def truth():
    return syn.population_truth()


@pytest.fixture(scope="module")
def example():
    return generate_cached(1500, syn.SEED)


@pytest.fixture(scope="module")
def sav():
    return pyreadstat.read_sav(str(EXAMPLE / "parents.sav"), user_missing=True)


@pytest.fixture(scope="module")
def srs():
    """A large simple random sample with full response: unbiased for every census quantity."""
    return generate_cached(20000, 11, sample="srs", qa=False)


@pytest.fixture(scope="module")
def big_panel():
    return generate_cached(40000, 12, qa=False)


_CACHE: dict = {}


def generate_cached(n, seed, **options):
    key = (n, seed, tuple(sorted(options.items())))
    if key not in _CACHE:
        _CACHE[key] = syn.generate(n, seed, **options)
    return _CACHE[key]


def acc_matrix(frame):
    return frame[list(syn.ACC_ITEMS)].to_numpy()


def ratio_se(design, numerator, denominator):
    """Ratio of weighted totals and its linearised design-based standard error."""
    w = design.weights
    total = float(w @ denominator)
    ratio = float(w @ numerator) / total
    z = (numerator - ratio * denominator) / total
    return ratio, math.sqrt(design.vcov_total(z)[0, 0])


def long_frame(frame):
    """One row per substantive acceptability rating, covariates as labelled Categoricals."""
    acc = acc_matrix(frame)
    rows, cols = np.nonzero((acc >= 1) & (acc <= 5))  # items are data type outer, purpose inner
    out = pd.DataFrame(
        {
            "respondent": rows,
            "acceptable": np.isin(acc[rows, cols], syn.ACCEPTABLE_CODES).astype(float),
            "data_type": pd.Categorical.from_codes(
                cols // len(syn.PURPOSES), categories=list(syn.DATA_TYPES)
            ),
            "purpose": pd.Categorical.from_codes(
                cols % len(syn.PURPOSES), categories=list(syn.PURPOSES)
            ),
            "weight": frame["design_weight"].to_numpy()[rows],
        }
    )
    keep = np.ones(len(rows), dtype=bool)
    for var in syn.GROUP_VARIABLES:
        codes = frame[var].to_numpy()[rows] - 1
        valid = (codes >= 0) & (codes < len(syn.LEVELS[var]))  # 9 (refused) is dropped
        keep &= valid
        out[var] = pd.Categorical.from_codes(
            np.where(valid, codes, -1), categories=list(syn.LEVELS[var])
        )
    return out[keep].reset_index(drop=True)


def fit_cells(rows, weight=None):
    """statsmodels' binomial GLM of the standard model on the rows' cells (same estimates as
    one row per rating): the cell's (weighted) share acceptable, weighted by its (weighted) size."""
    w = np.ones(len(rows)) if weight is None else rows[weight].to_numpy()
    keys = ["data_type", "purpose", *syn.MARGINAL_TERMS]
    grouped = rows.assign(_w=w, _wy=w * rows["acceptable"].to_numpy())
    cells = grouped.groupby(keys, observed=True)[["_w", "_wy"]].sum().reset_index()
    cells["acceptable"] = cells["_wy"] / cells["_w"]
    fit = smf.glm(
        syn.MARGINAL_FORMULA, cells, family=sm.families.Binomial(), var_weights=cells["_w"]
    ).fit(tol=1e-12)
    return fit, grouped.groupby(keys, observed=True).ngroup().to_numpy()


# ---------------------------------------------------------------------------------------------
# The files follow the instrument


def test_sav_reads_back_with_the_instruments_names_labels_and_user_missing_codes(instrument, sav):
    # Expected: config/instrument.yaml, read by load_instrument.
    data, meta = sav
    assert meta.column_names == list(instrument.variables)
    assert meta.number_rows == 1505
    for name, var in instrument.variables.items():
        assert meta.column_names_to_labels[name] == var.label
        if not var.is_labelled:
            assert name not in meta.variable_value_labels
            continue
        labels = meta.variable_value_labels[name]
        for code, label in var.codes.items():
            assert labels[code] == label, (name, code)
        assert set(labels) == set(var.codes) | set(var.missing)
        declared = {int(r["lo"]) for r in meta.missing_ranges.get(name, [])}
        assert declared == set(var.missing), name
        assert all(r["lo"] == r["hi"] for r in meta.missing_ranges.get(name, []))
    assert meta.variable_value_labels["acc_health__early_help"][-1] == "Not asked (split ballot)"
    assert meta.variable_value_labels["acc_health__early_help"][8] == "Don't know"
    assert meta.variable_measure["acc_health__early_help"] == "ordinal"
    assert meta.variable_measure["ethnicity"] == "nominal"
    assert meta.variable_measure["design_weight"] == "scale"


def test_user_missing_codes_read_as_missing_when_spss_semantics_apply():
    # Expected: every -1, 8 and 9 in the grid counted with user missing kept equals the number
    # of NaN when pyreadstat applies the declared missing codes (SPSS semantics).
    kept, _ = pyreadstat.read_sav(str(EXAMPLE / "parents.sav"), user_missing=True)
    applied, _ = pyreadstat.read_sav(str(EXAMPLE / "parents.sav"))
    for item in syn.ACC_ITEMS:
        assert applied[item].isna().sum() == kept[item].isin([-1, 8, 9]).sum()
    assert applied["region"].isna().sum() == (kept["region"] == 99).sum()


def test_sav_header_timestamp_is_fixed(sav):
    # Expected: the fixed creation date written over pyreadstat's clock time (SAV_TIMESTAMP).
    assert sav[1].creation_time == datetime(2025, 3, 3, 0, 0, 0)


def test_every_generated_code_is_declared_in_the_instrument(instrument, example, srs):
    # Expected: each labelled variable's codes plus missing codes in config/instrument.yaml.
    for frame in (example, srs):
        syn.check_against_instrument(frame, instrument)
        for name, var in instrument.variables.items():
            if var.is_labelled:
                values = set(pd.unique(frame[name]).tolist())
                assert values <= set(var.codes) | set(var.missing), name


def test_a_code_the_instrument_lacks_is_reported_with_variable_value_and_rows(instrument, example):
    raw = yaml.safe_load((ROOT / "config" / "instrument.yaml").read_text(encoding="utf-8"))
    for spec in raw["variables"]:
        if spec["name"] == "ethnicity":
            spec["codes"].pop(4)  # Black
    narrowed = parse_instrument(raw, source="narrowed.yaml")
    with pytest.raises(
        ConfigError, match=r"narrowed.yaml: variable ethnicity: generated value 4.*rows"
    ):
        syn.check_against_instrument(example, narrowed)


def test_bad_generator_options_are_rejected():
    with pytest.raises(ConfigError, match="n must be at least 50, not 10"):
        syn.generate(10)
    with pytest.raises(ConfigError, match="'cluster'"):
        syn.generate(100, sample="cluster")


# ---------------------------------------------------------------------------------------------
# Split ballot, QA cases and identifiers


def test_each_parent_rates_all_data_types_for_exactly_two_purposes(example, big_panel):
    # Expected: the ballot codes of the instrument (1 = early_help + risk_scoring, ...).
    for frame in (example, big_panel):
        asked = acc_matrix(frame) != -1
        for code, label in ((1, "early_help + risk_scoring"), (6, "planning + eligibility")):
            wanted = label.split(" + ")
            mask = np.array([p in wanted for d in syn.DATA_TYPES for p in syn.PURPOSES])
            rows = frame["ballot"].to_numpy() == code
            assert rows.any()
            assert (asked[rows] == mask).all()
        assert (asked.sum(axis=1) == 12).all()
    # Uniform ballot: each share within 4 binomial SEs of 1/6.
    shares = big_panel["ballot"].value_counts(normalize=True).sort_index()
    se = math.sqrt((1 / 6) * (5 / 6) / len(big_panel))
    assert list(shares.index) == [1, 2, 3, 4, 5, 6]
    assert (abs(shares - 1 / 6) < Z * se).all()


def test_qa_cases_are_in_the_export_as_documented(example, sav):
    data, _ = sav
    qa = example.attrs["qa"]
    # Duplicates: same respondent_id and every answer identical.
    dup = data[data["respondent_id"].duplicated(keep=False)]
    assert sorted(dup["respondent_id"].unique()) == qa["duplicate"]
    assert len(data) - data["respondent_id"].nunique() == len(qa["duplicate"]) == 5
    assert len(dup.drop_duplicates()) == len(qa["duplicate"])
    unique = data.drop_duplicates("respondent_id").set_index("respondent_id")
    median = unique["duration_s"].median()
    # Speeders: under 0.3 of the median duration (config cleaning.speeders.share_of_median).
    fast = unique.index[unique["duration_s"] < 0.3 * median]
    assert sorted(fast) == qa["speeder"] and len(fast) == 23
    # Straight-liners: one code across every acceptability item shown (12 items).
    acc = unique[list(syn.ACC_ITEMS)].to_numpy()
    same = [len(set(row[row != -1])) == 1 for row in acc]
    liners = set(unique.index[same])
    assert set(qa["straight_liner"]) <= liners
    # A few careful parents with strong views also give one answer throughout: under 1%.
    assert len(liners - set(qa["straight_liner"])) < 0.01 * len(unique)
    # Attention check: must be 2.
    failed = unique.index[unique["attention_check"] != 2]
    assert sorted(failed) == qa["attention_failed"]
    assert 0.02 < len(failed) / len(unique) < 0.06
    withdrawals = pd.read_csv(EXAMPLE / "withdrawals.csv", dtype=str)
    assert list(withdrawals.columns) == ["respondent_id"]
    assert withdrawals["respondent_id"].tolist() == example.attrs["withdrawals"]
    assert withdrawals["respondent_id"].isin(unique.index).all() and len(withdrawals) == 4
    recorded = json.loads((EXAMPLE / "truth.json").read_text(encoding="utf-8"))["generated_with"]
    assert recorded["qa"] == qa and recorded["n_parents"] == 1500 and recorded["rows"] == 1505


def test_identifiers_look_real_but_are_obviously_fake(sav):
    data, _ = sav
    assert data["respondent_id"].str.fullmatch(r"P\d{6}").all()
    assert data["panel_id"].str.fullmatch(r"PNL\d{7}").all()
    assert data["email"].str.fullmatch(r"[a-z]+\.[a-z]+\d+@example\.org").all()
    postcode = r"[A-Z]{1,2}\d{1,2} \d[ABDEFGHJLNPQRSTUWXYZ]{2}"
    assert data["postcode"].str.fullmatch(postcode).all()
    assert (data.loc[data["region"] == 12, "postcode"].str[:2] == "BT").all()
    commented = (data.drop_duplicates("respondent_id")["comment"] != "").mean()
    assert 0.10 < commented < 0.20
    phones = data["comment"].str.extract(r"(07\d{3} \d{6})")[0].dropna()
    assert len(phones) > 0 and phones.str.startswith("07700 900").all()


def test_generation_is_deterministic_and_depends_on_the_seed():
    a, b, c = syn.generate(300, 1), syn.generate(300, 1), syn.generate(300, 2)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs == b.attrs
    assert not a[list(syn.ACC_ITEMS)].equals(c[list(syn.ACC_ITEMS)])


# ---------------------------------------------------------------------------------------------
# The Qualtrics export


def test_qualtrics_export_has_three_header_rows_and_the_same_responses(instrument, sav):
    path = EXAMPLE / "parents_qualtrics.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        names, texts, imports = next(reader), next(reader), next(reader)
    assert names[:9] == [
        "StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)",
        "Finished", "RecordedDate", "ResponseId",
    ]  # fmt: skip
    for col in ("RecipientEmail", "ExternalReference", "LocationLatitude", "LocationLongitude"):
        assert col in names
    assert "Q15_1" in names and "Q22" in names
    assert all("ImportId" in json.loads(cell) for cell in imports)
    assert json.loads(imports[names.index("Q15_1")]) == {"ImportId": "QID15_1"}
    assert json.loads(imports[names.index("Q22")]) == {"ImportId": "QID22_TEXT"}
    assert texts[names.index("Q15_1")].endswith("early-help support? - Health records")

    export = pd.read_csv(path, encoding="utf-8-sig", skiprows=[1, 2], keep_default_na=False)
    overlay = yaml.safe_load((ROOT / "config" / "example_qualtrics.yaml").read_text())["survey"]
    assert overlay["export"] == "data/raw/example/parents_qualtrics.csv"
    assert overlay["format"] == "qualtrics"
    assert overlay["rename"] == syn.qualtrics_rename()
    renamed = export.rename(columns=overlay["rename"])
    data, _ = sav
    assert sorted(set(instrument.variables)) == sorted(
        set(renamed.columns) & set(instrument.variables)
    )
    for name in instrument.variables:
        if pd.api.types.is_numeric_dtype(data[name]):
            np.testing.assert_array_equal(renamed[name].to_numpy(float), data[name].to_numpy(float))
        else:
            assert renamed[name].astype(str).tolist() == data[name].astype(str).tolist(), name
    start = pd.to_datetime(export["StartDate"])
    end = pd.to_datetime(export["EndDate"])
    assert ((end - start).dt.total_seconds() == export["Duration (in seconds)"]).all()
    assert start.is_monotonic_increasing
    assert export["ResponseId"].is_unique
    assert export["IPAddress"].str.match(r"(192\.0\.2|198\.51\.100|203\.0\.113)\.").all()


# ---------------------------------------------------------------------------------------------
# Reproducible to the byte


def test_regeneration_is_byte_identical_to_the_committed_example(tmp_path, instrument):
    # Run 1: the documented command in a fresh process; it must equal the committed files.
    cli = subprocess.run(
        [sys.executable, "-m", "social_licence.synthetic", "--out", str(tmp_path / "a"),
         "--n", "1500", "--seed", str(syn.SEED)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert cli.stdout.count("\n") == len(GENERATED)
    # Run 2: in this process, later; it must equal run 1.
    syn.write_example(tmp_path / "b", 1500, syn.SEED, instrument)
    for name in GENERATED:
        first = (tmp_path / "a" / name).read_bytes()
        assert first == (tmp_path / "b" / name).read_bytes(), name
        assert first == (EXAMPLE / name).read_bytes(), f"{name} differs from the committed example"


# ---------------------------------------------------------------------------------------------
# The truth is the generator's


def test_census_shares_follow_the_documented_tables_by_hand(truth):
    # Hand calculation from the tables in data/raw/example/README.md: sex depends only on
    # lone parenthood, P(Female) = 0.88 P(lone) + 0.51 (1 - P(lone)).
    shares = truth["population"]["shares"]
    lone = shares["lone_parent"]["Yes"]
    assert shares["sex"]["Female"] == pytest.approx(0.88 * lone + 0.51 * (1 - lone), abs=2e-6)
    # Region shares are the stated ones; every margin sums to one.
    assert shares["region"]["London"] == 0.138 and shares["region"]["Wales"] == 0.045
    for var, dist in shares.items():
        assert sum(dist.values()) == pytest.approx(1.0, abs=1e-5), var
    # By hand: school x eligibility has item effect 0.1 - 0.1 = 0, as health x early help has
    # (0 + 0), neither has an interaction, and both purposes have the same "Don't know" effect
    # (0), so the two census shares must be identical.
    cell = truth["census"]["acceptable_by_cell"]
    assert cell["school"]["eligibility"] == cell["health"]["early_help"]
    assert (
        cell["health"]["planning"] > cell["health"]["early_help"] > cell["health"]["risk_scoring"]
    )


def test_gauss_hermite_integral_matches_adaptive_quadrature():
    # Independent integral: scipy.integrate.quad of expit(eta + u - c3) against the N(0, s^2)
    # density, for one covariate pattern (Black lone parent, 18-29, under £20,000, services
    # contact, no qualifications) and the police x risk scoring item.
    model = syn.DEFAULT_MODEL
    table = syn.census_table(model)
    row = table[
        (table["ethnicity"] == "Black") & (table["lone_parent"] == "Yes")
        & (table["age_band"] == "18-29") & (table["income_band"] == "Under £20,000")
        & (table["services_contact"] == "Yes") & (table["qualification"] == "No qualifications")
        & (table["data_type"] == "police") & (table["purpose"] == "risk_scoring")
    ]  # fmt: skip
    assert len(row) == 1
    eta = -0.55 - 0.35 - 0.3 - 0.35 - 0.5 + (-0.5) + (-0.9) + (-0.3)  # written out from the model
    sd = math.sqrt(1.2**2 + 0.3**2)

    def integrand(u):
        return stats.norm.pdf(u, scale=sd) / (1 + math.exp(-(eta + u - (-0.4))))

    expected, _ = integrate.quad(integrand, -12 * sd, 12 * sd, epsabs=1e-13)
    assert row["p_acceptable"].iloc[0] == pytest.approx(expected, abs=1e-10)
    # P(substantive answer) = (1 - 0.003) (1 - expit(-3.4 + 1.0 + 0.4)) by hand.
    assert row["p_answer"].iloc[0] == pytest.approx(
        0.997 * (1 - 1 / (1 + math.exp(2.0))), abs=1e-12
    )


def test_census_marginal_model_is_the_statsmodels_projection(truth):
    # Independent fit: statsmodels' GLM (binomial, formula interface) on the exact population
    # table, fractional outcomes, variance weights = share x P(substantive answer).
    table = syn.census_table()
    table["weight"] = table["population_share"] * table["p_answer"]
    table["acceptable"] = table["p_acceptable"] * table["weight"]
    # Qualification is not in the model: sum its rows (exact for fractional outcomes).
    keys = ["data_type", "purpose", *syn.MARGINAL_TERMS]
    cells = table.groupby(keys, observed=True)[["acceptable", "weight"]].sum().reset_index()
    cells["acceptable"] = cells["acceptable"] / cells["weight"]
    fit = smf.glm(
        syn.MARGINAL_FORMULA, cells, family=sm.families.Binomial(), var_weights=cells["weight"]
    ).fit(tol=1e-12)
    coefs = truth["census"]["marginal_logit"]["coefficients"]
    assert set(coefs) == set(fit.params.index)
    for name, value in fit.params.items():
        assert coefs[name] == pytest.approx(value, abs=2e-6), name


@pytest.mark.slow  # many seconds: left out of make test-fast
def test_a_large_simple_random_sample_recovers_the_census_truth(truth, srs):
    # Expected: truth.json census values. Tolerance: 4 standard errors of the sample estimate,
    # from the parent-level linearisation (SurveyDesign with each parent its own PSU) and from
    # statsmodels' GLM with standard errors clustered by parent.
    census = truth["census"]
    design = SurveyDesign(srs, weights=np.ones(len(srs)), psu="psu")
    acc = acc_matrix(srs)
    valid = (acc >= 1) & (acc <= 5)
    good = np.isin(acc, syn.ACCEPTABLE_CODES)
    checked = 0

    def check(mask_items, mask_rows, expected):
        nonlocal checked
        num = (good & mask_items & mask_rows[:, None]).sum(axis=1).astype(float)
        den = (valid & mask_items & mask_rows[:, None]).sum(axis=1).astype(float)
        est, se = ratio_se(design, num, den)
        assert abs(est - expected) < Z * se, (expected, est, se)
        checked += 1

    all_rows = np.ones(len(srs), dtype=bool)
    item_type = np.array([i[4:].split("__")[0] for i in syn.ACC_ITEMS])
    item_purpose = np.array([i.split("__")[1] for i in syn.ACC_ITEMS])
    check(np.ones(24, dtype=bool), all_rows, census["acceptable_overall"])
    for d in syn.DATA_TYPES:
        check(item_type == d, all_rows, census["acceptable_by_data_type"][d])
        for p in syn.PURPOSES:
            check(
                (item_type == d) & (item_purpose == p), all_rows, census["acceptable_by_cell"][d][p]
            )
    for p in syn.PURPOSES:
        check(item_purpose == p, all_rows, census["acceptable_by_purpose"][p])
    for var in syn.GROUP_VARIABLES:
        for k, level in enumerate(syn.LEVELS[var]):
            rows = srs[var].to_numpy() == k + 1
            check(np.ones(24, dtype=bool), rows, census["acceptable_by_group"][var][level])
    for org in syn.ORGANISATIONS:
        code = srs[f"trust_{org}"].to_numpy()
        est, se = ratio_se(
            design,
            np.isin(code, syn.TRUST_POSITIVE).astype(float),
            np.isin(code, [1, 2, 3, 4]).astype(float),
        )
        assert abs(est - census["trust_positive"][org]) < Z * se, org
    for right in syn.RIGHTS:
        code = srs[f"rights_{right}"].to_numpy()
        est, se = ratio_se(
            design,
            np.isin(code, syn.AGREE_POSITIVE).astype(float),
            np.isin(code, [1, 2, 3, 4, 5]).astype(float),
        )
        assert abs(est - census["rights_agree"][right]) < Z * se, right
    # Population shares of every demographic variable.
    for var, dist in truth["population"]["shares"].items():
        answered = srs[var].between(1, len(syn.LEVELS[var])).to_numpy().astype(float)
        for k, level in enumerate(syn.LEVELS[var]):
            est, se = ratio_se(design, (srs[var] == k + 1).to_numpy().astype(float), answered)
            assert abs(est - dist[level]) < Z * se + 1e-12, (var, level)
    assert checked == 1 + 6 + 24 + 4 + 17

    # The marginal logistic model, fitted to the sample: statsmodels' binomial GLM on the
    # sample's cells (same estimates as one row per rating), standard errors clustered by
    # parent with the sandwich bread x (sum over parents of score score') x bread, G/(G-1).
    rows = long_frame(srs)
    fit, cell = fit_cells(rows)
    X = np.asarray(fit.model.exog)
    residual = rows["acceptable"].to_numpy() - fit.fittedvalues.to_numpy()[cell]
    parent = rows["respondent"].to_numpy()
    scores = np.zeros((parent.max() + 1, X.shape[1]))
    np.add.at(scores, parent, X[cell] * residual[:, None])
    groups = len(np.unique(parent))
    bread = fit.cov_params().to_numpy()
    se = np.sqrt(np.diag(bread @ (scores.T @ scores) @ bread) * groups / (groups - 1))
    coefs = census["marginal_logit"]["coefficients"]
    assert set(coefs) == set(fit.params.index)
    for name, est, err in zip(fit.params.index, fit.params, se, strict=True):
        assert abs(est - coefs[name]) < Z * err, name


# ---------------------------------------------------------------------------------------------
# Over-sampling and non-response: weighting matters, and raking fixes it


def rake(frame, base, shares, variables, tol=1e-12):
    """Iterative proportional fitting of ``base`` to population ``shares`` (test helper)."""
    w = base.astype(float).copy()
    for _ in range(1000):
        previous = w.copy()
        for var in variables:
            codes = frame[var].to_numpy()
            total = w.sum()
            for k, level in enumerate(syn.LEVELS[var]):
                mask = codes == k + 1
                w[mask] *= shares[var][level] * total / w[mask].sum()
        if np.max(np.abs(w - previous)) < tol * w.mean():
            return w
    raise AssertionError("raking did not converge")


def test_oversampling_and_nonresponse_bias_the_unweighted_sample(truth, example, big_panel):
    # Expected: population shares in truth.json; the documented response model lowers response
    # for Black, lone, under-30 and low-income parents, so each is under-represented by more
    # than 4 standard errors in a large sample, and by a clear margin in the bundled example.
    shares = truth["population"]["shares"]
    design = SurveyDesign(big_panel, weights=np.ones(len(big_panel)), strata="stratum", psu="psu")
    ones = np.ones(len(big_panel))
    for var, level, code in (
        ("ethnicity", "Black", 4),
        ("lone_parent", "Yes", 1),
        ("age_band", "18-29", 1),
        ("income_band", "Under £20,000", 1),
    ):
        est, se = ratio_se(design, (big_panel[var] == code).to_numpy().astype(float), ones)
        assert shares[var][level] - est > Z * se, var
        parents = example.drop_duplicates("respondent_id")
        assert (parents[var] == code).mean() < 0.8 * shares[var][level], var
    est, se = ratio_se(design, (big_panel["qualification"] == 4).to_numpy().astype(float), ones)
    assert est - shares["qualification"]["Degree or above"] > Z * se
    # The devolved nations are over-sampled by design: Wales about twice its population share.
    assert (big_panel["stratum"] == 5).mean() == pytest.approx(
        2 * shares["region"]["Wales"], rel=0.02
    )


def test_raking_to_the_population_margins_removes_the_bias(truth, big_panel):
    # Expected: census acceptable_overall. The unweighted estimate misses it by more than 4 SEs;
    # raking the design weights to the six weighting margins (hand-written IPF above) brings it
    # within 4 SEs (linearised SE ignoring the raking, which can only make it larger).
    census = truth["census"]["acceptable_overall"]
    shares = truth["population"]["shares"]
    acc = acc_matrix(big_panel)
    num = np.isin(acc, syn.ACCEPTABLE_CODES).sum(axis=1).astype(float)
    den = ((acc >= 1) & (acc <= 5)).sum(axis=1).astype(float)
    flat = SurveyDesign(big_panel, weights=np.ones(len(big_panel)), strata="stratum", psu="psu")
    unweighted, se_u = ratio_se(flat, num, den)
    assert unweighted - census > Z * se_u
    raked_w = rake(
        big_panel, big_panel["design_weight"].to_numpy(), shares, syn.WEIGHTING_VARIABLES
    )
    raked = SurveyDesign(big_panel, weights=raked_w, strata="stratum", psu="psu")
    estimate, se_r = ratio_se(raked, num, den)
    assert abs(estimate - census) < Z * se_r
    assert abs(estimate - census) < abs(unweighted - census) / 2
    # Clustering is real: the design effect of the PSUs on this estimate exceeds 1.2.
    srs_like = SurveyDesign(big_panel, weights=raked_w, psu=np.arange(len(big_panel)))
    _, se_srs = ratio_se(srs_like, num, den)
    assert (se_r / se_srs) ** 2 > 1.2


def test_group_effects_point_the_way_uk_studies_report(truth, example):
    # Expected directions from the module docstring: lower licence among Black, lone, under-30,
    # under-£20,000 and services-contact parents (references: White, lone = Yes, 18-29,
    # under £20,000, services contact = Yes); risk scoring least and planning most accepted.
    coefs = truth["census"]["marginal_logit"]["coefficients"]
    assert coefs["ethnicity[T.Black]"] < coefs["ethnicity[T.Mixed]"] < 0
    assert coefs["lone_parent[T.No]"] > 0
    assert coefs["services_contact[T.No]"] > 0
    assert 0 < coefs["age_band[T.30-39]"] < coefs["age_band[T.50 and over]"]
    bands = ["£20,000-£39,999", "£40,000-£59,999", "£60,000 or more"]
    values = [coefs[f"income_band[T.{b}]"] for b in bands]
    assert 0 < values[0] < values[1] < values[2]
    by_purpose = truth["census"]["acceptable_by_purpose"]
    assert min(by_purpose, key=by_purpose.get) == "risk_scoring"
    assert max(by_purpose, key=by_purpose.get) == "planning"
    effects = truth["census"]["average_marginal_effects"]["effects"]
    assert effects["ethnicity"]["Black"] < 0 < effects["lone_parent"]["No"]
    # The bundled example, design-weighted, shows the same directions for the large effects.
    parents = example.drop_duplicates("respondent_id")
    fit, _ = fit_cells(long_frame(parents), weight="weight")
    assert fit.params["ethnicity[T.Black]"] < 0
    assert fit.params["lone_parent[T.No]"] > 0
    assert fit.params["services_contact[T.No]"] > 0
    assert fit.params["purpose[T.risk_scoring]"] < 0 < fit.params["purpose[T.planning]"]


def test_analysis_frame_codes_labels_and_reasons_as_ingest_does(instrument):
    from social_licence.survey.grid import long_format
    from social_licence.synthetic.parents import analysis_frame, generate

    INSTRUMENT = instrument  # noqa: N806 (read as the module constant of the other tests)
    raw = generate(300, seed=7, sample="srs", qa=False)
    frame = analysis_frame(raw, INSTRUMENT)
    assert "email" not in frame and "postcode" not in frame and frame.index.name == "respondent"
    # hand count: every -1 in the raw grid is a by-design cell, every 8 a Don't know
    grid_vars = INSTRUMENT.grids["acceptability"].variables
    by_design = sum(int((raw[v] == -1).sum()) for v in grid_vars)
    assert sum(int((frame[v + "__reason"] == "by_design").sum()) for v in grid_vars) == by_design
    assert by_design == 300 * 12  # two of four purposes rated by every parent
    asked_answered = sum(int(raw[v].between(1, 5).sum()) for v in grid_vars)
    assert len(long_format(frame, INSTRUMENT, grid="acceptability")) == asked_answered
