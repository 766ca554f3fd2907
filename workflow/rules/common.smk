# Helpers shared by the rules: configuration checks and target lists. No rule lives here.
import functools
import math
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

# Weighting is a choice (none | supplied | rake): targets are read only for raking.
WEIGHTING = config["weighting"].get("method", "rake")
RAKING = WEIGHTING == "rake"
TARGETS = (
    load_config_file(
        config["weighting"]["targets_file"], "targets", fill_defaults=False
    )
    if RAKING
    else None
)
MODELS = load_config_file(config["models"]["file"], "models", fill_defaults=False)
THRESHOLDS = load_config_file(config["report"]["thresholds"], "thresholds")

# Every value that names a variable, level, grid, group or headline cell, and every model
# formula and subset (read as data, never run), checked against the instrument before any job.
# The check hands back the instrument and the analysis plan it built: each is read or built once.
from social_licence.config_check import load_workflow_config

CHECKED = load_workflow_config(config)
INSTRUMENT = CHECKED.instrument

# The digest of the library the jobs import: a parameter of every rule, so editing src/ re-runs
# the jobs (Snakemake follows a rule's own script and parameters, not the modules it imports).
from social_licence.report.provenance import library_digest

LIBRARY = library_digest()

if RAKING and config["weighting"]["targets"] not in TARGETS["sets"]:
    raise ValueError(
        f"weighting.targets: {config['weighting']['targets']!r} is not a set in "
        f"{config['weighting']['targets_file']} (sets: {', '.join(TARGETS['sets'])})"
    )


def model_names():
    """Models to fit: every model in the models file, or the configured subset (checked)."""
    return [spec.name for spec in CHECKED.models]


# What the weight stage writes, by method: the weight summary always; margins, balance,
# convergence and collapsed categories describe a raking (social_licence.weighting.choice).
WEIGHTING_FILES = {
    "summary": ("weight_summary", "../report/weight_summary.rst"),
    "margins": ("margins", "../report/weight_margins.rst"),
    "balance": ("balance", "../report/weight_balance.rst"),
    "convergence": ("convergence", None),
    "collapsed": ("collapsed", None),
}


def weighting_outputs(annotated=False):
    """The weighting diagnostics this analysis has (name -> path), for the weight rule's
    outputs (``annotated``: with their report captions) and for any rule that reads them.
    """
    from social_licence.weighting.choice import diagnostic_names

    outputs = {}
    for name in diagnostic_names(WEIGHTING):
        stem, caption = WEIGHTING_FILES[name]
        path = f"{WORK}/weighting/{stem}.csv"
        if annotated and caption:
            path = report(path, caption=caption, category="2. Weighting")
        outputs[name] = path
    return outputs


def wave_weighting_outputs():
    """An earlier wave's weighting diagnostics (name -> path with a {wave} wildcard): the same
    files as the current wave's, under waves/<wave>/."""
    return {
        name: path.replace(f"{WORK}/weighting/", f"{WORK}/waves/{{wave}}/weighting/")
        for name, path in weighting_outputs().items()
    }


def targets_input():
    """The targets file, read only when the weights are raked."""
    return {"targets": config["weighting"]["targets_file"]} if RAKING else {}


def withdrawals_input():
    """The withdrawals list, when one is configured."""
    path = config["survey"].get("withdrawals")
    return [path] if path else []


# The analysis: its name, where it is built (the staging folder) and where it is published.
ANALYSIS = (
    config.get("analysis", {}).get("name")
    or os.path.splitext(os.path.basename(config["survey"]["export"]))[0]
)
WORK = f"work/{ANALYSIS}"
RESULTS = config.get("analysis", {}).get("results") or f"results/{ANALYSIS}"

# The analysis plan (social_licence.survey.plan), as the config check built it: every estimate,
# table and figure follows from the config's questions (or those drafted from the instrument);
# no output is named here. PLAN_CONFIG: the config blocks the plan reads, for the jobs that
# rebuild it.
PLAN = CHECKED.plan
PLAN_CONFIG = {
    key: config.get(key, {})
    for key in ("analysis", "survey", "estimation", "weighting", "report")
}
if config.get("waves"):
    PLAN_CONFIG["waves"] = config["waves"]
    PLAN_CONFIG["waves_pool"] = config.get("waves_pool")
ESTIMATES = PLAN.estimates()
TABLES = PLAN.tables()
FIGURES = PLAN.figures()

