# Publication: disclosure-controlled tables and figures, the policy brief, and the manifest.


rule table:
    input:
        estimates=expand(f"{WORK}/interim/estimates/{{name}}.parquet", name=ESTIMATES),
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        csv=f"{WORK}/tables/{{table}}.csv",
        html=report(
            f"{WORK}/tables/{{table}}.html",
            caption="../report/table.rst",
            category="3. Tables",
        ),
        docx=f"{WORK}/tables/{{table}}.docx",
    log:
        f"{WORK}/logs/table_{{table}}.log",
    benchmark:
        benchmark_file("table_{table}")
    wildcard_constraints:
        table="|".join(TABLES),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("table"),
        runtime=runtime("table"),
        local_jobs=1,
    params:
        plan=PLAN_CONFIG,
    script:
        "../../scripts/table.py"


rule figure:
    input:
        estimates=expand(f"{WORK}/interim/estimates/{{name}}.parquet", name=ESTIMATES),
        models=expand(f"{WORK}/models/{{model}}.csv", model=model_names()),
        effects=expand(f"{WORK}/models/{{model}}_effects.csv", model=model_names()),
        margins=f"{WORK}/weighting/margins.csv",
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        png=report(
            f"{WORK}/figures/{{figure}}.png",
            caption="../report/figure.rst",
            category="5. Figures",
        ),
        svg=f"{WORK}/figures/{{figure}}.svg",
    log:
        f"{WORK}/logs/figure_{{figure}}.log",
    benchmark:
        benchmark_file("figure_{figure}")
    wildcard_constraints:
        figure="|".join(FIGURES),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("figure"),
        runtime=runtime("figure"),
        local_jobs=1,
    params:
        plan=PLAN_CONFIG,
        models=model_names(),
    script:
        "../../scripts/figure.py"


rule brief:
    input:
        estimates=expand(f"{WORK}/interim/estimates/{{name}}.parquet", name=ESTIMATES),
        figures=expand(f"{WORK}/figures/{{figure}}.svg", figure=FIGURES + TREND_FIGURES),
        models=expand(f"{WORK}/models/{{model}}.csv", model=model_names()),
        effects=expand(f"{WORK}/models/{{model}}_effects.csv", model=model_names()),
        flow=f"{WORK}/qa/flow.csv",
        weights=f"{WORK}/weighting/weight_summary.csv",
        margins=f"{WORK}/weighting/margins.csv",
        convergence=f"{WORK}/weighting/convergence.csv",
        collapsed=f"{WORK}/weighting/collapsed.csv",
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
    script:
        "../../scripts/publish.py"
