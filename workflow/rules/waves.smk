# Several waves: each earlier wave ingested, cleaned and weighted as its own sample, then the
# change between waves (design-based, independent samples or a declared panel overlap), its
# trend tables and figures, and the shares pooled over the waves.


rule wave_ingest:
    input:
        export=wave_export,
        instrument=config["survey"]["instrument"],
        withdrawals=wave_withdrawals,
        thresholds=config["report"]["thresholds"],
    output:
        survey=f"{WORK}/interim/waves/{{wave}}/clean.parquet",
        flow=f"{WORK}/waves/{{wave}}/qa/flow.csv",
    log:
        f"{WORK}/logs/wave_ingest_{{wave}}.log",
    benchmark:
        benchmark_file("wave_ingest_{wave}")
    wildcard_constraints:
        wave="|".join(WAVES),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("ingest"),
        runtime=runtime("ingest"),
    params:
        library=LIBRARY,
        survey=wave_survey,
        cleaning=config["cleaning"],
    script:
        "../../scripts/ingest.py"


rule wave_weight:
    input:
        **targets_input(),
        survey=f"{WORK}/interim/waves/{{wave}}/clean.parquet",
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        **wave_weighting_outputs(),
        survey=wave_weighted_file(),
    log:
        f"{WORK}/logs/wave_weight_{{wave}}.log",
    benchmark:
        benchmark_file("wave_weight_{wave}")
    wildcard_constraints:
        wave="|".join(WAVES),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("weight"),
        runtime=runtime("weight"),
    params:
        library=LIBRARY,
        weighting=wave_weighting,
        estimation=config["estimation"],
        layout=config["survey"]["layout"],
    script:
        "../../scripts/weight.py"


if REPLICATE_JOBS > 1:

    rule wave_replicates:
        input:
            full_sample=f"{replicates_folder('{wave}')}/full_sample.parquet",
            chunks=replicate_shares("{wave}"),
        output:
            survey=f"{WORK}/interim/waves/{{wave}}/weighted.parquet",
        log:
            f"{WORK}/logs/wave_replicates_{{wave}}.log",
        benchmark:
            benchmark_file("wave_replicates_{wave}")
        wildcard_constraints:
            wave="|".join(WAVES),
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


rule change:
    input:
        surveys=list(wave_surveys().values()),
        panel=panel_input(),
        instrument=config["survey"]["instrument"],
    output:
        **trend_outputs(),
    log:
        f"{WORK}/logs/change.log",
    benchmark:
        benchmark_file("change")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("change"),
        runtime=runtime("change"),
    params:
        library=LIBRARY,
        plan=PLAN_CONFIG,
        waves=list(wave_surveys()),
        panel_column=(config.get("waves_panel") or {}).get("column"),
    script:
        "../../scripts/change.py"


rule trend_tables:
    input:
        **trend_outputs(),
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        csv=expand(f"{WORK}/tables/{{table}}.csv", table=TREND_TABLES + POOLED_TABLES),
        html=[
            report(path, caption="../report/trend_table.rst", category="3. Tables")
            for path in expand(f"{WORK}/tables/{{table}}.html", table=TREND_TABLES)
        ]
        + [
            report(path, caption="../report/pooled_table.rst", category="3. Tables")
            for path in expand(f"{WORK}/tables/{{table}}.html", table=POOLED_TABLES)
        ],
        docx=expand(f"{WORK}/tables/{{table}}.docx", table=TREND_TABLES + POOLED_TABLES),
    log:
        f"{WORK}/logs/trend_tables.log",
    benchmark:
        benchmark_file("trend_tables")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("tables"),
        runtime=runtime("tables"),
        local_jobs=1,
    params:
        library=LIBRARY,
        plan=PLAN_CONFIG,
        questions=TRENDS,
        trends=list(trend_outputs()),
        tables=TREND_TABLES + POOLED_TABLES,
    script:
        "../../scripts/trend_tables.py"


rule trend_figure:
    input:
        waves=f"{WORK}/interim/trends/{{question}}_waves.parquet",
        change=f"{WORK}/interim/trends/{{question}}_change.parquet",
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        png=report(
            f"{WORK}/figures/{{question}}_trend.png",
            caption="../report/trend_figure.rst",
            category="5. Figures",
        ),
        svg=f"{WORK}/figures/{{question}}_trend.svg",
    log:
        f"{WORK}/logs/trend_figure_{{question}}.log",
    benchmark:
        benchmark_file("trend_figure_{question}")
    wildcard_constraints:
        question="|".join(TRENDS),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("figure"),
        runtime=runtime("figure"),
        local_jobs=1,
    params:
        library=LIBRARY,
        plan=PLAN_CONFIG,
    script:
        "../../scripts/trend_figure.py"
