"""Publish the analysis plan's tables after disclosure control: CSV, HTML and Word each."""

from social_licence.io import configure_logging
from social_licence.stages import run_tables


def main(names, estimates, instrument, thresholds, plan_cfg, outputs, log=None, design=None):
    configure_logging(log)
    run_tables(names, estimates, instrument, thresholds, plan_cfg, outputs, design)


if "snakemake" in globals():
    main(
        list(snakemake.params.names),
        list(snakemake.input.estimates),
        snakemake.input.instrument,
        snakemake.input.thresholds,
        snakemake.params.plan,
        list(zip(snakemake.output.csv, snakemake.output.html, snakemake.output.docx, strict=True)),
        snakemake.log[0],
        snakemake.input.design,
    )
