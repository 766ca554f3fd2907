"""`social-licence verify RESULTS_DIR`: check a results folder against its manifest, by re-running.

Three checks, each printed file by file:

1. the inputs listed in ``MANIFEST.sha256`` (export, withdrawals, config files) still have the
   digests recorded, so the re-run starts from the same data and config;
2. the outputs in ``RESULTS_DIR`` have the digests recorded (nobody edited a published file);
3. the analysis, re-run with the same config files and ``--config`` overrides (from
   ``PROVENANCE.json``) into a temporary folder, reproduces every output to the byte.

The temporary folder holds links to the project's files (never copies of the data) and its own
``results``; the project's own results are not touched. Code and lock differences from the run
recorded in ``PROVENANCE.json`` are reported as notes: outputs may still match.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .io import sha256_file
from .report.provenance import LOCK_FILES, code_version, read_provenance
from .report.publish import STAGING

MANIFEST_FILE = "MANIFEST.sha256"
NOT_LINKED = {".snakemake", ".venv", ".git", STAGING}


@dataclass
class Verification:
    """What a verification found; ``ok`` when nothing differs."""

    inputs_changed: list[str] = field(default_factory=list)
    outputs_edited: list[str] = field(default_factory=list)
    outputs_not_reproduced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not (self.inputs_changed or self.outputs_edited or self.outputs_not_reproduced)

    def report(self) -> str:
        lines = [f"note: {n}" for n in self.notes]
        lines += [f"INPUT CHANGED: {p}" for p in self.inputs_changed]
        lines += [f"OUTPUT DIFFERS FROM MANIFEST: {p}" for p in self.outputs_edited]
        lines += [f"NOT REPRODUCED BY RE-RUN: {p}" for p in self.outputs_not_reproduced]
        if self.ok:
            lines.append(f"verified: {self.checked} outputs reproduced byte for byte")
        else:
            lines.append("verification FAILED")
        return "\n".join(lines)


def read_manifest(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """Inputs and outputs of a manifest: path -> sha256."""
    blocks: dict[str, dict[str, str]] = {"inputs": {}, "outputs": {}}
    current = None
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("# "):
            current = line[2:].strip()
            continue
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if current not in blocks or len(digest) != 64 or not name:
            raise InputError("not a manifest line", file=str(path), rows=[number], value=line)
        blocks[current][name] = digest
    return blocks["inputs"], blocks["outputs"]


def _digest(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


def _link_project(root: Path, dest: Path, results_top: str) -> None:
    for entry in root.iterdir():
        if entry.name in NOT_LINKED or entry.name == results_top:
            continue
        (dest / entry.name).symlink_to(entry.resolve())


def _yaml(value) -> str:
    """A --config value as Snakemake parses it back (YAML; JSON is YAML)."""
    return value if isinstance(value, str) else json.dumps(value)


def rerun(root: Path, record: dict, workdir: Path, cores: str) -> subprocess.CompletedProcess:
    """Run the workflow in ``workdir`` (links to ``root``) with the recorded config."""
    args = [sys.executable, "-m", "snakemake", "--cores", cores]
    configfiles = [c["path"] for c in record.get("configfiles", [])]
    extra = configfiles[1:]  # the first is the Snakefile's own configfile
    if extra:
        args += ["--configfile", *extra]
    overrides = record.get("config_overrides") or {}
    if overrides:
        args += ["--config", *(f"{k}={_yaml(v)}" for k, v in overrides.items())]
    return subprocess.run(args, cwd=workdir, capture_output=True, text=True, check=False)


def verify(
    results_dir: str | Path, *, cores: str = "all", keep: str | Path | None = None
) -> Verification:
    """Check ``results_dir`` against its manifest and by re-running the analysis (see module).

    ``keep``: a new folder to re-run in and leave in place, to look at what the re-run made
    (default: a temporary folder, removed)."""
    results_dir = Path(results_dir).resolve()
    manifest = results_dir / MANIFEST_FILE
    if not manifest.is_file():
        raise InputError("no manifest in the results folder", file=str(manifest))
    record = read_provenance(results_dir)
    depth = len(Path(record["results"]).parts)
    root = results_dir.parents[depth - 1] if depth else results_dir
    inputs, outputs = read_manifest(manifest)
    found = Verification(checked=len(outputs))

    now = code_version(root)
    then = record.get("code", {})
    if then.get("code_sha256") != now.get("code_sha256"):
        found.notes.append(
            f"the code differs from the run's (commit {then.get('commit', '?')}, now "
            f"{now.get('commit', now.get('package_version'))}"
            f"{', uncommitted changes' if now.get('dirty') else ''})"
        )
    for name in LOCK_FILES:
        recorded = record.get("lock", {}).get(name)
        if recorded is not None and recorded != _digest(root / name):
            found.notes.append(f"{name} differs from the run's")

    for name, digest in inputs.items():
        if _digest(root / name if not Path(name).is_absolute() else Path(name)) != digest:
            found.inputs_changed.append(name)
    for name, digest in outputs.items():
        if _digest(root / name) != digest:
            found.outputs_edited.append(name)

    if keep is not None:
        Path(keep).mkdir(parents=True)  # a new folder: never mixed with an earlier re-run
        place = contextlib.nullcontext(str(keep))
    else:
        place = tempfile.TemporaryDirectory(prefix="social-licence-verify-")
    with place as tmp:
        workdir = Path(tmp)
        _link_project(root, workdir, Path(record["results"]).parts[0])
        proc = rerun(root, record, workdir, cores)
        if proc.returncode != 0:
            found.notes.append(f"the re-run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        for name, digest in outputs.items():
            if _digest(workdir / name) != digest:
                found.outputs_not_reproduced.append(name)
    return found


def main(results_dir: str, cores: str = "all", keep: str | None = None) -> int:
    """Print the verification of ``results_dir``; 0 if everything matches, 1 otherwise."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    found = verify(results_dir, cores=cores, keep=keep)
    print(found.report())
    return 0 if found.ok else 1
