# Publication: disclosure-controlled tables and figures, the policy brief, and the manifest.


rule table:
    input:
        estimates=expand("work/interim/estimates/{name}.parquet", name=ESTIMATES),
        design="work/interim/weighted.parquet",
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        csv="work/tables/{table}.csv",
        html=report(
            "work/tables/{table}.html",
            caption="../report/table.rst",
            category="3. Tables",
        ),
        docx="work/tables/{table}.docx",
    log:
        "work/logs/table_{table}.log",
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
        ci_level=config["estimation"]["ci_level"],
    script:
        "../../scripts/table.py"


rule figure:
    input:
        estimates=expand("work/interim/estimates/{name}.parquet", name=ESTIMATES),
        models=expand("work/models/{model}.csv", model=model_names()),
        effects=expand("work/models/{model}_effects.csv", model=model_names()),
        margins="work/weighting/margins.csv",
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        png=report(
            "work/figures/{figure}.png",
            caption="../report/figure.rst",
            category="5. Figures",
        ),
        svg="work/figures/{figure}.svg",
    log:
        "work/logs/figure_{figure}.log",
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
        options={
            "groups": config["report"].get("groups") or config["estimation"]["groups"],
            "headline": config["report"].get("headline"),
        },
    script:
        "../../scripts/figure.py"


rule brief:
    input:
        estimates=expand("work/interim/estimates/{name}.parquet", name=ESTIMATES),
        figures=expand("work/figures/{figure}.png", figure=FIGURES),
        models=expand("work/models/{model}.csv", model=model_names()),
        effects=expand("work/models/{model}_effects.csv", model=model_names()),
        flow="work/qa/flow.csv",
        weights="work/weighting/weight_summary.csv",
        margins="work/weighting/margins.csv",
        convergence="work/weighting/convergence.csv",
        collapsed="work/weighting/collapsed.csv",
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        html=report(
            "work/brief/brief.html",
            caption="../report/brief.rst",
            category="0. Policy brief",
        ),
    log:
        "work/logs/brief.log",
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
        report=config["report"],
        estimation=config["estimation"],
        weighting=config["weighting"],
    script:
        "../../scripts/brief.py"


rule manifest:
    input:
        inputs=manifest_inputs(),
        outputs=final_outputs(),
    output:
        "work/MANIFEST.sha256",
        provenance="work/PROVENANCE.json",
    log:
        "work/logs/manifest.log",
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
        manifest="work/MANIFEST.sha256",
    output:
        "results/MANIFEST.sha256",
    log:
        "work/logs/publish.log",
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
