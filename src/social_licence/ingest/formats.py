"""Read a survey export into a :class:`Survey`: labels as Categoricals, missing values with reasons.

Long (~1,600 lines) on purpose: every format reader (SPSS, Stata, CSV, Qualtrics, Parquet) feeds
the same conversion plan, and the conversion to the instrument's codes shares the value helpers
with the readers; the private plan and raw-column types would otherwise cross module lines.

Real exports are messy: SPSS from panel companies, Stata from archives, CSV with three header rows
from Qualtrics or with labels and numbers mixed in one column, "Don't know" hidden as 8, 98 or
9999. :func:`read_survey` turns any of them into one analysis frame (the convention of
:mod:`social_licence.missing`): every labelled variable is a pandas Categorical of its labels
(ordered for scales, in code order), NaN where missing, and ``v__reason`` says why (``dont_know``,
``refused``, ``not_asked``, ``by_design``, ``system``), so a "Don't know" can never be averaged as
a number, and a cell never asked in a split ballot never counts as non-response.

With an instrument, the instrument is the contract:

* only the instrument's variables are kept; other export columns are dropped and named in the
  log, and direct identifiers are never read at all (SPSS, Stata and Parquet columns are
  skipped by the reader; a CSV line is parsed whole and the cells discarded); the respondent ID
  becomes the index (raw here, pseudonymised by :func:`social_licence.cleaning.clean` right
  after withdrawals);
* every value must be a declared code (substantive or missing), or a label of one, or blank;
  anything else is an :class:`~social_licence.errors.InputError` naming file, variable, value,
  count and example rows (1-based data rows, header lines not counted);
* **missing codes: the instrument wins where it speaks.** A value the instrument declares
  substantive stays substantive even if the file marks it user-missing; a value the instrument
  declares missing gets the instrument's reason. Where the instrument is silent, the file's own
  missing declarations (SPSS user-missing values and ranges, Stata ``.a``-``.z``) still make a
  value missing, with the reason read from the file's value label (``system`` when unlabelled).
  Every such use of the file's declarations is written to the log;
* split ballot: a grid cell the respondent's ballot form did not ask (parsed from the ballot
  labels, e.g. ``early_help + planning``) is ``by_design`` when blank or coded so; an answer
  there is an error.

Without an instrument the file's own metadata is used (labels, user-missing, measure level);
value labels whose text says "Don't know", "Refused", "Not applicable", ... make that code
missing with the matching reason even where the file forgot to declare it (BES stores "Don't
know" as 9999), and each such decision is logged. Nothing is guessed silently. A CSV carries no
types, so without an instrument a column of numbers (after any missing-label text) is numeric;
a column mixing numbers and labels, or with at most 100 distinct texts each used twice on
average, is a Categorical; anything else is text.

The format comes from the extension (or ``format=``) and must agree with the file's first bytes,
so a misnamed or damaged file fails at once. Text encoding: SPSS and Stata files declare theirs
(``encoding=`` overrides it for files that lie); a CSV is read as UTF-8 and, failing that, as
windows-1252, which is logged.

Hand-written on top of pyreadstat (which reads the files and their metadata faithfully): no
library maps an export onto a questionnaire's codes and keeps the reason a value is missing.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..io import sha256_file
from ..survey.instrument import MISSING_REASONS, Instrument, Variable
from ..survey.missing import REASON_DTYPE, reason_column
from ..survey.survey import Survey
from .interim import META_KEY, read_interim

__all__ = ["Survey", "read_survey", "reason_from_label", "FORMATS"]

FORMATS = ("sav", "zsav", "por", "dta", "csv", "qualtrics", "parquet")
_EXTENSIONS = {
    ".sav": "sav",
    ".zsav": "zsav",
    ".por": "por",
    ".dta": "dta",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_FAMILY = {
    "sav": "sav",
    "zsav": "sav",
    "por": "por",
    "dta": "dta",
    "csv": "csv",
    "qualtrics": "csv",
    "parquet": "parquet",
}
_FORMAT_NAMES = {
    "sav": "SPSS .sav/.zsav",
    "por": "SPSS portable .por",
    "dta": "Stata .dta",
    "csv": "CSV text",
    "parquet": "Parquet",
}

#: Text that stands for "no value" in a CSV cell (R, SPSS and spreadsheet spellings).
NA_TOKENS = frozenset({"", "na", "n/a", "#n/a", "nan", "null", "#null!", "."})
#: Columns of a Qualtrics export that identify a person; dropped when no instrument says more.
QUALTRICS_IDENTIFIERS = (
    "IPAddress",
    "RecipientLastName",
    "RecipientFirstName",
    "RecipientEmail",
    "LocationLatitude",
    "LocationLongitude",
)
_REASON_INDEX = {r: i for i, r in enumerate(MISSING_REASONS)}
_SYSTEM = _REASON_INDEX["system"]

# Label text -> reason; the earliest match in the text wins ("Don't know/Refused" is dont_know).
_REASON_PATTERNS = [
    (
        "dont_know",
        r"\bdon'?t know\b|\bdo not know\b|\bdk\b"
        r"|\bcan'?t (?:say|choose)\b|\bcannot (?:say|choose)\b",
    ),
    ("refused", r"\brefus|\bprefer not\b|\brather not\b|\bdeclined? to\b"),
    ("by_design", r"\bby design\b|\bsplit ballot\b|\bnot in (?:this )?(?:ballot|version|form)\b"),
    (
        "not_asked",
        r"\bnot applicable\b|\binapplicable\b|\bnot asked\b|\bskipped\b|\brouted\b|^n/?a$",
    ),
    ("system", r"\bno answer\b|\bnot answered\b|\bsystem missing\b|^missing$|\bsysmis\b"),
]
_REASON_RE = [(reason, re.compile(p)) for reason, p in _REASON_PATTERNS]
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_CHAR_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u02bc": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
    }
)


# --------------------------------------------------------------------------------------------
# Helpers on values and labels
# --------------------------------------------------------------------------------------------
def _fold(text: str) -> str:
    """Normalise label text for matching: NFKC, casefold, straight quotes, single spaces."""
    text = unicodedata.normalize("NFKC", str(text)).translate(_CHAR_FOLD).casefold()
    return " ".join(text.split())


def reason_from_label(label: str | None) -> str | None:
    """The missing reason a value label's text stands for, or None for a substantive label.

    "Don't know", "Can't choose" -> ``dont_know``; "Refused", "Prefer not to say" -> ``refused``;
    "Not applicable", "Skipped" -> ``not_asked``; "Not in this ballot" -> ``by_design``;
    "No answer", "Missing" -> ``system``. When a label names two reasons the first one wins.
    """
    if label is None:
        return None
    return first_reason(_fold(label), _REASON_RE)


def first_reason(text: str, patterns: Sequence[tuple[str, re.Pattern]]) -> str | None:
    """The reason whose pattern matches earliest in ``text`` (on a tie, the first listed)."""
    best: tuple[int, str] | None = None
    for reason, pattern in patterns:
        m = pattern.search(text)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), reason)
    return best[1] if best else None


def _code(value: Any) -> Any:
    """A code as JSON shows it: int when whole, else float; strings (Stata ``.a``) unchanged."""
    if isinstance(value, str):
        return value
    f = float(value)
    return int(f) if f.is_integer() else f


def _show(value: Any) -> Any:
    """A value for a message: whole floats as ints, text as it is."""
    if (
        isinstance(value, (float, np.floating))
        and math.isfinite(value)
        and float(value).is_integer()
    ):
        return int(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_letter_missing(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 1 and "a" <= value <= "z"


# --------------------------------------------------------------------------------------------
# Raw columns as read from any format
# --------------------------------------------------------------------------------------------
@dataclass
class _Raw:
    """One export column before interpretation."""

    name: str
    values: np.ndarray  # float64 (numeric), object of str/None (text), or anything (date)
    kind: str  # numeric | text | date | category
    label: str | None = None
    value_labels: dict[Any, str] = field(default_factory=dict)
    missing_values: list[Any] = field(default_factory=list)  # discrete user-missing codes
    missing_ranges: list[tuple[float, float]] = field(default_factory=list)
    letters: np.ndarray | None = None  # Stata extended missing letter per row (object), or None
    measure: str | None = None
    format: str | None = None
    categories: list[str] | None = None  # a Parquet Categorical's categories, in order
    ordered: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Read:
    columns: list[_Raw]
    n_rows: int
    encoding: str | None
    info: dict[str, Any]
    log: list[str]


class _Plan:
    """Which export columns to read and under which name (rename applied)."""

    def __init__(
        self,
        names: Sequence[str],
        file: str,
        rename: Mapping[str, str],
        instrument: Instrument | None,
        log: list[str],
        fmt: str,
    ):
        _check_duplicate_names(names, file, "in the export")
        unknown = [k for k in rename if k not in names]
        if unknown:
            log.append(f"rename: the export has no column {', '.join(unknown)} (mapping not used)")
        renamed = [rename.get(n, n) for n in names]
        _check_duplicate_names(renamed, file, "after renaming")
        self.target = dict(zip(names, renamed, strict=True))
        applied = [f"{k} -> {v}" for k, v in rename.items() if k in names and k != v]
        if applied:
            log.append(f"renamed columns: {', '.join(applied)}")
        if instrument is None:
            drop = [n for n in names if fmt == "qualtrics" and n in QUALTRICS_IDENTIFIERS]
            if drop:
                log.append(f"dropped Qualtrics identifying columns (never read): {', '.join(drop)}")
            self.read = [n for n in names if n not in drop]
            return
        wanted = set(instrument.variables) - set(instrument.identifiers)
        identifiers = [n for n in names if self.target[n] in instrument.identifiers]
        unknown_cols = [n for n in names if self.target[n] not in wanted and n not in identifiers]
        self.read = [n for n in names if self.target[n] in wanted]
        if identifiers:
            log.append(f"dropped direct identifiers (never read): {', '.join(identifiers)}")
        if unknown_cols:
            log.append(
                f"dropped {len(unknown_cols)} column(s) the instrument does not know (never read): "
                f"{', '.join(unknown_cols)}"
            )
        present = {self.target[n] for n in self.read}
        absent = [v for v in wanted if v not in present]
        if absent:
            hint = (
                " (map renamed export columns with rename: {export name: instrument name})"
                if unknown_cols
                else ""
            )
            raise InputError(
                f"the export has no column for {len(absent)} instrument variable(s){hint}",
                file=file,
                variable=", ".join(absent),
            )


def _check_duplicate_names(names: Sequence[str], file: str, where: str) -> None:
    seen: dict[str, list[int]] = {}
    for i, n in enumerate(names, start=1):
        seen.setdefault(n, []).append(i)
    dup = {n: pos for n, pos in seen.items() if len(pos) > 1}
    if dup:
        name, pos = next(iter(dup.items()))
        others = f" (also {', '.join(list(dup)[1:])})" if len(dup) > 1 else ""
        raise InputError(
            f"duplicate column name {where}: {name!r} is column {', '.join(map(str, pos))}{others}",
            file=file,
            variable=name,
        )


# --------------------------------------------------------------------------------------------
# Format detection
# --------------------------------------------------------------------------------------------
def _sniff(head: bytes) -> str | None:
    """The format a file's first bytes show, or None when they match none we read."""
    if head.startswith((b"$FL2", b"$FL3")):
        return "sav"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"<stata_dta>"):
        return "dta"
    if len(head) > 4 and 102 <= head[0] <= 119 and head[1] in (1, 2) and head[2] == 1:
        return "dta"
    if b"SPSSPORT" in head[:1024]:
        return "por"
    if head.startswith(b"PK\x03\x04") or b"\x00" in head[:8192]:
        return None
    return "csv"


