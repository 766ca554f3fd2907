"""The model stage: one model of the models file, on one wave or on the waves stacked.

Part of :mod:`social_licence.stages` (one function per workflow stage).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import with_defaults
from ..design.build import (
    DESIGN_KEY,
    load_design,
)
from ..design.change import check_harmonised
from ..design.design import SurveyDesign
from ..design.trends import stack_waves
from ..errors import ConfigError
from ..ingest.interim import read_interim
from ..io import write_csv
from ..models.fit import fit_model, model_tables
from ..models.formula import parse_formula, parse_subset
from ..models.spec import ModelSpec, get_model, load_models
from ..report.disclosure import (
    load_thresholds,
    suppress_effects,
    suppress_model_table,
)
from ..survey.instrument import Instrument, load_instrument
from .common import panel_pseudonyms

log = logging.getLogger("social_licence.stages")


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
    spec: ModelSpec,
    instrument: Instrument,
    waves: Mapping[str, str | Path],
    panel: tuple[str | Path, str] | None,
) -> SurveyDesign:
    """Every wave's design stacked into one for a model with ``waves: stacked``, once the waves
    are checked to code the model's variables alike."""
    if len(waves) < 2:
        raise ConfigError(
            f"model {spec.name!r}: waves: stacked needs the analysis files of two or more waves, got {list(waves)}"
        )
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
    log.info(
        "model %s: %d waves stacked (%d rows); %s",
        spec.name,
        len(designs),
        stacked.design.n,
        stacked.method,
    )
    return stacked.design
