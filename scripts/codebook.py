"""Write the codebook (CSV and HTML) of the weighted analysis file."""

from social_licence.io import configure_logging
from social_licence.stages import run_codebook


def main(survey, instrument, thresholds, csv_out, html_out, log=None):
    configure_logging(log)
    run_codebook(survey, instrument, thresholds, csv_out, html_out)


if "snakemake" in globals():
    main(
        snakemake.input.survey,
        snakemake.input.instrument,
        snakemake.input.thresholds,
        snakemake.output.csv,
        snakemake.output.html,
        snakemake.log[0],
    )