# Several waves (README, "Several waves"): the earlier waves, each ingested, cleaned and weighted
# as its own sample (row-level files in work/<name>/interim/waves/<wave>/, QA flow and weighting
# diagnostics in work/<name>/waves/<wave>/), then compared with the current wave.
WAVES = {w["name"]: w for w in config.get("waves") or []}
TRENDS = [q.name for q in PLAN.trend_questions()]
TREND_TABLES = PLAN.trend_tables()
TREND_FIGURES = PLAN.trend_figures()
POOLED_TABLES = PLAN.pooled_tables()
for _wave in WAVES.values() if RAKING else ():  # targets are read only for raking
    _targets = _wave.get("targets") or config["weighting"]["targets"]
    if _targets not in TARGETS["sets"]:
        raise ValueError(
            f"waves: wave {_wave['name']!r} targets {_targets!r}, not a set in "
            f"{config['weighting']['targets_file']} (sets: {', '.join(TARGETS['sets'])})"
        )


def wave_export(wildcards):
    """An earlier wave's export."""
    return WAVES[wildcards.wave]["export"]


def wave_withdrawals(wildcards):
    """An earlier wave's withdrawals list, when it has one."""
    path = WAVES[wildcards.wave].get("withdrawals")
    return [path] if path else []


def wave_survey(wildcards):
    """The survey block an earlier wave is ingested with: the current wave's, with the wave's
    export, format, rename, recode and withdrawals."""
    wave = WAVES[wildcards.wave]
    keys = ("export", "format", "rename", "recode", "withdrawals")
    return {**config["survey"], **{k: wave.get(k) for k in keys}, "wave": wave["name"]}


def weighting_of(sample):
    """The weighting block of a sample: an earlier wave's own target set, or the current
    wave's block."""
    if sample not in WAVES:
        return config["weighting"]
    targets = WAVES[sample].get("targets") or config["weighting"]["targets"]
    return {**config["weighting"], "targets": targets}


def wave_weighting(wildcards):
    """The weighting block of an earlier wave."""
    return weighting_of(wildcards.wave)


# Replicate weights in several jobs (README, "Replicate weights in several jobs"): how many is
# known from the config alone. With more than one, the weight job writes the full-sample file,
# each replicate_weights job a share of the replicates, and a gather job the analysis file.
from social_licence.config import with_defaults
from social_licence.design.build import replicate_jobs
from social_licence.design.replicates import MAX_WEIGHTS

ESTIMATION = with_defaults("estimation", config["estimation"])
REPLICATE_JOBS = replicate_jobs(ESTIMATION, WEIGHTING)
# Each sample weighted on its own (the current wave, and each earlier wave) by its name.
CURRENT = config["survey"].get("wave") or "current"
SAMPLES = [CURRENT, *WAVES]


def replicates_folder(sample):
    """Where a sample's full-sample file and replicate shares are made (row-level: interim)."""
    return f"{WORK}/interim/replicates/{sample}"


def weighted_file():
    """What the weight job writes: the analysis file, or the full-sample file when its
    replicate weights are made by several jobs."""
    if REPLICATE_JOBS > 1:
        return f"{replicates_folder(CURRENT)}/full_sample.parquet"
    return f"{WORK}/interim/weighted.parquet"


def wave_weighted_file():
    """What an earlier wave's weight job writes (with a {wave} wildcard), as weighted_file()."""
    if REPLICATE_JOBS > 1:
        return f"{replicates_folder('{wave}')}/full_sample.parquet"
    return f"{WORK}/interim/waves/{{wave}}/weighted.parquet"


def replicate_shares(sample):
    """Every replicate job's share of a sample, in job order (the gather's input)."""
    return [
        f"{replicates_folder(sample)}/{job}.parquet"
        for job in range(1, REPLICATE_JOBS + 1)
    ]


def sample_weighting(wildcards):
    """The weighting block of the sample a replicate job weights."""
    return weighting_of(wildcards.sample)


def wave_surveys():
    """Every wave's weighted analysis file by wave name, oldest first, the current wave last."""
    files = {w: f"{WORK}/interim/waves/{w}/weighted.parquet" for w in WAVES}
    if WAVES:
        files[config["survey"]["wave"]] = f"{WORK}/interim/weighted.parquet"
    return files


def panel_input():
    """The panel overlap's list of respondent IDs, when one is declared."""
    panel = config.get("waves_panel")
    return [panel["file"]] if panel and WAVES else []


def stacked_model(name):
    """Whether a model is fitted on every wave stacked (models file: waves: stacked)."""
    spec = next(m for m in MODELS["models"] if m["name"] == name)
    return bool(WAVES) and spec.get("waves") == "stacked"


def model_waves(wildcards):
    """Every wave's analysis file, for a model fitted on the stacked waves."""
    return list(wave_surveys().values()) if stacked_model(wildcards.model) else []


def model_panel(wildcards):
    """The panel overlap's list, for a model fitted on the stacked waves."""
    return panel_input() if stacked_model(wildcards.model) else []


