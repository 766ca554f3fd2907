"""The ingest stage (export to the cleaned analysis file, with its quality-assurance flow) and the codebook.

Part of :mod:`social_licence.stages` (one function per workflow stage).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..design.build import (
    without_design,
)
from ..errors import InputError
from ..ingest.cleaning import clean
from ..ingest.codebook import codebook_table, write_codebook
from ..ingest.formats import read_survey
from ..ingest.interim import read_interim, write_interim
from ..io import write_csv
from ..report.disclosure import (
    load_thresholds,
    withhold_flow,
    withhold_small_counts,
    withhold_statistics,
)
from ..survey.instrument import load_instrument
from .common import WEIGHT_COLUMN, wave_error

log = logging.getLogger("social_licence.stages")


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
