"""Several waves: harmonisation check, each trend question's shares by wave and their change."""

from social_licence.io import configure_logging
from social_licence.stages import run_change


def main(surveys, waves, instrument, plan_cfg, panel, panel_column, outputs, log=None):
    configure_logging(log)
    panel_spec = (panel[0], panel_column) if panel else None
    run_change(dict(zip(waves, surveys, strict=True)), instrument, plan_cfg, panel_spec, outputs)


if "snakemake" in globals():
    main(
        list(snakemake.input.surveys),
        snakemake.params.waves,
        snakemake.input.instrument,
        snakemake.params.plan,
        list(snakemake.input.panel),
        snakemake.params.panel_column,
        dict(snakemake.output.items()),
        snakemake.log[0],
    )
