"""The stages of several waves: changes between waves, trend and pooled tables, trend figures.

Part of :mod:`social_licence.stages` (one function per workflow stage).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import with_defaults
from ..design.build import (
    load_design,
)
from ..design.change import check_harmonised
from ..design.trends import pooled_shares, wave_change_table, wave_shares
from ..ingest.interim import read_interim
from ..report.disclosure import (
    load_thresholds,
)
from ..report.tables import read_frame
from ..report.trends import (
    pooled_table,
    protect_pooled,
    protect_trend,
    protect_waves,
    save_trend_figure,
    trend_table,
    write_pooled_table,
    write_trend_table,
)
from .common import load_plan, panel_pseudonyms, write_parquet

log = logging.getLogger("social_licence.stages")


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
        change, method = wave_change_table(
            designs, plan, q, panel=panel_ids, adjust=estimation_cfg["adjust"], **options
        )
        log.info(
            "%s: %d wave shares, %d changes (%d flagged); %s",
            q.name,
            len(shares),
            len(change),
            int(change["flagged"].sum()),
            method,
        )
        write_parquet(shares, outputs[f"{q.name}_waves"])
        write_parquet(change, outputs[f"{q.name}_change"])
        if plan.pool:
            pooled, pooling = pooled_shares(
                designs, plan, q, rescale=plan.pool, panel=panel_ids, **options
            )
            log.info("%s: %d pooled shares; %s", q.name, len(pooled), pooling)
            write_parquet(pooled, outputs[f"{q.name}_pooled"])


def _protected_trend(
    question: str, waves_path, change_path, instrument_path, thresholds_path, plan_cfg
):
    plan = load_plan(instrument_path, plan_cfg)
    q = plan.question(question)
    thresholds = load_thresholds(thresholds_path)
    shares, change = protect_trend(
        read_frame(waves_path), read_frame(change_path), thresholds, plan, q
    )
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
            shares, change = protect_trend(
                read_frame(waves), read_frame(trends[f"{name}_change"]), thresholds, plan, q
            )
            table = trend_table(shares, change, plan, q)
            write_trend_table(table, plan, q, thresholds, *outputs[f"{name}_trend"])
        if f"{name}_pooled" in outputs:
            shares = protect_waves(read_frame(waves), thresholds, plan, q)
            pooled = protect_pooled(
                read_frame(trends[f"{name}_pooled"]), shares, thresholds, plan, q
            )
            write_pooled_table(
                pooled_table(pooled, q), plan, q, thresholds, *outputs[f"{name}_pooled"]
            )


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
    plan, q, _, shares, _ = _protected_trend(
        question, waves_path, change_path, instrument_path, thresholds_path, plan_cfg
    )
    save_trend_figure(shares, plan, q, png_out, svg_out)
