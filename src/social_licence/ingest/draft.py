"""Draft an analysis from an export: ``config.yaml``, ``instrument.yaml`` and ``models.yaml``.

Long (~1,350 lines) on purpose: one reading of the export's metadata drafts three files whose
lines refer to each other (a battery's scale, its items, the groups and the model on them), and
every rule below shares that reading of labels, codes and measurement levels.

A researcher's export already says most of what the instrument needs: variable and value labels,
user-missing codes and their labels, measurement levels, Stata extended missing values. This
module reads them through :func:`social_licence.ingest.read_survey` (without an instrument, so
the file's own metadata is used) and writes a first analysis that validates against
``workflow/schemas/`` and that ingest reads without error. Every decision the file does not state
outright (a battery, an ordered scale, a missing code recognised by its label, an identifier, a
proposed respondent ID or item column) is written with a ``# review:`` comment on its line, so the
researcher checks each one; nothing is decided silently.

Rules, in the order they apply:

* **identifiers** (never proposed as analysis variables; listed under ``identifiers:`` so ingest
  never reads them): names or labels saying name, email, address, postcode, phone, IP address,
  location, latitude/longitude, date of birth, national insurance/social security numbers;
  free text (text columns, labels saying comment / free text / please specify, or text categories
  used by a single row); dates and times; unique text columns other than the respondent ID;
* **missing codes**: codes the file declares missing (reason from the label), and codes whose
  label says "Don't know", "Refused", "Not applicable", ... in English, French, German, Spanish,
  Dutch or Italian (:func:`missing_reason`). In a column without value labels (CSV), codes such as
  8, 9, 98, 99 or negative codes that lie outside the run of the other answers are drafted missing
  (reason ``system``) for the researcher to name;
* **ordered scales**: ordinal measurement level; a run of 7+ consecutive codes labelled at the
  ends only (0 "Not at all" ... 10 "Completely"), or unlabelled codes 0-10; Likert wording
  (agree, acceptable, satisfied, likely, trust, "not at all" ... "a great deal");
* **batteries**: two or more items with one value-label set (codes, labels and missing codes)
  and a shared name stem (``trust_nhs``, ``trust_police``; ``Q15_1``, ``Q15_2``; two-way
  ``acc_health__planning``) or a label stem ending in punctuation ("Rating of this use: ...");
* **design**: unweighted unless ``weight`` is given (its values must be positive), whatever a
  column is called; ``strata`` and ``psu`` as given. A column named like one the analysis frame
  makes itself (``weight``) is read under another name (``weight_var``);
* **long form**: where the respondent ID repeats and one column takes a different value in each
  of a respondent's rows, the export is one row per rating and that column is proposed as the
  item (scenario) column; variables constant within respondents are respondent characteristics,
  the others rating-level.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..errors import ConfigError, InputError
from ..io import atomic_write_text
from ..survey.instrument import Grid
from ..survey.survey import Survey
from .formats import first_reason, read_survey, reason_from_label

__all__ = ["Draft", "draft_analysis", "missing_reason", "write_draft", "DRAFT_FILES"]

DRAFT_FILES = ("config.yaml", "instrument.yaml", "models.yaml")
MAX_CATEGORIES = 12  # an unlabelled integer column with at most this many values is categorical
REVIEW = "review:"
# Columns the analysis frame makes itself (the final weight, the respondent index): an export
# column of that name (body weight, say) is read under another name.
RESERVED = frozenset({"weight", "respondent", "row"})

# Missing-value labels in other languages (folded: casefold, accents removed). English is
# recognised by ingest.reason_from_label; these add French, German, Spanish, Dutch, Italian.
_OTHER_LANGUAGES = [
    (
        "dont_know",
        r"\bne (?:sait|sais) pas\b|^nsp$|\bsans opinion\b|\bweiss nicht\b|\bweiß nicht\b"
        r"|\bno (?:sabe|se|lo se)\b|^ns/?nc$|\bweet (?:niet|ik niet)\b|\bnon (?:so|sa)\b",
    ),
    (
        "refused",
        r"\brefus|\bne souhaite pas\b|\bprefere ne pas\b|\bverweiger|\bkeine angabe\b"
        r"|\bno (?:contesta|responde)\b|\bprefiero no\b|\bwil (?:ik )?niet zeggen\b"
        r"|\brifiut|\bpreferisco non\b",
    ),
    (
        "not_asked",
        r"\bsans objet\b|\bnon concerne\b|\bne s'applique pas\b|\btrifft nicht zu\b"
        r"|\bnicht zutreffend\b|\bno (?:aplica|procede)\b|\bniet van toepassing\b"
        r"|\bnon applicabile\b",
    ),
    (
        "system",
        r"\bsans reponse\b|\bmanquant|\bkeine antwort\b|\bfehlend|\bsin respuesta\b"
        r"|\bgeen antwoord\b|\bmancant",
    ),
]
_BY_DESIGN_RE = re.compile(
    r"\bsplit ballot\b|\bby design\b|\bnot in (?:this )?(?:ballot|version|form)\b"
)
_OTHER_RE = [(r, re.compile(p)) for r, p in _OTHER_LANGUAGES]

_IDENTIFIER_WORDS = (
    r"(?:e[- ]?mail|name|first ?name|last ?name|surname|full ?name|address|ip|post ?code|zip ?code"
    r"|zip|phone|mobile|telephone|latitude|longitude|location|geo ?location|birth ?date"
    r"|date of birth|dob|national insurance(?: number)?|nino|social security(?: number)?|ssn"
    r"|passport(?: number)?|nhs number)"
)
# A column *is* an identifier when its name, or its whole (short) label, names one: "email",
# "RecipientLastName", "Home postcode", "Location Latitude". A long question that merely mentions
# one ("... to use location data for research?") is not.
_IDENTIFIER_RE = re.compile(
    rf"^(?:\w+ ){{0,2}}{_IDENTIFIER_WORDS}(?: \w+){{0,2}}(?: \(.*\))?$", re.IGNORECASE
)
_FREE_TEXT_RE = re.compile(
    r"free.?text|comment|please (?:specify|describe|explain|tell)|other.{0,12}specify|_text$"
    r"|open.?ended|verbatim",
    re.IGNORECASE,
)
_ID_NAME_RE = re.compile(
    r"^(?:id|.*[_ ]id|respid|resp_?id|respondent.*|case.?id|caseid|serial|responseid|record.?id"
    r"|.*identifier)$",
    re.IGNORECASE,
)
_ATTENTION_RE = re.compile(
    r"attention|please (?:select|choose|tick|answer)|to show (?:that )?you are reading|instructed",
    re.IGNORECASE,
)
_DURATION_RE = re.compile(
    r"duration|seconds|time taken|interview length|completion time|time to complete",
    re.IGNORECASE,
)
_PARADATA_RE = re.compile(
    r"^(?:status|progress|finished|distributionchannel|userlanguage|q_?recaptcha.*|q_?relevant.*)$",
    re.IGNORECASE,
)
_LIKERT_RE = re.compile(
    r"agree|acceptable|satisf|likely|important|trust|confiden|comfortabl|support|oppose"
    r"|not at all|a great deal|a lot|a little|very|somewhat|fairly|strongly|always|never|often"
    r"|excellent|poor|good|bad|worse|better",
    re.IGNORECASE,
)
_MISSING_LOOKING = re.compile(r"^(?:9+|9*8|9*7|9*6)$")
_NAME_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text).replace("\u2019", "'")).casefold()
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.split())


def _words(name: str) -> str:
    """A column name as words: ``RecipientLastName`` -> "recipient last name", ``e_mail`` -> "e mail"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return " ".join(re.split(r"[^0-9A-Za-z]+", spaced)).strip().casefold()


