"""The analysis plan with several waves: which trend outputs it makes (workflow DAG) and the
checks on wave names (survey/plan.py)."""

from pathlib import Path

import pytest
import yaml

from social_licence.errors import ConfigError
from social_licence.survey.instrument import load_instrument
from social_licence.survey.plan import build_plan, wave_names

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


@pytest.fixture(scope="module")
def instrument():
    return load_instrument(ROOT / "config/instrument.yaml")


def test_a_single_wave_plan_makes_no_trend_outputs(config, instrument):
    plan = build_plan(config, instrument)
    assert plan.waves == ()
    assert plan.trend_tables() == [] and plan.trend_figures() == [] and plan.trend_questions() == []


def test_waves_give_a_trend_table_per_question_with_shares_and_a_headline_figure(config, instrument):
    cfg = {**config, "survey": {**config["survey"], "wave": "2026"}, "waves": [{"name": "2025", "export": "x.sav"}]}
    plan = build_plan(cfg, instrument)
    assert plan.waves == ("2025", "2026")
    assert plan.trend_tables() == ["acceptability_trend", "rights_trend", "trust_trend"]
    assert plan.trend_figures() == ["acceptability_trend"]  # report.headline.question
    # trend outputs are their own: the plan's other tables and figures do not change
    assert plan.tables() == build_plan(config, instrument).tables()


def test_waves_need_the_current_wave_named_once():
    with pytest.raises(ConfigError, match="survey.wave must name the current wave"):
        wave_names({"waves": [{"name": "w1"}], "survey": {}})
    with pytest.raises(ConfigError, match=r"names \['w1'\] are used twice"):
        wave_names({"waves": [{"name": "w1"}], "survey": {"wave": "w1"}})
    assert wave_names({"waves": [], "survey": {"wave": "w2"}}) == ()


def test_waves_give_a_pooled_table_per_trend_question_unless_waves_pool_is_null(config, instrument):
    cfg = {**config, "survey": {**config["survey"], "wave": "w2"}, "waves": [{"name": "w1", "export": "x.sav"}]}
    plan = build_plan(cfg, instrument)
    assert plan.pool == "sample_size"  # the schema's default
    assert plan.pooled_tables() == ["acceptability_pooled", "rights_pooled", "trust_pooled"]
    assert build_plan({**cfg, "waves_pool": {"rescale": "equal"}}, instrument).pool == "equal"
    assert build_plan({**cfg, "waves_pool": None}, instrument).pooled_tables() == []
    assert build_plan(config, instrument).pooled_tables() == []  # one wave: nothing to pool
