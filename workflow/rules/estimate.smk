# Estimation: design-based proportions, group breakdowns and comparisons (full precision, interim:
# disclosure control is applied when tables, figures and the brief are made from them).


rule estimate:
    input:
        survey=f"{WORK}/interim/weighted.parquet",
        instrument=config["survey"]["instrument"],
    output:
        **{name: f"{WORK}/interim/estimates/{name}.parquet" for name in ESTIMATES},
    log:
        f"{WORK}/logs/estimate.log",
    benchmark:
        benchmark_file("estimate")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("estimate"),
        runtime=runtime("estimate"),
    params:
        library=LIBRARY,
        plan=PLAN_CONFIG,
    script:
        "../../scripts/estimate.py"
