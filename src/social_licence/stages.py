"""One function per workflow stage: read the stage's inputs, call the library, write its outputs.

The Snakemake rule scripts in ``scripts/`` are thin wrappers around these functions, so every
stage can be run and tested without Snakemake. Each function takes paths and the plain config
blocks of ``config/config.yaml``; every output is written atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .config import with_defaults
from .design.build import (
    CHUNK_KEY,
    DESIGN_KEY,
    build_design,
    clusters,
    defer_replicates,
    design_spec,
    gather_replicates,
    load_design,
    replicate_chunk,
    replicate_jobs,
    store_design,
    without_design,
)
from .design.change import check_harmonised
from .design.describe import describe_file
from .design.design import SurveyDesign
from .design.grids import ESTIMATION_OPTIONS, estimate_frames
from .design.trends import pooled_shares, stack_waves, wave_change_table, wave_shares
from .errors import ConfigError, InputError, OutputError
from .ingest.cleaning import clean
from .ingest.codebook import codebook_table, write_codebook
from .ingest.formats import read_survey
from .ingest.interim import read_interim, write_interim
from .ingest.privacy import load_key, pseudonymise
from .io import atomic_write, write_csv
from .models.fit import fit_model, model_tables
from .models.formula import parse_formula, parse_subset
from .models.spec import ModelSpec, get_model, load_models
from .report.brief import BRIEF_INPUTS, write_brief
from .report.disclosure import (
    load_thresholds,
    protect_linked,
    suppress_effects,
    suppress_model_table,
    withhold_balance,
    withhold_flow,
    withhold_margin_counts,
    withhold_small_counts,
    withhold_statistics,
)
from .report.figures import publish_figure
from .report.tables import publish_table, read_frame
from .report.trends import (
    pooled_table,
    protect_pooled,
    protect_trend,
    protect_waves,
    save_trend_figure,
    trend_table,
    write_pooled_table,
    write_trend_table,
)
from .survey.instrument import Instrument, load_instrument
from .survey.plan import Plan, build_plan
from .survey.survey import Survey
from .weighting.choice import check_method as check_weighting_method
from .weighting.choice import diagnostic_names, supplied_weights, unit_weights
from .weighting.diagnostics import methods_note, weight_summary
from .weighting.margins import WEIGHT_NAME
from .weighting.solver import calibration, make_reweighter, raking_solves
from .weighting.targets import load_targets, rake_from_config

log = logging.getLogger("social_licence.stages")

WEIGHT_COLUMN = WEIGHT_NAME  # the raked weights' name is the final weight column


def run_ingest(
    export: str | Path,
    instrument_path: str | Path,
    withdrawals: str | Path | None,
    survey_cfg: Mapping[str, Any],
    cleaning_cfg: Mapping[str, Any],
    survey_out: str | Path,
    flow_out: str | Path,
    thresholds_path: str | Path | None = None,
) -> None:
    """Export -> checked, cleaned, pseudonymised analysis file and the QA flow table (with
    exclusions of fewer than the threshold's respondents withheld, when ``thresholds_path``)."""
    instrument = load_instrument(instrument_path)
    fmt = survey_cfg.get("format", "auto")
    try:
        survey = read_survey(
            export,
            instrument,
            rename=survey_cfg.get("rename") or None,
            recode=survey_cfg.get("recode") or None,
            format=None if fmt == "auto" else fmt,
        )
    except InputError as exc:
        if not survey_cfg.get("wave"):
            raise
        raise wave_error(survey_cfg["wave"], exc) from None
    cleaned, flow = clean(
        survey,
        instrument,
        cleaning_cfg,
        withdrawals or None,
        id_match=survey_cfg.get("id_match"),
        unmatched=survey_cfg.get("unmatched_withdrawals", "error"),
        layout=survey_cfg.get("layout", "wide"),
        item=survey_cfg.get("item"),
    )
    for line in cleaned.log:
        log.info(line)
    write_interim(cleaned, survey_out)
    if thresholds_path is not None:
        flow = withhold_flow(flow, load_thresholds(thresholds_path))
    write_csv(flow, flow_out)


def wave_error(wave: str, exc: InputError) -> InputError:
    """An export's fault, naming the wave it belongs to (several waves map onto one instrument)."""
    out = InputError(f"wave {wave!r} does not map onto the instrument: {exc}")
    out.file, out.variable, out.value, out.rows = exc.file, exc.variable, exc.value, exc.rows
    return out


RAKE_KEYS = ("bounds", "trim_deff", "tol", "max_iter", "missing")


def rake_options(weighting_cfg: Mapping[str, Any], instrument) -> dict[str, Any]:
    """How the full sample is raked, so replicates are raked exactly the same way."""
    options = {key: weighting_cfg[key] for key in RAKE_KEYS}
    options["base_weight"] = instrument.design.get("weight")
    return options


def run_weight(
    survey_in: str | Path,
    targets_path: str | Path | None,
    instrument_path: str | Path,
    weighting_cfg: Mapping[str, Any],
    estimation_cfg: Mapping[str, Any],
    thresholds_path: str | Path,
    survey_out: str | Path,
    outputs: Mapping[str, str | Path],
    layout: str = "wide",
) -> None:
    """Make the final weight as ``weighting.method`` says; write the analysis file with its
    survey design (:mod:`social_licence.design.build`) and the weighting diagnostics
    ``outputs`` (name -> path: ``summary`` always; ``margins``, ``balance``, ``convergence``
    and ``collapsed`` for ``rake``, see :func:`social_licence.weighting.choice.diagnostic_names`).

    ``none``: every row weighs 1, whatever the instrument's design weight (logged as ignored).
    ``supplied``: the instrument's design weight is the final weight, checked.
    ``rake``: the design weight raked to the configured target set (``targets_path``). What the
    variance needs to reflect the raking is made here, once: for linearisation the raking
    margins coded on the respondents; for replicate variance (``jk1``, ``jkn``, ``bootstrap``)
    the replicate weights, every replicate raked to the same targets with the same options as
    the full sample. Without raking, linearisation has no calibration and replicates are
    plain replicate weights. ``layout``: ``long`` when the export has one row per rating (the
    respondent is then the cluster unless a PSU is declared).

    With replicate variance and ``estimation.replicate_jobs`` above one
    (:func:`social_licence.design.build.replicate_jobs`), ``survey_out`` is the full-sample
    file: the final weight and the design still to be completed; the replicate weights are
    made by :func:`run_replicate_weights` (one job per share) and added by
    :func:`run_gather_replicates`, which writes the analysis file.
    """
    weighting_cfg = with_defaults("weighting", weighting_cfg)
    estimation_cfg = with_defaults("estimation", estimation_cfg)
    method = check_weighting_method(weighting_cfg["method"])
    wanted = set(diagnostic_names(method))
    if set(outputs) != wanted:
        raise ConfigError(
            f"weighting.method {method}: the weight stage writes {', '.join(sorted(wanted))}, "
            f"not {', '.join(sorted(outputs))}"
        )
    instrument = load_instrument(instrument_path)
    survey = read_interim(survey_in)
    design_weight = instrument.design.get("weight")
    variance = estimation_cfg["variance"]
    if method == "rake":
        if layout == "long":
            raise ConfigError(
                "weighting.method rake is not available for a long export (one row per rating) "
                "yet: use none, or supplied with the export's final weight"
            )
        run_rake(survey, targets_path, instrument, weighting_cfg, estimation_cfg, thresholds_path, outputs)
    else:
        if method == "none":
            if design_weight:
                log.info(
                    "weighting: none; the instrument's design weight %s is ignored (every row "
                    "weighs 1)",
                    design_weight,
                )
            weights = unit_weights(survey.data)
            label = "Final weight: 1 for every row (unweighted analysis)"
            record = {"method": "none"}
        else:
            weights = supplied_weights(
                survey.data, design_weight, file=survey.file, rows=survey.rows
            )
            label = f"Final weight: the export's supplied weight {design_weight}"
            record = {"method": "supplied", "variable": design_weight}
            log.info("weighting: supplied weight %s", design_weight)
        survey.data[WEIGHT_COLUMN] = weights.to_numpy()
        survey.meta.setdefault("variables", {})[WEIGHT_COLUMN] = {"label": label, "type": "weight"}
        spec = design_spec(instrument.design, estimation_cfg, weighting=record, layout=layout)
        jobs = replicate_jobs(estimation_cfg, method)
        if variance == "linearisation":
            log.info("variance: linearisation, without calibration")
            store_design(survey, spec)
        elif jobs > 1:
            log.info("variance: %s, plain replicates made by %d jobs", variance, jobs)
            defer_replicates(
                survey,
                spec,
                jobs,
                replicates=estimation_cfg["replicates"],
                seed=estimation_cfg["seed"],
            )
        else:
            replicates = build_design(
                survey.data,
                weights=WEIGHT_COLUMN,
                strata=spec["strata"],
                psu=clusters(survey.data, spec),
                fpc=spec["fpc"],
                lonely_psu=spec["lonely_psu"],
                variance=variance,
                replicates=estimation_cfg["replicates"],
                seed=estimation_cfg["seed"],
            )
            log.info("variance: %s, %d plain replicates (nothing re-weighted)", variance, replicates.replicates)
            store_design(survey, spec, replicates=replicates)
        summary = weight_summary(survey.data[WEIGHT_COLUMN])
        thresholds = load_thresholds(thresholds_path)
        numbers = [c for c in summary.columns if c != "weights" and pd.api.types.is_numeric_dtype(summary[c])]
        write_csv(withhold_statistics(summary, "n", numbers, thresholds), outputs["summary"])
    write_interim(survey, survey_out)


def run_rake(survey, targets_path, instrument, weighting_cfg, estimation_cfg, thresholds_path, outputs) -> None:
    """The ``rake`` method of :func:`run_weight` (in place on ``survey``; writes the diagnostics)."""
    solves_before = raking_solves()
    targets = load_targets(
        targets_path, weighting_cfg["targets"], instrument=instrument, data=survey.data
    )
    options = rake_options(weighting_cfg, instrument)
    diagnostic_options = {**options, "covariates": weighting_cfg["covariates"]}
    weights, diagnostics = rake_from_config(survey.data, targets, diagnostic_options)
    convergence = diagnostics.get("convergence")
    if convergence is not None:
        log.info("raking: %s", convergence.to_dict(orient="records"))
    survey.data[WEIGHT_COLUMN] = weights.to_numpy()
    survey.meta.setdefault("variables", {})[WEIGHT_COLUMN] = {
        "label": f"Final weight: design weight raked to target set {weighting_cfg['targets']!r}",
        "type": "weight",
    }
    record = {
        "method": "rake",
        "targets": weighting_cfg["targets"],
        "margins": list(dict.fromkeys(diagnostics["margins"]["margin"])),
        "base": options["base_weight"],
    }
    spec = design_spec(instrument.design, estimation_cfg, weighting=record)
    variance = estimation_cfg["variance"]
    jobs = replicate_jobs(estimation_cfg, "rake")
    if variance == "linearisation":
        log.info("variance: linearisation, calibrated to the margins of %r", weighting_cfg["targets"])
        store_design(survey, spec, calibration=calibration(survey.data, targets, **options))
    elif jobs > 1:
        log.info(
            "variance: %s, replicates raked to %r by %d jobs", variance, weighting_cfg["targets"], jobs
        )
        defer_replicates(
            survey,
            spec,
            jobs,
            replicates=estimation_cfg["replicates"],
            seed=estimation_cfg["seed"],
        )
    else:
        reweighter = make_reweighter(
            survey.data,
            targets,
            empty=estimation_cfg["replicate_empty"],
            infeasible=estimation_cfg["replicate_bounds"],
            **options,
        )
        replicates = build_design(
            survey.data,
            weights=WEIGHT_COLUMN,
            strata=spec["strata"],
            psu=spec["psu"],
            fpc=spec["fpc"],
            lonely_psu=spec["lonely_psu"],
            variance=variance,
            replicates=estimation_cfg["replicates"],
            seed=estimation_cfg["seed"],
            reweighter=reweighter,
            base_weights=instrument.design.get("weight"),
        )
        log.info(
            "variance: %s, %d replicates, each raked once to %r (%d reweighter calls, the first "
            "the full-sample check); %d raked without bounds (bounds could not be met); "
            "%d with an empty category raked partially",
            variance,
            replicates.replicates,
            weighting_cfg["targets"],
            reweighter.calls,
            len(reweighter.unbounded),
            len({call for call, _, _ in reweighter.partial}),
        )
        store_design(survey, spec, replicates=replicates)
    log.info("raking solves in this run: %d", raking_solves() - solves_before)
    thresholds = load_thresholds(thresholds_path)
    summary = diagnostics["summary"]
    numbers = [c for c in summary.columns if c != "weights" and pd.api.types.is_numeric_dtype(summary[c])]
    write_csv(withhold_statistics(summary, "n", numbers, thresholds), outputs["summary"])
    min_base = thresholds.min_base
    margins = withhold_margin_counts(diagnostics["margins"], min_base)
    write_csv(margins, outputs["margins"])
    write_csv(withhold_balance(diagnostics["balance"], survey.data, thresholds), outputs["balance"])
    write_csv(diagnostics["convergence"], outputs["convergence"])
    collapsed = withhold_margin_counts(
        diagnostics["collapsed"], min_base, by=["margin", "collapsed_into"]
    )
    write_csv(collapsed, outputs["collapsed"])


def run_replicate_weights(
    full_sample: str | Path,
    targets_path: str | Path | None,
    instrument_path: str | Path,
    weighting_cfg: Mapping[str, Any],
    estimation_cfg: Mapping[str, Any],
    job: int,
    chunk_out: str | Path,
) -> None:
    """One job's share of the replicate weights of the weight stage's full-sample file
    (:func:`run_weight` with ``estimation.replicate_jobs`` above one): with ``rake``, each
    replicate of the share raked as in one job (the reweighter's first call re-rakes the full
    sample, the check and the start of every replicate's raking); otherwise plain replicates.
    Writes the share's weights and, in the file's meta, what the gather job needs and logs."""
    weighting_cfg = with_defaults("weighting", weighting_cfg)
    estimation_cfg = with_defaults("estimation", estimation_cfg)
    instrument = load_instrument(instrument_path)
    survey = read_interim(full_sample)
    solves_before = raking_solves()
    reweighter = base_weights = None
    if check_weighting_method(weighting_cfg["method"]) == "rake":
        targets = load_targets(
            targets_path, weighting_cfg["targets"], instrument=instrument, data=survey.data
        )
        reweighter = make_reweighter(
            survey.data,
            targets,
            empty=estimation_cfg["replicate_empty"],
            infeasible=estimation_cfg["replicate_bounds"],
            **rake_options(weighting_cfg, instrument),
        )
        base_weights = instrument.design.get("weight")
    weights, info = replicate_chunk(
        survey, int(job), reweighter=reweighter, base_weights=base_weights
    )
    info["calls"] = reweighter.calls if reweighter else 0
    info["unbounded"] = len(reweighter.unbounded) if reweighter else 0
    info["partial"] = len({call for call, _, _ in reweighter.partial}) if reweighter else 0
    info["solves"] = raking_solves() - solves_before
    log.info(
        "replicate job %d of %d: replicates %d to %d of %d (%s); %d reweighter calls, the first "
        "the full-sample check; %d raked without bounds; %d with an empty category raked "
        "partially; %d raking solves",
        info["job"], info["jobs"], info["first"] + 1, info["stop"], info["replicates"],
        info["type"], info["calls"], info["unbounded"], info["partial"], info["solves"],
    )
    chunk = Survey(
        data=pd.DataFrame(
            weights,
            index=survey.data.index,
            columns=[str(r + 1) for r in range(info["first"], info["stop"])],
        ),
        meta={"index": survey.meta.get("index"), CHUNK_KEY: info},
        rows=survey.rows,
    )
    write_interim(chunk, chunk_out)


def run_gather_replicates(
    full_sample: str | Path, chunks: Sequence[str | Path], survey_out: str | Path
) -> None:
    """The analysis file from the full-sample file and every replicate job's share (in job
    order): byte for byte what :func:`run_weight` writes making every replicate in one job.
    The jobs' reweighter counts are summed in the log."""
    survey = read_interim(full_sample)
    parts = []
    for path in chunks:
        part = read_interim(path)
        if not part.data.index.equals(survey.data.index):
            raise InputError(
                "the replicate job's respondents are not those of the full-sample file", file=str(path)
            )
        parts.append((part.data.to_numpy(dtype=float), part.meta[CHUNK_KEY]))
    gather_replicates(survey, parts)
    infos = [info for _, info in parts]
    total = {key: sum(info[key] for info in infos) for key in ("calls", "unbounded", "partial", "solves")}
    log.info(
        "variance: %s, %d replicates made by %d jobs (%d reweighter calls, the first of each "
        "job the full-sample check); %d raked without bounds (bounds could not be met); %d with "
        "an empty category raked partially; %d raking solves in the replicate jobs",
        infos[0]["type"], infos[0]["replicates"], len(infos), total["calls"], total["unbounded"],
        total["partial"], total["solves"],
    )
    write_interim(survey, survey_out)


def run_codebook(
    survey_in: str | Path,
    instrument_path: str | Path,
    thresholds_path: str | Path,
    csv_out: str | Path,
    html_out: str | Path,
) -> None:
    """The codebook with weighted frequencies; counts below the disclosure threshold withheld."""
    instrument = load_instrument(instrument_path)
    survey = without_design(read_interim(survey_in))
    thresholds = load_thresholds(thresholds_path)
    table = codebook_table(survey, instrument, weights=WEIGHT_COLUMN)
    table = withhold_small_counts(table, thresholds.min_base)
    table = withhold_statistics(table, "n_unweighted", CODEBOOK_STATISTICS, thresholds)
    write_codebook(table, csv_out, html_out, title=f"Codebook: {instrument.name}")


#: Codebook columns describing the respondents of a variable, withheld with a base below the threshold.
CODEBOOK_STATISTICS = (
    "count_unweighted",
    "share_unweighted",
    "count_weighted",
    "share_weighted",
    "n_weighted",
    "mean",
    "sd",
    "median",
    "weighted_mean",
)


def load_plan(instrument_path: str | Path, plan_cfg: Mapping[str, Any], models: Sequence[str] = ()) -> Plan:
    """The analysis plan (:func:`social_licence.survey.plan.build_plan`) from the instrument and
    the config sections it reads (``analysis``, ``survey``, ``estimation``, ``weighting``,
    ``report``), as the workflow builds its DAG from it."""
    return build_plan(plan_cfg, load_instrument(instrument_path), models=models)


def run_estimate(
    survey_in: str | Path,
    instrument_path: str | Path,
    plan_cfg: Mapping[str, Any],
    outputs: Mapping[str, str | Path],
) -> None:
    """Every design-based estimate of the analysis plan, full precision, as interim Parquet.

    The design is the weight stage's (:func:`load_design`): its standard errors include the
    weighting (calibration residuals, or replicates raked once by the weight stage).
    """
    estimation_cfg = with_defaults("estimation", plan_cfg.get("estimation") or {})
    plan = load_plan(instrument_path, {**plan_cfg, "estimation": estimation_cfg})
    design = load_design(read_interim(survey_in))
    log.info("design: %r", design)
    options = {k: v for k, v in estimation_cfg.items() if k in ESTIMATION_OPTIONS}
    frames = estimate_frames(design, plan, options)
    unexpected = sorted(set(outputs) - set(frames))
    if unexpected:
        raise OutputError(f"the estimate job was asked for {unexpected}, which the analysis plan does not make")
    for name, path in outputs.items():
        write_parquet(frames[name], path)
        log.info("%s: %d rows", name, len(frames[name]))


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    """A frame as Parquet, written atomically (pyarrow's output is the same for the same frame)."""
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow"))


def run_model(
    name: str,
    survey_in: str | Path,
    instrument_path: str | Path,
    models_path: str | Path,
    thresholds_path: str | Path,
    estimation_cfg: Mapping[str, Any],
    coefficients_out: str | Path,
    effects_out: str | Path,
    checks_out: str | Path,
    waves: Mapping[str, str | Path] | None = None,
    panel: tuple[str | Path, str] | None = None,
) -> None:
    """Fit one model of the models file on the weight stage's design; write its coefficients,
    effects and checks.

    Coefficients and marginal effects go through disclosure control (a term or group with an
    unweighted base below the threshold is withheld). ``checks`` holds the proportional-odds
    check of an ordinal model or the reliability of an index, when the model has one.
    A model with ``waves: stacked`` is fitted on every wave's analysis file (``waves``: name ->
    file, oldest first, the current wave last) stacked into one design (:func:`stack_waves`;
    ``panel``: (CSV, column) of the respondents in more than one wave), with a ``wave`` column.
    """
    estimation_cfg = with_defaults("estimation", estimation_cfg)
    instrument = load_instrument(instrument_path)
    thresholds = load_thresholds(thresholds_path)
    spec = get_model(load_models(models_path), name)
    survey = read_interim(survey_in)
    layout = survey.meta[DESIGN_KEY].get("layout", "wide")
    if spec.waves == "stacked":
        design = stacked_design(spec, instrument, waves or {}, panel)
    else:
        design = load_design(survey)
    result = fit_model(spec, design.data, instrument, design=design, layout=layout)
    tables = model_tables(result, spec, ci_level=estimation_cfg["ci_level"])
    coefficients = suppress_model_table(tables["coefficients"], thresholds, name=name)
    effects = tables["effects"]
    if len(effects):
        effects = suppress_effects(effects, thresholds, name=f"{name} effects")
    checks = [
        frame.assign(check=key)
        for key, frame in tables.items()
        if key not in ("coefficients", "effects") and isinstance(frame, pd.DataFrame) and len(frame)
    ]
    checks_frame = pd.concat(checks, ignore_index=True) if checks else pd.DataFrame({"check": []})
    log.info("model %s: %d terms, %d effects rows", name, len(coefficients), len(effects))
    write_csv(coefficients, coefficients_out)
    write_csv(effects, effects_out)
    write_csv(checks_frame, checks_out)


def stacked_design(
    spec: ModelSpec, instrument: Instrument, waves: Mapping[str, str | Path], panel: tuple[str | Path, str] | None
) -> SurveyDesign:
    """Every wave's design stacked into one for a model with ``waves: stacked``, once the waves
    are checked to code the model's variables alike."""
    if len(waves) < 2:
        raise ConfigError(f"model {spec.name!r}: waves: stacked needs the analysis files of two or more waves, got {list(waves)}")
    surveys = {wave: read_interim(path) for wave, path in waves.items()}
    for wave, survey in surveys.items():
        survey.meta.setdefault("source", {}).setdefault("file", str(waves[wave]))
    parsed = parse_formula(spec.full_formula, model=spec.name)
    used = [*parsed.lhs, *parsed.rhs, *spec.reference]
    if spec.subset:
        used += parse_subset(spec.subset, model=spec.name).variables
    if spec.data == "long" and spec.grid in instrument.grids:
        used += [var for var, _, _ in instrument.grids[spec.grid].cells()]
    check_harmonised(surveys, [v for v in dict.fromkeys(used) if v in instrument.variables])
    designs = {wave: load_design(survey) for wave, survey in surveys.items()}
    panel_ids = None if panel is None else panel_pseudonyms(*panel)
    stacked = stack_waves(designs, panel_ids)
    log.info("model %s: %d waves stacked (%d rows); %s", spec.name, len(designs), stacked.design.n, stacked.method)
    return stacked.design


def report_inputs(
    estimates: Sequence[str | Path],
    models: Sequence[str | Path] = (),
    effects: Sequence[str | Path] = (),
    **named: str | Path | None,
) -> dict[str, Any]:
    """The frames tables, figures and the brief read, by the names they expect.

    ``estimates`` are the estimation stage's Parquet files (named by their stem); model
    coefficient and effect tables are stacked over models; ``named`` paths (``qa_flow``,
    ``weight_summary``, ``margins``, ...) are read as they are (None: not made in this analysis).
    """
    inputs: dict[str, Any] = {Path(p).stem: read_frame(p) for p in estimates}
    stacked = {"models": models, "effects": effects}
    for key, paths in stacked.items():
        frames = [read_frame(p) for p in paths]
        frames = [f for f in frames if len(f)]
        if frames:
            inputs[key] = pd.concat(frames, ignore_index=True)
    for key, path in named.items():
        if path is not None:
            inputs[key] = read_frame(path)
    return inputs


def protect_published(frames: Mapping[str, Any], thresholds, plan: Plan) -> dict[str, Any]:
    """Disclosure control of every estimate frame of the plan, as one linked system, so that
    tables, figures and the brief withhold the same cells."""
    return protect_linked(frames, thresholds, plan.instrument, published=plan.estimates())


def run_tables(
    names: Sequence[str],
    estimates: Sequence[str | Path],
    instrument_path: str | Path,
    thresholds_path: str | Path,
    plan_cfg: Mapping[str, Any],
    outputs: Sequence[tuple[str | Path, str | Path, str | Path]],
    survey_in: str | Path | None = None,
) -> None:
    """The published tables (``names``, each written to its (CSV, HTML, Word) paths of
    ``outputs``): the estimates are read and disclosure-controlled once, as one linked system.
    ``survey_in``: the weight stage's analysis file, whose stored design the footnote describes."""
    plan = load_plan(instrument_path, plan_cfg)
    thresholds = load_thresholds(thresholds_path)
    frames = protect_published(report_inputs(estimates), thresholds, plan)
    note = None
    if survey_in is not None:
        ci_level = with_defaults("estimation", plan_cfg.get("estimation") or {})["ci_level"]
        described = describe_file(survey_in, plan.instrument)
        note = described.footnote(ci_level, unit=None if described.unit == "ratings" else plan.population)
    for name, (csv_out, html_out, docx_out) in zip(names, outputs, strict=True):
        publish_table(name, frames, plan, thresholds, csv_out, html_out, docx_out, method_note=note)
        log.info("table %s", name)


def run_figures(
    names: Sequence[str],
    inputs: Mapping[str, Any],
    instrument_path: str | Path,
    thresholds_path: str | Path,
    plan_cfg: Mapping[str, Any],
    outputs: Sequence[tuple[str | Path, str | Path]],
    models: Sequence[str] = (),
) -> None:
    """The published figures (``names``, each written to its (PNG, SVG) paths of ``outputs``),
    from frames disclosure-controlled once, as one linked system."""
    plan = load_plan(instrument_path, plan_cfg, models)
    thresholds = load_thresholds(thresholds_path)
    frames = protect_published(inputs, thresholds, plan)
    for name, (png_out, svg_out) in zip(names, outputs, strict=True):
        publish_figure(name, frames, plan, thresholds, png_out, svg_out)
        log.info("figure %s", name)


def run_brief(
    inputs: dict[str, Any],
    instrument_path: str | Path,
    thresholds_path: str | Path,
    plan_cfg: Mapping[str, Any],
    weighting_diagnostics: Mapping[str, pd.DataFrame],
    html_out: str | Path,
    figures: Mapping[str, str | Path] | None = None,
    models: Sequence[str] = (),
    survey_in: str | Path | None = None,
    trends: Mapping[str, tuple[str | Path, str | Path]] | None = None,
    pooled: Mapping[str, str | Path] | None = None,
) -> None:
    """The policy brief: key messages from the numbers, figures, tables and methods box.

    ``figures``: the figure rule's SVGs (or PNGs) by figure name, embedded as they are (not drawn
    again); ``survey_in``: the weight stage's analysis file, whose stored design the methods box
    describes (:mod:`social_licence.design.describe`); ``trends``: with several waves, each trend
    question's (shares by wave, change) files; ``pooled``: each question's shares pooled over the
    waves, whose method the methods box states.
    """
    plan = load_plan(instrument_path, plan_cfg, models)
    report_cfg = with_defaults("report", plan_cfg.get("report") or {})
    estimation_cfg = with_defaults("estimation", plan_cfg.get("estimation") or {})
    thresholds = load_thresholds(thresholds_path)
    known = set(plan.estimates()) | set(BRIEF_INPUTS)
    inputs = protect_published({k: v for k, v in inputs.items() if k in known}, thresholds, plan)
    options: dict[str, Any] = {
        "estimation": dict(estimation_cfg),
        "weighting_text": methods_note(weighting_diagnostics, plan.instrument) if weighting_diagnostics else None,
        "design_text": describe_file(survey_in, plan.instrument).text() if survey_in is not None else None,
        "figure_files": dict(figures or {}),
    }
    if trends:
        options["trends"] = {
            name: protect_trend(read_frame(a), read_frame(b), thresholds, plan, plan.question(name))
            for name, (a, b) in trends.items()
        }
    if pooled:
        methods = sorted({str(m) for path in pooled.values() for m in read_frame(path)["pooling"].dropna()})
        tables = ", ".join(f"{name}_pooled" for name in pooled)
        options["pooled_text"] = f"Shares {'; '.join(methods)} (tables {tables}), for groups too small in any one wave."
    write_brief(
        inputs,
        thresholds,
        html_out,
        plan=plan,
        title=report_cfg.get("title") or None,
        subtitle=report_cfg.get("subtitle", ""),
        options=options,
    )


def run_change(
    surveys: Mapping[str, str | Path],
    instrument_path: str | Path,
    plan_cfg: Mapping[str, Any],
    panel: tuple[str | Path, str] | None,
    outputs: Mapping[str, str | Path],
) -> None:
    """Several waves: check that they are harmonised, then each trend question's shares by wave,
    the changes between waves and (unless ``waves_pool`` is null) the shares pooled over the
    waves (interim, full precision; disclosure control is applied when they are published).

    ``surveys``: each wave's weighted analysis file, oldest first, the current wave last.
    ``panel``: (CSV, column) of the respondent IDs interviewed in more than one wave; None for
    independent samples. ``outputs``: ``<question>_waves``, ``<question>_change`` and
    ``<question>_pooled`` paths.
    """
    estimation_cfg = with_defaults("estimation", plan_cfg.get("estimation") or {})
    plan = load_plan(instrument_path, {**plan_cfg, "estimation": estimation_cfg})
    waves = {wave: read_interim(path) for wave, path in surveys.items()}
    for wave, survey in waves.items():
        survey.meta.setdefault("source", {}).setdefault("file", str(surveys[wave]))
    used = []
    for q in plan.trend_questions():
        used += [var for var, _, _ in plan.instrument.grids[q.grid].cells()] + list(q.groups)
    check_harmonised({w: s for w, s in waves.items()}, list(dict.fromkeys(used)))
    designs = {wave: load_design(survey) for wave, survey in waves.items()}
    panel_ids = None if panel is None else panel_pseudonyms(*panel)
    options = {"dk": estimation_cfg["dk"], "ci_level": estimation_cfg["ci_level"]}
    for q in plan.trend_questions():
        shares = wave_shares(designs, plan, q, **options)
        change, method = wave_change_table(designs, plan, q, panel=panel_ids, adjust=estimation_cfg["adjust"], **options)
        log.info("%s: %d wave shares, %d changes (%d flagged); %s", q.name, len(shares), len(change), int(change["flagged"].sum()), method)
        write_parquet(shares, outputs[f"{q.name}_waves"])
        write_parquet(change, outputs[f"{q.name}_change"])
        if plan.pool:
            pooled, pooling = pooled_shares(designs, plan, q, rescale=plan.pool, panel=panel_ids, **options)
            log.info("%s: %d pooled shares; %s", q.name, len(pooled), pooling)
            write_parquet(pooled, outputs[f"{q.name}_pooled"])


def panel_pseudonyms(path: str | Path, column: str) -> set[str]:
    """The keyed pseudonyms (as ingest makes them) of the respondent IDs listed in a panel file."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if column not in table.columns:
        raise OutputError(f"{path}: the panel file has no column {column!r} (columns: {', '.join(table.columns)})")
    ids = table[column].str.strip()
    return set(pseudonymise(ids[ids != ""], load_key()).astype(str))


def _protected_trend(question: str, waves_path, change_path, instrument_path, thresholds_path, plan_cfg):
    plan = load_plan(instrument_path, plan_cfg)
    q = plan.question(question)
    thresholds = load_thresholds(thresholds_path)
    shares, change = protect_trend(read_frame(waves_path), read_frame(change_path), thresholds, plan, q)
    return plan, q, thresholds, shares, change


def run_trend_tables(
    questions: Sequence[str],
    trends: Mapping[str, str | Path],
    instrument_path: str | Path,
    thresholds_path: str | Path,
    plan_cfg: Mapping[str, Any],
    outputs: Mapping[str, tuple[str | Path, str | Path, str | Path]],
) -> None:
    """Every trend question's trend table (each wave's shares and the changes) and, when pooled,
    its pooled table (shares over every wave, withheld against each wave's published cells),
    disclosure-controlled; CSV, HTML and Word each, in one job.

    ``trends``: the change job's frames by name (``<q>_waves``, ``<q>_change``, ``<q>_pooled``);
    ``outputs``: (CSV, HTML, Word) paths by table name (``<q>_trend``, ``<q>_pooled``)."""
    plan = load_plan(instrument_path, plan_cfg)
    thresholds = load_thresholds(thresholds_path)
    for name in questions:
        q = plan.question(name)
        waves = trends[f"{name}_waves"]
        if f"{name}_trend" in outputs:
            shares, change = protect_trend(read_frame(waves), read_frame(trends[f"{name}_change"]), thresholds, plan, q)
            table = trend_table(shares, change, plan, q)
            write_trend_table(table, plan, q, thresholds, *outputs[f"{name}_trend"])
        if f"{name}_pooled" in outputs:
            shares = protect_waves(read_frame(waves), thresholds, plan, q)
            pooled = protect_pooled(read_frame(trends[f"{name}_pooled"]), shares, thresholds, plan, q)
            write_pooled_table(pooled_table(pooled, q), plan, q, thresholds, *outputs[f"{name}_pooled"])


def run_trend_figure(
    question: str,
    waves_path: str | Path,
    change_path: str | Path,
    instrument_path: str | Path,
    thresholds_path: str | Path,
    plan_cfg: Mapping[str, Any],
    png_out: str | Path,
    svg_out: str | Path,
) -> None:
    """One trend figure: the question's shares wave by wave, disclosure-controlled; PNG and SVG."""
    plan, q, _, shares, _ = _protected_trend(question, waves_path, change_path, instrument_path, thresholds_path, plan_cfg)
    save_trend_figure(shares, plan, q, png_out, svg_out)
