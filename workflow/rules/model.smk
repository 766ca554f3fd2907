# Models: one job per model declared in the models file.


rule model:
    input:
        survey="results/interim/weighted.parquet",
        instrument=config["survey"]["instrument"],
        models=config["models"]["file"],
        thresholds=config["report"]["thresholds"],
        targets=config["weighting"]["targets_file"],
    output:
        coefficients=report(
            "results/models/{model}.csv",
            caption="../report/model.rst",
            category="4. Models",
            subcategory="{model}",
        ),
        effects=report(
            "results/models/{model}_effects.csv",
            caption="../report/model_effects.rst",
            category="4. Models",
            subcategory="{model}",
        ),
        checks="results/models/{model}_checks.csv",
    log:
        "results/logs/model_{model}.log",
    benchmark:
        benchmark_file("model_{model}")
    wildcard_constraints:
        model="|".join(model_names()),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("model"),
        runtime=runtime("model"),
    params:
        estimation=config["estimation"],
        weighting=config["weighting"],
    script:
        "../../scripts/model.py"
