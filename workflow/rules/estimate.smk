# Estimation: design-based proportions, group breakdowns and comparisons (full precision, interim:
# disclosure control is applied when tables, figures and the brief are made from them).


rule estimate:
    input:
        survey="work/interim/weighted.parquet",
        instrument=config["survey"]["instrument"],
    output:
        **{name: f"work/interim/estimates/{name}.parquet" for name in ESTIMATES},
    log:
        "work/logs/estimate.log",
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
    script:
        "../../scripts/estimate.py"
