"""The report stages: published tables, figures and the brief, from estimates disclosure-controlled once.

Part of :mod:`social_licence.stages` (one function per workflow stage).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import with_defaults
from ..design.describe import describe_file
from ..report.brief import BRIEF_INPUTS, write_brief
from ..report.disclosure import (
    load_thresholds,
)
from ..report.figures import publish_figure
from ..report.tables import publish_table, read_frame
from ..report.trends import (
    protect_trend,
)
from ..weighting.diagnostics import methods_note
from .common import load_plan, protect_published, report_inputs

log = logging.getLogger("social_licence.stages")


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
        note = described.footnote(
            ci_level, unit=None if described.unit == "ratings" else plan.population
        )
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
        "weighting_text": methods_note(weighting_diagnostics, plan.instrument)
        if weighting_diagnostics
        else None,
        "design_text": describe_file(survey_in, plan.instrument).text()
        if survey_in is not None
        else None,
        "figure_files": dict(figures or {}),
    }
    if trends:
        options["trends"] = {
            name: protect_trend(read_frame(a), read_frame(b), thresholds, plan, plan.question(name))
            for name, (a, b) in trends.items()
        }
    if pooled:
        methods = sorted(
            {str(m) for path in pooled.values() for m in read_frame(path)["pooling"].dropna()}
        )
        tables = ", ".join(f"{name}_pooled" for name in pooled)
        options["pooled_text"] = (
            f"Shares {'; '.join(methods)} (tables {tables}), for groups too small in any one wave."
        )
    write_brief(
        inputs,
        thresholds,
        html_out,
        plan=plan,
        title=report_cfg.get("title") or None,
        subtitle=report_cfg.get("subtitle", ""),
        options=options,
    )
