"""Privacy at ingest: keyed pseudonyms for respondent IDs, and checks that no identifier leaks.

This survey asks parents whether government may link records about their families; the pipeline
practises what it asks of government. Direct identifiers declared in the instrument are never
read (see :mod:`social_licence.ingest`); the respondent ID is replaced by a keyed pseudonym
(HMAC-SHA256, so nobody without the key can recompute it from a known ID, unlike a plain hash);
the key comes from an environment variable or a git-ignored local file and is never written
under ``results/``. Hand-written on purpose: the standard library's ``hmac`` is the whole of it.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..errors import ConfigError, DisclosureError, InputError
from ..survey.instrument import Instrument
from ..survey.survey import Survey

__all__ = [
    "KEY_ENV",
    "KEY_FILE",
    "load_key",
    "pseudonymise",
    "pseudonymise_survey",
    "assert_no_identifiers",
]

KEY_ENV = "SOCIAL_LICENCE_KEY"
KEY_FILE = ".pseudonym_key"
#: Hex characters kept from the HMAC: 16 (64 bits) makes a collision among a million IDs about
#: a 1 in 30 million chance, and a collision is checked for and refused anyway.
PSEUDONYM_LENGTH = 16
_log = logging.getLogger("social_licence.privacy")


def load_key(
    env: str = KEY_ENV, path: str | Path = KEY_FILE, *, log: list[str] | None = None
) -> bytes:
    """The pseudonymisation key: the environment variable ``env`` first, else the file ``path``.

    When neither exists, a random 256-bit key is created in ``path`` (readable by its owner
    only) and the fact, never the key, is logged: keep that file to get the same pseudonyms on
    the next run, and keep it out of version control (``.gitignore`` lists it). The key file may
    not live under a ``results`` folder, which is shared.
    """
    value = os.environ.get(env)
    if value is not None:
        if not value.strip():
            raise ConfigError(f"the environment variable {env} is set but empty")
        _note(log, f"pseudonymisation key taken from the environment variable {env}")
        return value.strip().encode("utf-8")
    path = Path(path)
    if "results" in path.resolve().parts:
        raise ConfigError(
            f"the pseudonymisation key file {path} may not be under results/, which is shared"
        )
    if path.exists():
        text = path.read_text(encoding="utf-8").strip()
        if not text:
            raise ConfigError(f"the pseudonymisation key file {path} is empty")
        _note(log, f"pseudonymisation key read from {path}")
        return text.encode("utf-8")
    text = secrets.token_hex(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    _note(
        log,
        f"no pseudonymisation key in {env} or {path}: created a new random key in {path} "
        "(keep it private; pseudonyms change if it is lost)",
    )
    return text.encode("utf-8")


def _note(log: list[str] | None, line: str) -> None:
    _log.info(line)
    if log is not None:
        log.append(line)


def pseudonymise(ids: Iterable[object], key: bytes, *, length: int = PSEUDONYM_LENGTH) -> pd.Series:
    """Keyed pseudonyms: the first ``length`` hex digits of HMAC-SHA256(key, id as text).

    IDs are compared as text with surrounding spaces removed, so ``"00123"`` and ``"123"`` stay
    distinct and ``"123 "`` equals ``"123"``. Returns a Series aligned with ``ids`` (its index
    when ``ids`` is a Series). Two different IDs meeting the same pseudonym is an error.
    """
    if not isinstance(key, bytes) or not key:
        raise ConfigError("the pseudonymisation key must be non-empty bytes")
    if not 8 <= length <= 64:
        raise ConfigError(f"pseudonym length must be 8 to 64 hex digits, not {length}")
    index = ids.index if isinstance(ids, pd.Series) else None
    texts = [
        str(v).strip() for v in (ids.tolist() if isinstance(ids, (pd.Series, pd.Index)) else ids)
    ]
    out = [hmac.digest(key, t.encode("utf-8"), "sha256").hex()[:length] for t in texts]
    seen: dict[str, str] = {}
    for t, p in zip(texts, out, strict=True):
        if seen.setdefault(p, t) != t:
            raise InputError(
                f"two respondent IDs share a pseudonym at length {length}; use a longer one"
            )
    return pd.Series(out, index=index, dtype="str", name="respondent")


def pseudonymise_survey(survey: Survey, key: bytes, *, length: int = PSEUDONYM_LENGTH) -> Survey:
    """A copy of ``survey`` whose index holds pseudonyms instead of the raw respondent IDs."""
    if survey.meta.get("index") != "raw_id":
        raise InputError(
            f"the survey index is {survey.meta.get('index')!r}, not raw respondent IDs: "
            "nothing to pseudonymise",
            file=survey.file,
        )
    pseudo = pseudonymise(survey.data.index, key, length=length)
    data = survey.data.copy()
    data.index = pd.Index(pseudo.to_numpy(), dtype="str", name="respondent")
    meta = dict(survey.meta)
    meta["index"] = "pseudonym"
    meta["pseudonym"] = {"method": "HMAC-SHA256", "length": length}
    log = [
        *survey.log,
        f"respondent IDs replaced by keyed pseudonyms (HMAC-SHA256, {length} hex digits)",
    ]
    return Survey(data=data, meta=meta, log=log, rows=survey.rows)




def assert_no_identifiers(
    frame: pd.DataFrame,
    instrument: Instrument,
    *,
    raw_ids: Iterable[object] | None = None,
    values: Iterable[str] | None = None,
) -> None:
    """Refuse a frame that carries a direct identifier, the raw ID column, or known raw values.

    Checks column names (and the index name) against the instrument's identifiers and ID
    variable; when ``raw_ids`` is given, that none of them is in the index or in any text cell;
    when ``values`` is given (say, e-mail addresses from the export), that none appears as a
    substring of any text cell or of the index. Raises :class:`DisclosureError` naming the
    column, never the value.
    """
    names = {str(c) for c in frame.columns} | {str(n) for n in frame.index.names if n is not None}
    banned = set(instrument.identifiers) | ({instrument.id} if instrument.id else set())
    found = sorted(names & banned)
    if found:
        raise DisclosureError(
            f"the frame carries direct identifier or raw ID column(s): {', '.join(found)}"
        )
    text_columns = [c for c in frame.columns if _is_text(frame[c])]
    if raw_ids is not None:
        ids = {str(v).strip() for v in raw_ids if v is not None and str(v).strip()}
        index_text = pd.Index(frame.index.astype(str))
        if index_text.isin(ids).any():
            raise DisclosureError(
                "the frame's index holds raw respondent IDs: pseudonymise it first"
            )
        for c in text_columns:
            if frame[c].astype(object).dropna().astype(str).str.strip().isin(ids).any():
                raise DisclosureError(f"column {c} holds raw respondent IDs")
    if values is not None:
        needles = sorted(
            {str(v) for v in values if v is not None and str(v)}, key=len, reverse=True
        )
        if needles:
            pattern = re.compile("|".join(re.escape(v) for v in needles))
            cells = {"(index)": pd.Series(frame.index.astype(str), dtype=object)}
            cells.update(
                {str(c): frame[c].astype(object).dropna().astype(str) for c in text_columns}
            )
            for where, series in cells.items():
                if any(pattern.search(v) for v in series.to_numpy()):
                    raise DisclosureError(f"{where} carries an identifying value from the export")


def _is_text(series: pd.Series) -> bool:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return True
    return pd.api.types.is_string_dtype(series.dtype) or series.dtype == object