def missing_reason(label: str | None) -> str | None:
    """The missing reason a value label stands for (English via ingest, and five more languages).

    "Don't know" / "Ne sait pas" / "Weiß nicht" / "No sabe" / "Weet niet" / "Non so" ->
    ``dont_know``; "Refused" / "Refus" / "Keine Angabe" / "No contesta" -> ``refused``;
    "Not applicable" / "Sans objet" / "Trifft nicht zu" / "No aplica" -> ``not_asked``.
    """
    if label is None:
        return None
    if _BY_DESIGN_RE.search(_fold(label)):
        return "by_design"  # "Not asked (split ballot)": by design, however the label starts
    english = reason_from_label(label)
    if english is not None:
        return english
    return first_reason(_fold(label), _OTHER_RE)


# --------------------------------------------------------------------------------------------
# What the draft holds
# --------------------------------------------------------------------------------------------
@dataclass
class _Var:
    """One export column as drafted."""

    source: str  # the export's column name
    name: str  # the instrument name (source, or a valid name made from it)
    label: str
    type: str  # categorical | ordinal | numeric | id | identifier | weight | design
    codes: dict[int, str] = field(default_factory=dict)
    missing: dict[int, str] = field(default_factory=dict)
    positive: list[int] = field(default_factory=list)
    role: str | None = None
    pass_codes: list[int] = field(default_factory=list)
    level: str = "respondent"  # respondent | rating (long form)
    notes: list[str] = field(default_factory=list)  # review notes, one line
    grid: str | None = None
    unlabelled: bool = False  # codes seen in a column without value labels

    @property
    def scale_key(self) -> tuple:
        return (
            tuple(sorted(self.codes.items())),
            tuple(sorted(self.missing.items())),
            self.type,
        )


@dataclass(frozen=True)
class _Grid(Grid):
    """A drafted grid: the instrument's, with the note its review comment says."""

    note: str = ""


@dataclass
class _Reading:
    """What was read from the export and decided from it, for the files' text."""

    export: Path
    survey: Survey
    variables: list[_Var]
    grids: dict[str, _Grid]
    id: str | None
    proposed_id: bool
    weight: str | None
    strata: str | None
    psu: str | None
    layout: str
    item: str | None


@dataclass
class Draft:
    """A drafted analysis: the three files' text, and what was decided (for messages and tests)."""

    config: str
    instrument: str
    models: str
    variables: dict[str, dict[str, Any]]
    grids: dict[str, dict[str, Any]]
    layout: str
    item: str | None
    id: str | None
    rename: dict[str, str]
    notes: list[str]


# --------------------------------------------------------------------------------------------
# Reading the export
# --------------------------------------------------------------------------------------------
def _int_code(value: Any) -> int | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return int(f) if np.isfinite(f) and f.is_integer() else None


def _valid_name(source: str, taken: set[str]) -> str:
    """An instrument name for an export column: the column's own name where it is a valid one."""
    if _NAME_OK.match(source) and source not in taken and source not in RESERVED:
        return source
    base = re.sub(r"[^0-9A-Za-z]+", "_", _fold(source)).strip("_") or "var"
    if base[0].isdigit():
        base = "v_" + base
    if base in RESERVED:
        base += "_var"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def _observed_codes(survey: Survey, name: str, vmeta: Mapping[str, Any]) -> list[float]:
    """Substantive values seen in the data (codes for a labelled column, numbers otherwise)."""
    series = survey.data[name]
    if isinstance(series.dtype, pd.CategoricalDtype):
        labels = {str(v): k for k, v in (vmeta.get("value_labels") or {}).items()}
        seen = series.dropna().unique()
        return sorted(float(labels[str(v)]) for v in seen if str(v) in labels)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return sorted(float(v) for v in pd.unique(series.dropna()))
    return []


def _main_run(codes: Sequence[int]) -> list[int]:
    """The longest run of consecutive codes (the lowest such run on a tie)."""
    runs: list[list[int]] = []
    for c in sorted(codes):
        if runs and c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return max(runs, key=len) if runs else []


def _answers_only(observed: Sequence[float]) -> int:
    """How many distinct values are left once codes that look missing (8, 99, -1) are set aside."""
    codes = [int(v) for v in observed]
    run = _main_run(codes)
    return sum(not _looks_missing(c, run) for c in codes)


def _looks_missing(code: int, run: Sequence[int]) -> bool:
    """An unlabelled code outside the run of answers that looks like a missing code (8, 99, -1)."""
    if not run or run[0] <= code <= run[-1]:
        return False
    if code < 0 <= run[0]:
        return True
    return code > run[-1] + 1 and bool(_MISSING_LOOKING.match(str(code)))


