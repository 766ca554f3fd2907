# Estimation: design-based proportions, group breakdowns and comparisons (full precision, interim:
# disclosure control is applied when tables, figures and the brief are made from them).


rule estimate:
    input:
        survey="results/interim/weighted.parquet",
        instrument=config["survey"]["instrument"],
        targets=config["weighting"]["targets_file"],
    output:
        **{name: f"results/interim/estimates/{name}.parquet" for name in ESTIMATES},
    log:
        "results/logs/estimate.log",
    benchmark:
        benchmark_file("estimate")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("estimate"),
        runtime=runtime("estimate"),
    params:
        estimation=config["estimation"],
        weighting=config["weighting"],
    script:
        "../../scripts/estimate.py"
