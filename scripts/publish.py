"""Publish a complete run: check work/ against its manifest, then swap it in as results/."""

from pathlib import Path

from social_licence.io import configure_logging
from social_licence.report.publish import publish


def main(manifest, published_manifest, log_path=None):
    logger = configure_logging(log_path)
    count = publish(manifest, Path(manifest).parent, Path(published_manifest).parent)
    logger.info("published %d files to %s", count, Path(published_manifest).parent)


if "snakemake" in globals():
    main(snakemake.input.manifest, snakemake.output[0], snakemake.log[0])