def _detect(path: Path, fmt: str | None) -> str:
    file = str(path)
    if not path.exists():
        raise InputError("the file does not exist", file=file)
    if path.is_dir():
        raise InputError("expected a file, found a folder", file=file)
    size = path.stat().st_size
    if size == 0:
        raise InputError("the file is empty (0 bytes)", file=file)
    with path.open("rb") as handle:
        head = handle.read(8192)
    seen = _sniff(head)
    if fmt in (None, "auto"):
        ext = path.suffix.lower()
        if ext not in _EXTENSIONS:
            raise InputError(
                f"unknown file extension {ext or '(none)'!r}; expected one of "
                f"{', '.join(sorted(_EXTENSIONS))}, or pass format= ({', '.join(FORMATS)})",
                file=file,
            )
        fmt = _EXTENSIONS[ext]
    elif fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}", file=file)
    family = _FAMILY[fmt]
    if seen != family:
        what = (
            _FORMAT_NAMES.get(seen, "not a format we read")
            if seen
            else "binary data of no format we read"
        )
        raise InputError(
            f"the file's content does not match its format: expected {_FORMAT_NAMES[family]}, "
            f"but the content looks like {what} (wrong extension, or a damaged file?)",
            file=file,
        )
    return fmt


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------
def _readstat_error(exc: Exception, file: str, encoding: str | None) -> InputError:
    text = str(exc)
    if "encoding" in text.lower():
        hint = (
            " the labels are not in the file's declared encoding;"
            " pass encoding= (e.g. 'windows-1252')"
        )
        if encoding:
            hint = f" (tried encoding {encoding!r})"
        return InputError(f"cannot decode the file's text:{hint}: {text}", file=file)
    return InputError(f"cannot read the file (truncated or damaged?): {text}", file=file)


