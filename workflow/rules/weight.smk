# Weighting: rake the design weight to population margins, with bounds, and report diagnostics.


rule weight:
    input:
        survey="results/interim/clean.parquet",
        targets=config["weighting"]["targets_file"],
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        survey="results/interim/weighted.parquet",
        summary=report(
            "results/weighting/weight_summary.csv",
            caption="../report/weight_summary.rst",
            category="2. Weighting",
        ),
        margins=report(
            "results/weighting/margins.csv",
            caption="../report/weight_margins.rst",
            category="2. Weighting",
        ),
        balance=report(
            "results/weighting/balance.csv",
            caption="../report/weight_balance.rst",
            category="2. Weighting",
        ),
        convergence="results/weighting/convergence.csv",
        collapsed="results/weighting/collapsed.csv",
    log:
        "results/logs/weight.log",
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
    script:
        "../../scripts/weight.py"
