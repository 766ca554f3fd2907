"""Atomic results: a run builds in a staging folder; ``results/`` changes only for a complete set.

Snakemake writes every output under the analysis's staging folder (``work/<analysis>/``), where
it expects to find them, so ``snakemake -n`` after a complete run has nothing to do. The manifest of a complete
set lists the outputs under their published names (``results/<analysis>/...``) with the checksums of the
staged files; the last rule checks every listed file against it, copies the staging folder to
a new folder beside ``results/`` and swaps the two in one step (``renameat2`` with
``RENAME_EXCHANGE`` on Linux; elsewhere two renames). A run that fails never reaches that rule,
so the previous results stay as they were, manifest included, and nothing partial is ever
published. Each analysis has its own folders, so two surveys never mix outputs.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path

from ..errors import OutputError
from ..io import sha256_file

#: Where Snakemake builds a run (the rules' outputs) and where a complete run is published.
STAGING = "work"
PUBLISHED = "results"


def _under(path: str | Path, folder: str | Path) -> tuple[str, ...] | None:
    """The parts of ``path`` below ``folder`` (a folder of one or more parts), or None."""
    parts, prefix = Path(path).parts, Path(folder).parts
    return parts[len(prefix) :] if parts[: len(prefix)] == prefix and len(parts) > len(prefix) else None


def published_name(path: str | Path, staging: str | Path = STAGING, published: str | Path = PUBLISHED) -> str:
    """The path a staged output has once published (``work/parents/tables/x.csv`` ->
    ``results/parents/tables/x.csv``)."""
    rest = _under(path, staging)
    if rest is None:
        raise OutputError(f"{path} is not under the staging folder {staging}/")
    return Path(published, *rest).as_posix()


def staged_name(path: str | Path, staging: str | Path = STAGING, published: str | Path = PUBLISHED) -> Path:
    """The staged file behind a published path (``results/parents/x`` -> ``work/parents/x``)."""
    rest = _under(path, published)
    if rest is None:
        raise OutputError(f"{path} is not under the published folder {published}/")
    return Path(staging, *rest)


def check_staged(manifest: str | Path, staging: str | Path = STAGING, published: str | Path = PUBLISHED) -> int:
    """Check every file the manifest lists (outputs in the staging folder) against its checksum;
    return how many were checked. Raises :class:`OutputError` naming the files that differ."""
    bad: list[str] = []
    lines = [ln for ln in Path(manifest).read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    for line in lines:
        digest, name = line.split("  ", 1)
        source = staged_name(name, staging, published) if _under(name, published) is not None else Path(name)
        if not source.is_file():
            bad.append(f"{source} (missing)")
        elif sha256_file(source) != digest:
            bad.append(f"{source} (changed since the manifest was written)")
    if bad:
        raise OutputError(
            f"not publishing: {len(bad)} file(s) do not match {manifest}: {', '.join(bad[:5])}; "
            "run the workflow again"
        )
    return len(lines)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def publish(
    manifest: str | Path,
    staging: str | Path = STAGING,
    published: str | Path = PUBLISHED,
) -> int:
    """Replace ``published`` by a copy of ``staging`` once every file of ``manifest`` checks out.

    The copy is made beside ``published`` (same file system) and swapped in atomically; the
    previous set is then removed. Temporary files of interrupted writes (``.name.*.tmp``) are
    not copied. Returns the number of files published.
    """
    staging, published = Path(staging), Path(published)
    check_staged(manifest, staging, published)
    fresh = published.with_name(f".{published.name}.new")
    if fresh.exists():
        shutil.rmtree(fresh)
    shutil.copytree(
        staging,
        fresh,
        copy_function=shutil.copyfile,
        ignore=shutil.ignore_patterns(".*.tmp"),
    )
    count = sum(1 for p in fresh.rglob("*") if p.is_file())
    if published.is_symlink() or published.is_file():
        published.unlink()
    published.parent.mkdir(parents=True, exist_ok=True)
    if published.exists() and _exchange(fresh, published):
        shutil.rmtree(fresh)  # now the previous set
    elif published.exists():
        old = published.with_name(f".{published.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.rename(published, old)
        os.rename(fresh, published)
        shutil.rmtree(old)
    else:
        os.rename(fresh, published)
    return count
