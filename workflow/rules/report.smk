# Publication: disclosure-controlled tables and figures, the policy brief, and the manifest.


rule tables:
    input:
        estimates=expand(f"{WORK}/interim/estimates/{{name}}.parquet", name=ESTIMATES),
        design=f"{WORK}/interim/weighted.parquet",
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        csv=expand(f"{WORK}/tables/{{table}}.csv", table=TABLES),
        html=[
            report(path, caption="../report/table.rst", category="3. Tables")
            for path in expand(f"{WORK}/tables/{{table}}.html", table=TABLES)
        ],
        docx=expand(f"{WORK}/tables/{{table}}.docx", table=TABLES),
    log:
        f"{WORK}/logs/tables.log",
    benchmark:
        benchmark_file("tables")
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
        names=TABLES,
    script:
        "../../scripts/tables.py"


rule figures:
    input:
        **{k: v for k, v in weighting_outputs().items() if k == "margins"},
        estimates=expand(f"{WORK}/interim/estimates/{{name}}.parquet", name=ESTIMATES),
        models=expand(f"{WORK}/models/{{model}}.csv", model=model_names()),
        effects=expand(f"{WORK}/models/{{model}}_effects.csv", model=model_names()),
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        png=[
            report(path, caption="../report/figure.rst", category="5. Figures")
            for path in expand(f"{WORK}/figures/{{figure}}.png", figure=FIGURES)
        ],
        svg=expand(f"{WORK}/figures/{{figure}}.svg", figure=FIGURES),
    log:
        f"{WORK}/logs/figures.log",
    benchmark:
        benchmark_file("figures")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("figures"),
        runtime=runtime("figures"),
        local_jobs=1,
    params:
        library=LIBRARY,
        plan=PLAN_CONFIG,
        models=model_names(),
        names=FIGURES,
    script:
        "../../scripts/figures.py"


rule brief:
    input:
        **{
            {"summary": "weights"}.get(k, k): v
            for k, v in weighting_outputs().items()
            if k != "balance"
        },
        estimates=expand(f"{WORK}/interim/estimates/{{name}}.parquet", name=ESTIMATES),
        figures=expand(f"{WORK}/figures/{{figure}}.svg", figure=FIGURES + TREND_FIGURES),
        models=expand(f"{WORK}/models/{{model}}.csv", model=model_names()),
        effects=expand(f"{WORK}/models/{{model}}_effects.csv", model=model_names()),
        flow=f"{WORK}/qa/flow.csv",
        design=f"{WORK}/interim/weighted.parquet",
        trends=list(trend_outputs().values()),
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        html=report(
            f"{WORK}/brief/brief.html",
            caption="../report/brief.rst",
            category="0. Policy brief",
        ),
    log:
        f"{WORK}/logs/brief.log",
    benchmark:
        benchmark_file("brief")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("brief"),
        runtime=runtime("brief"),
        local_jobs=1,
    params:
        library=LIBRARY,
        plan=PLAN_CONFIG,
        models=model_names(),
    script:
        "../../scripts/brief.py"


rule manifest:
    input:
        inputs=manifest_inputs(),
        outputs=final_outputs(),
    output:
        f"{WORK}/MANIFEST.sha256",
        provenance=f"{WORK}/PROVENANCE.json",
    log:
        f"{WORK}/logs/manifest.log",
    benchmark:
        benchmark_file("manifest")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("manifest"),
        runtime=runtime("manifest"),
        local_jobs=1,
    params:
        library=LIBRARY,
        provenance=provenance_params(),
    script:
        "../../scripts/manifest.py"


# The last rule: only a complete, checked set replaces results/, in one step (see README).
rule publish:
    input:
        manifest=f"{WORK}/MANIFEST.sha256",
    output:
        f"{RESULTS}/MANIFEST.sha256",
    log:
        f"{WORK}/logs/publish.log",
    benchmark:
        benchmark_file("publish")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("publish"),
        runtime=runtime("publish"),
    params:
        library=LIBRARY,
    script:
        "../../scripts/publish.py"
