"""Design-based estimates of every question of the analysis plan, by item and group."""

from social_licence.io import configure_logging
from social_licence.stages import run_estimate


def main(survey, instrument, plan_cfg, outputs, log=None):
    configure_logging(log)
    run_estimate(survey, instrument, plan_cfg, outputs)


if "snakemake" in globals():
    main(
        snakemake.input.survey,
        snakemake.input.instrument,
        snakemake.params.plan,
        dict(snakemake.output.items()),
        snakemake.log[0],
    )