def _read_readstat(
    path: Path, fmt: str, encoding: str | None, plan_for: Callable[[Sequence[str]], _Plan]
) -> tuple[_Read, _Plan]:
    import pyreadstat  # heavy (C extension): only for SPSS and Stata files

    file = str(path)
    reader = {
        "sav": pyreadstat.read_sav,
        "zsav": pyreadstat.read_sav,
        "por": pyreadstat.read_por,
        "dta": pyreadstat.read_dta,
    }[fmt]
    kwargs: dict[str, Any] = {"dates_as_pandas_datetime": True}
    if fmt != "por":
        kwargs["user_missing"] = True
        if encoding:
            kwargs["encoding"] = encoding
    elif encoding:
        raise InputError(
            "SPSS portable files carry their own character table; encoding= does not apply",
            file=file,
        )
    try:
        _, head = reader(
            file, metadataonly=True, **({"encoding": encoding} if encoding and fmt != "por" else {})
        )
        plan = plan_for(list(head.column_names))
        if not plan.read:
            raise InputError("the export has no columns to read", file=file)
        every = len(plan.read) == len(head.column_names)
        frame, meta = reader(file, usecols=None if every else plan.read, **kwargs)
    except InputError:
        raise
    except Exception as exc:  # pyreadstat's ReadstatError / PyreadstatError carry the reason
        raise _readstat_error(exc, file, encoding) from None
    labels = meta.column_names_to_labels or {}
    value_labels = meta.variable_value_labels or {}
    ranges = meta.missing_ranges or {}
    letters_declared = meta.missing_user_values or {}
    measures = meta.variable_measure or {}
    formats = meta.original_variable_types or {}
    rs_types = meta.readstat_variable_types or {}
    columns: list[_Raw] = []
    for name in frame.columns:
        series = frame[name]
        col = _Raw(
            name=name,
            values=np.empty(0),
            kind="numeric",
            label=labels.get(name) or None,
            measure=measures.get(name),
            format=formats.get(name),
        )
        vl = value_labels.get(name) or {}
        if rs_types.get(name) == "string":
            col.kind = "text"
            col.values = _text_values(series)
            col.value_labels = {str(k): str(v) for k, v in vl.items()}
            for spec in ranges.get(name, []):
                if spec["lo"] == spec["hi"]:
                    col.missing_values.append(str(spec["lo"]))
        elif pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
            series.dtype
        ):
            col.values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        elif series.dtype == object and fmt == "dta" and _has_letters(series):
            obj = series.to_numpy(dtype=object)
            is_letter = np.fromiter(
                (_is_letter_missing(v) for v in obj), dtype=bool, count=len(obj)
            )
            numbers = np.where(is_letter, np.nan, obj)
            col.values = pd.to_numeric(pd.Series(numbers, dtype=object), errors="coerce").to_numpy(
                dtype=np.float64
            )
            col.letters = np.where(is_letter, obj, None)
        else:
            col.kind = "date"
            col.values = series.to_numpy()
            if col.values.dtype == object:  # times of day: None, not NaN, where missing
                col.values = np.array([None if pd.isna(v) else v for v in col.values], dtype=object)
        if col.kind == "numeric":
            for k, v in vl.items():
                key = "." + k if isinstance(k, str) else float(k)
                col.value_labels[key] = str(v)
            for spec in ranges.get(name, []):
                lo, hi = float(spec["lo"]), float(spec["hi"])
                if lo == hi:
                    col.missing_values.append(lo)
                else:
                    col.missing_ranges.append((lo, hi))
            for letter in letters_declared.get(name, []):
                col.missing_values.append("." + str(letter))
        columns.append(col)
    info: dict[str, Any] = {}
    if getattr(meta, "file_label", None):
        info["file_label"] = meta.file_label
    if getattr(meta, "notes", None):
        info["notes"] = list(meta.notes)
    mr = getattr(meta, "mr_sets", None) or {}
    kept = set(plan.read)
    sets = {
        k: {
            "label": v.get("label") or "",
            "type": "dichotomy" if v.get("is_dichotomy") else "category",
            "counted_value": _code(v["counted_value"])
            if v.get("counted_value") is not None
            else None,
            "variables": [plan.target[x] for x in v.get("variable_list", []) if x in kept],
        }
        for k, v in mr.items()
    }
    sets = {k: v for k, v in sets.items() if v["variables"]}
    if sets:
        info["mr_sets"] = sets
    n_rows = int(meta.number_rows) if meta.number_rows is not None else len(frame)
    return _Read(columns, n_rows, getattr(meta, "file_encoding", None), info, []), plan


def _has_letters(series: pd.Series) -> bool:
    return any(_is_letter_missing(v) for v in series.to_numpy(dtype=object))


def _text_values(series: pd.Series) -> np.ndarray:
    """Text as an object array of stripped str, None where missing or blank."""
    out = np.empty(len(series), dtype=object)
    for i, v in enumerate(series.to_numpy(dtype=object)):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out[i] = None
        else:
            text = str(v).strip()
            out[i] = text or None
    return out


def _decode(path: Path, encoding: str | None, log: list[str]) -> tuple[str, str]:
    raw = path.read_bytes()
    file = str(path)
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputError(f"cannot decode the file as {encoding}: {exc}", file=file) from None
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise InputError(
                "the file is neither UTF-8 nor windows-1252 "
                f"(first bad byte on line {line}); pass encoding=",
                file=file,
            ) from None
        log.append(
            f"the file is not UTF-8 (first non-UTF-8 byte on line {line}): read as windows-1252"
        )
        return text, "windows-1252"


def _read_csv(
    path: Path, fmt: str, encoding: str | None, plan_for: Callable[[Sequence[str]], _Plan]
) -> tuple[_Read, _Plan]:
    file = str(path)
    log: list[str] = []
    text, used = _decode(path, encoding, log)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if path.suffix.lower() == ".tsv" else max(",;\t|", key=first_line.count)
    try:
        records = [
            r
            for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
            if r
        ]
    except csv.Error as exc:
        raise InputError(
            f"malformed CSV (unbalanced quotes? truncated?): {exc}", file=file
        ) from None
    if not records:
        raise InputError("the file has no header row", file=file)
    header = [h.strip() for h in records[0]]
    header_rows = 1
    info: dict[str, Any] = {}
    question_text: list[str] | None = None
    import_ids: list[str] | None = None
    looks_qualtrics = len(records) >= 3 and any(
        c.strip().startswith('{"ImportId"') for c in records[2]
    )
    if fmt == "qualtrics" or looks_qualtrics:
        if len(records) < 3:
            raise InputError(
                "a Qualtrics export needs three header rows; the file has fewer", file=file
            )
        question_text, import_ids = records[1], records[2]
        header_rows = 3
        fmt = "qualtrics"
        log.append("Qualtrics export: three header rows (names, question text, import IDs)")
    info["header_rows"] = header_rows
    data = records[header_rows:]
    width = len(header)
    short = [i + 1 for i, r in enumerate(data) if len(r) != width]
    if short:
        r0 = data[short[0] - 1]
        raise InputError(
            f"{len(short)} data row(s) have a different number of fields than the header "
            f"({width}); "
            f"first has {len(r0)} (truncated or damaged file?)",
            file=file,
            rows=short,
        )
    if not data:
        raise InputError("the file has a header but no data rows", file=file)
    plan = plan_for(header)
    keep = set(plan.read)
    columns: list[_Raw] = []
    for j, name in enumerate(header):
        if name not in keep:
            continue
        values = np.array([_clean_cell(r[j]) for r in data], dtype=object)
        col = _Raw(name=name, values=values, kind="text")
        if question_text is not None:
            col.label = question_text[j].strip() or None
            iid = import_ids[j].strip() if import_ids is not None else ""
            if iid:
                col.extra["import_id"] = iid
        columns.append(col)
    info["format"] = fmt
    return _Read(columns, len(data), used, info, log), plan


def _clean_cell(cell: str) -> str | None:
    cell = cell.strip()
    return None if cell.casefold() in NA_TOKENS else cell


def _read_parquet(path: Path, plan_for: Callable[[Sequence[str]], _Plan]) -> tuple[_Read, _Plan]:
    import pyarrow.parquet as pq  # only for Parquet exports

    file = str(path)
    try:
        schema = pq.read_schema(file)
        # a named pandas index (the respondent ID, say) is a column like any other here
        names = [n for n in schema.names if not n.startswith("__index_level_")]
        plan = plan_for(names)
        frame = pq.read_table(file, columns=plan.read).to_pandas(ignore_metadata=True)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"cannot read the Parquet file (truncated or damaged?): {exc}", file=file
        ) from None
    columns: list[_Raw] = []
    for name in frame.columns:
        s = frame[name]
        if isinstance(s.dtype, pd.CategoricalDtype):
            col = _Raw(
                name=name,
                values=_text_values(s.astype(object)),
                kind="category",
                categories=[str(c) for c in s.cat.categories],
                ordered=bool(s.cat.ordered),
            )
        elif pd.api.types.is_bool_dtype(s.dtype):
            col = _Raw(
                name=name, values=s.to_numpy(dtype=np.float64, na_value=np.nan), kind="numeric"
            )
        elif pd.api.types.is_numeric_dtype(s.dtype):
            col = _Raw(
                name=name, values=s.to_numpy(dtype=np.float64, na_value=np.nan), kind="numeric"
            )
        elif pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
            col = _Raw(name=name, values=_text_values(s), kind="text")
        else:
            col = _Raw(name=name, values=s.to_numpy(), kind="date")
        columns.append(col)
    return _Read(columns, len(frame), None, {}, []), plan


