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

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..survey.survey import Survey
from ..weighting.calibration import Calibration
from .design import SurveyDesign
from .replicates import ReplicateDesign, replicate_multipliers, replicate_weights

DESIGN_KEY = "design"
CALIBRATION_PREFIX = "calibration__"
CALIBRATION_BASE = "calibration__base"
REPLICATE_PREFIX = "repweight_"
VARIANCE_METHODS = ("linearisation", "jk1", "jkn", "bootstrap")
LAYOUTS = ("wide", "long")
# Replicate weights made by several jobs: the full-sample file records the design still to be
# completed under PENDING_KEY; each job's file records its share under CHUNK_KEY.
PENDING_KEY = "replicates_pending"
CHUNK_KEY = "replicate_chunk"
#: ``estimation.replicate_jobs: auto``: one job per this many raked bootstrap replicates.
REPLICATES_PER_JOB = 50

Design = SurveyDesign | ReplicateDesign


def check_variance(variance: Any, what: str = "variance") -> str:
    """``variance`` if it is one of :data:`VARIANCE_METHODS`, else a ConfigError naming ``what``."""
    if variance not in VARIANCE_METHODS:
        raise ConfigError(
            f"{what} must be one of {', '.join(VARIANCE_METHODS)}, not {variance!r}"
        )
    return variance


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
    check_variance(variance)
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


def design_from_spec(data: pd.DataFrame, spec: Mapping[str, Any], **options: Any) -> Design:
    """The design :func:`design_spec` describes, on ``data`` (the analysis file's rows);
    ``options`` as :func:`build_design` (``variance``, ``calibration``, ``replicates``, ...)."""
    return build_design(
        data,
        weights=spec["weights"],
        strata=spec["strata"],
        psu=clusters(data, spec),
        fpc=spec["fpc"],
        lonely_psu=spec["lonely_psu"],
        **options,
    )


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
    return design_from_spec(data, spec, calibration=calibration)


def replicate_jobs(estimation: Mapping[str, Any], weighting_method: str) -> int:
    """How many jobs make the replicate weights (``estimation.replicate_jobs``), known from the
    config alone, before any data is read: ``auto`` is one job per :data:`REPLICATES_PER_JOB`
    bootstrap replicates when they are raked, else one; linearisation has no replicates."""
    jobs = estimation.get("replicate_jobs", "auto")
    if jobs != "auto" and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError(
            f"estimation.replicate_jobs must be auto or a whole number of at least 1, not {jobs!r}"
        )
    variance = estimation["variance"]
    check_variance(variance)
    if variance == "linearisation":
        return 1
    if jobs == "auto":
        if variance == "bootstrap" and weighting_method == "rake":
            return max(1, math.ceil(estimation["replicates"] / REPLICATES_PER_JOB))
        return 1
    return jobs


def replicate_share(replicates: int, job: int, jobs: int) -> range:
    """The replicates (0-based, contiguous) that job ``job`` of ``jobs`` (1-based) makes: the
    shares cover every replicate once, in order, and differ in size by one at most."""
    if not 1 <= job <= jobs:
        raise ConfigError(f"replicate job {job} is not one of 1 to {jobs}")
    return range((job - 1) * replicates // jobs, job * replicates // jobs)


def defer_replicates(
    survey: Survey,
    spec: Mapping[str, Any],
    jobs: int,
    *,
    replicates: int | None,
    seed: int | None,
) -> Survey:
    """Record in ``survey`` (in place) the design whose replicate weights ``jobs`` jobs make
    (:func:`replicate_chunk`) and a gather job adds (:func:`gather_replicates`). The file
    holds no design until then: :func:`load_design` refuses it."""
    survey.meta[PENDING_KEY] = {
        "spec": dict(spec),
        "jobs": int(jobs),
        "replicates": replicates if spec["variance"] == "bootstrap" else None,
        "seed": seed,
    }
    return survey


def pending_replicates(survey: Survey) -> dict[str, Any]:
    """What :func:`defer_replicates` recorded in a full-sample file."""
    pending = survey.meta.get(PENDING_KEY)
    if not pending:
        raise InputError(
            "the file records no replicate weights to be made: it is not the weight stage's "
            "full-sample file of a design whose replicates are made by several jobs",
            file=survey.file,
        )
    return pending


def replicate_chunk(
    survey: Survey,
    job: int,
    *,
    reweighter: Callable[[np.ndarray], np.ndarray] | None = None,
    base_weights: Any = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Job ``job``'s share of the replicate weights of a full-sample file: the multipliers of
    every replicate are made again (deterministic from the PSUs and the seed), and only the
    share's columns re-weighted. Returns the ``(rows, share)`` weights and what the gather
    needs to know of them (share, type and the variance's constants)."""
    pending = pending_replicates(survey)
    spec = pending["spec"]
    data = survey.data
    design = design_from_spec(data, spec)
    multipliers = replicate_multipliers(
        design, spec["variance"], pending["replicates"], seed=pending["seed"]
    )
    share = replicate_share(multipliers.replicates, job, pending["jobs"])
    weights = replicate_weights(
        design, multipliers, share, reweighter=reweighter, base_weights=base_weights
    )
    info = {
        "job": job,
        "jobs": pending["jobs"],
        "first": share.start,
        "stop": share.stop,
        "replicates": multipliers.replicates,
        "type": multipliers.kind,
        "scale": multipliers.scale,
        "rscales": [float(x) for x in multipliers.rscales],
        "df": int(multipliers.df),
    }
    return weights, info


def gather_replicates(
    survey: Survey, chunks: Sequence[tuple[np.ndarray, Mapping[str, Any]]]
) -> Survey:
    """Complete a full-sample file (in place) with the replicate weights of every job, as
    :func:`store_design` would have stored them made in one job."""
    pending = pending_replicates(survey)
    jobs = pending["jobs"]
    if len(chunks) != jobs:
        raise InputError(
            f"the replicate weights come from {jobs} jobs, but {len(chunks)} were given",
            file=survey.file,
        )
    first = chunks[0][1]
    constants = ("replicates", "type", "scale", "rscales", "df")
    stop = 0
    for k, (weights, info) in enumerate(chunks, start=1):
        if info["job"] != k or info["jobs"] != jobs or info["first"] != stop:
            raise InputError(
                f"replicate job {info['job']} of {info['jobs']} (replicates {info['first'] + 1} "
                f"to {info['stop']}) is not job {k} of {jobs} starting at replicate {stop + 1}",
                file=survey.file,
            )
        if any(info[key] != first[key] for key in constants):
            raise InputError(
                f"replicate job {k} made a different design from job 1", file=survey.file
            )
        if weights.shape != (len(survey.data), info["stop"] - info["first"]):
            raise InputError(
                f"replicate job {k}'s weights have shape {weights.shape}, not "
                f"{(len(survey.data), info['stop'] - info['first'])}",
                file=survey.file,
            )
        stop = info["stop"]
    if stop != first["replicates"]:
        raise InputError(
            f"the replicate jobs made {stop} of {first['replicates']} replicates",
            file=survey.file,
        )
    spec = pending["spec"]
    replicates = ReplicateDesign(
        survey.data,
        survey.data[spec["weights"]].to_numpy(dtype=float),
        np.concatenate([weights for weights, _ in chunks], axis=1),
        type=first["type"],
        scale=first["scale"],
        rscales=np.asarray(first["rscales"], dtype=float),
        df=first["df"],
    )
    del survey.meta[PENDING_KEY]
    return store_design(survey, spec, replicates=replicates)


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
