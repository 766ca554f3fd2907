"""Publish one table (the {table} wildcard) after disclosure control: CSV, HTML and Word."""

from social_licence.io import configure_logging
from social_licence.stages import run_table


def main(name, estimates, instrument, thresholds, plan_cfg, csv_out, html_out, docx_out, log=None, design=None):
    configure_logging(log)
    run_table(name, estimates, instrument, thresholds, plan_cfg, csv_out, html_out, docx_out, design)


if "snakemake" in globals():
    main(
        snakemake.wildcards.table,
        list(snakemake.input.estimates),
        snakemake.input.instrument,
        snakemake.input.thresholds,
        snakemake.params.plan,
        snakemake.output.csv,
        snakemake.output.html,
        snakemake.output.docx,
        snakemake.log[0],
        snakemake.input.design,
    )