def _is_ordered(var: _Var, measure: str | None) -> tuple[bool, str]:
    codes = sorted(var.codes)
    if len(codes) < 3:
        return False, ""
    consecutive = codes == list(range(codes[0], codes[0] + len(codes)))
    if measure == "ordinal":
        return True, "ordinal measurement level in the file"
    numbered = sum(bool(re.match(rf"^\s*{c}\b", lab)) for c, lab in var.codes.items())
    if consecutive and len(codes) >= 7 and numbered >= len(codes) - 2 and not var.unlabelled:
        return (
            True,
            f"codes {codes[0]}-{codes[-1]} labelled at the ends only: a numbered rating scale",
        )
    if var.unlabelled and codes == list(range(11)):
        return True, "codes 0-10 without labels: a 0-10 rating scale"
    words = [lab for lab in var.codes.values() if _LIKERT_RE.search(lab)]
    if consecutive and len(words) >= 2:
        return True, "Likert wording in the value labels"
    return False, ""


def _positive(var: _Var) -> list[int]:
    codes = sorted(var.codes)
    if var.type == "ordinal":
        k = len(codes)
        return codes[k - k // 2 :] if k % 2 == 0 else codes[k // 2 + 1 :]
    yes = [c for c, lab in var.codes.items() if _fold(lab) in ("yes", "oui", "ja", "si", "sí")]
    return yes


def _describe(
    survey: Survey, id_col: str | None, weight: str | None, strata: str | None, psu: str | None
) -> list[_Var]:
    out: list[_Var] = []
    taken: set[str] = set()
    for source in survey.variables:
        vmeta = survey.meta["variables"][source]
        label = str(vmeta.get("file_label") or vmeta.get("label") or source)
        name = _valid_name(source, taken)
        taken.add(name)
        var = _Var(source=source, name=name, label=label, type="numeric")
        if name != source:
            var.notes.append(f"export column {source!r} is named {name} here (survey.rename)")
        kind = vmeta.get("type")
        series = survey.data[source]
        text = f"{source} {label}"
        design = {weight: "weight", strata: "design", psu: "design"}
        if source == id_col:
            var.type = "id"
            out.append(var)
            continue
        if source in design:
            var.type = design[source]
            var.role = "design"
            out.append(var)
            continue
        if (
            _IDENTIFIER_RE.match(_words(source))
            or _IDENTIFIER_RE.match(_fold(label))
            or _FREE_TEXT_RE.search(text)
            or _FREE_TEXT_RE.search(str(vmeta.get("import_id", "")))
        ):
            var.type = "identifier"
            var.notes.append("a direct identifier or free text: dropped at ingest, never read")
            out.append(var)
            continue
        if kind in ("text", "date"):
            var.type = "identifier"
            what = "dates and times" if kind == "date" else "free text"
            if kind == "text" and series.notna().all() and series.is_unique:
                what = "a text unique in every row (an ID or identifier)"
            var.notes.append(
                f"{what}: dropped at ingest (never read); make it a variable only if it cannot identify anyone"
            )
            out.append(var)
            continue
        value_labels = vmeta.get("value_labels") or {}
        int_labels = {c: str(v) for k, v in value_labels.items() if (c := _int_code(k)) is not None}
        letter_missing = {
            k: r
            for k, r in (vmeta.get("missing") or {}).items()
            if isinstance(k, str) and k.startswith(".")
        }
        if isinstance(series.dtype, pd.CategoricalDtype) and not int_labels:
            # text categories (CSV): codes 1..k in the order read; a category of one row is free text
            counts = series.value_counts()
            if (counts <= 1).any():
                var.type = "identifier"
                var.notes.append("text answers used by a single row: free text, dropped at ingest")
                out.append(var)
                continue
            var.type = "categorical"
            var.codes = {i: str(c) for i, c in enumerate(series.cat.categories, start=1)}
            for text_value, reason in (vmeta.get("missing") or {}).items():
                var.notes.append(
                    f"the text {text_value!r} is read as missing ({reason}) by its wording"
                )
            var.notes.append("categories are the texts in the file, coded 1.. in the order read")
        else:
            observed = _observed_codes(survey, source, vmeta)
            whole = all(float(v).is_integer() for v in observed)
            declared = {
                c: r
                for k, r in (vmeta.get("missing") or {}).items()
                if (c := _int_code(k)) is not None
            }
            if int_labels and whole:
                missing = {c: missing_reason(int_labels.get(c)) or r for c, r in declared.items()}
                for code, lab in int_labels.items():
                    reason = missing_reason(lab)
                    if reason is not None and code not in missing:
                        missing[code] = reason
                        var.notes.append(
                            f"code {code} {lab!r} made missing ({reason}) by its label"
                        )
                for code in declared:
                    if code not in int_labels:
                        var.notes.append(
                            f"code {code} is user-missing in the file without a label: reason {declared[code]}"
                        )
                substantive = {c: lab for c, lab in int_labels.items() if c not in missing}
                seen = [int(v) for v in observed if int(v) not in missing]
                unlabelled = sorted(set(seen) - set(substantive))
                if unlabelled and substantive:
                    lo, hi = min(substantive), max(substantive)
                    inside = [c for c in unlabelled if lo <= c <= hi]
                    if len(inside) == len(unlabelled):
                        # labelled end points of a numbered scale: every code between is an answer
                        for c in range(lo, hi + 1):
                            substantive.setdefault(c, str(c))
                    else:
                        for c in unlabelled:
                            substantive[c] = str(c)
                        var.notes.append(
                            f"codes {unlabelled} are in the data without a value label"
                        )
                var.codes = dict(sorted(substantive.items()))
                var.missing = dict(sorted(missing.items()))
                var.type = "categorical"
            elif (
                whole
                and observed
                and not int_labels
                and _answers_only(observed) <= MAX_CATEGORIES
                and all(abs(v) < 1000 for v in observed)
                and not _DURATION_RE.search(text)
            ):
                codes = [int(v) for v in observed]
                run = _main_run(codes)
                missing = {c: "system" for c in codes if _looks_missing(c, run)}
                var.unlabelled = True
                var.codes = {c: str(c) for c in codes if c not in missing}
                var.missing = missing
                var.type = "categorical"
                var.notes.append(
                    "no value labels in the export: codes labelled by their number; write the answer texts"
                )
                if missing:
                    var.notes.append(
                        f"codes {sorted(missing)} lie outside the answers {run[0]}-{run[-1]}: drafted missing "
                        "(system); name the reason (dont_know, refused, not_asked, by_design) or make them answers"
                    )
            else:
                var.type = "numeric"
                if declared:
                    var.notes.append(
                        f"codes {sorted(declared)} are user-missing in the file; ingest applies them from the file"
                    )
            for lo, hi, reason in vmeta.get("missing_ranges") or []:
                var.notes.append(
                    f"the file declares {lo} to {hi} missing ({reason}); ingest applies it from the file"
                )
            for letter, reason in letter_missing.items():
                var.notes.append(f"Stata extended missing {letter} read as {reason} from the file")
            if var.type == "numeric" and re.search(r"weight|wgt|wt$", text, re.IGNORECASE):
                var.notes.append(
                    "a column called like a weight is NOT used as one; pass --weight to use it"
                )
        if var.type == "categorical":
            dup = pd.Series(list(var.codes.values())).duplicated(keep=False)
            if dup.any():
                var.codes = {
                    c: (f"{lab} ({c})" if d else lab)
                    for (c, lab), d in zip(var.codes.items(), dup, strict=True)
                }
            ordered, why = _is_ordered(var, vmeta.get("measure"))
            if ordered:
                var.type = "ordinal"
                var.notes.append(f"ordered: {why}")
            if _ATTENTION_RE.search(label):
                var.role = "quality"
                quoted = re.findall(
                    r"['\"\u2018\u201c]([^'\"\u2019\u201d]+)['\"\u2019\u201d]", label
                )
                wanted = {_fold(q) for q in quoted}
                var.pass_codes = [c for c, lab in var.codes.items() if _fold(lab) in wanted]
                var.notes.append(
                    f"attention check; passing answer {var.pass_codes} read from the question text"
                    if var.pass_codes
                    else "attention check: set its passing answer with pass: [code]"
                )
            elif _PARADATA_RE.match(source):
                var.role = "paradata"
        elif var.type == "numeric" and _DURATION_RE.search(text):
            var.role = "quality"
        out.append(var)
    return out


# --------------------------------------------------------------------------------------------
# Respondent ID, long form, batteries
# --------------------------------------------------------------------------------------------
def _propose_id(survey: Survey, variables: list[_Var]) -> str | None:
    """A column named like an ID whose values are unique in every row, when exactly one is."""
    found = []
    for var in variables:
        if var.type in ("weight", "design") or not _ID_NAME_RE.match(var.source):
            continue
        col = survey.data[var.source]
        if col.notna().all() and col.is_unique:
            found.append(var.source)
    return found[0] if len(found) == 1 else None


def _item_column(survey: Survey, id_col: str, variables: list[_Var]) -> str | None:
    """The labelled column that takes a different value in each of a respondent's rows."""
    ids = survey.data[id_col].astype(str)
    best: tuple[tuple[int, int], str] | None = None
    for var in variables:
        col = survey.data[var.source]
        if var.type not in ("categorical", "ordinal") or col.isna().any():
            continue
        pairs = pd.DataFrame({"id": ids.to_numpy(), "v": col.astype(str).to_numpy()})
        if pairs.duplicated().any():
            continue
        labelled = int(any(lab != str(c) for c, lab in var.codes.items()))
        key = (labelled, len(var.codes))
        if best is None or key > best[0]:
            best = (key, var.source)
    return best[1] if best else None


def _mark_levels(survey: Survey, id_col: str, variables: list[_Var]) -> None:
    ids = survey.data[id_col].astype(str).to_numpy()
    for var in variables:
        if var.type in ("id", "identifier"):
            continue
        col = survey.data[var.source].astype(object).where(survey.data[var.source].notna(), None)
        per = pd.DataFrame({"id": ids, "v": col.astype(str).to_numpy()}).drop_duplicates()
        if per["id"].duplicated().any():
            var.level = "rating"


def _label_stem(labels: Sequence[str]) -> str:
    """The common start of the labels, ended at punctuation (':', '?', ' - ', ...), or ''."""
    prefix = os.path.commonprefix(list(labels))
    for cut in range(len(prefix), 0, -1):
        if prefix[cut - 1] in ":?-\u2013\u2014." and (
            cut == len(prefix) or prefix[cut] == " " or prefix[cut - 1] == ":"
        ):
            stem = prefix[:cut]
            return stem if len(stem.strip(" :-\u2013\u2014.")) >= 8 else ""
    return ""


def _word_cut(text: str, at_end: bool) -> str:
    """Trim a common prefix (or suffix) back to a whole-word boundary."""
    if at_end:
        return text[text.index(" ") :] if " " in text and not text.startswith(" ") else text
    return text[: text.rindex(" ") + 1] if " " in text and not text.endswith(" ") else text


def _two_way_labels(
    cells: Mapping[tuple[str, str], str], rows: Sequence[str], cols: Sequence[str]
) -> tuple[str, dict[str, str], dict[str, str]] | None:
    """Row and column labels of a two-way battery, read from its item labels, with the template.

    "... link health records for early help?" over rows and columns gives the row part (common
    to a row's items), the column part (common to a column's items) and what joins them; None
    unless every item label is exactly prefix + row part + joint + column part + suffix.
    """
    labels = list(cells.values())
    prefix = _word_cut(os.path.commonprefix(labels), at_end=False)
    suffix = os.path.commonprefix([lab[::-1] for lab in labels])[::-1]
    suffix = (
        suffix if not suffix.strip() or suffix[0] in " ?.:!" else _word_cut(suffix, at_end=True)
    )
    middle = {k: lab[len(prefix) : len(lab) - len(suffix)] for k, lab in cells.items()}
    row_part = {
        r: _word_cut(os.path.commonprefix([middle[r, c] for c in cols]), at_end=False) for r in rows
    }
    col_part = {
        c: _word_cut(os.path.commonprefix([middle[r, c][::-1] for r in rows])[::-1], at_end=True)
        for c in cols
    }
    # words every row part ends with (or every column part starts with) join the two
    tail = os.path.commonprefix([p[::-1] for p in row_part.values()])[::-1]
    tail = _word_cut(tail, at_end=True) if tail and not tail.startswith(" ") else tail
    row_part = {r: p[: len(p) - len(tail)] for r, p in row_part.items()}
    head = _word_cut(os.path.commonprefix(list(col_part.values())), at_end=False)
    col_part = {c: p[len(head) :] for c, p in col_part.items()}
    joints = set()
    for (r, c), mid in middle.items():
        if not (mid.startswith(row_part[r]) and mid.endswith(col_part[c])):
            return None
        joints.add(mid[len(row_part[r]) : len(mid) - len(col_part[c])])
    if len(joints) != 1:
        return None
    joint = joints.pop()
    # the words joining the parts belong to the template ("health records" + " for " + ...)
    rows_out = {r: row_part[r].strip() for r in rows}
    cols_out = {c: col_part[c].strip() for c in cols}
    if not all(rows_out.values()) or not all(cols_out.values()):
        return None
    lead = row_part[rows[0]][len(row_part[rows[0]].rstrip()) :]
    trail = col_part[cols[0]][: len(col_part[cols[0]]) - len(col_part[cols[0]].lstrip())]
    template = (
        _escape(prefix) + "{row}" + _escape(lead + joint + trail) + "{column}" + _escape(suffix)
    )
    return template, rows_out, cols_out


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", _fold(text))
    return "_".join(words[:4]) or "grid"


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _name_stem(name: str) -> str:
    return name.split("_", 1)[0] + "_" if "_" in name.strip("_") else ""


def _pool_unlabelled(variables: list[_Var]) -> None:
    """Unlabelled items of one name stem get the union of the codes seen in any of them.

    Without value labels the codes come from the data, so one item of a battery may lack a code
    that nobody chose; pooling keeps the battery on one scale.
    """
    stems: dict[str, list[_Var]] = {}
    for var in variables:
        if var.unlabelled and var.type in ("categorical", "ordinal") and _name_stem(var.name):
            stems.setdefault(_name_stem(var.name), []).append(var)
    for members in stems.values():
        if len(members) < 2:
            continue
        codes = sorted(set().union(*(set(v.codes) | set(v.missing) for v in members)))
        run = _main_run(codes)
        if len(run) < 2:
            continue
        missing = {c: "system" for c in codes if _looks_missing(c, run)}
        for var in members:
            var.codes = {c: str(c) for c in codes if c not in missing}
            var.missing = missing


def _batteries(variables: list[_Var]) -> dict[str, _Grid]:
    """Grids: items sharing one value-label set and a name stem (or, failing that, a label stem)."""
    _pool_unlabelled(variables)
    groups: dict[tuple, list[_Var]] = {}
    for var in variables:
        if var.type in ("categorical", "ordinal") and var.role not in (
            "quality",
            "item",
            "paradata",
        ):
            groups.setdefault(var.scale_key, []).append(var)
    grids: dict[str, _Grid] = {}
    scale_names: dict[tuple, str] = {}

    def add(
        members: list[_Var],
        name: str,
        template: str,
        rows: dict[str, str],
        label: str,
        note: str,
        columns: dict[str, str] | None = None,
        column_name: str | None = None,
    ) -> None:
        if name in grids:
            codes = sorted(members[0].codes)
            name = f"{name}_{codes[0]}_{codes[-1]}".replace("-", "m")
        base, k = name, 2
        while name in grids:
            name, k = f"{base}_{k}", k + 1
        key = members[0].scale_key
        scale = scale_names.setdefault(key, name)
        grids[name] = _Grid(
            name, label, template, scale, "item", rows, column_name, columns or {}, note=note
        )
        for v in members:
            v.grid = name

    for members in groups.values():
        if len(members) < 2:
            continue
        by_stem: dict[str, list[_Var]] = {}
        for v in members:
            stem = _name_stem(v.name)
            by_stem.setdefault(stem, []).append(v)
        rest: list[_Var] = []
        for stem, vs in by_stem.items():
            if not stem or len(vs) < 2:
                rest.extend(vs)
                continue
            tails = [v.name[len(stem) :] for v in vs]
            labels = [v.label for v in vs]
            lstem = _label_stem(labels)
            row_labels = [lab[len(lstem) :].strip() or lab for lab in labels] if lstem else labels
            parts = [t.split("__") for t in tails]
            if all(len(p) == 2 for p in parts):
                rows = list(dict.fromkeys(p[0] for p in parts))
                cols = list(dict.fromkeys(p[1] for p in parts))
                if len(rows) * len(cols) == len(vs) and len(rows) > 1 and len(cols) > 1:
                    cells = {(p[0], p[1]): v.label for p, v in zip(parts, vs, strict=True)}
                    split = _two_way_labels(cells, rows, cols)
                    if split is None:
                        template = "{row} / {column}"
                        row_labels = {r: r.replace("_", " ") for r in rows}
                        col_labels = {c: c.replace("_", " ") for c in cols}
                        how = "write the row and column labels"
                    else:
                        template, row_labels, col_labels = split
                        how = "row and column labels read from the item labels"
                    add(
                        vs,
                        stem.rstrip("_"),
                        _escape(stem) + "{row}__{column}",
                        row_labels,
                        template,
                        f"two-way battery {stem}<row>__<column>: {len(rows)} rows x {len(cols)} "
                        f"columns; {how}",
                        col_labels,
                        "column",
                    )
                    continue
            add(
                vs,
                stem.rstrip("_"),
                _escape(stem) + "{row}",
                dict(zip(tails, row_labels, strict=True)),
                _escape(lstem) + " {row}" if lstem else "{row}",
                f"battery: {len(vs)} items named {stem}... sharing one value-label set",
            )
        if len(rest) >= 2:
            lstem = _label_stem([v.label for v in rest])
            if lstem:
                add(
                    rest,
                    _slug(lstem),
                    "{row}",
                    {v.name: v.label[len(lstem) :].strip() or v.label for v in rest},
                    _escape(lstem) + " {row}",
                    f"battery: {len(rest)} items whose labels start {lstem!r} and share one value-label set",
                )
    return grids


# --------------------------------------------------------------------------------------------
# Writing YAML with review comments
# --------------------------------------------------------------------------------------------
def _y(value: Any) -> str:
    """One value in YAML flow style on one line."""
    text = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, width=1 << 30, sort_keys=False
    )
    text = text.strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    elif text.endswith("..."):
        text = text[:-3].rstrip()
    return text


