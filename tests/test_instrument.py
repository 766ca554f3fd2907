"""The instrument file parses into variables, scales and grids, and bad instruments are refused."""

from pathlib import Path

import pytest
import yaml

from social_licence.errors import ConfigError
from social_licence.survey.instrument import load_instrument, parse_instrument

ROOT = Path(__file__).resolve().parent.parent
INSTRUMENT = ROOT / "config" / "instrument.yaml"


@pytest.fixture(scope="module")
def instrument():
    return load_instrument(INSTRUMENT)


def test_acceptability_grid_is_six_data_types_by_four_purposes(instrument):
    grid = instrument.grids["acceptability"]
    assert list(grid.rows) == ["health", "school", "police", "social_care", "benefits_tax", "housing"]
    assert list(grid.columns) == ["early_help", "risk_scoring", "planning", "eligibility"]
    assert len(grid.variables) == 24
    item = instrument["acc_police__early_help"]
    assert item.row == "police" and item.column == "early_help" and item.grid == "acceptability"
    assert "police records" in item.label and "early-help" in item.label


def test_scale_codes_missing_reasons_and_positive_answers(instrument):
    item = instrument["acc_health__planning"]
    assert item.ordered
    assert item.labels[0] == "Very unacceptable" and item.labels[-1] == "Very acceptable"
    assert item.missing == {8: "dont_know", 9: "refused", -1: "by_design"}
    assert item.positive_labels == ["Somewhat acceptable", "Very acceptable"]
    assert instrument["trust_police"].positive_labels == ["A fair amount", "A great deal"]


def test_identifiers_design_and_demographics_are_declared(instrument):
    assert set(instrument.identifiers) == {"email", "postcode", "panel_id", "comment"}
    assert instrument.id == "respondent_id"
    assert instrument.design == {"weight": "design_weight", "strata": "stratum", "psu": "psu", "fpc": None}
    demographics = set(instrument.by_role("demographic"))
    assert {"sex", "age_band", "region", "ethnicity", "qualification", "occupation", "income_band",
            "lone_parent", "n_children", "youngest_age", "services_contact", "disability"} <= demographics
    assert instrument["ethnicity"].labels == ["White", "Mixed", "Asian", "Black", "Other"]


def _raw():
    return yaml.safe_load(INSTRUMENT.read_text())


def test_unknown_missing_reason_is_refused():
    raw = _raw()
    raw["missing_codes"][8] = "dunno"
    with pytest.raises(ConfigError, match="missing code 8 has reason 'dunno'"):
        parse_instrument(raw)


def test_code_both_substantive_and_missing_is_refused():
    raw = _raw()
    sex = next(v for v in raw["variables"] if v["name"] == "sex")
    sex["codes"][9] = "Other"
    with pytest.raises(ConfigError, match=r"variable sex: codes \[9\] are both substantive and missing"):
        parse_instrument(raw)


def test_undefined_scale_and_undeclared_identifier_are_refused():
    raw = _raw()
    raw["grids"]["trust"]["scale"] = "trust7"
    with pytest.raises(ConfigError, match="scale 'trust7' is not defined"):
        parse_instrument(raw)
    raw = _raw()
    raw["identifiers"].append("phone")
    with pytest.raises(ConfigError, match="identifier 'phone' is not declared"):
        parse_instrument(raw)


def test_duplicate_variable_is_refused():
    raw = _raw()
    raw["variables"].append({"name": "sex", "label": "again"})
    with pytest.raises(ConfigError, match="'sex' is declared twice"):
        parse_instrument(raw)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_instrument(tmp_path / "nope.yaml")
