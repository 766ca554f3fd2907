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
    """Everything a user reads in results/, in a fixed order."""
    outputs = [
        "results/qa/flow.csv",
        "results/codebook/codebook.csv",
        "results/codebook/codebook.html",
        "results/weighting/weight_summary.csv",
        "results/weighting/margins.csv",
        "results/weighting/balance.csv",
        "results/weighting/convergence.csv",
        "results/weighting/collapsed.csv",
        "results/brief/brief.html",
    ]
    outputs += expand(
        "results/tables/{table}.{ext}", table=TABLES, ext=["csv", "html", "docx"]
    )
    outputs += expand(
        "results/figures/{figure}.{ext}", figure=FIGURES, ext=["png", "svg"]
    )
    outputs += expand(
        "results/models/{model}{part}.csv",
        model=model_names(),
        part=["", "_effects", "_checks"],
    )
    return outputs


def config_inputs():
    """The files the config names: instrument, targets, models, thresholds."""
    return [
        config["survey"]["instrument"],
        config["weighting"]["targets_file"],
        config["models"]["file"],
        config["report"]["thresholds"],
    ]


def config_files():
    """Every config file read, in merge order: the Snakefile's, then each --configfile."""
    extra = [os.path.abspath(p) for p in workflow.config_settings.configfiles]
    own = [p for p in workflow.configfiles if os.path.abspath(p) not in extra]
    files = []
    for path in own + extra:
        rel = os.path.relpath(path)
        files.append(path if rel.startswith("..") else rel)
    return files


def provenance_params():
    """What PROVENANCE.json records of this invocation: config files and --config overrides."""
    return {
        "configfiles": config_files(),
        "overrides": {k: v for k, v in workflow.config_settings.config.items()},
        "config_inputs": config_inputs(),
    }


def manifest_inputs():
    """Every input the results depend on: the export, withdrawals and each config file."""
    return [
        config["survey"]["export"],
        *withdrawals_input(),
        *config_files(),
        *config_inputs(),
    ]
