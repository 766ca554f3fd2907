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

from .cleaning import clean
from .codebook import codebook_table, write_codebook
from .disclosure import load_thresholds, withhold_balance, withhold_flow, withhold_statistics
from .ingest import read_survey
from .instrument import load_instrument
from .interim import read_interim, write_interim
from .io import write_csv

log = logging.getLogger("social_licence.stages")

WEIGHT_COLUMN = "weight"


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
    survey = read_survey(
        export,
        instrument,
        rename=survey_cfg.get("rename") or None,
        recode=survey_cfg.get("recode") or None,
        format=None if fmt == "auto" else fmt,
    )
    cleaned, flow = clean(survey, instrument, cleaning_cfg, withdrawals or None)
    for line in cleaned.log:
        log.info(line)
    write_interim(cleaned, survey_out)
    if thresholds_path is not None:
        flow = withhold_flow(flow, load_thresholds(thresholds_path))
    write_csv(flow, flow_out)


RAKE_KEYS = ("bounds", "trim_deff", "tol", "max_iter", "missing")


def rake_options(weighting_cfg: Mapping[str, Any], instrument) -> dict[str, Any]:
    """How the full sample is raked, so replicates are raked exactly the same way."""
    options = {key: weighting_cfg[key] for key in RAKE_KEYS if key in weighting_cfg}
    options["base_weight"] = instrument.design.get("weight")
    return options


