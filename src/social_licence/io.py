"""Small file helpers shared by every stage: atomic writes and deterministic run logs.

Outputs are written to a temporary file beside the target and renamed into place, so a failure
never leaves a partial file that a later step (or a reader) could take for a result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"  # no timestamps: logs are reproducible too


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private; give it the mode an ordinary open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text (UTF-8, ``\\n`` line ends) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` only if it succeeds."""
    with atomic_path(path) as tmp:
        writer(tmp)


DIAGNOSTIC_FLOAT_FORMAT = "%.10g"


def csv_text(frame, *, float_format: str | None = DIAGNOSTIC_FLOAT_FORMAT) -> str:
    """The one CSV format: ``\n`` line ends, no index, Categoricals as their labels; floats to
    ten significant digits (diagnostics, codebook) or, with ``float_format=None``, at full
    precision (shortest round-trip: published tables)."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype.name == "category":
            out[c] = out[c].astype(object)
    return out.to_csv(index=False, lineterminator="\n", float_format=float_format)


def write_csv(frame, path: str | Path, *, float_format: str | None = DIAGNOSTIC_FLOAT_FORMAT) -> None:
    """Write :func:`csv_text` atomically: same frame, same bytes."""
    atomic_write_text(path, csv_text(frame, float_format=float_format))


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in chunks (hashlib releases the GIL on large blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def configure_logging(path: str | Path | None) -> logging.Logger:
    """Send the library's log records (and warnings) to a rule's log file, without timestamps."""
    logger = logging.getLogger("social_licence")
    logger.setLevel(logging.INFO)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger.addHandler(handler)
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.handlers = [handler]
    return logger
