"""Publish one pooled table (the {question} wildcard): its shares pooled over every wave."""

from social_licence.io import configure_logging
from social_licence.stages import run_pooled_table


def main(question, waves, pooled, instrument, thresholds, plan_cfg, csv_out, html_out, docx_out, log=None):
    configure_logging(log)
    run_pooled_table(question, waves, pooled, instrument, thresholds, plan_cfg, csv_out, html_out, docx_out)


if "snakemake" in globals():
    main(
        snakemake.wildcards.question,
        snakemake.input.waves,
        snakemake.input.pooled,
        snakemake.input.instrument,
        snakemake.input.thresholds,
        snakemake.params.plan,
        snakemake.output.csv,
        snakemake.output.html,
        snakemake.output.docx,
        snakemake.log[0],
    )
