"""Publish every trend question's trend table and pooled table: CSV, HTML and Word each."""

from social_licence.io import configure_logging
from social_licence.stages import run_trend_tables


def main(questions, trends, instrument, thresholds, plan_cfg, outputs, log=None):
    configure_logging(log)
    run_trend_tables(questions, trends, instrument, thresholds, plan_cfg, outputs)


if "snakemake" in globals():
    main(
        list(snakemake.params.questions),
        {name: snakemake.input[name] for name in snakemake.params.trends},
        snakemake.input.instrument,
        snakemake.input.thresholds,
        snakemake.params.plan,
        dict(
            zip(
                snakemake.params.tables,
                zip(snakemake.output.csv, snakemake.output.html, snakemake.output.docx, strict=True),
                strict=True,
            )
        ),
        snakemake.log[0],
    )