def _line(indent: int, text: str, note: str | None = None) -> str:
    out = " " * indent + text
    if note:
        out += f"  # {REVIEW} {note}"
    return out


def _var_line(var: _Var) -> str:
    spec: dict[str, Any] = {"name": var.name, "label": var.label, "type": var.type}
    if var.codes:
        spec["codes"] = var.codes
        if var.missing:
            spec["missing"] = var.missing
        else:
            spec["missing"] = {}
        if var.positive:
            spec["positive"] = var.positive
    elif var.type == "numeric" and var.missing:
        pass  # the file's own declarations apply at ingest (an instrument cannot hold ranges)
    if var.role:
        spec["role"] = var.role
    if var.pass_codes:
        spec["pass"] = var.pass_codes
    notes = list(var.notes)
    if var.codes and var.positive:
        shown = ", ".join(var.codes[c] for c in var.positive)
        notes.append(f"positive (counted as agreeing/accepting): {shown}")
    if var.level == "rating" and var.type not in ("id", "identifier"):
        notes.append("varies within respondent: a rating-level variable")
    return _line(2, "- " + _y(spec), "; ".join(notes) if notes else None)


def _relative(path: Path) -> str:
    path = Path(os.path.abspath(path))
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


# --------------------------------------------------------------------------------------------
# The draft
# --------------------------------------------------------------------------------------------
def draft_analysis(
    export: str | Path,
    out: str | Path,
    *,
    id: str | None = None,
    weight: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    format: str | None = None,
    thresholds: str = "config/thresholds.yaml",
) -> Draft:
    """Read the export's metadata and draft the analysis that ``out`` will hold (writes nothing).

    ``id``, ``weight``, ``strata``, ``psu``: export columns (an unknown name is an
    :class:`InputError`). Without ``weight`` the analysis is unweighted.
    """
    export = Path(export)
    survey = read_survey(export, format=format)
    file = str(export)
    for flag, col in (("--id", id), ("--weight", weight), ("--strata", strata), ("--psu", psu)):
        if col is not None and col not in survey.variables:
            raise InputError(f"{flag}: the export has no column {col!r}", file=file, variable=col)
    if weight is not None:
        w = pd.to_numeric(survey.data[weight], errors="coerce")
        bad = np.flatnonzero(~(w > 0).to_numpy())
        if len(bad):
            raise InputError(
                f"--weight: {len(bad)} row(s) have no positive weight",
                file=file,
                variable=weight,
                value=float(w.iloc[bad[0]]),
                rows=[int(r) for r in np.asarray(survey.rows)[bad]],
            )
    notes: list[str] = []
    proposed_id = False
    if id is None:
        id = _propose_id(
            survey, [_Var(source=s, name=s, label="", type="numeric") for s in survey.variables]
        )
        proposed_id = id is not None
    variables = _describe(survey, id, weight, strata, psu)
    by_source = {v.source: v for v in variables}
    layout, item = "wide", None
    repeated = 0
    if id is not None:
        ids = survey.data[id].astype(str)
        if survey.data[id].isna().any():
            rows = np.flatnonzero(survey.data[id].isna().to_numpy())
            raise InputError(
                f"the respondent ID is blank in {len(rows)} row(s)",
                file=file,
                variable=id,
                rows=[int(r) for r in np.asarray(survey.rows)[rows]],
            )
        repeated = int(ids.duplicated().sum())
        if repeated:
            item = _item_column(survey, id, variables)
            share = ids.duplicated(keep=False).mean()
            if item is not None and share >= 0.5:
                layout = "long"
                by_source[item].role = "item"
                by_source[item].notes.append(
                    "the item (scenario) column: a different value in each of a respondent's rows"
                )
                _mark_levels(survey, id, variables)
            else:
                item = None
                notes.append(
                    f"{repeated} row(s) repeat a respondent ID with no column telling the rows apart: "
                    "a wide export with repeated submissions (the duplicates rule keeps the first)"
                )
    for var in variables:
        if var.type in ("categorical", "ordinal") and var.role is None:
            var.role = "demographic" if var.level == "respondent" else "rating"
    grids = _batteries(variables)
    for var in variables:
        if var.grid is not None:
            var.role = var.grid
        if var.codes and var.role not in ("demographic", "item", "quality", "paradata", "design"):
            var.positive = _positive(var)
    # speeders need the duration under the name the rule reads
    duration = next((v for v in variables if v.type == "numeric" and v.role == "quality"), None)
    taken = {v.name for v in variables}
    if duration is not None and duration.name != "duration_s" and "duration_s" not in taken:
        duration.name = "duration_s"
        duration.notes.append(
            f"interview duration: export column {duration.source!r} read as duration_s for the speeders rule"
        )
    rename = {v.source: v.name for v in variables if v.source != v.name}
    reading = _Reading(
        export, survey, variables, grids, id, proposed_id, weight, strata, psu, layout, item
    )
    groups = [
        v.name
        for v in variables
        if v.role == "demographic"
        and v.level == "respondent"
        and 2 <= len(v.codes) <= MAX_CATEGORIES
    ]
    out = Path(out)
    return Draft(
        config=_config_text(reading, out, rename, groups, duration, thresholds, repeated),
        instrument=_instrument_text(reading),
        models=_models_text(variables, grids, groups, layout, item, by_source, len(survey.data)),
        variables={
            v.name: {
                "source": v.source,
                "type": v.type,
                "role": v.role,
                "codes": v.codes,
                "missing": v.missing,
                "level": v.level,
                "grid": v.grid,
                "pass": v.pass_codes,
            }
            for v in variables
        },
        grids={
            g.name: {"variable": g.variable, "rows": g.rows, "columns": g.columns, "scale": g.scale}
            for g in grids.values()
        },
        layout=layout,
        item=by_source[item].name if item else None,
        id=id,
        rename=rename,
        notes=notes,
    )


