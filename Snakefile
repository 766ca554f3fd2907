# social-licence: from a survey export to weighted estimates, models, tables, figures and a brief.
# This file is a table of contents: the configuration, one rules file per stage, and the targets.


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/weight.smk"
include: "workflow/rules/estimate.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/waves.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
        f"{RESULTS}/MANIFEST.sha256",
