"""PROVENANCE.json: what produced a results folder, so a reviewer can tell and re-run it.

Beside ``MANIFEST.sha256`` (the digest of every input and output) it records every config file
actually used (the workflow's own and each extra ``--configfile``) and the ``--config``
overrides, with digests; the code version (git commit and whether the tree had uncommitted
changes, or the installed package version outside a git checkout) and a digest of the code
itself; the lock file's digest; Python and the platform; and every ``seed`` in the config.
``social-licence verify`` reads it to re-run the same analysis (:mod:`social_licence.verify`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from .._version import __version__
from ..io import atomic_write_text, sha256_file

PROVENANCE_FILE = "PROVENANCE.json"
LOCK_FILES = ("requirements.lock", "environment.yml")
CODE_PARTS = ("Snakefile", "workflow", "scripts", "src")


def _relative(path: str | Path, root: Path) -> str:
    """``path`` relative to ``root`` as the project names it: symbolic links are not followed,
    so a project whose files are links (as verify's re-run is) records the same paths."""
    absolute = Path(os.path.abspath(Path.cwd() / path))
    try:
        return absolute.relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        pass
    try:  # a root given through a link, or a file outside it reached through one
        return absolute.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return absolute.resolve().as_posix()


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def code_digest(root: str | Path) -> str:
    """SHA-256 over the workflow and library files (path and content, sorted by path)."""
    root = Path(root)
    digest = hashlib.sha256()
    for part in CODE_PARTS:
        base = root / part
        files = [base] if base.is_file() else sorted(base.rglob("*")) if base.is_dir() else []
        for path in files:
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(sha256_file(path).encode() + b"\n")
    return digest.hexdigest()


def library_digest() -> str:
    """SHA-256 over the files of the imported ``social_licence`` package (path within the
    package and content, sorted by path): the library every job of this run imports, from
    ``src/`` or installed. A parameter of every rule, so an edit of the library re-runs the jobs
    that use it (Snakemake follows each rule's own script and parameters, not the modules the
    script imports)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(sha256_file(path).encode() + b"\n")
    return digest.hexdigest()


def code_version(root: str | Path) -> dict[str, Any]:
    """Git commit and dirty flag of ``root``, or the installed package version; and the code
    digest, which identifies the code whether or not it is a git checkout."""
    root = Path(root)
    commit = _git(root, "rev-parse", "HEAD")
    out: dict[str, Any] = {"package_version": __version__, "code_sha256": code_digest(root)}
    if commit is None:
        out["source"] = "installed package"
        try:
            out["package_version"] = metadata.version("social-licence")
        except metadata.PackageNotFoundError:
            pass
        return out
    status = _git(root, "status", "--porcelain") or ""
    out.update(source="git", commit=commit.strip(), dirty=bool(status.strip()))
    return out


def _seeds(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.update(_seeds(value, f"{name}."))
        elif "seed" in str(key).lower():
            found[name] = value
    return found


def provenance(
    *,
    configfiles: Iterable[str | Path],
    overrides: Mapping[str, Any],
    config: Mapping[str, Any],
    config_inputs: Iterable[str | Path] = (),
    results: str | Path = "results",
    root: str | Path = ".",
) -> dict[str, Any]:
    """The provenance record (a JSON-able dict), paths relative to the project ``root``.

    ``configfiles``: the config files Snakemake read, in order (its own ``configfile:`` and each
    ``--configfile``); ``overrides``: the ``--config`` key=value pairs; ``config``: the merged
    config (for the seeds); ``config_inputs``: further files the config names (instrument,
    targets, models, thresholds); ``results``: the results folder, relative to ``root``.
    """
    root = Path(root)
    files = []
    for path in configfiles:
        files.append({"path": _relative(path, root), "sha256": sha256_file(path)})
    named = [
        {"path": _relative(p, root), "sha256": sha256_file(p)}
        for p in sorted({Path(p).as_posix() for p in config_inputs})
    ]
    locks = {name: sha256_file(root / name) for name in LOCK_FILES if (root / name).is_file()}
    return {
        "results": _relative(results, root),
        "configfiles": files,
        "config_overrides": {str(k): overrides[k] for k in sorted(overrides)},
        "config_inputs": named,
        "code": code_version(root),
        "lock": locks,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "platform": platform.platform(),
        },
        "seeds": _seeds(config),
    }


def write_provenance(record: Mapping[str, Any], path: str | Path) -> None:
    """Write the record as sorted, indented JSON."""
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def read_provenance(results_dir: str | Path) -> dict[str, Any]:
    """The provenance record of a results folder."""
    return json.loads((Path(results_dir) / PROVENANCE_FILE).read_text(encoding="utf-8"))
