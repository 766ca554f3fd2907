"""Gather the coverage benchmark's jobs: the table the script prints, as text and CSV."""

import json

import pandas as pd
from bench_model_coverage import report, summarise


def main(paths, run, text_out, csv_out):
    rows, failures = [], []
    for path in paths:  # in seed order
        with open(path, encoding="utf-8") as handle:
            part = json.load(handle)
        rows += part["rows"]
        failures += part["failures"]
    table = summarise(pd.DataFrame(rows))
    header = (
        f"model coverage benchmark: sample={run['sample']}, weights={run['weights']}, "
        f"n={run['size']}, reps={run['reps']}, seeds {run['seed']}..{run['seed'] + run['reps'] - 1}, "
        f"{len(paths)} jobs of up to {run['chunk']} draws, {len(failures)} failed fits"
    )
    text = f"{header}\n{report(table, failures)}\n"
    print(text, end="")
    with open(text_out, "w", encoding="utf-8") as handle:
        handle.write(text)
    table.to_csv(csv_out, index=False)


if "snakemake" in globals():
    main(list(snakemake.input.draws), snakemake.params.run, snakemake.output.text, snakemake.output.csv)
