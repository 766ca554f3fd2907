"""The design is an artefact: built once by the weight stage, stored in the analysis file, read back.

The weight stage writes the analysis file (``results/interim/weighted.parquet``): the final
``weight`` column, and what the chosen variance needs to reflect the raking -- the raking margins
coded on the respondents (linearisation, ``calibration__*`` columns) or the replicate weights,
each replicate raked once (``repweight_*`` columns). ``meta["design"]`` says which columns are
what. :func:`load_design` is the one function estimate, model and report jobs use to turn that
file into a :class:`SurveyDesign` or :class:`ReplicateDesign`; none of them reads the targets or
rakes again. :func:`build_design` is the one place a design is built from a frame and a spec.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..survey.survey import Survey
from ..weighting.calibration import Calibration
from .design import SurveyDesign
from .replicates import ReplicateDesign

DESIGN_KEY = "design"
CALIBRATION_PREFIX = "calibration__"
CALIBRATION_BASE = "calibration__base"
REPLICATE_PREFIX = "repweight_"
VARIANCE_METHODS = ("linearisation", "jk1", "jkn", "bootstrap")
LAYOUTS = ("wide", "long")

Design = SurveyDesign | ReplicateDesign


def build_design(
    data: pd.DataFrame,
    *,
    weights: Any = "weight",
    strata: Any = None,
    psu: Any = None,
    fpc: Any = None,
    lonely_psu: str,
    variance: str = "linearisation",
    calibration: Calibration | None = None,
    replicates: int | None = None,
    seed: int | None = None,
    reweighter: Callable[[np.ndarray], np.ndarray] | None = None,
    base_weights: Any = None,
    mse: bool = False,
) -> Design:
    """The design of ``data``: linearised (with ``calibration`` when the weights were raked) or
    with replicate weights (``jk1``, ``jkn``, ``bootstrap``: each replicate re-raked by
    ``reweighter`` from ``base_weights``); ``replicates`` counts only for the bootstrap."""
    if variance not in VARIANCE_METHODS:
        raise ConfigError(
            f"variance must be one of {', '.join(VARIANCE_METHODS)}, not {variance!r}"
        )
    design = SurveyDesign(
        data,
        weights=weights,
        strata=strata,
        psu=psu,
        fpc=fpc,
        lonely_psu=lonely_psu,
        calibration=calibration,
    )
    if variance == "linearisation":
        return design
    return design.with_replicates(
        variance,
        replicates if variance == "bootstrap" else None,
        seed=seed,
        reweighter=reweighter,
        base_weights=base_weights,
        mse=mse,
    )


def design_spec(
    design_columns: Mapping[str, Any],
    estimation: Mapping[str, Any],
    *,
    weighting: Mapping[str, Any] | None = None,
    layout: str = "wide",
) -> dict[str, Any]:
    """What the analysis file records about its design: the instrument's design columns, the
    final weight column, the lonely-PSU rule, the variance method, how the final weight was
    made (``weighting``: ``method`` none | supplied | rake, with ``variable`` or ``targets`` and
    ``margins``) and the export's ``layout``: in a long export (one row per rating) the
    respondent is the cluster of their ratings when no PSU is declared (:func:`clusters`)."""
    if layout not in LAYOUTS:
        raise ConfigError(f"survey.layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    spec = {
        "weights": "weight",
        "strata": design_columns.get("strata"),
        "psu": design_columns.get("psu"),
        "fpc": design_columns.get("fpc"),
        "lonely_psu": estimation["lonely_psu"],
        "variance": estimation["variance"],
    }
    if weighting is not None:
        spec["weighting"] = dict(weighting)
    spec["layout"] = layout
    return spec


def clusters(data: pd.DataFrame, spec: Mapping[str, Any]) -> Any:
    """The design's PSUs: the declared PSU column, or in a long export without one the
    respondent (the index), so that the ratings of one respondent are never independent."""
    if spec.get("psu") is None and spec.get("layout") == "long":
        return np.asarray(data.index)
    return spec.get("psu")


def store_design(
    survey: Survey,
    spec: Mapping[str, Any],
    *,
    calibration: Calibration | None = None,
    replicates: ReplicateDesign | None = None,
) -> Survey:
    """Add the design to ``survey`` (in place): calibration codes or replicate weights as
    columns, and ``meta["design"]`` naming them."""
    data = survey.data
    stored = dict(spec)
    columns: dict[str, Any] = {}
    if calibration is not None:
        if not calibration.index.equals(data.index):
            raise InputError("the calibration's respondents are not the analysis file's")
        codes = np.asarray(calibration.codes)
        names = [f"{CALIBRATION_PREFIX}{m}" for m in range(codes.shape[1])]
        for m, name in enumerate(names):
            columns[name] = codes[:, m].astype(np.int64)
        columns[CALIBRATION_BASE] = np.asarray(calibration.base, dtype=float)
        stored["calibration"] = {
            "columns": names,
            "sizes": [int(s) for s in calibration.sizes],
            "base": CALIBRATION_BASE,
        }
    if replicates is not None:
        weights = replicates.replicate_weights()
        width = len(str(weights.shape[1]))
        names = [f"{REPLICATE_PREFIX}{r + 1:0{width}d}" for r in range(weights.shape[1])]
        for r, name in enumerate(names):
            columns[name] = weights[:, r]
        stored["replicates"] = {
            "columns": names,
            "type": replicates.type,
            "scale": float(replicates.scale),
            "rscales": [float(x) for x in replicates.rscales],
            "mse": bool(replicates.mse),
            "df": replicates.df.item() if hasattr(replicates.df, "item") else replicates.df,
        }
    if columns:
        survey.data = pd.concat([data, pd.DataFrame(columns, index=data.index)], axis=1)
    variables = survey.meta.setdefault("variables", {})
    for name in columns:
        variables[name] = {"label": "Survey design (written by the weight stage)", "type": "design"}
    survey.meta[DESIGN_KEY] = stored
    return survey


def load_design(survey: Survey) -> Design:
    """The survey design of an analysis file written by the weight stage."""
    spec = survey.meta.get(DESIGN_KEY)
    if not spec:
        raise InputError(
            "the file holds no survey design: it is not the weight stage's analysis file",
            file=survey.file,
        )
    data = survey.data
    replicates = spec.get("replicates")
    if replicates is not None:
        return ReplicateDesign.from_columns(
            data,
            spec["weights"],
            replicates["columns"],
            type=replicates["type"],
            scale=replicates["scale"],
            rscales=np.asarray(replicates["rscales"], dtype=float),
            mse=replicates["mse"],
            df=replicates["df"],
        )
    cal = spec.get("calibration")
    calibration = None
    if cal is not None:
        calibration = Calibration(
            codes=data[cal["columns"]].to_numpy(dtype=np.int64).reshape(len(data), -1),
            sizes=tuple(cal["sizes"]),
            base=data[cal["base"]].to_numpy(dtype=float),
            index=data.index,
        )
    return build_design(
        data,
        weights=spec["weights"],
        strata=spec["strata"],
        psu=clusters(data, spec),
        fpc=spec["fpc"],
        lonely_psu=spec["lonely_psu"],
        calibration=calibration,
    )


def without_design(survey: Survey) -> Survey:
    """A copy of the analysis file's survey without the columns the design added (for what
    describes the survey variables, e.g. the codebook)."""
    spec = survey.meta.get(DESIGN_KEY) or {}
    added: list[str] = []
    if spec.get("calibration"):
        added += [*spec["calibration"]["columns"], spec["calibration"]["base"]]
    if spec.get("replicates"):
        added += spec["replicates"]["columns"]
    out = survey.subset(np.ones(len(survey.data), dtype=bool))
    out.data = out.data.drop(columns=added)
    variables = out.meta.get("variables", {})
    for name in added:
        variables.pop(name, None)
    out.meta.pop(DESIGN_KEY, None)
    return out