def trend_outputs():
    """The change job's interim frames: each trend question's shares by wave, its changes and
    (unless waves_pool is null) its shares pooled over the waves."""
    parts = ("waves", "change", "pooled") if POOLED_TABLES else ("waves", "change")
    return {
        f"{q}_{part}": f"{WORK}/interim/trends/{q}_{part}.parquet"
        for q in TRENDS
        for part in parts
    }


def final_outputs():
    """Everything a user reads in the results folder, in a fixed order, as built in the staging
    folder (published by the last rule once the whole set is built)."""
    outputs = [
        f"{WORK}/qa/flow.csv",
        f"{WORK}/codebook/codebook.csv",
        f"{WORK}/codebook/codebook.html",
        *weighting_outputs().values(),
        f"{WORK}/brief/brief.html",
    ]
    outputs += expand(
        f"{WORK}/tables/{{table}}.{{ext}}", table=TABLES, ext=["csv", "html", "docx"]
    )
    outputs += expand(
        f"{WORK}/figures/{{figure}}.{{ext}}", figure=FIGURES, ext=["png", "svg"]
    )
    outputs += expand(
        f"{WORK}/models/{{model}}{{part}}.csv",
        model=model_names(),
        part=["", "_effects", "_checks"],
    )
    for wave in WAVES:
        outputs.append(f"{WORK}/waves/{wave}/qa/flow.csv")
        outputs += [
            path.replace("{wave}", wave)
            for name, path in wave_weighting_outputs().items()
            if name in ("summary", "margins", "balance")
        ]
    outputs += expand(
        f"{WORK}/tables/{{table}}.{{ext}}",
        table=TREND_TABLES + POOLED_TABLES,
        ext=["csv", "html", "docx"],
    )
    outputs += expand(
        f"{WORK}/figures/{{figure}}.{{ext}}", figure=TREND_FIGURES, ext=["png", "svg"]
    )
    return outputs


def config_inputs():
    """The files the config names: instrument, targets (when raking), models, thresholds."""
    return [
        config["survey"]["instrument"],
        *targets_input().values(),
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
        "staging": WORK,
        "published": RESULTS,
    }


def manifest_inputs():
    """Every input the results depend on: the export, withdrawals and each config file."""
    waves = [w["export"] for w in WAVES.values()]
    waves += [w["withdrawals"] for w in WAVES.values() if w.get("withdrawals")]
    return [
        config["survey"]["export"],
        *withdrawals_input(),
        *waves,
        *panel_input(),
        *config_files(),
        *config_inputs(),
    ]


# ---------------------------------------------------------------------------------------------
# Resources: what each job needs, from the size of the export, so that Snakemake never runs
# jobs side by side past the machine's memory and a cluster gets honest requests.
#
# Memory model (README, "Memory and run time"): a job's peak resident memory is
#     job_mb + base_mb + mb_per_million_cells * rows * ratings / 1e6
# where `rows` is the number of rows of the export (read from its header, no data loaded),
# `ratings` the number of grid items in the instrument (the long frame's width) and `job_mb`
# the Snakemake process that runs a cluster job beside its rule script (0 for local rules).
# The coefficients were fitted to peaks measured by benchmarks/bench_rule_resources.py on the
# synthetic generator's exports of 1,500, 10,000 and 30,000 respondents, and for estimation and
# the models by benchmarks/bench_scale.py at 100,000 and 1,000,000; requests add a margin of
# MEMORY_MARGIN and grow with each retry (`attempt`), so a job killed for memory on a cluster
# is resubmitted with more.
MEMORY_MARGIN = 1.2
JOB_MB = 215


# Jobs whose cost does not grow with the sample (they read aggregates) run on the submitting
# machine when a cluster executor is used; the others are submitted as cluster jobs. Each
# local job also holds one `local_jobs`, which the cluster profile bounds: Snakemake does not
# bound local jobs by --local-cores in cluster runs (snakemake/snakemake#2896).
localrules:
    all,
    tables,
    figures,
    trend_tables,
    trend_figure,
    brief,
    manifest,
    publish,


# rule: (base_mb, mb_per_million_cells, base_minutes, minutes_per_million_cells); models by the
# frame they fit: the long frame of ratings or one row per respondent.
RULE_COST = {
    "ingest": (175, 50, 5, 2),
    "weight": (180, 50, 5, 2),
    "codebook": (180, 30, 5, 2),
    "estimate": (290, 110, 5, 5),
    "model_long": (400, 90, 5, 1),
    "model_respondent": (320, 55, 5, 2),
    "change": (290, 180, 5, 10),
    "table": (250, 0, 2, 0),
    "figure": (280, 0, 2, 0),
    "tables": (250, 0, 5, 0),
    "figures": (300, 0, 10, 0),
    "brief": (300, 0, 2, 0),
    "manifest": (100, 0, 2, 0),
    "publish": (100, 0, 2, 0),
    "replicate_weights": (180, 50, 2, 2),
    "replicates": (180, 50, 2, 2),
}
# Replicate weights a job holds (rows x replicates of float64, with the copies made on the way
# to the file: about five) and, when raking, re-rakes: MB and minutes per million weights
# (0.07 minutes measured: 50 replicates of the example's 1,500 rows raked in 0.3 s CPU).
REPLICATE_COST = {
    "weight": (40, 0.1),
    "replicate_weights": (40, 0.1),
    "replicates": (40, 0),
}
# Readers that give a file's row count from its header alone.
_ROW_COUNTERS = {
    ".sav": "read_sav",
    ".zsav": "read_sav",
    ".por": "read_por",
    ".dta": "read_dta",
}


