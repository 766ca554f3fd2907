"""Publish one figure (the {figure} wildcard) from disclosure-controlled estimates: PNG and SVG."""

from social_licence.io import configure_logging
from social_licence.stages import report_inputs, run_figure


def main(name, estimates, models, effects, margins, instrument, thresholds, png, svg, options=None, log=None):
    configure_logging(log)
    inputs = report_inputs(estimates, models, effects, margins=margins)
    run_figure(name, inputs, instrument, thresholds, png, svg, options)


if "snakemake" in globals():
    main(
        snakemake.wildcards.figure,
        list(snakemake.input.estimates),
        list(snakemake.input.models),
        list(snakemake.input.effects),
        snakemake.input.margins,
        snakemake.input.instrument,
        snakemake.input.thresholds,
        snakemake.output.png,
        snakemake.output.svg,
        {k: v for k, v in snakemake.params.options.items() if v is not None},
        snakemake.log[0],
    )
