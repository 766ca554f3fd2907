# Models: one job per model declared in the models file.


rule model:
    input:
        survey=f"{WORK}/interim/weighted.parquet",
        instrument=config["survey"]["instrument"],
        models=config["models"]["file"],
        thresholds=config["report"]["thresholds"],
        waves=model_waves,
        panel=model_panel,
    output:
        coefficients=report(
            f"{WORK}/models/{{model}}.csv",
            caption="../report/model.rst",
            category="4. Models",
            subcategory="{model}",
        ),
        effects=report(
            f"{WORK}/models/{{model}}_effects.csv",
            caption="../report/model_effects.rst",
            category="4. Models",
            subcategory="{model}",
        ),
        checks=f"{WORK}/models/{{model}}_checks.csv",
    log:
        f"{WORK}/logs/model_{{model}}.log",
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
        library=LIBRARY,
        estimation=config["estimation"],
        waves=list(wave_surveys()),
        panel_column=(config.get("waves_panel") or {}).get("column"),
    script:
        "../../scripts/model.py"
