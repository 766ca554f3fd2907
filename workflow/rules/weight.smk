# Weighting: rake the design weight to population margins, with bounds, and report diagnostics.


rule weight:
    input:
        survey=f"{WORK}/interim/clean.parquet",
        targets=config["weighting"]["targets_file"],
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        survey=f"{WORK}/interim/weighted.parquet",
        summary=report(
            f"{WORK}/weighting/weight_summary.csv",
            caption="../report/weight_summary.rst",
            category="2. Weighting",
        ),
        margins=report(
            f"{WORK}/weighting/margins.csv",
            caption="../report/weight_margins.rst",
            category="2. Weighting",
        ),
        balance=report(
            f"{WORK}/weighting/balance.csv",
            caption="../report/weight_balance.rst",
            category="2. Weighting",
        ),
        convergence=f"{WORK}/weighting/convergence.csv",
        collapsed=f"{WORK}/weighting/collapsed.csv",
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
        weighting=config["weighting"],
        estimation=config["estimation"],
    script:
        "../../scripts/weight.py"