# --------------------------------------------------------------------------------------------
# Interpretation
# --------------------------------------------------------------------------------------------
class _Problems:
    """Undeclared values found while converting, reported together in one error."""

    def __init__(self, file: str, rows: np.ndarray):
        self.file = file
        self.rows = rows
        self.items: list[tuple[str, list[tuple[Any, int]], list[int], str]] = []

    def add(self, variable: str, values: np.ndarray, bad: np.ndarray, allowed: str) -> None:
        idx = np.flatnonzero(bad)
        shown = pd.Series(values[idx], dtype=object).map(_show)
        counts = shown.value_counts(sort=True)
        pairs = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        self.items.append((variable, pairs, [int(r) for r in self.rows[idx]], allowed))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        variable, pairs, rows, allowed = self.items[0]
        listed = ", ".join(f"{v!r} ({c} row{'s' if c > 1 else ''})" for v, c in pairs[:8])
        more = f" and {len(pairs) - 8} other value(s)" if len(pairs) > 8 else ""
        msg = (
            f"{sum(c for _, c in pairs)} value(s) of {variable} are not declared codes: "
            f"{listed}{more}; "
            f"declared: {allowed}. Declare them in the instrument or map them with recode"
        )
        if len(self.items) > 1:
            msg += f" (also undeclared values in {', '.join(i[0] for i in self.items[1:])})"
        raise InputError(msg, file=self.file, variable=variable, value=pairs[0][0], rows=rows)


def _parse_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse an object array of str/None: floats, and a mask of the cells that are not numbers."""
    out = np.full(len(values), np.nan)
    not_number = np.zeros(len(values), dtype=bool)
    uniques, inverse = np.unique(
        np.array(["" if v is None else v for v in values], dtype=object), return_inverse=True
    )
    parsed = np.full(len(uniques), np.nan)
    bad = np.zeros(len(uniques), dtype=bool)
    for i, u in enumerate(uniques):
        if u == "":
            continue
        if _NUMBER_RE.match(u):
            parsed[i] = float(u)
        else:
            bad[i] = True
    out = parsed[inverse]
    not_number = bad[inverse]
    return out, not_number


def _apply_recode(col: _Raw, mapping: Mapping[Any, Any], log: list[str], variable: str) -> None:
    if not mapping:
        return
    changed = 0
    if col.kind == "numeric":
        src = col.values
        out = np.array(src, dtype=np.float64, copy=True)
        for k, v in mapping.items():
            try:
                key = float(k)
            except (TypeError, ValueError):
                continue
            hit = src == key
            out[hit] = float(v)
            changed += int(hit.sum())
        col.values = out
        labels = [k for k in mapping if not _NUMBER_RE.match(str(k).strip())]
        if labels:
            log.append(
                f"recode {variable}: the column holds numbers, so label keys {labels} do not apply"
            )
    else:
        folded = {_fold(str(k)): str(v) for k, v in mapping.items()}
        for k, v in mapping.items():
            if _NUMBER_RE.match(str(k).strip()):
                folded[str(_show(float(k)))] = str(v)
        out = col.values.copy()
        for i, v in enumerate(col.values):
            if v is None:
                continue
            key = str(_show(float(v))) if _NUMBER_RE.match(v) else _fold(v)
            if key in folded:
                out[i] = folded[key]
                changed += 1
        col.values = out
        col.kind = "text"
    pairs = ", ".join(f"{k} -> {v}" for k, v in mapping.items())
    log.append(f"recoded {variable} ({pairs}): {changed} value(s) changed")


def _file_missing_reason(col: _Raw, code: Any) -> str:
    """Reason of a value the file declares missing: from its label's text, else ``system``."""
    return reason_from_label(col.value_labels.get(code)) or "system"


