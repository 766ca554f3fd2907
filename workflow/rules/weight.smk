# Weighting as configured (none | supplied | rake to population margins), with its diagnostics;
# with replicate variance in several jobs (estimation.replicate_jobs), the replicate weights are
# made in shares and gathered into the analysis file.


rule weight:
    input:
        **targets_input(),
        survey=f"{WORK}/interim/clean.parquet",
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        **weighting_outputs(annotated=True),
        survey=weighted_file(),
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


if REPLICATE_JOBS > 1:

    rule replicate_weights:
        input:
            **targets_input(),
            full_sample=f"{replicates_folder('{sample}')}/full_sample.parquet",
            instrument=config["survey"]["instrument"],
        output:
            chunk=f"{replicates_folder('{sample}')}/{{job}}.parquet",
        log:
            f"{WORK}/logs/replicate_weights_{{sample}}_{{job}}.log",
        benchmark:
            benchmark_file("replicate_weights_{sample}_{job}")
        wildcard_constraints:
            sample="|".join(SAMPLES),
            job=r"\d+",
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=mem_mb("replicate_weights"),
            runtime=runtime("replicate_weights"),
        params:
            library=LIBRARY,
            weighting=sample_weighting,
            estimation=config["estimation"],
        script:
            "../../scripts/replicate_weights.py"

    rule replicates:
        input:
            full_sample=f"{replicates_folder(CURRENT)}/full_sample.parquet",
            chunks=replicate_shares(CURRENT),
        output:
            survey=f"{WORK}/interim/weighted.parquet",
        log:
            f"{WORK}/logs/replicates.log",
        benchmark:
            benchmark_file("replicates")
        conda:
            CONDA_ENV
        threads: 1
        resources:
            mem_mb=mem_mb("replicates"),
            runtime=runtime("replicates"),
        params:
            library=LIBRARY,
        script:
            "../../scripts/gather_replicates.py"
