"""Make the final weight as weighting.method says (none | supplied | rake); write the analysis file
with its survey design (calibration or replicate weights, each replicate raked once when raking)
and the weighting diagnostics of that method."""

from social_licence.io import configure_logging
from social_licence.stages import run_weight


def main(survey, targets, instrument, thresholds, weighting_cfg, estimation_cfg, layout, survey_out, outputs, log=None):
    configure_logging(log)
    run_weight(
        survey,
        targets,
        instrument,
        weighting_cfg,
        estimation_cfg,
        thresholds,
        survey_out,
        outputs,
        layout,
    )


if "snakemake" in globals():
    main(
        snakemake.input.survey,
        snakemake.input.get("targets"),
        snakemake.input.instrument,
        snakemake.input.thresholds,
        snakemake.params.weighting,
        snakemake.params.estimation,
        snakemake.params.layout,
        snakemake.output.survey,
        {key: path for key, path in snakemake.output.items() if key != "survey"},
        snakemake.log[0],
    )
