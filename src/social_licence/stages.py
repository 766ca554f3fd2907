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
from .design.build import build_design, design_spec, load_design, store_design, without_design
from .design.change import check_harmonised
from .design.grids import ESTIMATION_OPTIONS, estimate_frames
from .design.trends import wave_change_table, wave_shares
from .errors import InputError, OutputError
from .ingest.cleaning import clean
from .ingest.codebook import codebook_table, write_codebook
from .ingest.formats import read_survey
from .ingest.interim import read_interim, write_interim
from .ingest.privacy import load_key, pseudonymise
from .io import atomic_write, write_csv
from .models.fit import fit_model, model_tables
from .models.spec import get_model, load_models
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
from .report.trends import protect_trend, save_trend_figure, trend_table, write_trend_table
from .survey.instrument import load_instrument
from .survey.plan import Plan, build_plan
from .weighting.diagnostics import methods_note
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
    targets_path: str | Path,
    instrument_path: str | Path,
    weighting_cfg: Mapping[str, Any],
    estimation_cfg: Mapping[str, Any],
    thresholds_path: str | Path,
    survey_out: str | Path,
    summary_out: str | Path,
    margins_out: str | Path,
    balance_out: str | Path,
    convergence_out: str | Path,
    collapsed_out: str | Path,
) -> None:
    """Rake the design weight to the configured target set; write the analysis file with its
    survey design (:mod:`social_licence.design.build`) and the weighting diagnostics.

    What the variance needs to reflect the raking is made here, once: for linearisation the
    raking margins coded on the respondents; for replicate variance (``jk1``, ``jkn``,
    ``bootstrap``) the replicate weights, every replicate raked to the same targets with the
    same options as the full sample.
    """
    weighting_cfg = with_defaults("weighting", weighting_cfg)
    estimation_cfg = with_defaults("estimation", estimation_cfg)
    instrument = load_instrument(instrument_path)
    survey = read_interim(survey_in)
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
    spec = design_spec(instrument.design, estimation_cfg)
    variance = estimation_cfg["variance"]
    if variance == "linearisation":
        log.info("variance: linearisation, calibrated to the margins of %r", weighting_cfg["targets"])
        store_design(survey, spec, calibration=calibration(survey.data, targets, **options))
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
    write_interim(survey, survey_out)
    thresholds = load_thresholds(thresholds_path)
    summary = diagnostics["summary"]
    numbers = [c for c in summary.columns if c != "weights" and pd.api.types.is_numeric_dtype(summary[c])]
    write_csv(withhold_statistics(summary, "n", numbers, thresholds), summary_out)
    min_base = thresholds.min_base
    margins = withhold_margin_counts(diagnostics["margins"], min_base)
    write_csv(margins, margins_out)
    write_csv(withhold_balance(diagnostics["balance"], survey.data, thresholds), balance_out)
    write_csv(diagnostics["convergence"], convergence_out)
    collapsed = withhold_margin_counts(
        diagnostics["collapsed"], min_base, by=["margin", "collapsed_into"]
    )
    write_csv(collapsed, collapsed_out)


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
) -> None:
    """Fit one model of the models file on the weight stage's design; write its coefficients,
    effects and checks.

    Coefficients and marginal effects go through disclosure control (a term or group with an
    unweighted base below the threshold is withheld). ``checks`` holds the proportional-odds
    check of an ordinal model or the reliability of an index, when the model has one.
    """
    estimation_cfg = with_defaults("estimation", estimation_cfg)
    instrument = load_instrument(instrument_path)
    thresholds = load_thresholds(thresholds_path)
    spec = get_model(load_models(models_path), name)
    design = load_design(read_interim(survey_in))
    result = fit_model(spec, design.data, instrument, design=design)
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


def run_table(
    name: str,
    estimates: Sequence[str | Path],
    instrument_path: str | Path,
    thresholds_path: str | Path,
    plan_cfg: Mapping[str, Any],
    csv_out: str | Path,
    html_out: str | Path,
    docx_out: str | Path,
) -> None:
    """One published table: disclosure control, then CSV, HTML and Word."""
    plan = load_plan(instrument_path, plan_cfg)
    thresholds = load_thresholds(thresholds_path)
    frames = protect_published(report_inputs(estimates), thresholds, plan)
    publish_table(name, frames, plan, thresholds, csv_out, html_out, docx_out)


def run_figure(
    name: str,
    inputs: Mapping[str, Any],
    instrument_path: str | Path,
    thresholds_path: str | Path,
    plan_cfg: Mapping[str, Any],
    png_out: str | Path,
    svg_out: str | Path,
    models: Sequence[str] = (),
) -> None:
    """One published figure, from disclosure-controlled frames, as PNG and SVG."""
    plan = load_plan(instrument_path, plan_cfg, models)
    thresholds = load_thresholds(thresholds_path)
    publish_figure(name, protect_published(inputs, thresholds, plan), plan, thresholds, png_out, svg_out)


def run_brief(
    inputs: dict[str, Any],
    instrument_path: str | Path,
    thresholds_path: str | Path,
    plan_cfg: Mapping[str, Any],
    weighting_diagnostics: Mapping[str, pd.DataFrame],
    html_out: str | Path,
    figures: Mapping[str, str | Path] | None = None,
    models: Sequence[str] = (),
    trends: Mapping[str, tuple[str | Path, str | Path]] | None = None,
) -> None:
    """The policy brief: key messages from the numbers, figures, tables and methods box.

    ``figures``: the figure rule's SVGs (or PNGs) by figure name, embedded as they are (not drawn again).
    ``trends``: with several waves, each trend question's (shares by wave, change) files.
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
        "figure_files": dict(figures or {}),
    }
    if trends:
        options["trends"] = {
            name: protect_trend(read_frame(a), read_frame(b), thresholds, plan, plan.question(name))
            for name, (a, b) in trends.items()
        }
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
    """Several waves: check that they are harmonised, then each trend question's shares by wave
    and the change between the last two (interim, full precision; disclosure control is applied
    when they are published).

    ``surveys``: each wave's weighted analysis file, oldest first, the current wave last.
    ``panel``: (CSV, column) of the respondent IDs interviewed in more than one wave; None for
    independent samples. ``outputs``: ``<question>_waves`` and ``<question>_change`` paths.
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


def run_trend_table(
    question: str,
    waves_path: str | Path,
    change_path: str | Path,
    instrument_path: str | Path,
    thresholds_path: str | Path,
    plan_cfg: Mapping[str, Any],
    csv_out: str | Path,
    html_out: str | Path,
    docx_out: str | Path,
) -> None:
    """One trend table: each wave's shares and the change, disclosure-controlled; CSV, HTML, Word."""
    plan, q, thresholds, shares, change = _protected_trend(question, waves_path, change_path, instrument_path, thresholds_path, plan_cfg)
    write_trend_table(trend_table(shares, change, plan, q), plan, q, thresholds, csv_out, html_out, docx_out)


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
