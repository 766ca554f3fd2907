"""Design-based estimates of acceptability, trust and rights, by item and social group."""

from social_licence.io import configure_logging
from social_licence.stages import run_estimate


def main(survey, instrument, estimation_cfg, outputs, log=None):
    configure_logging(log)
    run_estimate(survey, instrument, estimation_cfg, outputs)


if "snakemake" in globals():
    main(
        snakemake.input.survey,
        snakemake.input.instrument,
        snakemake.params.estimation,
        dict(snakemake.output.items()),
        snakemake.log[0],
    )
