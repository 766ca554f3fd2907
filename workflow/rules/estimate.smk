# Estimation: design-based proportions, group breakdowns and comparisons (full precision, interim:
# disclosure control is applied when tables, figures and the brief are made from them).


rule estimate:
    input:
        survey="work/interim/weighted.parquet",
        instrument=config["survey"]["instrument"],
    output:
        **{name: f"work/interim/estimates/{name}.parquet" for name in ESTIMATES},
    log:
        "work/logs/estimate.log",
    conda:
        CONDA_ENV
    params:
        estimation=config["estimation"],
    script:
        "../../scripts/estimate.py"
