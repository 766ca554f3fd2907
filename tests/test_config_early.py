"""Check early: a catalogue of bad configs, each stopped when the DAG is built with a ConfigError
naming the config key and the bad value (never a bare KeyError/IndexError after the jobs ran),
and hostile model formulas and subsets stopped by a real ``snakemake`` run on a copy of the
project before any job, without running (their marker file is never created).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from workflow_helpers import ROOT, copy_project, snakemake

from social_licence.config_check import check_workflow_config, load_workflow_config
from social_licence.errors import ConfigError

CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
MODELS = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())


def _set(tree: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[last] = value


def _model(**changes) -> dict:
    """The models file with its first model (acceptability_logit) changed."""
    models = copy.deepcopy(MODELS)
    models["models"][0].update(changes)
    return models


HEADLINE = CONFIG["report"]["headline"]

# (config changes, models file or None, key the message must name, value it must name)
CATALOGUE = [
    ({"report.headline": {**HEADLINE, "group": "Blak"}}, None, "report.headline.group", "Blak"),
    (
        {"report.headline": {**HEADLINE, "group_variable": "ethnicty"}},
        None,
        "report.headline.group_variable",
        "ethnicty",
    ),
    (
        {"report.headline": {**HEADLINE, "cell": {"data_type": "polise", "purpose": "early_help"}}},
        None,
        "report.headline.cell.data_type",
        "polise",
    ),
    (
        {"report.headline": {**HEADLINE, "cell": {"data_type": "police", "purpose": "early"}}},
        None,
        "report.headline.cell.purpose",
        "early",
    ),
    (
        {"report.headline": {**HEADLINE, "question": "acceptabilty"}},
        None,
        "report.headline.question",
        "acceptabilty",
    ),
    ({"estimation.groups": ["ethnicity", "ethnicty"]}, None, "estimation.groups", "ethnicty"),
    ({"estimation.groups": ["duration_s"]}, None, "estimation.groups", "duration_s"),
    (
        {"analysis.questions": [{"grid": "acceptability", "groups": ["ethnicity", "sex2"]}]},
        None,
        "analysis.questions (acceptability).groups",
        "sex2",
    ),
    ({"analysis.questions": [{"grid": "acceptabilty"}]}, None, "analysis.questions", "acceptabilty"),
    (
        {"analysis.questions": [{"grid": "acceptability", "by": ["data_type", "region"]}]},
        None,
        "analysis.questions",
        "region",
    ),
    ({"weighting.covariates": ["qualifcation"]}, None, "weighting.covariates", "qualifcation"),
    ({"weighting.targets": "uk_parent"}, None, "weighting.targets", "uk_parent"),
    (
        {"cleaning.straightliners": {"enabled": True, "grid": "acceptabilty", "min_items": 10}},
        None,
        "cleaning.straightliners.grid",
        "acceptabilty",
    ),
    (
        {"cleaning.attention_check": {"enabled": True, "variable": "attention"}},
        None,
        "cleaning.attention_check.variable",
        "attention",
    ),
    ({"survey.rename": {"Q1": "etnicity"}}, None, "survey.rename.Q1", "etnicity"),
    ({"survey.recode": {"sex": {3: 7}}}, None, "survey.recode.sex.3", "7"),
    ({"survey.recode": {"gender": {1: 2}}}, None, "survey.recode.gender", "gender"),
    ({"models.run": ["acceptability_logt"]}, None, "models.run", "acceptability_logt"),
    (
        {},
        _model(reference={**MODELS["models"][0]["reference"], "ethnicity": "Martian"}),
        "reference.ethnicity",
        "Martian",
    ),
    (
        {},
        _model(reference={"region": "London"}),
        "model acceptability_logit: reference",
        "region",
    ),
    ({}, _model(marginal_effects=["region"]), "marginal_effects", "region"),
    ({}, _model(within="sex"), "model acceptability_logit: within", "sex"),
    (
        {},
        _model(formula="acceptable ~ data_type + ethnicty"),
        "model acceptability_logit: formula",
        "ethnicty",
    ),
    ({}, _model(subset="purpose == 'risk'"), "model acceptability_logit: subset", "risk"),
    (
        {},
        _model(formula="acceptable ~ data_type + C(ethnicity, Treatment('Whte'))"),
        "model acceptability_logit: formula",
        "Whte",
    ),
    ({}, _model(subset="purpos == 'risk_scoring'"), "subset", "purpos"),
    ({}, _model(grid="acceptabilty"), "model acceptability_logit: grid", "acceptabilty"),
    (
        {},
        {
            "models": [
                {
                    **MODELS["models"][1],
                    "outcome_levels": ["Quite acceptable"],
                }
            ]
        },
        "outcome_levels",
        "Quite acceptable",
    ),
    (
        {},
        _model(formula="acceptable ~ data_type + email"),  # an identifier never passes ingest
        "model acceptability_logit: formula",
        "email",
    ),
]


def _write(tmp_path: Path, changes: dict, models: dict | None) -> dict:
    config = copy.deepcopy(CONFIG)
    for key, value in changes.items():
        _set(config, key, value)
    if models is not None:
        path = tmp_path / "models.yaml"
        path.write_text(yaml.safe_dump(models, allow_unicode=True))
        config["models"]["file"] = str(path)
    for section, key in (("survey", "instrument"), ("weighting", "targets_file")):
        config[section][key] = str(ROOT / config[section][key])
    if models is None:
        config["models"]["file"] = str(ROOT / config["models"]["file"])
    return config


@pytest.mark.parametrize(
    ("changes", "models", "key", "value"),
    CATALOGUE,
    ids=[f"{c[2]}={c[3]}" for c in CATALOGUE],
)
def test_every_bad_config_value_is_named_by_key_and_value(tmp_path, changes, models, key, value):
    config = _write(tmp_path, changes, models)
    with pytest.raises(ConfigError) as err:
        check_workflow_config(config)
    message = str(err.value)
    assert key in message and value in message, message
    assert "KeyError" not in message and "IndexError" not in message


def test_the_shipped_configs_pass():
    assert check_workflow_config(CONFIG, ROOT) is None  # raises ConfigError on any problem
    qualtrics = copy.deepcopy(CONFIG)
    qualtrics["survey"].update(
        yaml.safe_load((ROOT / "config" / "example_qualtrics.yaml").read_text())["survey"]
    )
    assert check_workflow_config(qualtrics, ROOT) is None


def test_the_check_hands_back_the_plan_with_the_models_run(tmp_path):
    """The DAG is built from what the check built: the plan draws the model figures exactly when
    a model is run, and the marginal-effects figure only when a run model asks for its effects."""
    checked = load_workflow_config(CONFIG, ROOT)
    assert [m.name for m in checked.models] == [m["name"] for m in MODELS["models"]]
    assert checked.plan.instrument.grids.keys() >= checked.instrument.grids.keys()
    assert {"model_forest", "model_effects"} <= set(checked.plan.figures())
    models = copy.deepcopy(MODELS)
    del models["models"][1]["marginal_effects"]
    plain = models["models"][1]["name"]
    one = load_workflow_config(_write(tmp_path, {"models.run": [plain]}, models))
    assert [m.name for m in one.models] == [plain]
    assert "model_forest" in one.plan.figures() and "model_effects" not in one.plan.figures()
    assert checked.plan.tables() == one.plan.tables()


def test_all_problems_are_listed_at_once(tmp_path):
    changes = {
        "report.headline": {**HEADLINE, "group": "Blak"},
        "estimation.groups": [*CONFIG["estimation"]["groups"], "ethnicty"],
    }
    with pytest.raises(ConfigError, match=r"has 2 problem\(s\)"):
        check_workflow_config(_write(tmp_path, changes, None))


# -- through the real workflow ------------------------------------------------------------------
def _hostile_model(name: str, formula: str | None = None, subset: str | None = None) -> dict:
    model = {
        "name": name,
        "data": "respondent",
        "outcome": "licence_index",
        "formula": formula or "licence_index ~ ethnicity",
        "family": "gaussian",
    }
    if subset is not None:
        model["subset"] = subset
    return model


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("early") / "project")


def _run_with_models(project: Path, models: dict, *args: str):
    models_file = project / "config" / "models.yaml"
    original = models_file.read_text()
    try:
        models_file.write_text(yaml.safe_dump(models, allow_unicode=True))
        proc = snakemake(project, *args, check=False)
    finally:
        models_file.write_text(original)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_issues_payloads_stop_a_real_run_before_any_job_and_never_run(project, tmp_path):
    marker = tmp_path / "payload-ran"
    cmd = f"'touch {marker}'"
    payloads = [
        (
            _hostile_model("evil", f"licence_index ~ ethnicity + __import__('os').system({cmd})"),
            "__import__('os').system",
        ),
        (_hostile_model("evil", subset=f"@pd.io.common.os.system({cmd})"), "'@'"),
    ]
    for model, token in payloads:
        code, out = _run_with_models(project, {"models": [model]})
        assert code != 0, out[-2000:]
        assert "ConfigError" in out and "model 'evil'" in out and token in out, out[-3000:]
        assert not marker.exists()
        assert not (project / "results").exists()  # no job ran


def test_payload_variants_are_all_named_before_any_job(project, tmp_path):
    """An attribute chain, a lambda, a comprehension and a call nested in C(): one dry run
    names all four models, each with its offending text."""
    marker = tmp_path / "payload-ran"
    cmd = f"'touch {marker}'"
    variants = {
        "chain": (
            _hostile_model("chain", f"licence_index ~ np.lib.npyio.os.system({cmd})"),
            "np.lib.npyio.os.system",
        ),
        "lam": (
            _hostile_model("lam", subset=f"(lambda: __import__('os').system({cmd}))() == 0"),
            "lambda",
        ),
        "comp": (
            _hostile_model("comp", subset=f"sex in [__import__('os').system({cmd}) for _ in [1]]"),
            "for _ in [1]",
        ),
        "nested": (
            _hostile_model(
                "nested", f"licence_index ~ C(sex, Treatment(__import__('os').system({cmd})))"
            ),
            "Treatment(",
        ),
    }
    models = {"models": [m for m, _ in variants.values()]}
    code, out = _run_with_models(project, models, "-n")
    assert code != 0 and "ConfigError" in out, out[-3000:]
    for name, (_, token) in variants.items():
        assert f"model '{name}'" in out and token in out, (name, out[-3000:])
    assert not marker.exists()
    assert not (project / "results").exists()


def test_a_bad_headline_and_reference_level_stop_snakemake_at_dag_build(project):
    bad = _model(reference={**MODELS["models"][0]["reference"], "age_band": "30 to 39"})
    code, out = _run_with_models(
        project,
        bad,
        "-n",
        "--config",
        "report={headline: {question: acceptability, cell: {data_type: police, purpose: early_help}, "
        "group_variable: ethnicity, group: Blak}}",
    )
    assert code != 0
    assert "report.headline.group: 'Blak' is not a group of 'ethnicity'" in out, out[-3000:]
    assert "reference.age_band: '30 to 39' is not a level of 'age_band'" in out, out[-3000:]
    assert "KeyError" not in out
