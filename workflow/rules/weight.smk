# Weighting: rake the design weight to population margins, with bounds, and report diagnostics.


rule weight:
    input:
        survey="work/interim/clean.parquet",
        targets=config["weighting"]["targets_file"],
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        survey="work/interim/weighted.parquet",
        summary=report(
            "work/weighting/weight_summary.csv",
            caption="../report/weight_summary.rst",
            category="2. Weighting",
        ),
        margins=report(
            "work/weighting/margins.csv",
            caption="../report/weight_margins.rst",
            category="2. Weighting",
        ),
        balance=report(
            "work/weighting/balance.csv",
            caption="../report/weight_balance.rst",
            category="2. Weighting",
        ),
        convergence="work/weighting/convergence.csv",
        collapsed="work/weighting/collapsed.csv",
    log:
        "work/logs/weight.log",
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