def _encode(
    x: np.ndarray,
    codes: Sequence[float],
    cat_index: Sequence[int],
    missing: Sequence[tuple[float, str]],
    ranges: Sequence[tuple[float, float, str]] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Category index (-1 none), reason index (-1 none) and undeclared mask for numbers ``x``.

    Precedence: substantive codes, then discrete missing codes in the order given, then ranges;
    NaN is ``system`` missing. Vectorised, as a 100,000 x 300 export needs: whole-number codes
    in a short span go through a lookup table, others through ``searchsorted``.
    """
    n = len(x)
    declared = [float(c) for c in codes] + [float(c) for c, _ in missing]
    if declared and all(c.is_integer() for c in declared) and max(declared) - min(declared) < 65536:
        lo, hi = int(min(declared)), int(max(declared))
        lut_cat = np.full(hi - lo + 1, -1, dtype=np.int32)
        lut_why = np.full(hi - lo + 1, -1, dtype=np.int8)
        for c, i in zip(codes, cat_index, strict=True):
            lut_cat[int(c) - lo] = i
        for c, reason in missing:
            k = int(c) - lo
            if lut_cat[k] < 0 and lut_why[k] < 0:
                lut_why[k] = _REASON_INDEX[reason]
        with np.errstate(invalid="ignore"):
            inside = (x >= lo) & (x <= hi)
            pos = np.where(inside, x, lo).astype(np.int64)
            inside &= pos == x
        pos -= lo
        cat = np.where(inside, lut_cat[pos], -1).astype(np.int32)
        why = np.where(inside, lut_why[pos], -1).astype(np.int8)
        return cat, why, _missing_ranges(x, why, (cat < 0) & (why < 0), ranges)
    cat = np.full(n, -1, dtype=np.int32)
    why = np.full(n, -1, dtype=np.int8)
    if len(codes):
        order = np.argsort(codes, kind="stable")
        sorted_codes = np.asarray(codes, dtype=np.float64)[order]
        sorted_index = np.asarray(cat_index, dtype=np.int32)[order]
        pos = np.clip(np.searchsorted(sorted_codes, x), 0, len(sorted_codes) - 1)
        hit = sorted_codes[pos] == x
        cat[hit] = sorted_index[pos[hit]]
    else:
        hit = np.zeros(n, dtype=bool)
    free = ~hit
    for code, reason in missing:
        m = free & (x == code)
        why[m] = _REASON_INDEX[reason]
        free &= ~m
    return cat, why, _missing_ranges(x, why, free, ranges)


def _missing_ranges(x: np.ndarray, why: np.ndarray, free: np.ndarray, ranges) -> np.ndarray:
    """Mark (in ``why``) the ``free`` values inside a missing range, in order, and NaN as system
    missing; the values left that are neither a category nor missing."""
    for lo, hi, reason in ranges:
        m = free & (x >= lo) & (x <= hi)
        why[m] = _REASON_INDEX[reason]
        free &= ~m
    nan = np.isnan(x)
    why[nan] = _SYSTEM
    return free & ~nan


@functools.lru_cache(maxsize=1024)
def _dtype(labels: tuple[str, ...], ordered: bool) -> pd.CategoricalDtype:
    """One dtype object per scale: pandas validates categories once, not once per column."""
    return pd.CategoricalDtype(list(labels), ordered=ordered)


def _categorical(
    cat: np.ndarray, labels: Sequence[str], ordered: bool, index: pd.Index
) -> pd.Series:
    dtype = _dtype(tuple(labels), bool(ordered))
    return pd.Series(pd.Categorical.from_codes(cat, dtype=dtype, validate=False), index=index)


def _reasons(why: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(
        pd.Categorical.from_codes(why.astype(np.int16), dtype=REASON_DTYPE, validate=False),
        index=index,
    )


def _labels_unique(pairs: Sequence[tuple[Any, str]]) -> tuple[list[str], list[int]]:
    """Category labels for (code, label) pairs in code order; repeated labels get their code."""
    counts: dict[str, int] = {}
    for _, lab in pairs:
        counts[lab] = counts.get(lab, 0) + 1
    labels: list[str] = []
    index: list[int] = []
    for code, lab in pairs:
        text = lab if counts[lab] == 1 else f"{lab} [{_show(code)}]"
        labels.append(text)
        index.append(len(labels) - 1)
    return labels, index


def _substantive_text_map(var: Variable) -> dict[str, int]:
    out: dict[str, int] = {}
    for code, lab in var.codes.items():
        out[_fold(lab)] = code
    return out


def _convert_with_instrument(
    read: _Read,
    plan: _Plan,
    instrument: Instrument,
    file: str,
    recode: Mapping[str, Mapping[Any, Any]],
    log: list[str],
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]], np.ndarray]:
    n = read.n_rows
    rows = np.arange(1, n + 1, dtype=np.int64)
    problems = _Problems(file, rows)
    by_name = {plan.target[c.name]: c for c in read.columns}
    unknown_recode = [v for v in recode if v not in instrument.variables]
    if unknown_recode:
        raise InputError(
            f"recode names variable(s) the instrument does not know: {', '.join(unknown_recode)}",
            file=file,
        )
    # respondent ID
    id_name = instrument.id
    index: pd.Index
    if id_name is not None:
        index = _raw_ids(by_name[id_name], file, id_name, rows)
    else:
        index = pd.RangeIndex(1, n + 1, name="row")
    columns: dict[str, pd.Series] = {}
    meta_vars: dict[str, dict[str, Any]] = {}
    file_missing_used: list[str] = []
    file_overruled: list[str] = []
    label_differs: list[str] = []
    for name, var in instrument.variables.items():
        if name in instrument.identifiers or name == id_name:
            continue
        col = by_name[name]
        _apply_recode(col, recode.get(name, {}), log, name)
        vmeta: dict[str, Any] = {
            "label": var.label,
            "type": var.type,
            "ordered": bool(var.ordered),
            "source_name": col.name,
            "file_label": col.label,
            "value_labels": dict(var.codes),
            "missing": dict(var.missing),
            "missing_ranges": [],
        }
        for key in ("role", "grid", "row", "column", "scale"):
            if getattr(var, key):
                vmeta[key] = getattr(var, key)
        if col.extra:
            vmeta.update(col.extra)
        if var.is_labelled:
            series, why = _labelled_with_instrument(
                col, var, problems, vmeta, file_missing_used, file_overruled, label_differs
            )
            columns[name] = _categorical(series, var.labels, var.ordered, index)
            columns[reason_column(name)] = _reasons(why, index)
        elif var.type in ("numeric", "weight", "design"):
            values, why, is_text = _numeric_with_instrument(
                col, var, problems, file, vmeta, file_missing_used
            )
            if is_text is not None:
                columns[name] = pd.Series(is_text, index=index, dtype="str")
                vmeta["type"] = "design"
            else:
                columns[name] = pd.Series(values, index=index)
            columns[reason_column(name)] = _reasons(why, index)
            if var.type == "weight":
                _check_weight(values, why, col, name, file, rows)
        elif col.kind == "date":
            columns[name] = pd.Series(col.values, index=index)
            vmeta["type"] = "date"
        else:
            values = (
                col.values
                if col.kind in ("text", "category")
                else np.array(
                    [None if np.isnan(v) else str(_show(v)) for v in col.values], dtype=object
                )
            )
            columns[name] = pd.Series(values, index=index, dtype="str")
        meta_vars[name] = vmeta
    problems.raise_if_any()
    if file_missing_used:
        log.append(
            "made missing as the file declares (the instrument is silent on these codes): "
            + "; ".join(file_missing_used)
        )
    if file_overruled:
        log.append(
            "kept as answers although the file declares them missing (the instrument's codes win): "
            + "; ".join(file_overruled)
        )
    if label_differs:
        log.append(
            "file value labels differ from the instrument's (instrument labels used): "
            + "; ".join(label_differs)
        )
    frame = pd.DataFrame(columns, index=index)
    _apply_ballots(frame, instrument, file, rows, log)
    _check_grids(frame, instrument, file)
    _log_missing(frame, instrument, log)
    return frame, meta_vars, rows


def _raw_ids(col: _Raw, file: str, name: str, rows: np.ndarray) -> pd.Index:
    """The respondent IDs as text; never quoted in a message (rows only)."""
    if col.kind == "numeric":
        vals = col.values
        missing = np.isnan(vals)
        ids = np.array(
            [None if m else str(_show(v)) for v, m in zip(vals, missing, strict=True)], dtype=object
        )
    else:
        ids = np.array(
            [None if v is None else str(v).strip() or None for v in col.values], dtype=object
        )
        missing = np.array([v is None for v in ids], dtype=bool)
    if missing.any():
        raise InputError(
            f"{int(missing.sum())} row(s) have no respondent ID, which pseudonymisation and "
            "withdrawals need",
            file=file,
            variable=name,
            rows=rows[missing].tolist(),
        )
    return pd.Index(ids.astype(str), dtype="str", name="respondent")


def _labelled_with_instrument(
    col: _Raw,
    var: Variable,
    problems: _Problems,
    vmeta: dict[str, Any],
    file_missing_used: list[str],
    file_overruled: list[str],
    label_differs: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    codes = sorted(var.codes)
    cat_index = list(range(len(codes)))
    inst_missing = [(float(c), r) for c, r in var.missing.items()]
    allowed = ", ".join(f"{c}" for c in codes)
    if var.missing:
        allowed += "; missing " + ", ".join(f"{c} ({r})" for c, r in sorted(var.missing.items()))
    if col.kind == "numeric":
        x = col.values
        file_codes = [c for c in col.missing_values if not isinstance(c, str)]
        extra = [
            (c, _file_missing_reason(col, c))
            for c in file_codes
            if c not in var.codes and c not in var.missing
        ]
        extra_ranges = [(lo, hi, "system") for lo, hi in col.missing_ranges]
        cat, why, bad = _encode(x, codes, cat_index, inst_missing + extra, extra_ranges)
        overruled = [c for c in file_codes if c in var.codes] + [
            c for c in codes if any(lo <= c <= hi for lo, hi in col.missing_ranges)
        ]
        n_over = int(np.isin(x, overruled).sum()) if overruled else 0
        if n_over:
            shown = ", ".join(str(_show(c)) for c in sorted(set(overruled)))
            file_overruled.append(f"{var.name} code(s) {shown} ({n_over} rows)")
        used = [(c, r) for c, r in extra if (x == c).any()]
        for c, r in used:
            vmeta["missing"][_code(c)] = r
            file_missing_used.append(f"{var.name} {_show(c)} -> {r} ({int((x == c).sum())} rows)")
        for lo, hi, r in extra_ranges:
            m = (
                (x >= lo)
                & (x <= hi)
                & ~np.isin(x, codes)
                & ~np.isin(x, [c for c, _ in inst_missing])
            )
            if m.any():
                vmeta["missing_ranges"].append([_code(lo), _code(hi), r])
                file_missing_used.append(
                    f"{var.name} {_show(lo)}..{_show(hi)} -> {r} ({int(m.sum())} rows)"
                )
        if col.letters is not None:
            lmask = np.array([v is not None for v in col.letters], dtype=bool)
            for letter in sorted({v for v in col.letters if v is not None}):
                m = col.letters == letter
                r = _file_missing_reason(col, "." + letter)
                why[m] = _REASON_INDEX[r]
                vmeta["missing"]["." + letter] = r
                file_missing_used.append(f"{var.name} .{letter} -> {r} ({int(m.sum())} rows)")
            bad &= ~lmask
        differs = [
            str(c)
            for c in codes
            if float(c) in col.value_labels
            and _fold(col.value_labels[float(c)]) != _fold(var.codes[c])
        ]
        if differs:
            label_differs.append(f"{var.name} code(s) {', '.join(differs)}")
        if bad.any():
            problems.add(var.name, x, bad, allowed)
        return cat, why
    # text or category: labels, codes written as numbers, or missing-label text
    values = col.values
    uniques, inverse = np.unique(
        np.array(["" if v is None else v for v in values], dtype=object), return_inverse=True
    )
    label_map = _substantive_text_map(var)
    reason_codes = {r: c for c, r in sorted(var.missing.items(), reverse=True)}
    u_cat = np.full(len(uniques), -1, dtype=np.int32)
    u_why = np.full(len(uniques), -1, dtype=np.int8)
    u_bad = np.zeros(len(uniques), dtype=bool)
    for i, u in enumerate(uniques):
        if u == "":
            u_why[i] = _SYSTEM
            continue
        folded = _fold(u)
        if folded in label_map:
            u_cat[i] = codes.index(label_map[folded])
            continue
        if _NUMBER_RE.match(u):
            f = float(u)
            if f in var.codes:
                u_cat[i] = codes.index(int(f))
                continue
            if f in var.missing:
                u_why[i] = _REASON_INDEX[var.missing[int(f)]]
                continue
        r = reason_from_label(u)
        if r is not None and r in reason_codes:
            u_why[i] = _REASON_INDEX[r]
            continue
        u_bad[i] = True
    cat, why, bad = u_cat[inverse], u_why[inverse], u_bad[inverse]
    if bad.any():
        problems.add(
            var.name, np.asarray(values, dtype=object), bad, allowed + " (or their labels)"
        )
    return cat, why


def _numeric_with_instrument(
    col: _Raw,
    var: Variable,
    problems: _Problems,
    file: str,
    vmeta: dict[str, Any],
    file_missing_used: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Numbers of a numeric, weight or design variable; design variables may also be text."""
    if col.kind == "numeric":
        x = col.values.copy()
    elif col.kind == "date":
        raise InputError("expected numbers, found dates or times", file=file, variable=var.name)
    else:
        x, not_number = _parse_numbers(col.values)
        if not_number.any():
            if var.type == "design":
                text = np.array([None if v is None else str(v) for v in col.values], dtype=object)
                why = np.where(np.array([v is None for v in text]), _SYSTEM, -1).astype(np.int8)
                return x, why, text
            first = int(np.flatnonzero(not_number)[0])
            rows = problems.rows[not_number].tolist()
            what = "weight" if var.type == "weight" else "value"
            raise InputError(
                f"non-numeric {what} in {int(not_number.sum())} row(s) of {var.name}",
                file=file,
                variable=var.name,
                value=col.values[first],
                rows=rows,
            )
    missing = [(float(c), r) for c, r in var.missing.items()]
    extra = [
        (c, _file_missing_reason(col, c))
        for c in col.missing_values
        if not isinstance(c, str) and c not in var.missing
    ]
    ranges = [(lo, hi, "system") for lo, hi in col.missing_ranges]
    _, why, _ = _encode(x, [], [], missing + extra, ranges)
    for c, r in extra:
        k = int((x == c).sum())
        if k:
            vmeta["missing"][_code(c)] = r
            file_missing_used.append(f"{var.name} {_show(c)} -> {r} ({k} rows)")
    for lo, hi, r in ranges:
        k = int(((x >= lo) & (x <= hi)).sum())
        if k:
            vmeta["missing_ranges"].append([_code(lo), _code(hi), r])
            file_missing_used.append(f"{var.name} {_show(lo)}..{_show(hi)} -> {r} ({k} rows)")
    if col.letters is not None:
        for letter in sorted({v for v in col.letters if v is not None}):
            m = col.letters == letter
            r = _file_missing_reason(col, "." + letter)
            why[m] = _REASON_INDEX[r]
            vmeta["missing"]["." + letter] = r
    x = np.where(why >= 0, np.nan, x)
    return x, why, None


def _check_weight(
    values: np.ndarray, why: np.ndarray, col: _Raw, name: str, file: str, rows: np.ndarray
) -> None:
    missing = np.isnan(values)
    if missing.any():
        raise InputError(
            f"the weight is missing in {int(missing.sum())} row(s)",
            file=file,
            variable=name,
            value=None,
            rows=rows[missing].tolist(),
        )
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        first = values[np.flatnonzero(bad)[0]]
        raise InputError(
            f"negative or infinite weight in {int(bad.sum())} row(s)",
            file=file,
            variable=name,
            value=_show(first),
            rows=rows[bad].tolist(),
        )


def _ballot_columns(instrument: Instrument, grid_name: str) -> dict[str, set[str]]:
    """Ballot label -> grid columns asked, parsed from labels such as 'early_help + planning'."""
    grid = instrument.grids[grid_name]
    ballot = instrument[grid.ballot]
    out: dict[str, set[str]] = {}
    for code, label in ballot.codes.items():
        parts = {p.strip() for p in re.split(r"\+|,|&", label) if p.strip()}
        unknown = parts - set(grid.columns)
        if unknown or not parts:
            raise ConfigError(
                f"{instrument.source or 'instrument'}: ballot {grid.ballot} code {code} "
                f"label {label!r} must list the {grid_name} columns asked, joined by '+' "
                f"(unknown: {sorted(unknown)})"
            )
        out[label] = parts
    return out


def _apply_ballots(
    frame: pd.DataFrame, instrument: Instrument, file: str, rows: np.ndarray, log: list[str]
) -> None:
    """Cells a respondent's ballot never asked are ``by_design``; an answer there is an error."""
    for gname, grid in instrument.grids.items():
        if grid.ballot is None or not grid.columns:
            continue
        asked = _ballot_columns(instrument, gname)
        ballot = frame[grid.ballot]
        ballot_codes = ballot.cat.codes.to_numpy()
        known = ballot_codes >= 0
        n_marked = 0
        for var, _row, column in grid.cells():
            asked_by_form = np.array(
                [column in asked[label] for label in ballot.cat.categories], dtype=bool
            )
            not_asked = known & ~asked_by_form[np.where(known, ballot_codes, 0)]
            rcol = reason_column(var)
            why = frame[rcol]
            answered = frame[var].notna().to_numpy()
            contradiction = not_asked & (answered | why.isin(["dont_know", "refused"]).to_numpy())
            if contradiction.any():
                hits = contradiction & answered
                value = frame[var][hits].iloc[0] if hits.any() else why[contradiction].iloc[0]
                raise InputError(
                    f"{int(contradiction.sum())} respondent(s) have an answer in a cell their "
                    f"{grid.ballot} says was not asked",
                    file=file,
                    variable=var,
                    value=value,
                    rows=rows[contradiction].tolist(),
                )
            blank = not_asked & (why == "system").to_numpy()
            if blank.any():
                codes = why.cat.codes.to_numpy().copy()
                codes[blank] = _REASON_INDEX["by_design"]
                frame[rcol] = pd.Categorical.from_codes(codes, dtype=REASON_DTYPE)
                n_marked += int(blank.sum())
        if n_marked:
            log.append(
                f"{gname}: {n_marked} blank cell(s) not asked by the respondent's "
                f"{grid.ballot} marked by_design"
            )


def _check_grids(frame: pd.DataFrame, instrument: Instrument, file: str) -> None:
    for gname, grid in instrument.grids.items():
        if all(frame[v].isna().all() for v in grid.variables):
            raise InputError(
                f"grid {gname} has no answers at all "
                f"({len(grid.variables)} items, every cell missing): "
                "wrong columns mapped, or a broken export?",
                file=file,
                variable=gname,
            )


def _log_missing(frame: pd.DataFrame, instrument: Instrument | None, log: list[str]) -> None:
    totals: dict[str, int] = {}
    n_vars: dict[str, int] = {}
    for c, column in frame.items():
        if str(c).endswith("__reason"):
            counts = np.bincount(
                column.cat.codes.to_numpy() + 1, minlength=len(MISSING_REASONS) + 1
            )
            for reason, k in zip(MISSING_REASONS, counts[1:], strict=True):
                if k:
                    totals[reason] = totals.get(reason, 0) + int(k)
                    n_vars[reason] = n_vars.get(reason, 0) + 1
    if totals:
        parts = [
            f"{r}: {totals[r]} cell(s) in {n_vars[r]} variable(s)"
            for r in MISSING_REASONS
            if r in totals
        ]
        log.append("missing values by reason: " + "; ".join(parts))


def _convert_without_instrument(
    read: _Read, plan: _Plan, file: str, missing_labels: bool, log: list[str]
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]], np.ndarray]:
    n = read.n_rows
    rows = np.arange(1, n + 1, dtype=np.int64)
    index = pd.RangeIndex(1, n + 1, name="row")
    columns: dict[str, pd.Series] = {}
    meta_vars: dict[str, dict[str, Any]] = {}
    from_labels: list[str] = []
    for col in read.columns:
        name = plan.target[col.name]
        vmeta: dict[str, Any] = {
            "label": col.label or name,
            "type": "numeric",
            "ordered": False,
            "source_name": col.name,
            "file_label": col.label,
            "value_labels": {},
            "missing": {},
            "missing_ranges": [],
        }
        if col.measure:
            vmeta["measure"] = col.measure
        if col.format:
            vmeta["format"] = col.format
        if col.extra:
            vmeta.update(col.extra)
        if col.kind == "numeric":
            value, why = _numeric_from_file(col, name, missing_labels, vmeta, from_labels)
        elif col.kind == "category":
            cats = col.categories or []
            cat = pd.Categorical(col.values, categories=cats, ordered=col.ordered)
            value = pd.Series(cat, index=index)
            why = np.where(pd.isna(col.values), _SYSTEM, -1).astype(np.int8)
            vmeta.update(
                type="ordinal" if col.ordered else "categorical",
                ordered=col.ordered,
                value_labels={i + 1: c for i, c in enumerate(cats)},
            )
        elif col.kind == "text":
            value, why = _text_from_file(
                col,
                name,
                missing_labels,
                vmeta,
                from_labels,
                read.info.get("format") in ("csv", "qualtrics"),
            )
        else:
            value, why = col.values, None
            vmeta["type"] = "date"
        if isinstance(value, pd.Series):
            value = value.set_axis(index)
        columns[name] = value if isinstance(value, pd.Series) else pd.Series(value, index=index)
        if why is not None:
            columns[reason_column(name)] = _reasons(why, index)
        meta_vars[name] = vmeta
    used = [t for t in from_labels if not t.endswith("(0 rows)")]
    if from_labels:
        unused = len(from_labels) - len(used)
        tail = f"; and {unused} labelled code(s) not used in the data" if unused else ""
        log.append(
            "made missing because the value label says so (no instrument; pass one to decide): "
            + "; ".join(used)
            + tail
        )
    frame = pd.DataFrame(columns, index=index)
    _log_missing(frame, None, log)
    return frame, meta_vars, rows


