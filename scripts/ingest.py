"""Read the export, check it against the instrument, apply withdrawals and QA, pseudonymise."""

from social_licence.io import configure_logging
from social_licence.stages import run_ingest


def main(export, instrument, withdrawals, survey_cfg, cleaning_cfg, survey_out, flow_out, log=None, thresholds=None):
    configure_logging(log)
    run_ingest(export, instrument, withdrawals, survey_cfg, cleaning_cfg, survey_out, flow_out, thresholds)


if "snakemake" in globals():
    main(
        snakemake.input.export,
        snakemake.input.instrument,
        snakemake.input.withdrawals[0] if snakemake.input.withdrawals else None,
        snakemake.params.survey,
        snakemake.params.cleaning,
        snakemake.output.survey,
        snakemake.output.flow,
        snakemake.log[0],
        snakemake.input.thresholds,
    )