def _instrument_text(r: _Reading) -> str:
    survey, export, variables, grids, id = r.survey, r.export, r.variables, r.grids, r.id
    weight, strata, psu, layout, item = r.weight, r.strata, r.psu, r.layout, r.item
    src = survey.meta["source"]
    name = src.get("file_label") or export.stem
    lines = [
        f"# Instrument drafted by `social-licence init` from {export.name} (sha256 {src['sha256'][:12]}...):",
        f"# {src['n_rows']} rows, {src['n_columns']} columns. Lines marked `# {REVIEW}` are decisions the file",
        "# does not state outright: check each one against the questionnaire, then delete the comment.",
        _line(0, f"name: {_y(str(name))}", "the survey's name, as tables and the codebook show it"),
        'version: "1.0"',
    ]
    id_name = next((v.name for v in variables if v.source == id), None)
    if id_name is None:
        lines.append(
            _line(
                0,
                "id: null",
                "no respondent ID: duplicates and withdrawals cannot be checked; pass --id COL",
            )
        )
    elif r.proposed_id:
        lines.append(
            _line(
                0,
                f"id: {id_name}",
                "proposed respondent ID (named like one, unique in every row); pass --id to choose",
            )
        )
    else:
        lines.append(
            f"id: {id_name}  # pseudonymised at ingest (keyed HMAC), never written in clear"
        )
    idents = [v.name for v in variables if v.type == "identifier"]
    lines.append(
        _line(
            0,
            f"identifiers: {_y(idents)}",
            "direct identifiers, free text and dates: dropped at ingest, never read",
        )
        if idents
        else "identifiers: []"
    )
    design = {"weight": weight, "strata": strata, "psu": psu}
    lines.append("design:")
    for key, col in design.items():
        vname = next((v.name for v in variables if v.source == col), None) if col else None
        if key == "weight" and vname is None:
            lines.append(
                _line(
                    2, "weight: null", "unweighted: pass --weight COL for a supplied final weight"
                )
            )
        else:
            lines.append(f"  {key}: {_y(vname)}")
    if layout == "long":
        lines.append(
            f"# Long form: one row per rating; {_name_of(variables, item)} is the item (scenario) column (role: item),"
        )
        lines.append("# variables that vary within a respondent are rating-level (role: rating).")
    scales: dict[str, _Var] = {}
    for g in grids.values():
        scales.setdefault(g.scale, next(v for v in variables if v.grid == g.name))
    if scales:
        lines.append("scales:")
        for sname, v in scales.items():
            lines.append(f"  {sname}:")
            why = next((n for n in v.notes if n.startswith("ordered:")), None)
            lines.append(
                _line(
                    4,
                    f"ordered: {_y(v.type == 'ordinal')}",
                    why or "not recognised as ordered: set true for a rating scale",
                )
            )
            lines.append(f"    codes: {_y(v.codes)}")
            notes = [n for n in v.notes if "missing" in n or "label" in n and "code" in n]
            lines.append(_line(4, f"missing: {_y(v.missing)}", "; ".join(notes) if notes else None))
            if v.positive:
                shown = ", ".join(v.codes[c] for c in v.positive)
                lines.append(
                    _line(
                        4, f"positive: {_y(v.positive)}", f"counted as agreeing/accepting: {shown}"
                    )
                )
    lines.append("variables:")
    for v in variables:
        if v.grid is None:
            lines.append(_var_line(v))
    if grids:
        lines.append("grids:")
        for g in grids.values():
            members = [v for v in variables if v.grid == g.name]
            level = {m.level for m in members}
            lines.append(
                _line(
                    2,
                    f"{g.name}:",
                    g.note + ("; rating-level items" if level == {"rating"} else ""),
                )
            )
            lines.append(
                _line(
                    4, f"label: {_y(g.label)}", "the question; {row} stands for each item's label"
                )
            )
            lines.append(f"    variable: {_y(g.variable)}")
            lines.append(f"    scale: {g.scale}")
            lines.append(
                _line(
                    4, f"row_name: {g.row_name}", "what the rows are (e.g. organisation, dimension)"
                )
            )
            if g.column_name:
                lines.append(
                    _line(4, f"column_name: {g.column_name}", "what the columns are (e.g. purpose)")
                )
            lines.append(_line(4, f"rows: {_y(g.rows)}", "short labels of the items"))
            if g.columns:
                lines.append(f"    columns: {_y(g.columns)}")
    return "\n".join(lines) + "\n"


