"""Write work/MANIFEST.sha256: the checksum of every input and every output of a complete run."""

from social_licence.io import configure_logging
from social_licence.report.manifest import write_manifest
from social_licence.report.publish import published_name


def main(inputs, outputs, manifest_path, log_path=None):
    logger = configure_logging(log_path)
    # outputs are checked here in work/ and listed as they will be published, under results/
    write_manifest(inputs, outputs, manifest_path, outputs_as=published_name)
    logger.info("manifest of %d inputs and %d outputs written", len(set(inputs)), len(set(outputs)))


if "snakemake" in globals():
    main(
        list(snakemake.input.inputs),
        list(snakemake.input.outputs),
        snakemake.output[0],
        snakemake.log[0],
    )
