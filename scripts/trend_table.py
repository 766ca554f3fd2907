"""Publish one trend table (the {question} wildcard): each wave's shares and the change."""

from social_licence.io import configure_logging
from social_licence.stages import run_trend_table


def main(question, waves, change, instrument, thresholds, plan_cfg, csv_out, html_out, docx_out, log=None):
    configure_logging(log)
    run_trend_table(question, waves, change, instrument, thresholds, plan_cfg, csv_out, html_out, docx_out)


if "snakemake" in globals():
    main(
        snakemake.wildcards.question,
        snakemake.input.waves,
        snakemake.input.change,
        snakemake.input.instrument,
        snakemake.input.thresholds,
        snakemake.params.plan,
        snakemake.output.csv,
        snakemake.output.html,
        snakemake.output.docx,
        snakemake.log[0],
    )