def _numeric_from_file(
    col: _Raw, name: str, missing_labels: bool, vmeta: dict[str, Any], from_labels: list[str]
) -> tuple[Any, np.ndarray]:
    x = col.values
    labels = {k: v for k, v in col.value_labels.items() if not isinstance(k, str)}
    declared = [c for c in col.missing_values if not isinstance(c, str)]
    missing: list[tuple[float, str]] = [(c, _file_missing_reason(col, c)) for c in declared]
    ranges = [(lo, hi, "system") for lo, hi in col.missing_ranges]

    def in_ranges(c: float) -> bool:
        return any(lo <= c <= hi for lo, hi in col.missing_ranges)

    if missing_labels:
        for code, lab in sorted(labels.items()):
            r = reason_from_label(lab)
            if r is not None and code not in declared and not in_ranges(code):
                missing.append((code, r))
                k = int((x == code).sum())
                from_labels.append(f"{name} {_show(code)} {lab!r} -> {r} ({k} rows)")
    for lo, hi, _r in ranges:
        for code, lab in labels.items():
            if lo <= code <= hi:
                missing.append((code, reason_from_label(lab) or "system"))
    missing_codes = {c for c, _ in missing}
    substantive = [
        (c, lab) for c, lab in sorted(labels.items()) if c not in missing_codes and not in_ranges(c)
    ]
    _, why, _ = _encode(x, [], [], missing, ranges)
    if col.letters is not None:
        for letter in sorted({v for v in col.letters if v is not None}):
            m = col.letters == letter
            why[m] = _REASON_INDEX[_file_missing_reason(col, "." + letter)]
    valid = why < 0
    vmeta["missing"] = {_code(c): r for c, r in missing}
    for c in col.missing_values:
        if isinstance(c, str):
            vmeta["missing"][c] = _file_missing_reason(col, c)
    if col.letters is not None:
        for letter in sorted({v for v in col.letters if v is not None}):
            vmeta["missing"]["." + letter] = _file_missing_reason(col, "." + letter)
    vmeta["missing_ranges"] = [[_code(lo), _code(hi), r] for lo, hi, r in ranges]
    vmeta["value_labels"] = {
        _code(c): lab for c, lab in sorted(labels.items(), key=lambda kv: kv[0])
    }
    for c, lab in col.value_labels.items():
        if isinstance(c, str):
            vmeta["value_labels"][c] = lab
    observed = np.unique(x[valid & ~np.isnan(x)])
    sub_codes = np.array([c for c, _ in substantive], dtype=np.float64)
    if substantive and np.isin(observed, sub_codes).all():
        labs, idx = _labels_unique(substantive)
        cat, _, _ = _encode(np.where(valid, x, np.nan), list(sub_codes), idx, [])
        ordered = col.measure == "ordinal"
        vmeta["type"] = "ordinal" if ordered else "categorical"
        vmeta["ordered"] = ordered
        return _categorical(cat, labs, ordered, pd.RangeIndex(len(x))), why
    return np.where(valid, x, np.nan), why


