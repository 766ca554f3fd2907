"""One job's share of the replicate weights: each replicate of the share raked again as the
full sample was (or, without raking, the weights times the replicate's multipliers)."""

from social_licence.io import configure_logging
from social_licence.stages import run_replicate_weights


def main(full_sample, targets, instrument, weighting_cfg, estimation_cfg, job, chunk_out, log=None):
    configure_logging(log)
    run_replicate_weights(
        full_sample, targets, instrument, weighting_cfg, estimation_cfg, int(job), chunk_out
    )


if "snakemake" in globals():
    main(
        snakemake.input.full_sample,
        snakemake.input.get("targets"),
        snakemake.input.instrument,
        snakemake.params.weighting,
        snakemake.params.estimation,
        snakemake.wildcards.job,
        snakemake.output.chunk,
        snakemake.log[0],
    )
