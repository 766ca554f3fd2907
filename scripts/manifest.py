"""Write the staging folder's MANIFEST.sha256 (the checksum of every input and every output of a
complete run, outputs listed under their published names) and work/PROVENANCE.json (config files and
overrides, code version, lock, Python, platform, seeds); both are published with the run."""

from pathlib import Path

from social_licence.io import configure_logging
from social_licence.report.manifest import write_manifest
from social_licence.report.provenance import provenance, write_provenance
from social_licence.report.publish import published_name


def main(inputs, outputs, manifest_path, provenance_path, facts, config, log_path=None):
    logger = configure_logging(log_path)
    # outputs are checked here in work/ and listed as they will be published, under results/
    staging, published = facts["staging"], facts["published"]
    write_manifest(inputs, outputs, manifest_path, outputs_as=lambda p: published_name(p, staging, published))
    logger.info("manifest of %d inputs and %d outputs written", len(set(inputs)), len(set(outputs)))
    record = provenance(
        configfiles=facts["configfiles"],
        overrides=facts["overrides"],
        config=config,
        config_inputs=facts["config_inputs"],
        results=Path(published_name(manifest_path, staging, published)).parent,
    )
    write_provenance(record, provenance_path)
    logger.info(
        "provenance written: code %s",
        record["code"].get("commit", record["code"]["package_version"]),
    )


if "snakemake" in globals():
    main(
        list(snakemake.input.inputs),
        list(snakemake.input.outputs),
        snakemake.output[0],
        snakemake.output.provenance,
        snakemake.params.provenance,
        snakemake.config,
        snakemake.log[0],
    )
