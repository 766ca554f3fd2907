"""Publish one figure (the {figure} wildcard) from disclosure-controlled estimates: PNG and SVG."""

from social_licence.io import configure_logging
from social_licence.stages import report_inputs, run_figure


def main(name, paths, plan_cfg, models, png, svg, log=None):
    configure_logging(log)
    inputs = report_inputs(paths["estimates"], paths["models"], paths["effects"], margins=paths.get("margins"))
    run_figure(name, inputs, paths["instrument"], paths["thresholds"], plan_cfg, png, svg, models)


if "snakemake" in globals():
    main(
        snakemake.wildcards.figure,
        {key: snakemake.input[key] for key in snakemake.input.keys()},
        snakemake.params.plan,
        snakemake.params.models,
        snakemake.output.png,
        snakemake.output.svg,
        snakemake.log[0],
    )
