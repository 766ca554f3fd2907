"""Run the real Snakemake workflow in a throw-away copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PARTS = ["Snakefile", "workflow", "scripts", "config", "data", "src", "environment.yml"]
BIN = Path(sys.executable).parent


def copy_project(dest: Path) -> Path:
    """Copy what the workflow needs (not results/, .venv or .git) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / part)
    return dest


def snakemake(workdir: Path, *args: str, check: bool = True, key: str | None = "test-key") -> subprocess.CompletedProcess:
    """Run ``snakemake`` in ``workdir`` with a fixed pseudonymisation key (``key=None``: without
    SOCIAL_LICENCE_KEY, so the key file ``.pseudonym_key`` is read, or created)."""
    env = {k: v for k, v in os.environ.items() if k != "SOCIAL_LICENCE_KEY"}
    if key is not None:
        env["SOCIAL_LICENCE_KEY"] = key
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--cores", "2", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def result_files(workdir: Path) -> dict[str, bytes]:
    """Every file under results/ (logs aside), by relative path, with its bytes."""
    out = {}
    for path in sorted((workdir / "results").rglob("*")):
        if path.is_file() and "logs" not in path.relative_to(workdir / "results").parts:
            out[path.relative_to(workdir).as_posix()] = path.read_bytes()
    return out
