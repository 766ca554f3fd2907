"""Write the policy brief: one self-contained HTML page from the published numbers."""

from pathlib import Path

from social_licence.io import configure_logging
from social_licence.report.tables import read_frame
from social_licence.stages import report_inputs, run_brief


def main(paths, plan_cfg, models, html_out, log=None):
    configure_logging(log)
    inputs = report_inputs(
        paths["estimates"],
        paths["models"],
        paths["effects"],
        qa_flow=paths["flow"],
        weight_summary=paths.get("weights"),
        margins=paths.get("margins"),
    )
    diagnostics = {
        key: read_frame(paths[name])
        for key, name in (("summary", "weights"), ("margins", "margins"), ("convergence", "convergence"), ("collapsed", "collapsed"))
        if paths.get(name)
    }
    figures = {Path(p).stem: p for p in paths["figures"]}
    trends = paths.get("trends") or []
    pairs = {Path(p).stem[: -len("_waves")]: p for p in trends if Path(p).stem.endswith("_waves")}
    trend_files = {q: (p, str(p)[: -len("_waves.parquet")] + "_change.parquet") for q, p in pairs.items()}
    pooled = {Path(p).stem[: -len("_pooled")]: p for p in trends if Path(p).stem.endswith("_pooled")}
    run_brief(
        inputs, paths["instrument"], paths["thresholds"], plan_cfg, diagnostics, html_out, figures, models,
        paths.get("design"), trend_files, pooled,
    )


if "snakemake" in globals():
    main(
        {key: snakemake.input[key] for key in snakemake.input.keys()},
        snakemake.params.plan,
        snakemake.params.models,
        snakemake.output.html,
        snakemake.log[0],
    )
