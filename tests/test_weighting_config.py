"""Target sets in config/targets.yaml: schema, checks of load_targets, and the bundled example.

The example_truth set must equal the synthetic population's margins in
data/raw/example/truth.json (the generator's known truth); the illustrative UK set's figures are
checked against the arithmetic its note writes out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from social_licence.errors import ConfigError, WeightingError
from social_licence.instrument import load_instrument
from social_licence.weighting import load_targets, rake_from_config

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "config" / "targets.yaml"
SCHEMA = ROOT / "workflow" / "schemas" / "targets.schema.yaml"
TRUTH = ROOT / "data" / "raw" / "example" / "truth.json"


@pytest.fixture(scope="module")
def instrument():
    return load_instrument(ROOT / "config" / "instrument.yaml")


@pytest.fixture(scope="module")
def example(instrument):
    from social_licence.ingest import read_survey

    return read_survey(ROOT / "data" / "raw" / "example" / "parents.sav", instrument).data


def _write(tmp_path: Path, sets: dict) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"sets": sets}, sort_keys=False), encoding="utf-8")
    return path


def _margin(**extra):
    return {"variable": "sex", "source": "test", "date": "2026", **extra}


def test_targets_file_validates_against_its_schema():
    import jsonschema

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(TARGETS.read_text(encoding="utf-8")), schema)


def test_schema_gives_every_key_a_description_and_a_default():
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))

    def walk(node, where):
        for key, sub in (node.get("properties") or {}).items():
            assert "description" in sub and "default" in sub, f"{where}.{key}"
            walk(sub, f"{where}.{key}")
        for key in ("additionalProperties", "items"):
            if isinstance(node.get(key), dict) and "properties" in node[key]:
                walk(node[key], f"{where}.{key}")

    walk(schema, "targets")
    for name, sub in schema["$defs"].items():
        walk(sub, name)


@pytest.mark.parametrize(
    ("margin", "message"),
    [
        (_margin(shares={"Female": 0.5, "Male": 0.5}, totals={"Female": 1, "Male": 1}), "shares"),
        ({"variable": "sex", "date": "2026", "shares": {"Female": 1.0}}, "source"),
        (_margin(shares={"Female": -0.1, "Male": 1.1}), "minimum"),
    ],
)
def test_schema_rejects_bad_margins(tmp_path, margin, message):
    import jsonschema

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"sets": {"s": {"margins": [margin]}}}, schema)
    with pytest.raises(ConfigError, match=message if message != "minimum" else "must be >= 0"):
        load_targets(_write(tmp_path, {"s": {"margins": [margin]}}), "s")


def test_example_truth_equals_the_synthetic_population_truth(instrument):
    truth = json.loads(TRUTH.read_text(encoding="utf-8"))["population"]
    ts = load_targets(TARGETS, "example_truth", instrument=instrument, schema=SCHEMA)
    by_name = {m.name: m for m in ts.margins}
    assert by_name["sex x age_band"].targets == truth["joint_shares"]["sex|age_band"]
    for var in ("region", "ethnicity", "income_band", "lone_parent"):
        assert by_name[var].targets == truth["shares"][var], var
    weighted = {"sex", "age_band", "region", "ethnicity", "income_band", "lone_parent"}
    assert {v for m in ts.margins for v in m.variables} == weighted
    assert set(truth["weighting_variables"]) == weighted
    for ref in ts.reference:
        assert ref.targets == truth["shares"][ref.variables[0]]


def test_illustrative_uk_set_follows_its_own_arithmetic(instrument):
    # Note of the margin: share = P(lone) x P(group | family type), P(lone) = 0.25;
    # lone parents 80/3/5/9 % White/Mixed/Asian/Black, couples 80/1/12/4 %, Other the rest.
    ts = load_targets(TARGETS, "uk_parents_illustrative", instrument=instrument)
    (m,) = ts.margins
    lone = {"White": 0.80, "Mixed": 0.03, "Asian": 0.05, "Black": 0.09}
    couple = {"White": 0.80, "Mixed": 0.01, "Asian": 0.12, "Black": 0.04}
    lone["Other"], couple["Other"] = 1 - sum(lone.values()), 1 - sum(couple.values())
    for group in lone:
        assert m.targets[f"Yes|{group}"] == pytest.approx(0.25 * lone[group], abs=1e-12)
        assert m.targets[f"No|{group}"] == pytest.approx(0.75 * couple[group], abs=1e-12)
    assert m.source and m.date


def test_shares_not_summing_to_one_are_an_error_naming_file_set_and_margin(tmp_path):
    path = _write(tmp_path, {"s": {"margins": [_margin(shares={"Female": 0.5, "Male": 0.4})]}})
    with pytest.raises(ConfigError, match=r"targets.yaml: set s, margin 1 \(sex\).*sum to 0.9"):
        load_targets(path, "s")


def test_totals_that_disagree_across_margins_are_an_error(tmp_path):
    margins = [
        _margin(totals={"Female": 60, "Male": 40}),
        {"variable": "lone_parent", "source": "t", "date": "d", "totals": {"Yes": 1, "No": 2}},
    ]
    with pytest.raises(ConfigError, match="disagree on the population total"):
        load_targets(_write(tmp_path, {"s": {"margins": margins}}), "s")


def test_unknown_set_and_category_not_in_instrument_are_errors(tmp_path, instrument):
    path = _write(tmp_path, {"s": {"margins": [_margin(shares={"Female": 0.5, "Man": 0.5})]}})
    with pytest.raises(ConfigError, match="set 'other' is not there"):
        load_targets(path, "other")
    with pytest.raises(ConfigError, match="category 'Man' is not a label of sex"):
        load_targets(path, "s", instrument=instrument)


def test_category_with_no_respondents_is_an_error_naming_margin_and_category(tmp_path, example):
    data = example[example["ethnicity"] != "Black"]
    with pytest.raises(
        WeightingError, match="margin ethnicity: category 'Black' has no respondents"
    ):
        load_targets(TARGETS, "example_truth", data=data)


def test_example_rakes_to_the_truth_within_bounds(example):
    ts = load_targets(TARGETS, "example_truth", data=example)
    options = {"bounds": [0.3, 3.0], "covariates": ["qualification", "disability"]}
    w, diag = rake_from_config(example, ts, options)
    assert diag["margins"]["abs_diff_after"].max() <= 1e-10
    assert diag["margins"]["abs_diff_before"].max() > 0.05  # the panel is unbalanced
    adjustment = diag["summary"].set_index("weights").loc["adjustment"]
    assert adjustment["min"] >= 0.3 - 1e-12 and adjustment["max"] <= 3.0 + 1e-12
    balance = diag["balance"]
    assert balance["reference"].notna().all()  # the set's reference shares were used
    truth = json.loads(TRUTH.read_text(encoding="utf-8"))["population"]["shares"]
    row = balance.set_index(["covariate", "level"]).loc[("disability", "Yes")]
    assert row["reference"] == truth["disability"]["Yes"]
    assert np.isclose(w.sum(), len(example))


def test_the_illustrative_set_with_tight_bounds_says_which_category_cannot_be_reached(example):
    ts = load_targets(TARGETS, "uk_parents_illustrative", data=example)
    with pytest.raises(WeightingError, match=r"lone_parent x ethnicity category 'Yes\|\w+' needs"):
        rake_from_config(example, ts, {"bounds": [0.3, 3.0]})


def test_missing_values_are_left_to_the_missing_option(tmp_path, example):
    data = example.copy()
    data.loc[data.index[:3], "sex"] = None
    shares = {"Female": 0.5, "Male": 0.45, "Missing": 0.05}
    path = _write(tmp_path, {"s": {"margins": [_margin(shares=shares)]}})
    ts = load_targets(path, "s", data=data)  # no error: three respondents have no sex
    with pytest.raises(WeightingError, match="'sex' is missing for 3 respondents"):
        rake_from_config(data, ts, {})
    w, diag = rake_from_config(data, ts, {"missing": "category"})
    margins = diag["margins"].set_index("category")
    assert margins.loc["Missing", "after"] == pytest.approx(0.05, abs=1e-10)
    assert margins.loc["Missing", "count_unweighted"] == 3
