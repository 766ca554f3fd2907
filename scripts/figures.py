"""Publish the analysis plan's figures from disclosure-controlled estimates: PNG and SVG each."""

from social_licence.io import configure_logging
from social_licence.stages import report_inputs, run_figures


def main(names, paths, plan_cfg, models, outputs, log=None):
    configure_logging(log)
    inputs = report_inputs(paths["estimates"], paths["models"], paths["effects"], margins=paths.get("margins"))
    run_figures(names, inputs, paths["instrument"], paths["thresholds"], plan_cfg, outputs, models)


if "snakemake" in globals():
    main(
        list(snakemake.params.names),
        {key: snakemake.input[key] for key in snakemake.input.keys()},
        snakemake.params.plan,
        snakemake.params.models,
        list(zip(snakemake.output.png, snakemake.output.svg, strict=True)),
        snakemake.log[0],
    )
