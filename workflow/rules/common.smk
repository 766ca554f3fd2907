# Helpers shared by the rules: configuration checks and target lists. No rule lives here.
import os
import sys

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

# The same exact pins as requirements.lock, for `snakemake --use-conda`.
CONDA_ENV = "../../environment.yml"
# Rule scripts import the library from src/, also inside a conda environment where the
# project itself is not installed.
_SRC = os.path.join(workflow.basedir, "src")
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)
)
# One BLAS thread per job: jobs run side by side, and sums come out in the same order on any
# machine, so results are byte-identical whatever the number of cores.
os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


# The library's one loader checks every config file against its schema before any job runs.
sys.path.insert(0, _SRC)
from social_licence.config import load as load_config_file

INSTRUMENT = load_config_file(
    config["survey"]["instrument"], "instrument", fill_defaults=False
)
TARGETS = load_config_file(
    config["weighting"]["targets_file"], "targets", fill_defaults=False
)
MODELS = load_config_file(config["models"]["file"], "models", fill_defaults=False)
THRESHOLDS = load_config_file(config["report"]["thresholds"], "thresholds")

# Every value that names a variable, level, grid, group or headline cell, and every model
# formula and subset (read as data, never run), checked against the instrument before any job.
from social_licence.config_check import check_workflow_config

check_workflow_config(config)

if config["weighting"]["targets"] not in TARGETS["sets"]:
    raise ValueError(
        f"weighting.targets: {config['weighting']['targets']!r} is not a set in "
        f"{config['weighting']['targets_file']} (sets: {', '.join(TARGETS['sets'])})"
    )


def model_names():
    """Models to fit: every model in the models file, or the configured subset."""
    declared = [m["name"] for m in MODELS["models"]]
    wanted = config["models"]["run"]
    if wanted == "all":
        return declared
    unknown = [m for m in wanted if m not in declared]
    if unknown:
        raise ValueError(
            f"models.run names {unknown}, not in {config['models']['file']}"
        )
    return list(wanted)


def withdrawals_input():
    """The withdrawals list, when one is configured."""
    path = config["survey"].get("withdrawals")
    return [path] if path else []


ESTIMATES = [
    "acceptability_type_purpose",
    "acceptability_by_type",
    "acceptability_by_purpose",
    "acceptability_by_group",
    "acceptability_responses",
    "group_comparisons",
    "association_tests",
    "trust",
    "rights",
]
TABLES = [
    "acceptability_type_purpose",
    "acceptability_by_type",
    "acceptability_by_purpose",
    "acceptability_by_group",
    "group_comparisons",
    "trust",
    "rights",
]
FIGURES = [
    "acceptability_by_type",
    "acceptability_by_purpose",
    "acceptability_heatmap",
    "acceptability_by_group",
    "model_forest",
    "model_effects",
    "trust",
    "rights",
    "weights",
]


def final_outputs():
    """Everything a user reads in results/, in a fixed order, as built in the staging folder
    work/ (published to results/ by the last rule once the whole set is built)."""
    outputs = [
        "work/qa/flow.csv",
        "work/codebook/codebook.csv",
        "work/codebook/codebook.html",
        "work/weighting/weight_summary.csv",
        "work/weighting/margins.csv",
        "work/weighting/balance.csv",
        "work/weighting/convergence.csv",
        "work/weighting/collapsed.csv",
        "work/brief/brief.html",
    ]
    outputs += expand(
        "work/tables/{table}.{ext}", table=TABLES, ext=["csv", "html", "docx"]
    )
    outputs += expand("work/figures/{figure}.{ext}", figure=FIGURES, ext=["png", "svg"])
    outputs += expand(
        "work/models/{model}{part}.csv",
        model=model_names(),
        part=["", "_effects", "_checks"],
    )
    return outputs


def manifest_inputs():
    """Every input the results depend on: the export, withdrawals and each config file."""
    return [
        config["survey"]["export"],
        *withdrawals_input(),
        "config/config.yaml",
        config["survey"]["instrument"],
        config["weighting"]["targets_file"],
        config["models"]["file"],
        config["report"]["thresholds"],
    ]
