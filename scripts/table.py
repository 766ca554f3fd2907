"""Publish one table (the {table} wildcard) after disclosure control: CSV, HTML and Word."""

from social_licence.io import configure_logging
from social_licence.stages import run_table


def main(name, estimates, instrument, thresholds, csv_out, html_out, docx_out, log=None, design=None, ci_level=0.95):
    configure_logging(log)
    run_table(name, estimates, instrument, thresholds, csv_out, html_out, docx_out, design, ci_level)


if "snakemake" in globals():
    main(
        snakemake.wildcards.table,
        list(snakemake.input.estimates),
        snakemake.input.instrument,
        snakemake.input.thresholds,
        snakemake.output.csv,
        snakemake.output.html,
        snakemake.output.docx,
        snakemake.log[0],
        snakemake.input.design,
        snakemake.params.ci_level,
    )