def _name_of(variables: list[_Var], source: str | None) -> str:
    return next((v.name for v in variables if v.source == source), str(source))


def _config_text(r: _Reading, out, rename, groups, duration, thresholds, repeated) -> str:
    survey, export, variables, grids, id = r.survey, r.export, r.variables, r.grids, r.id
    weight, layout, item = r.weight, r.layout, r.item
    src = survey.meta["source"]
    fmt = src.get("format", "auto")
    quality = [v for v in variables if v.pass_codes]
    attention = quality[0] if quality else None
    wide_grids = sorted(
        (g for g in grids.values() if len(g.rows) * max(1, len(g.columns)) >= 6),
        key=lambda g: -len(g.rows) * max(1, len(g.columns)),
    )
    straight = wide_grids[0] if wide_grids and layout == "wide" else None
    lines = [
        f"# Analysis drafted by `social-licence init` from {export.name}. Lines marked `# {REVIEW}` need a",
        "# researcher's decision; the rest follows from the file. Checked against",
        "# workflow/schemas/config.schema.yaml before any job runs. Run with:",
        f"#   snakemake --cores all --configfile {_relative(out / 'config.yaml')}",
        "",
        "analysis:",
        _line(2, f"name: {_y(_analysis_name(export))}", "built in work/<name>/, published to results/<name>/"),
        _line(2, "population: respondents", "the respondents as a plural noun, as the brief names them (students, adults ...)"),
        _line(
            2,
            "questions: null",
            "null: every battery with positive answers and every other question with positive answers; "
            "list {grid: NAME} / {variable: NAME} entries to choose and order them",
        ),
        "",
        "survey:",
        f"  export: {_y(_relative(export))}",
        f"  format: {fmt}",
        f"  instrument: {_y(_relative(out / 'instrument.yaml'))}",
    ]
    if rename:
        lines.append(
            _line(
                2,
                f"rename: {_y(rename)}",
                "export columns whose names are not valid variable names",
            )
        )
    else:
        lines.append("  rename: {}")
    lines.append("  recode: {}")
    lines.append(_line(2, "withdrawals: null", "a CSV of respondents who withdrew consent, if any"))
    if layout == "long":
        item_name = _name_of(variables, item)
        lines.append(
            _line(2, "layout: long", f"one row per rating: the ID repeats in {repeated} row(s)")
        )
        lines.append(_line(2, f"item: {item_name}", "the column that varies within a respondent"))
    else:
        lines.append("  layout: wide # one row per respondent")
    lines.append("")
    lines.append("cleaning:")
    if id is None:
        lines.append(_line(2, "duplicates: {enabled: false}", "no respondent ID to compare"))
    elif layout == "long":
        lines.append(
            _line(
                2,
                "duplicates: {enabled: true}",
                "long form: a repeat of one respondent and item is a duplicate; IDs repeat by design",
            )
        )
    else:
        lines.append("  duplicates: {enabled: true}")
    if duration is not None:
        lines.append(
            _line(
                2,
                "speeders: {enabled: true, share_of_median: 0.3}",
                f"duration from {duration.source!r}",
            )
        )
    else:
        lines.append(
            _line(
                2,
                "speeders: {enabled: false, share_of_median: 0.3}",
                "no interview duration recognised",
            )
        )
    if straight is not None:
        k = min(10, len(straight.rows) * max(1, len(straight.columns)))
        lines.append(
            _line(
                2,
                f"straightliners: {{enabled: true, grid: {straight.name}, min_items: {k}}}",
                "the largest battery",
            )
        )
    else:
        name = next(iter(grids), "none")
        lines.append(
            _line(
                2,
                f"straightliners: {{enabled: false, grid: {name}, min_items: 10}}",
                "no battery of 6+ items in a wide export",
            )
        )
    if attention is not None:
        lines.append(
            _line(
                2,
                f"attention_check: {{enabled: true, variable: {attention.name}}}",
                f"passing answer {attention.pass_codes}",
            )
        )
    else:
        lines.append(
            _line(
                2,
                "attention_check: {enabled: false, variable: attention_check}",
                "no attention check with a passing answer recognised",
            )
        )
    lines.append("")
    lines.append("weighting:")
    if weight is None:
        lines.append(
            _line(2, "method: none", "unweighted; --weight COL uses the export's final weight")
        )
    else:
        lines.append(f"  method: supplied # the export's final weight, {weight}")
    lines.append(_line(2, "covariates: []", "variables whose weighted balance is reported, e.g. [qualification]"))
    lines.append("")
    lines.append("estimation:")
    lines.append("  variance: linearisation")
    lines.append("  lonely_psu: adjust")
    lines.append('  dk: exclude # "Don\'t know" leaves the base')
    lines.append("  ci_level: 0.95")
    lines.append(
        _line(
            2,
            f"groups: {_y(groups)}",
            "respondent characteristics for breakdowns; keep the ones that matter",
        )
    )
    lines.append("  adjust: holm")
    lines.append("")
    lines.append("models:")
    lines.append(f"  file: {_y(_relative(out / 'models.yaml'))}")
    lines.append("  run: all")
    lines.append("")
    lines.append("report:")
    lines.append(f"  thresholds: {_y(thresholds)}")
    title = src.get("file_label") or export.stem
    lines.append(_line(2, f"title: {_y(str(title))}", "the brief's title"))
    lines.append('  subtitle: ""')
    lines.append(_line(2, "headline: null", "null lets the brief choose its first key message"))
    return "\n".join(lines) + "\n"


