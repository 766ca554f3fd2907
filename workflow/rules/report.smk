# Publication: disclosure-controlled tables and figures, the policy brief, and the manifest.


rule table:
    input:
        estimates=expand("results/interim/estimates/{name}.parquet", name=ESTIMATES),
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        csv="results/tables/{table}.csv",
        html=report(
            "results/tables/{table}.html",
            caption="../report/table.rst",
            category="3. Tables",
        ),
        docx="results/tables/{table}.docx",
    log:
        "results/logs/table_{table}.log",
    wildcard_constraints:
        table="|".join(TABLES),
    conda:
        CONDA_ENV
    script:
        "../../scripts/table.py"


rule figure:
    input:
        estimates=expand("results/interim/estimates/{name}.parquet", name=ESTIMATES),
        models=expand("results/models/{model}.csv", model=model_names()),
        effects=expand("results/models/{model}_effects.csv", model=model_names()),
        margins="results/weighting/margins.csv",
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category="5. Figures",
        ),
        svg="results/figures/{figure}.svg",
    log:
        "results/logs/figure_{figure}.log",
    wildcard_constraints:
        figure="|".join(FIGURES),
    conda:
        CONDA_ENV
    params:
        options={
            "groups": config["report"].get("groups") or config["estimation"]["groups"],
            "headline": config["report"].get("headline"),
        },
    script:
        "../../scripts/figure.py"


rule brief:
    input:
        estimates=expand("results/interim/estimates/{name}.parquet", name=ESTIMATES),
        figures=expand("results/figures/{figure}.png", figure=FIGURES),
        models=expand("results/models/{model}.csv", model=model_names()),
        effects=expand("results/models/{model}_effects.csv", model=model_names()),
        flow="results/qa/flow.csv",
        weights="results/weighting/weight_summary.csv",
        margins="results/weighting/margins.csv",
        convergence="results/weighting/convergence.csv",
        collapsed="results/weighting/collapsed.csv",
        instrument=config["survey"]["instrument"],
        thresholds=config["report"]["thresholds"],
    output:
        html=report(
            "results/brief/brief.html",
            caption="../report/brief.rst",
            category="0. Policy brief",
        ),
    log:
        "results/logs/brief.log",
    conda:
        CONDA_ENV
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
        "results/MANIFEST.sha256",
        provenance="results/PROVENANCE.json",
    log:
        "results/logs/manifest.log",
    conda:
        CONDA_ENV
    params:
        provenance=provenance_params(),
    script:
        "../../scripts/manifest.py"
