# Models: one job per model declared in the models file.


rule model:
    input:
        survey="results/interim/weighted.parquet",
        instrument=config["survey"]["instrument"],
        models=config["models"]["file"],
    output:
        coefficients=report(
            "results/models/{model}.csv",
            caption="../report/model.rst",
            category="4. Models",
            subcategory="{model}",
        ),
        effects="results/models/{model}_effects.csv",
    log:
        "results/logs/model_{model}.log",
    params:
        estimation=config["estimation"],
    script:
        "../../scripts/model.py"
