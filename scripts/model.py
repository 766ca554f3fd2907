"""Fit one model declared in config/models.yaml (the {model} wildcard) and write its tables."""

from social_licence.io import configure_logging
from social_licence.stages import run_model


def main(name, survey, instrument, models, thresholds, estimation_cfg, outputs, log=None):
    configure_logging(log)
    run_model(
        name,
        survey,
        instrument,
        models,
        thresholds,
        estimation_cfg,
        outputs["coefficients"],
        outputs["effects"],
        outputs["checks"],
    )


if "snakemake" in globals():
    main(
        snakemake.wildcards.model,
        snakemake.input.survey,
        snakemake.input.instrument,
        snakemake.input.models,
        snakemake.input.thresholds,
        snakemake.params.estimation,
        dict(snakemake.output.items()),
        snakemake.log[0],
    )
