"""Models with a wave term are checked when the DAG is built: `waves: stacked` needs several
waves, a formula naming `wave` needs `waves: stacked`, and a reference wave must be a wave."""

from __future__ import annotations

import copy

import pytest
import yaml
from workflow_helpers import ROOT

from social_licence.config_check import check_workflow_config
from social_licence.errors import ConfigError

CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
OVERLAY = yaml.safe_load((ROOT / "config" / "example_waves.yaml").read_text())
MODELS = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
STACKED = yaml.safe_load((ROOT / "config" / "models_waves.yaml").read_text())


def _config(tmp_path, models: dict, waves: bool) -> dict:
    config = copy.deepcopy(CONFIG)
    if waves:
        for key, value in OVERLAY.items():
            config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) and key != "waves_panel" else value
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(models, allow_unicode=True))
    config["models"] = {"file": str(path), "run": "all"}
    config["survey"]["instrument"] = str(ROOT / config["survey"]["instrument"])
    config["weighting"]["targets_file"] = str(ROOT / config["weighting"]["targets_file"])
    return config


def test_the_waves_example_models_pass(tmp_path):
    assert check_workflow_config(_config(tmp_path, STACKED, waves=True), ROOT) is None


def test_a_stacked_model_in_a_one_wave_analysis_is_named(tmp_path):
    with pytest.raises(ConfigError, match="model risk_scoring_change: waves: stacked fits the model on every wave"):
        check_workflow_config(_config(tmp_path, STACKED, waves=False), ROOT)


def test_a_formula_naming_wave_needs_waves_stacked(tmp_path):
    models = copy.deepcopy(MODELS)
    models["models"][0]["formula"] = "acceptable ~ wave + purpose"
    with pytest.raises(ConfigError, match="model acceptability_logit: formula: names 'wave'.*set waves: stacked"):
        check_workflow_config(_config(tmp_path, models, waves=True), ROOT)


def test_a_reference_wave_that_is_not_a_wave_is_named(tmp_path):
    models = copy.deepcopy(STACKED)
    models["models"][0]["reference"]["wave"] = "w0"
    with pytest.raises(ConfigError, match=r"reference\.wave: 'w0' is not a level of 'wave' \(levels: w1, w2\)"):
        check_workflow_config(_config(tmp_path, models, waves=True), ROOT)