def _text_from_file(
    col: _Raw,
    name: str,
    missing_labels: bool,
    vmeta: dict[str, Any],
    from_labels: list[str],
    infer: bool,
) -> tuple[Any, np.ndarray | None]:
    """A text column without instrument: labelled strings, numbers, label text, or free text."""
    values = col.values
    n = len(values)
    is_none = np.array([v is None for v in values], dtype=bool)
    if col.value_labels:  # SPSS string variable with value labels: codes are strings
        declared = set(col.missing_values)
        why = np.where(is_none, _SYSTEM, -1).astype(np.int8)
        for code in declared:
            why[values == code] = _REASON_INDEX[
                reason_from_label(col.value_labels.get(code)) or "system"
            ]
        valid = why < 0
        pairs = [(c, lab) for c, lab in col.value_labels.items() if c not in declared]
        observed = set(values[valid])
        vmeta["value_labels"] = dict(col.value_labels)
        vmeta["missing"] = {c: _file_missing_reason(col, c) for c in declared}
        if observed <= {c for c, _ in pairs}:
            labs, _ = _labels_unique(pairs)
            lookup = {c: i for i, (c, _) in enumerate(pairs)}
            cat = np.array(
                [lookup[v] if ok else -1 for v, ok in zip(values, valid, strict=True)],
                dtype=np.int32,
            )
            vmeta["type"] = "categorical"
            return _categorical(cat, labs, False, pd.RangeIndex(n)), why
        vmeta["type"] = "text"
        return pd.Series(np.where(valid, values, None), dtype="str"), None
    if not infer:
        vmeta["type"] = "text"
        return pd.Series(values, dtype="str"), None
    numbers, not_number = _parse_numbers(values)
    why = np.where(is_none, _SYSTEM, -1).astype(np.int8)
    text_values = sorted({v for v, t in zip(values, not_number, strict=True) if t})
    reasons = {t: reason_from_label(t) for t in text_values} if missing_labels else {}
    for t, r in reasons.items():
        if r is not None:
            m = values == t
            why[m] = _REASON_INDEX[r]
            vmeta["missing"][t] = r
            from_labels.append(f"{name} {t!r} -> {r} ({int(m.sum())} rows)")
    remaining = not_number & (why < 0)
    if not remaining.any():
        return np.where(why < 0, numbers, np.nan), why
    distinct = sorted({v for v, ok in zip(values, why < 0, strict=True) if ok and v is not None})
    mixed = bool(remaining.any()) and bool((~not_number & ~is_none).any())
    n_valid = int((why < 0).sum())
    if mixed or (len(distinct) <= 100 and len(distinct) <= max(1, n_valid // 2)):
        nums = sorted((d for d in distinct if _NUMBER_RE.match(d)), key=float)
        texts = sorted(d for d in distinct if not _NUMBER_RE.match(d))
        cats = nums + texts
        lookup = {c: i for i, c in enumerate(cats)}
        cat = np.array(
            [
                lookup[v] if ok and v is not None else -1
                for v, ok in zip(values, why < 0, strict=True)
            ],
            dtype=np.int32,
        )
        vmeta["type"] = "categorical"
        vmeta["value_labels"] = {}
        if mixed:
            vmeta["note"] = (
                "numbers and labels mixed in one column: categories are the texts as written"
            )
        return _categorical(cat, cats, False, pd.RangeIndex(n)), why
    vmeta["type"] = "text"
    return pd.Series(np.where(why < 0, values, None), dtype="str"), why


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------
def read_survey(
    path: str | Path,
    instrument: Instrument | None = None,
    *,
    rename: Mapping[str, str] | None = None,
    recode: Mapping[str, Mapping[Any, Any]] | None = None,
    format: str | None = None,
    encoding: str | None = None,
    missing_labels: bool = True,
) -> Survey:
    """Read an export: ``.sav``, ``.zsav``, ``.por``, ``.dta``, ``.csv`` (Qualtrics too), Parquet.

    ``instrument``: check and convert against it (see the module docstring); without it the
    file's own metadata is used. ``rename``: export column -> instrument variable. ``recode``:
    instrument variable -> {export code or label: instrument code}, applied before checking.
    ``format``: one of :data:`FORMATS` (default: from the extension; the content must agree).
    ``encoding``: override the file's declared (SPSS, Stata) or detected (CSV: UTF-8, else
    windows-1252, logged) text encoding. ``missing_labels``: without an instrument, treat values
    whose label says "Don't know", "Refused", ... as missing with that reason (logged).

    Returns a :class:`Survey`; writes nothing. Raises :class:`InputError` naming the file, the
    variable, the value and the rows for any export it cannot use as it is.
    """
    path = Path(path)
    file = str(path)
    fmt = _detect(path, format)
    log: list[str] = []
    rename = dict(rename or {})
    recode = {k: dict(v) for k, v in (recode or {}).items()}
    if instrument is None and recode:
        raise InputError("recode needs an instrument (its codes are the instrument's)", file=file)

    def plan_for(names: Sequence[str]) -> _Plan:
        return _Plan([str(n) for n in names], file, rename, instrument, log, fmt)

    family = _FAMILY[fmt]
    if family == "parquet" and _is_interim(path):
        survey = read_interim(path)
        survey.log.append(f"read interim file {path.name}")
        return survey
    # hashlib releases the GIL on large blocks, so the file's digest is taken while it is read
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(sha256_file, path)
        if family in ("sav", "por", "dta"):
            read, plan = _read_readstat(path, fmt, encoding, plan_for)
        elif family == "csv":
            read, plan = _read_csv(path, fmt, encoding, plan_for)
            fmt = read.info.get("format", fmt)
        else:
            read, plan = _read_parquet(path, plan_for)
        log[:0] = read.log
        if read.n_rows == 0:
            raise InputError("the export has no data rows", file=file)
        if instrument is not None:
            frame, variables, rows = _convert_with_instrument(
                read, plan, instrument, file, recode, log
            )
            index_kind = "raw_id" if instrument.id else "row"
            if instrument.id and frame.index.has_duplicates:
                log.append(
                    f"{int(frame.index.duplicated().sum())} repeated respondent ID(s) "
                    "(see the duplicates rule)"
                )
        else:
            frame, variables, rows = _convert_without_instrument(
                read, plan, file, missing_labels, log
            )
            index_kind = "row"
            log.append(
                "no instrument: variables, labels and missing codes are the file's own; "
                "identifiers cannot be recognised"
            )
        sha = digest.result()
    meta: dict[str, Any] = {
        "source": {
            "file": file,
            "name": path.name,
            "sha256": sha,
            "format": fmt,
            "encoding": read.encoding,
            "n_rows": int(read.n_rows),
            "n_columns": len(plan.target),
            **{k: v for k, v in read.info.items() if k in ("header_rows", "file_label")},
        },
        "index": index_kind,
        "variables": variables,
    }
    if "mr_sets" in read.info:
        meta["mr_sets"] = read.info["mr_sets"]
    if instrument is not None:
        meta["instrument"] = {
            "name": instrument.name,
            "source": instrument.source,
            "id": instrument.id,
        }
    log.insert(
        0,
        f"read {path.name} ({fmt}, sha256 {sha[:12]}...): {read.n_rows} rows, "
        f"{len(plan.target)} columns",
    )
    log.append(f"kept {len(variables)} variable(s)")
    return Survey(data=frame, meta=meta, log=log, rows=rows)


def _is_interim(path: Path) -> bool:
    import pyarrow.parquet as pq  # only to recognise an interim file

    try:
        md = pq.read_schema(str(path)).metadata or {}
    except Exception:
        return False
    return META_KEY in md
