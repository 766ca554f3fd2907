"""Fit one model declared in config/models.yaml (the {model} wildcard) and write its tables."""

from social_licence.io import configure_logging
from social_licence.stages import run_model


def main(name, survey, instrument, models, thresholds, estimation_cfg, outputs, log=None, waves=None, panel=None):
    """``waves``: (wave names, their analysis files) for a model fitted on the stacked waves;
    ``panel``: (panel files, column) of the respondents in more than one wave."""
    configure_logging(log)
    names, files = waves or ([], [])
    run_model(
        name,
        survey,
        instrument,
        models,
        thresholds,
        estimation_cfg,
        outputs["coefficients"],
        outputs["effects"],
        outputs["checks"],
        dict(zip(names, files, strict=True)) if files else None,
        (panel[0][0], panel[1]) if panel and panel[0] else None,
    )


if "snakemake" in globals():
    main(
        snakemake.wildcards.model,
        snakemake.input.survey,
        snakemake.input.instrument,
        snakemake.input.models,
        snakemake.input.thresholds,
        snakemake.params.estimation,
        dict(snakemake.output.items()),
        snakemake.log[0],
        (snakemake.params.waves, list(snakemake.input.waves)),
        (list(snakemake.input.panel), snakemake.params.panel_column),
    )
