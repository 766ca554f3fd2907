"""A checksum manifest of every input and output, so a reviewer can verify a run to the byte.

The file is in ``sha256sum`` format (``<hex>  <path>``), so ``sha256sum -c results/MANIFEST.sha256``
run from the project folder checks every listed file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..io import atomic_write_text, sha256_file


def manifest_lines(paths: Iterable[str | Path]) -> list[str]:
    """``sha256sum`` lines for the given files, sorted by path, each path listed once."""
    unique = sorted({Path(p).as_posix() for p in paths})
    return [f"{sha256_file(p)}  {p}" for p in unique]


def write_manifest(inputs: Iterable[str | Path], outputs: Iterable[str | Path], path: str | Path) -> None:
    """Write the manifest: inputs first, then outputs, each block sorted by path."""
    text = "# inputs\n" + "\n".join(manifest_lines(inputs)) + "\n"
    text += "# outputs\n" + "\n".join(manifest_lines(outputs)) + "\n"
    atomic_write_text(path, text)
