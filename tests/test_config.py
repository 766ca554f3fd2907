"""The one config loader: YAML + the package's JSON Schemas, defaults from the schemas only."""

from __future__ import annotations

import pytest
import yaml

from social_licence import config
from social_licence.design.grids import ESTIMATION_OPTIONS
from social_licence.errors import ConfigError, DisclosureError
from social_licence.models.fit import _design_options
from social_licence.report.disclosure import load_thresholds
from social_licence.survey.instrument import load_instrument
from social_licence.weighting.solver import RAKE_OPTIONS


def test_schemas_ship_inside_the_package():
    for name in config.SCHEMA_NAMES:
        path = config.schema_path(name)
        assert path.exists() and "social_licence" in path.parts
        assert config.schema(name)["type"] == "object"


def test_defaults_in_code_are_those_of_the_schema():
    # The values the schema file states (read here from the YAML itself, not through config.py).
    text = config.schema_path("config").read_text(encoding="utf-8")
    props = yaml.safe_load(text)["properties"]
    weighting = {k: v["default"] for k, v in props["weighting"]["properties"].items()}
    estimation = {k: v["default"] for k, v in props["estimation"]["properties"].items()}
    for key in ("tol", "max_iter", "bounds", "trim_deff", "missing"):
        assert RAKE_OPTIONS[key] == weighting[key], key
    for key in ("variance", "replicates", "seed", "lonely_psu", "dk", "ci_level", "adjust"):
        assert ESTIMATION_OPTIONS[key] == estimation[key], key
    assert estimation["lonely_psu"] == "adjust"
    assert _design_options({}, load_instrument("config/instrument.yaml"))["lonely_psu"] == "adjust"


def test_missing_keys_get_the_schema_default_and_given_ones_stay(tmp_path):
    path = tmp_path / "thresholds.yaml"
    path.write_text("disclosure: {min_base: 25}\n", encoding="utf-8")
    loaded = config.load(path, "thresholds")
    # schema defaults: the count rule of 10 respondents, no reason needed at or above 10
    assert loaded["disclosure"] == {"min_base": 25, "min_count": 10, "secondary": True, "reason": None}
    assert loaded["precision"] == {"max_rse": 0.3, "max_ci_width": 0.2}
    thresholds = load_thresholds(path)
    assert (thresholds.min_base, thresholds.max_rse) == (25, 0.3)


def test_defaults_of_alternatives_are_not_filled_in():
    """A margin gives ``variable`` or ``variables`` and ``shares`` or ``totals``: the schema's
    example defaults of the other alternative must not be added."""
    targets = config.load("config/targets.yaml", "targets")
    margin = next(iter(targets["sets"].values()))["margins"][0]
    assert ("variable" in margin) != ("variables" in margin)
    assert ("shares" in margin) != ("totals" in margin)


def test_errors_name_the_file_the_place_and_the_problem(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - {name: m, formula: 'y ~ x', family: probit}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"models/0/family in {path}: 'probit' is not one of"):
        config.load(path, "models")
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "absent.yaml", "models")
    path.write_text("models: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(path, "models")
    path.write_text("precision: {max_rse: '0.3'}\n", encoding="utf-8")
    with pytest.raises(DisclosureError, match="precision/max_rse"):
        config.load(path, "thresholds", error=DisclosureError)
