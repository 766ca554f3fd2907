"""Rake the cleaned survey to the population margins in config; write the analysis file with its
survey design (calibration or replicate weights, each replicate raked once) and the diagnostics."""

from social_licence.io import configure_logging
from social_licence.stages import run_weight


def main(survey, targets, instrument, thresholds, weighting_cfg, estimation_cfg, outputs, log=None):
    configure_logging(log)
    run_weight(
        survey,
        targets,
        instrument,
        weighting_cfg,
        estimation_cfg,
        thresholds,
        outputs["survey"],
        outputs["summary"],
        outputs["margins"],
        outputs["balance"],
        outputs["convergence"],
        outputs["collapsed"],
    )


if "snakemake" in globals():
    main(
        snakemake.input.survey,
        snakemake.input.targets,
        snakemake.input.instrument,
        snakemake.input.thresholds,
        snakemake.params.weighting,
        snakemake.params.estimation,
        dict(snakemake.output.items()),
        snakemake.log[0],
    )
