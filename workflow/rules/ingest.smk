# Ingest: export -> checked, cleaned, pseudonymised analysis file; QA flow; codebook.


rule ingest:
    input:
        export=config["survey"]["export"],
        instrument=config["survey"]["instrument"],
        withdrawals=withdrawals_input(),
        thresholds=config["report"]["thresholds"],
    output:
        survey=f"{WORK}/interim/clean.parquet",
        flow=report(
            f"{WORK}/qa/flow.csv",
            caption="../report/qa_flow.rst",
            category="1. Data",
        ),
    log:
        f"{WORK}/logs/ingest.log",
    benchmark:
        benchmark_file("ingest")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("ingest"),
        runtime=runtime("ingest"),
    params:
        library=LIBRARY,
        survey=config["survey"],
        cleaning=config["cleaning"],
    script:
        "../../scripts/ingest.py"


rule codebook:
    input:
        survey=f"{WORK}/interim/weighted.parquet",
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        csv=f"{WORK}/codebook/codebook.csv",
        html=report(
            f"{WORK}/codebook/codebook.html",
            caption="../report/codebook.rst",
            category="1. Data",
        ),
    log:
        f"{WORK}/logs/codebook.log",
    benchmark:
        benchmark_file("codebook")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("codebook"),
        runtime=runtime("codebook"),
    params:
        library=LIBRARY,
    script:
        "../../scripts/codebook.py"
