# Weighting as configured (none | supplied | rake to population margins), with its diagnostics.


rule weight:
    input:
        **targets_input(),
        survey=f"{WORK}/interim/clean.parquet",
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        **weighting_outputs(annotated=True),
        survey=f"{WORK}/interim/weighted.parquet",
    log:
        f"{WORK}/logs/weight.log",
    benchmark:
        benchmark_file("weight")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("weight"),
        runtime=runtime("weight"),
    params:
        library=LIBRARY,
        weighting=config["weighting"],
        estimation=config["estimation"],
        layout=config["survey"]["layout"],
    script:
        "../../scripts/weight.py"