@functools.cache
def export_rows():
    """Rows of the export (header metadata only; lines of a CSV export)."""
    path = config["survey"]["export"]
    suffix = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        return 0  # Snakemake reports the missing input before any job runs
    if suffix in _ROW_COUNTERS:
        import pyreadstat  # only here: a dry run of a CSV export never needs it

        read = getattr(pyreadstat, _ROW_COUNTERS[suffix])
        try:
            _, meta = read(path, metadataonly=True)
        # an unreadable export: the ingest job names the file and the fault
        except Exception:
            return 0
        if meta.number_rows is not None:
            return meta.number_rows
    if suffix == ".parquet":
        import pyarrow.parquet

        try:
            return pyarrow.parquet.read_metadata(path).num_rows
        # an unreadable export: the ingest job names the file and the fault
        except Exception:
            return 0
    # CSV (Qualtrics too) and any reader without a row count in the header: count lines
    with open(path, "rb") as handle:
        return sum(
            block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")
        )


def ratings():
    """Grid items in the instrument: the width of the long frame of ratings."""
    return sum(
        len(grid.rows) * max(1, len(grid.columns)) for grid in INSTRUMENT.grids.values()
    )


def _cells():
    return export_rows() * ratings() / 1e6


def replicate_count():
    """Replicates of the design: the bootstrap's; a jackknife's are its PSUs, unknown before
    the data is read: at most one per row, and at most what the library allows (300 million
    replicate weights), the bound a request must cover."""
    if ESTIMATION["variance"] == "bootstrap":
        return ESTIMATION["replicates"]
    rows = max(1, export_rows())
    return min(rows, MAX_WEIGHTS // rows)


def replicate_weights_held(name):
    """Millions of replicate weights a rule's job holds: every replicate in the weight job
    (one job) and the gather, a share in each replicate job."""
    if name not in REPLICATE_COST or ESTIMATION["variance"] == "linearisation":
        return 0
    if name == "weight" and REPLICATE_JOBS > 1:
        return 0
    held = replicate_count()
    if name == "replicate_weights":
        held = math.ceil(held / REPLICATE_JOBS)
    return export_rows() * held / 1e6


def _cost(name, wildcards):
    if name == "model":
        spec = next(m for m in MODELS["models"] if m["name"] == wildcards.model)
        name = "model_long" if spec.get("data") == "long" else "model_respondent"
    return RULE_COST[name]


def mem_mb(name):
    """Memory request of a rule's job (MB), from the export's size; more on each retry."""

    def request(wildcards, attempt):
        base, per_cell = _cost(name, wildcards)[:2]
        job = (
            0
            if name in ("tables", "figures", "brief", "manifest", "publish")
            else JOB_MB
        )
        replicates = REPLICATE_COST.get(name, (0, 0))[0] * replicate_weights_held(name)
        return math.ceil(
            (job + base + per_cell * _cells() + replicates) * MEMORY_MARGIN * attempt
        )

    return request


def runtime(name):
    """Wall-time request of a rule's job (minutes), from the export's size; more on each retry."""

    def request(wildcards, attempt):
        base, per_cell = _cost(name, wildcards)[2:]
        raking = REPLICATE_COST.get(name, (0, 0))[1] if RAKING else 0
        minutes = base + per_cell * _cells() + raking * replicate_weights_held(name)
        return math.ceil(minutes * 2 * attempt)

    return request


def benchmark_file(name):
    """Where a job's `benchmark:` record goes: outside results/, so results stay byte-identical."""
    return f"benchmarks/out/rules/{name}.tsv"


# A local run never starts jobs side by side past this machine's memory: unless
# `--resources mem_mb=N` is given, the jobs' memory requests share what is available at the
# start (psutil, as Snakemake's own benchmarks use). A job asking for more than that runs
# alone, its request capped. Cluster runs (remote nodes given) leave the limits to the cluster.
if workflow.nodes is None and "mem_mb" not in workflow.global_resources:
    import psutil

    workflow.register_resource("mem_mb", psutil.virtual_memory().available // 1_000_000)
