"""One job of the coverage benchmark: the draws of seeds first to last, fitted, as JSON."""

import json
import logging

from bench_model_coverage import draws


def main(first, last, n, sample, weights, out, log=None):
    logging.basicConfig(filename=log, level=logging.INFO)
    rows, failures = draws(range(int(first), int(last) + 1), n, sample, weights)
    logging.info("seeds %s..%s: %d rows, %d failed fits", first, last, len(rows), len(failures))
    with open(out, "w", encoding="utf-8") as handle:
        json.dump({"rows": rows, "failures": failures}, handle, default=float)


if "snakemake" in globals():
    main(
        snakemake.wildcards.first,
        snakemake.wildcards.last,
        snakemake.params.n,
        snakemake.params.sample,
        snakemake.params.weights,
        snakemake.output.draws,
        snakemake.log[0],
    )
