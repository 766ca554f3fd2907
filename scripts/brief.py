"""Write the policy brief: one self-contained HTML page from the published numbers."""

from social_licence.io import configure_logging
from social_licence.report.tables import read_frame
from social_licence.stages import report_inputs, run_brief


def main(paths, report_cfg, estimation_cfg, html_out, log=None):
    configure_logging(log)
    inputs = report_inputs(
        paths["estimates"],
        paths["models"],
        paths["effects"],
        qa_flow=paths["flow"],
        weight_summary=paths["weights"],
        margins=paths["margins"],
    )
    diagnostics = {
        "summary": inputs["weight_summary"],
        "margins": inputs["margins"],
        "convergence": read_frame(paths["convergence"]),
        "collapsed": read_frame(paths["collapsed"]),
    }
    run_brief(
        inputs, paths["instrument"], paths["thresholds"], report_cfg, estimation_cfg, diagnostics, html_out
    )


if "snakemake" in globals():
    main(
        {key: snakemake.input[key] for key in snakemake.input.keys()},
        snakemake.params.report,
        snakemake.params.estimation,
        snakemake.output.html,
        snakemake.log[0],
    )
