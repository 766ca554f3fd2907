"""A checksum manifest of every input and output, so a reviewer can verify a run to the byte.

The file is in ``sha256sum`` format (``<hex>  <path>``), so ``sha256sum -c results/MANIFEST.sha256``
run from the project folder checks every listed file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from ..io import atomic_write_text, sha256_file


def manifest_lines(paths: Iterable[str | Path], listed_as: Callable[[str], str] | None = None) -> list[str]:
    """``sha256sum`` lines for the given files, sorted by path, each path listed once;
    ``listed_as`` gives the name a file is listed under (a staged output under its published
    name), the checksum being that of the file itself."""
    names = {Path(p).as_posix() for p in paths}
    listed = sorted(((listed_as(p) if listed_as else p), p) for p in names)
    return [f"{sha256_file(p)}  {name}" for name, p in listed]


def write_manifest(
    inputs: Iterable[str | Path],
    outputs: Iterable[str | Path],
    path: str | Path,
    *,
    outputs_as: Callable[[str], str] | None = None,
) -> None:
    """Write the manifest: inputs first, then outputs (named by ``outputs_as``), each block
    sorted by path."""
    text = "# inputs\n" + "\n".join(manifest_lines(inputs)) + "\n"
    text += "# outputs\n" + "\n".join(manifest_lines(outputs, outputs_as)) + "\n"
    atomic_write_text(path, text)
