"""The weight stage: the final weight (none, supplied or raked) and the survey design stored with it, the replicate weights in one job or in shares gathered by a job.

Part of :mod:`social_licence.stages` (one function per workflow stage).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import with_defaults
from ..design.build import (
    CHUNK_KEY,
    defer_replicates,
    design_from_spec,
    design_spec,
    gather_replicates,
    replicate_chunk,
    replicate_jobs,
    store_design,
)
from ..errors import ConfigError, InputError
from ..ingest.interim import read_interim, write_interim
from ..io import write_csv
from ..report.disclosure import (
    load_thresholds,
    withhold_balance,
    withhold_margin_counts,
    withhold_statistics,
)
from ..survey.instrument import load_instrument
from ..survey.survey import Survey
from ..weighting.choice import check_method as check_weighting_method
from ..weighting.choice import diagnostic_names, supplied_weights, unit_weights
from ..weighting.diagnostics import weight_summary
from ..weighting.solver import calibration, make_reweighter, raking_solves
from ..weighting.targets import load_targets, rake_from_config
from .common import WEIGHT_COLUMN

log = logging.getLogger("social_licence.stages")


RAKE_KEYS = ("bounds", "trim_deff", "tol", "max_iter", "missing")


def rake_options(weighting_cfg: Mapping[str, Any], instrument) -> dict[str, Any]:
    """How the full sample is raked, so replicates are raked exactly the same way."""
    options = {key: weighting_cfg[key] for key in RAKE_KEYS}
    options["base_weight"] = instrument.design.get("weight")
    return options


def replicate_reweighter(
    data: pd.DataFrame, targets, estimation_cfg: Mapping[str, Any], options: Mapping[str, Any]
):
    """What rakes each replicate again: as the full sample was (``options``, :func:`rake_options`),
    with the replicate rules for an emptied category and unmet bounds (in one job or in shares)."""
    return make_reweighter(
        data,
        targets,
        empty=estimation_cfg["replicate_empty"],
        infeasible=estimation_cfg["replicate_bounds"],
        **options,
    )


def _drawn(estimation_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """How many bootstrap replicates are drawn, and from which seed (one job or several)."""
    return {"replicates": estimation_cfg["replicates"], "seed": estimation_cfg["seed"]}


def _write_summary(summary: pd.DataFrame, thresholds, path: str | Path) -> None:
    """The weights' summary, its statistics withheld where the base is below the threshold."""
    numbers = [
        c for c in summary.columns if c != "weights" and pd.api.types.is_numeric_dtype(summary[c])
    ]
    write_csv(withhold_statistics(summary, "n", numbers, thresholds), path)


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
        run_rake(
            survey,
            targets_path,
            instrument,
            weighting_cfg,
            estimation_cfg,
            thresholds_path,
            outputs,
        )
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
            defer_replicates(survey, spec, jobs, **_drawn(estimation_cfg))
        else:
            replicates = design_from_spec(
                survey.data,
                spec,
                variance=variance,
                **_drawn(estimation_cfg),
            )
            log.info(
                "variance: %s, %d plain replicates (nothing re-weighted)",
                variance,
                replicates.replicates,
            )
            store_design(survey, spec, replicates=replicates)
        summary = weight_summary(survey.data[WEIGHT_COLUMN])
        _write_summary(summary, load_thresholds(thresholds_path), outputs["summary"])
    write_interim(survey, survey_out)


def run_rake(
    survey, targets_path, instrument, weighting_cfg, estimation_cfg, thresholds_path, outputs
) -> None:
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
        log.info(
            "variance: linearisation, calibrated to the margins of %r", weighting_cfg["targets"]
        )
        store_design(survey, spec, calibration=calibration(survey.data, targets, **options))
    elif jobs > 1:
        log.info(
            "variance: %s, replicates raked to %r by %d jobs",
            variance,
            weighting_cfg["targets"],
            jobs,
        )
        defer_replicates(survey, spec, jobs, **_drawn(estimation_cfg))
    else:
        reweighter = replicate_reweighter(survey.data, targets, estimation_cfg, options)
        replicates = design_from_spec(
            survey.data,
            spec,
            variance=variance,
            **_drawn(estimation_cfg),
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
    _write_summary(diagnostics["summary"], thresholds, outputs["summary"])
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
        reweighter = replicate_reweighter(
            survey.data, targets, estimation_cfg, rake_options(weighting_cfg, instrument)
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
        info["job"],
        info["jobs"],
        info["first"] + 1,
        info["stop"],
        info["replicates"],
        info["type"],
        info["calls"],
        info["unbounded"],
        info["partial"],
        info["solves"],
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
                "the replicate job's respondents are not those of the full-sample file",
                file=str(path),
            )
        parts.append((part.data.to_numpy(dtype=float), part.meta[CHUNK_KEY]))
    gather_replicates(survey, parts)
    infos = [info for _, info in parts]
    total = {
        key: sum(info[key] for info in infos) for key in ("calls", "unbounded", "partial", "solves")
    }
    log.info(
        "variance: %s, %d replicates made by %d jobs (%d reweighter calls, the first of each "
        "job the full-sample check); %d raked without bounds (bounds could not be met); %d with "
        "an empty category raked partially; %d raking solves in the replicate jobs",
        infos[0]["type"],
        infos[0]["replicates"],
        len(infos),
        total["calls"],
        total["unbounded"],
        total["partial"],
        total["solves"],
    )
    write_interim(survey, survey_out)