def _analysis_name(export: Path) -> str:
    """The analysis's default name: the export's file name, in the characters a folder name takes."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", export.stem).strip("_.-")
    return name if name and name[0].isalnum() else f"analysis_{name}".rstrip("_")


#: Fewer rows than this and `init` drafts no model: a first model would not be estimable.
MIN_ROWS_FOR_A_MODEL = 50


def _models_text(variables, grids, groups, layout, item, by_source, n_rows) -> str:
    lines = [
        "# Models drafted by `social-licence init`: one to start from. Checked against",
        "# workflow/schemas/models.schema.yaml; formulas are parsed against the instrument's variables.",
        "models:",
    ]
    if n_rows < MIN_ROWS_FOR_A_MODEL:
        lines[-1] = _line(0, "models: []", f"{n_rows} rows: too few to fit a model; add one when there are more responses")
        return "\n".join(lines) + "\n"
    terms = groups[:4]
    rated = [g for g in grids.values() if any(v.positive for v in variables if v.grid == g.name)]
    if rated:
        g = max(rated, key=lambda g: len(g.rows) * max(1, len(g.columns)))
        rhs = [g.row_name] + ([g.column_name] if g.column_name else [])
        if layout == "long" and item:
            rhs.append(by_source[item].name)
        rhs += terms
        lines += [
            _line(2, f"- name: {g.name}_logit", "a first model: edit freely"),
            f"    description: {_y('Survey logistic model of a positive answer to the ' + g.name + ' items')}",
            "    data: long",
            f"    grid: {g.name}",
            "    outcome: acceptable",
            _line(
                4,
                f"formula: {_y('acceptable ~ ' + ' + '.join(rhs))}",
                "which items and groups to compare",
            ),
            "    family: binomial",
            "    dk: exclude",
        ]
        return "\n".join(lines) + "\n"
    outcome = next(
        (
            v
            for v in variables
            if v.type == "ordinal" and v.role not in ("quality", "item") and v.name not in groups
        ),
        None,
    ) or next((v for v in variables if v.type == "numeric" and v.role is None), None)
    if outcome is None:  # nothing rated or measured to model: no model rather than a placeholder
        lines[-1] = _line(0, "models: []", "no rating scale or measurement found: add a model by hand")
        return "\n".join(lines) + "\n"
    placeholder = False
    family = "ordinal" if outcome.type == "ordinal" else "gaussian"
    rhs = " + ".join(terms) or "1"
    lines += [
        _line(
            2,
            f"- name: {outcome.name}_model",
            "no rating scale or measurement found: a placeholder model, replace it"
            if placeholder
            else "a first model: edit freely",
        ),
        f"    description: {_y('Survey ' + family + ' model of ' + outcome.label)}",
        "    data: respondent",
        f"    outcome: {outcome.name}",
        _line(4, f"formula: {_y(outcome.name + ' ~ ' + rhs)}", "which groups to compare"),
        f"    family: {family}",
    ]
    return "\n".join(lines) + "\n"


def write_draft(draft: Draft, out: str | Path, *, force: bool = False) -> list[Path]:
    """Write the drafted files into ``out``; an existing file is kept unless ``force``."""
    out = Path(out)
    paths = [out / name for name in DRAFT_FILES]
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        raise ConfigError(
            f"{', '.join(map(str, existing))} already exist: not overwritten (pass --force to replace them)"
        )
    for path, text in zip(paths, (draft.config, draft.instrument, draft.models), strict=True):
        atomic_write_text(path, text)
    return paths
