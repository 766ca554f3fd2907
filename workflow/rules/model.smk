# Models: one job per model declared in the models file.


rule model:
    input:
        survey="results/interim/weighted.parquet",
        instrument=config["survey"]["instrument"],
        models=config["models"]["file"],
        thresholds=config["report"]["thresholds"],
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
    wildcard_constraints:
        model="|".join(model_names()),
    conda:
        CONDA_ENV
    params:
        estimation=config["estimation"],
    script:
        "../../scripts/model.py"
