"""Write the analysis file from the full-sample file and every replicate job's share: the same
bytes as one weight job making every replicate; the jobs' reweighter counts summed in the log."""

from social_licence.io import configure_logging
from social_licence.stages import run_gather_replicates


def main(full_sample, chunks, survey_out, log=None):
    configure_logging(log)
    run_gather_replicates(full_sample, chunks, survey_out)


if "snakemake" in globals():
    main(
        snakemake.input.full_sample,
        list(snakemake.input.chunks),
        snakemake.output.survey,
        snakemake.log[0],
    )