def design_options(instrument, estimation_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The design columns of the instrument and the lonely-PSU rule, as estimators take them."""
    design = instrument.design
    return {
        "weights": WEIGHT_COLUMN,
        "strata": design.get("strata"),
        "psu": design.get("psu"),
        "fpc": design.get("fpc"),
        "lonely_psu": estimation_cfg.get("lonely_psu", "adjust"),
    }


def run_weight(
    survey_in: str | Path,
    targets_path: str | Path,
    instrument_path: str | Path,
    weighting_cfg: Mapping[str, Any],
    thresholds_path: str | Path,
    survey_out: str | Path,
    summary_out: str | Path,
    margins_out: str | Path,
    balance_out: str | Path,
    convergence_out: str | Path,
    collapsed_out: str | Path,
) -> None:
    """Rake the design weight to the configured target set and write the diagnostics."""
    from .weighting import load_targets, rake_from_config

    instrument = load_instrument(instrument_path)
    survey = read_interim(survey_in)
    targets = load_targets(
        targets_path, weighting_cfg["targets"], instrument=instrument, data=survey.data
    )
    options = rake_options(weighting_cfg, instrument)
    if "covariates" in weighting_cfg:
        options["covariates"] = weighting_cfg["covariates"]
    weights, diagnostics = rake_from_config(survey.data, targets, options)
    convergence = diagnostics.get("convergence")
    if convergence is not None:
        log.info("raking: %s", convergence.to_dict(orient="records"))
    survey.data[WEIGHT_COLUMN] = weights.to_numpy()
    survey.meta.setdefault("variables", {})[WEIGHT_COLUMN] = {
        "label": f"Final weight: design weight raked to target set {weighting_cfg['targets']!r}",
        "type": "weight",
    }
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
    survey = read_interim(survey_in)
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
MISSING_COUNT_COLUMNS = (
    "missing_dont_know",
    "missing_refused",
    "missing_not_asked",
    "missing_by_design",
    "missing_system",
)
CATEGORY_COUNT_COLUMNS = ("count_unweighted", "share_unweighted", "count_weighted", "share_weighted")


def _withhold_in_relation(counts: dict[Any, float], min_base: int) -> set[Any]:
    """Cells to withhold among counts that add up to a published total.

    Primary: counts from 1 to ``min_base - 1``. Secondary: when exactly one cell is withheld,
    the smallest other cell (zero included) goes too, so the total minus the published cells
    no longer reveals it.
    """
    primary = {k for k, v in counts.items() if 1 <= v < min_base}
    if len(primary) == 1 and len(counts) > 1:
        others = sorted((v, str(k), k) for k, v in counts.items() if k not in primary)
        primary.add(others[0][2])
    return primary


def withhold_small_counts(table: pd.DataFrame, min_base: int) -> pd.DataFrame:
    """Withhold codebook counts below the disclosure threshold, with secondary suppression.

    Within each variable two sets of counts add up to published totals: the categories (to
    ``n_unweighted``) and the missing reasons (to the analysed sample minus ``n_unweighted``).
    Each set is protected on its own; a withheld category keeps its row, with empty counts and
    ``withheld`` true, so a reader sees that it exists.
    """
    out = table.copy()
    out["withheld"] = False
    missing_cols = [c for c in MISSING_COUNT_COLUMNS if c in out.columns]
    count_cols = [c for c in CATEGORY_COUNT_COLUMNS if c in out.columns]
    for _, rows in out.groupby("variable", sort=False).groups.items():
        block = out.loc[rows]
        labelled = block["level"].notna()
        if labelled.any():
            counts = dict(zip(block.index[labelled], block.loc[labelled, "count_unweighted"], strict=True))
            hide = sorted(_withhold_in_relation(counts, min_base))
            out.loc[hide, count_cols] = float("nan")
            out.loc[hide, "withheld"] = True
        first = block.iloc[0]
        missing = {c: first[c] for c in missing_cols if pd.notna(first[c])}
        for col in _withhold_in_relation(missing, min_base):
            out[col] = out[col].astype(float)
            out.loc[rows, col] = float("nan")
    return out


def withhold_margin_counts(
    margins: pd.DataFrame, min_base: int, by: str | list[str] = "margin"
) -> pd.DataFrame:
    """Blank the unweighted respondent counts of raking categories below the threshold.

    The counts within each ``by`` group add up to a published total (those of one margin to the
    sample size; the categories merged by a collapse rule, ``by=["margin", "collapsed_into"]``,
    to the merged category's count in the margins table), so secondary suppression applies as
    in the codebook; shares (weighted) are kept, as they are what the diagnostics show.
    """
    out = margins.copy()
    if "count_unweighted" not in out.columns or out.empty:
        return out
    out["count_unweighted"] = out["count_unweighted"].astype(float)
    for _, rows in out.groupby(by, sort=False).groups.items():
        counts = dict(zip(rows, out.loc[rows, "count_unweighted"], strict=True))
        hide = sorted(_withhold_in_relation(counts, min_base))
        out.loc[hide, "count_unweighted"] = float("nan")
    return out


def run_estimate(
    survey_in: str | Path,
    instrument_path: str | Path,
    targets_path: str | Path,
    estimation_cfg: Mapping[str, Any],
    weighting_cfg: Mapping[str, Any],
    outputs: Mapping[str, str | Path],
) -> None:
    """Every design-based estimate of the analysis plan, full precision, as interim Parquet.

    The standard errors include the weighting step: linearisation takes the residuals from the
    raking margins, replicate variance (``jk1``, ``jkn``, ``bootstrap``) re-rakes every
    replicate to the same targets with the same options.
    """
    from .estimates import estimate_from_config

    instrument = load_instrument(instrument_path)
    data = read_interim(survey_in).data
    options = {k: v for k, v in estimation_cfg.items() if k not in REPLICATE_OPTIONS}
    options["weights"] = WEIGHT_COLUMN
    variance = weighting_variance(data, instrument, targets_path, weighting_cfg, estimation_cfg)
    options["calibration"] = variance.get("calibration")
    reweighter = variance.get("reweighter")
    frames = estimate_from_config(
        data, instrument, options, reweighter=reweighter, base_weights=variance.get("base_weights")
    )
    if reweighter is not None:
        log.info(
            "replicates re-raked: %d calls; %d raked without bounds (bounds could not be met); "
            "%d with an empty category raked partially",
            reweighter.calls,
            len(reweighter.unbounded),
            len({call for call, _, _ in reweighter.partial}),
        )
    for name, path in outputs.items():
        write_parquet(frames[name], path)
        log.info("%s: %d rows", name, len(frames[name]))


REPLICATE_OPTIONS = ("replicate_empty", "replicate_bounds")


def weighting_variance(
    data: pd.DataFrame,
    instrument,
    targets_path: str | Path,
    weighting_cfg: Mapping[str, Any],
    estimation_cfg: Mapping[str, Any],
) -> dict[str, Any]:
    """What the variance needs to reflect the raking, as options of the estimators.

    Linearisation: ``calibration``, the raking margins as coded on the data (the influence
    values become residuals from them). Replicate variance: the ``reweighter`` every replicate
    goes through and its ``base_weights``; replicates are raked to the same targets with the
    same options as the full sample.
    """
    from .weighting import calibration, load_targets, make_reweighter

    variance = estimation_cfg.get("variance", "linearisation")
    targets = load_targets(targets_path, weighting_cfg["targets"], instrument=instrument, data=data)
    options = rake_options(weighting_cfg, instrument)
    if variance == "linearisation":
        log.info("variance: linearisation, calibrated to the margins of %r", weighting_cfg["targets"])
        return {"calibration": calibration(data, targets, **options)}
    reweighter = make_reweighter(
        data,
        targets,
        empty=estimation_cfg.get("replicate_empty", "partial"),
        infeasible=estimation_cfg.get("replicate_bounds", "unbounded"),
        **options,
    )
    log.info("variance: %s, every replicate re-raked to %r", variance, weighting_cfg["targets"])
    return {"reweighter": reweighter, "base_weights": instrument.design.get("weight")}


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    """A frame as Parquet, written atomically (pyarrow's output is the same for the same frame)."""
    from .io import atomic_write

    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow"))


def run_model(
    name: str,
    survey_in: str | Path,
    instrument_path: str | Path,
    models_path: str | Path,
    thresholds_path: str | Path,
    targets_path: str | Path,
    estimation_cfg: Mapping[str, Any],
    weighting_cfg: Mapping[str, Any],
    coefficients_out: str | Path,
    effects_out: str | Path,
    checks_out: str | Path,
) -> None:
    """Fit one model of the models file; write its coefficients, effects and checks.

    Coefficients and marginal effects go through disclosure control (a term or group with an
    unweighted base below the threshold is withheld). ``checks`` holds the proportional-odds
    check of an ordinal model or the reliability of an index, when the model has one.
    """
    from .disclosure import suppress_effects, suppress_model_table
    from .models import fit_model, get_model, load_models, model_tables

    instrument = load_instrument(instrument_path)
    thresholds = load_thresholds(thresholds_path)
    spec = get_model(load_models(models_path), name)
    data = read_interim(survey_in).data
    options = design_options(instrument, estimation_cfg)
    options.update(weighting_variance(data, instrument, targets_path, weighting_cfg, estimation_cfg))
    if "reweighter" in options:
        options.update(
            variance=estimation_cfg["variance"],
            replicates=(
                estimation_cfg.get("replicates")
                if estimation_cfg["variance"] == "bootstrap"
                else None
            ),
            seed=estimation_cfg.get("seed"),
        )
    result = fit_model(spec, data, instrument, options)
    tables = model_tables(result, spec, ci_level=estimation_cfg.get("ci_level", 0.95))
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
    **named: str | Path,
) -> dict[str, Any]:
    """The frames tables, figures and the brief read, by the names they expect.

    ``estimates`` are the estimation stage's Parquet files (named by their stem); model
    coefficient and effect tables are stacked over models; ``named`` paths (``qa_flow``,
    ``weight_summary``, ``margins``, ...) are read as they are.
    """
    from .tables import read_frame

    inputs: dict[str, Any] = {Path(p).stem: read_frame(p) for p in estimates}
    stacked = {"models": models, "effects": effects}
    for key, paths in stacked.items():
        frames = [read_frame(p) for p in paths]
        frames = [f for f in frames if len(f)]
        if frames:
            inputs[key] = pd.concat(frames, ignore_index=True)
    for key, path in named.items():
        inputs[key] = read_frame(path)
    return inputs


def protect_published(frames: Mapping[str, Any], thresholds, instrument) -> dict[str, Any]:
    """Disclosure control of every estimate frame the brief publishes, as one linked system,
    so that tables, figures and the brief withhold the same cells."""
    from .brief import BRIEF_INPUTS
    from .disclosure import protect_linked

    return protect_linked(frames, thresholds, instrument, published=BRIEF_INPUTS)


def run_table(
    name: str,
    estimates: Sequence[str | Path],
    instrument_path: str | Path,
    thresholds_path: str | Path,
    csv_out: str | Path,
    html_out: str | Path,
    docx_out: str | Path,
) -> None:
    """One published table: disclosure control, then CSV, HTML and Word."""
    from .tables import publish_table

    instrument = load_instrument(instrument_path)
    thresholds = load_thresholds(thresholds_path)
    frames = protect_published(report_inputs(estimates), thresholds, instrument)
    publish_table(
        name,
        frames,
        instrument,
        thresholds,
        csv_out,
        html_out,
        docx_out,
    )


def run_figure(
    name: str,
    inputs: Mapping[str, Any],
    instrument_path: str | Path,
    thresholds_path: str | Path,
    png_out: str | Path,
    svg_out: str | Path,
    options: Mapping[str, Any] | None = None,
) -> None:
    """One published figure, from disclosure-controlled frames, as PNG and SVG."""
    from .figures import publish_figure

    instrument = load_instrument(instrument_path)
    thresholds = load_thresholds(thresholds_path)
    publish_figure(
        name,
        protect_published(inputs, thresholds, instrument),
        instrument,
        thresholds,
        png_out,
        svg_out,
        dict(options or {}),
    )


def run_brief(
    inputs: dict[str, Any],
    instrument_path: str | Path,
    thresholds_path: str | Path,
    report_cfg: Mapping[str, Any],
    estimation_cfg: Mapping[str, Any],
    weighting_diagnostics: Mapping[str, pd.DataFrame],
    html_out: str | Path,
) -> None:
    """The policy brief: key messages from the numbers, figures, tables and methods box."""
    from .brief import BRIEF_INPUTS, write_brief
    from .weighting import methods_note

    inputs = {key: value for key, value in inputs.items() if key in BRIEF_INPUTS}
    inputs["instrument"] = load_instrument(instrument_path)
    inputs = protect_published(inputs, load_thresholds(thresholds_path), inputs["instrument"])
    options: dict[str, Any] = {
        "estimation": dict(estimation_cfg),
        "weighting_text": methods_note(weighting_diagnostics, inputs["instrument"]),
        "groups": list(report_cfg.get("groups") or estimation_cfg.get("groups") or []),
    }
    if report_cfg.get("headline"):
        options["headline"] = dict(report_cfg["headline"])
    write_brief(
        inputs,
        load_thresholds(thresholds_path),
        html_out,
        title=report_cfg.get("title", "Parents' social licence for linking administrative data"),
        subtitle=report_cfg.get("subtitle", ""),
        options=options,
    )
