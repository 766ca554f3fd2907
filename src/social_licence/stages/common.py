"""What several stages share: the final weight column, the analysis plan, Parquet writing, the report inputs and their disclosure control.

Part of :mod:`social_licence.stages` (one function per workflow stage).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError, OutputError
from ..ingest.privacy import load_key, pseudonymise
from ..io import atomic_write
from ..report.disclosure import (
    protect_linked,
)
from ..report.tables import read_frame
from ..survey.instrument import load_instrument
from ..survey.plan import Plan, build_plan
from ..weighting.margins import WEIGHT_NAME

log = logging.getLogger("social_licence.stages")


WEIGHT_COLUMN = WEIGHT_NAME  # the raked weights' name is the final weight column


def wave_error(wave: str, exc: InputError) -> InputError:
    """An export's fault, naming the wave it belongs to (several waves map onto one instrument)."""
    out = InputError(f"wave {wave!r} does not map onto the instrument: {exc}")
    out.file, out.variable, out.value, out.rows = exc.file, exc.variable, exc.value, exc.rows
    return out


def load_plan(
    instrument_path: str | Path, plan_cfg: Mapping[str, Any], models: Sequence[str] = ()
) -> Plan:
    """The analysis plan (:func:`social_licence.survey.plan.build_plan`) from the instrument and
    the config sections it reads (``analysis``, ``survey``, ``estimation``, ``weighting``,
    ``report``), as the workflow builds its DAG from it."""
    return build_plan(plan_cfg, load_instrument(instrument_path), models=models)


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    """A frame as Parquet, written atomically (pyarrow's output is the same for the same frame)."""
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow"))


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


def panel_pseudonyms(path: str | Path, column: str) -> set[str]:
    """The keyed pseudonyms (as ingest makes them) of the respondent IDs listed in a panel file."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if column not in table.columns:
        raise OutputError(
            f"{path}: the panel file has no column {column!r} (columns: {', '.join(table.columns)})"
        )
    ids = table[column].str.strip()
    return set(pseudonymise(ids[ids != ""], load_key()).astype(str))
