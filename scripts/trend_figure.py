"""Publish one trend figure (the {question} wildcard): shares wave by wave, PNG and SVG."""

from social_licence.io import configure_logging
from social_licence.stages import run_trend_figure


def main(question, waves, change, instrument, thresholds, plan_cfg, png_out, svg_out, log=None):
    configure_logging(log)
    run_trend_figure(question, waves, change, instrument, thresholds, plan_cfg, png_out, svg_out)


if "snakemake" in globals():
    main(
        snakemake.wildcards.question,
        snakemake.input.waves,
        snakemake.input.change,
        snakemake.input.instrument,
        snakemake.input.thresholds,
        snakemake.params.plan,
        snakemake.output.png,
        snakemake.output.svg,
        snakemake.log[0],
    )
