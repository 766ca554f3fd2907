"""Cleaning and quality assurance: withdrawals first, then configurable QA rules, with a flow table.

The order is fixed and reported step by step (received -> excluded by each rule -> analysed):

1. **withdrawals**: respondents who withdrew consent are removed before anything else, matched on
   the raw respondent ID; then the IDs are replaced by keyed pseudonyms, so no later step (and no
   file) sees a raw ID. The log says how many were removed, never who.
2. **duplicates**: repeated respondent IDs (in a long export, one row per rating, a repeated
   respondent ID *and* item); the first (or last) occurrence is kept.
3. **speeders**: interview duration below ``share_of_median`` x the median duration of the
   respondents still in at this step (a missing duration is not evidence of speeding).
4. **straightliners**: the same answer to every item of a grid the respondent answered, counted
   only for respondents with at least ``min_items`` substantive answers in that grid
   ("Don't know" and cells not asked are not answers).
5. **attention_check**: the answer is not one of the instrument's ``pass`` codes (no answer fails
   too, unless ``missing: pass``).

In a long export (``layout="long"``) withdrawals and rules 3-5 remove whole respondents (every
rating of a respondent flagged on any rating), and the flow counts respondents beside rows.

Each rule can be switched off (``enabled: false``) or parameterised from ``config.yaml``'s
``cleaning:`` block; a disabled rule still has its row in the flow table, excluding nobody.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..survey.instrument import Instrument
from ..survey.survey import Survey
from .privacy import load_key, pseudonymise_survey
from .screening import (
    CONFLICT_ACTIONS,
    ZERO_WEIGHT_ACTIONS,
    check_action,
    check_answered,
    conflicting_rows,
    find_duplicates,
    unit_key,
    zero_weights,
)
from .withdrawals import match_withdrawals

__all__ = ["DEFAULT_RULES", "RULE_ORDER", "clean", "read_withdrawals", "resolve_rules"]

RULE_ORDER = (
    "duplicates",
    "conflicting_duplicates",
    "zero_weights",
    "speeders",
    "straightliners",
    "attention_check",
)
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "duplicates": {"enabled": True, "keep": "first"},
    "conflicting_duplicates": {"action": "error"},
    "zero_weights": {"action": "error"},
    "speeders": {"enabled": True, "variable": "duration_s", "share_of_median": 0.3},
    "straightliners": {"enabled": True, "grid": "acceptability", "min_items": 10},
    "attention_check": {
        "enabled": True,
        "variable": "attention_check",
        "pass": None,
        "missing": "fail",
    },
}
FLOW_COLUMNS = ["step", "rule", "excluded", "remaining", "detail"]
#: A long export's flow counts respondents beside rows (ratings).
LONG_FLOW_COLUMNS = ["respondents_excluded", "respondents_remaining"]
LAYOUTS = ("wide", "long")


def resolve_rules(rules: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The rules with defaults filled in; unknown rules or parameters are a :class:`ConfigError`."""
    rules = dict(rules or {})
    unknown = sorted(set(rules) - set(DEFAULT_RULES))
    if unknown:
        raise ConfigError(f"cleaning: unknown rule(s) {unknown}; expected {', '.join(RULE_ORDER)}")
    out: dict[str, dict[str, Any]] = {}
    for name in RULE_ORDER:
        given = rules.get(name)
        if given is None:
            given = {}
        if isinstance(given, bool):
            given = {"enabled": given}
        if not isinstance(given, Mapping):
            raise ConfigError(f"cleaning.{name} must be a mapping, not {given!r}")
        extra = sorted(set(given) - set(DEFAULT_RULES[name]))
        if extra:
            raise ConfigError(
                f"cleaning.{name}: unknown parameter(s) {extra}; "
                f"expected {', '.join(DEFAULT_RULES[name])}"
            )
        merged = {**DEFAULT_RULES[name], **given}
        if not isinstance(merged.get("enabled", True), bool):
            raise ConfigError(
                f"cleaning.{name}.enabled must be true or false, not {merged['enabled']!r}"
            )
        out[name] = merged
    if out["duplicates"]["keep"] not in ("first", "last"):
        raise ConfigError(
            f"cleaning.duplicates.keep must be first or last, not {out['duplicates']['keep']!r}"
        )
    check_action(
        "conflicting_duplicates", out["conflicting_duplicates"]["action"], CONFLICT_ACTIONS
    )
    check_action("zero_weights", out["zero_weights"]["action"], ZERO_WEIGHT_ACTIONS)
    share = out["speeders"]["share_of_median"]
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise ConfigError(f"cleaning.speeders.share_of_median must be in (0, 1], not {share!r}")
    k = out["straightliners"]["min_items"]
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigError(
            f"cleaning.straightliners.min_items must be a whole number of 2 or more, not {k!r}"
        )
    if out["attention_check"]["missing"] not in ("fail", "pass"):
        raise ConfigError(
            "cleaning.attention_check.missing must be fail or pass, "
            f"not {out['attention_check']['missing']!r}"
        )
    return out


def read_withdrawals(path: str | Path, id_column: str = "respondent_id") -> set[str]:
    """Raw respondent IDs listed in a withdrawals CSV (column ``id_column`` or ``respondent_id``).

    A header-only or empty file lists nobody. A missing file is an error: consent is never
    assumed because a file could not be found.
    """
    path = Path(path)
    file = str(path)
    if not path.exists():
        raise InputError("the withdrawals file does not exist", file=file)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the withdrawals file is not UTF-8 text", file=file) from None
    records = [r for r in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in r)]
    if not records:
        return set()
    header = [h.strip() for h in records[0]]
    for name in (id_column, "respondent_id"):
        if name in header:
            j = header.index(name)
            break
    else:
        raise InputError(
            f"the withdrawals file needs a column named {id_column!r}; it has {', '.join(header)}",
            file=file,
        )
    short = [i for i, r in enumerate(records[1:], start=1) if len(r) <= j]
    if short:
        raise InputError("withdrawal rows without an ID", file=file, variable=header[j], rows=short)
    return {_norm_id(r[j]) for r in records[1:] if r[j].strip()}


def _norm_id(value: object) -> str:
    """IDs compared as ingest writes them: text, spaces stripped, whole floats without '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def clean(
    survey: Survey,
    instrument: Instrument,
    rules: Mapping[str, Any] | None = None,
    withdrawals: Iterable[str] | str | Path | None = None,
    *,
    key: bytes | None = None,
    id_match: Iterable[str] | None = None,
    unmatched: str = "error",
    layout: str = "wide",
    item: str | None = None,
) -> tuple[Survey, pd.DataFrame]:
    """Apply withdrawals, pseudonymise, apply the QA rules; return the survey and the flow table.

    ``rules``: the ``cleaning:`` block of the config (see :data:`DEFAULT_RULES`). ``withdrawals``:
    raw IDs, a withdrawals CSV (:func:`read_withdrawals`) or None. ``key``: pseudonymisation key
    (default :func:`social_licence.privacy.load_key`). ``id_match`` and ``unmatched``: how
    listed IDs are compared and what an unmatched one does
    (:func:`social_licence.withdrawals.match_withdrawals`). The flow table has columns
    ``step, rule, excluded, remaining, detail``; it is also kept in ``meta["cleaning"]``.

    ``layout``/``item``: a ``long`` export has one row per rating, ``item`` naming the item each
    row rates. Its unit is (respondent, item): an exact repeat of one is a counted duplicate, a
    conflicting one follows ``conflicting_duplicates``. Withdrawals and the respondent rules
    (speeders, straight-liners, attention check) remove a respondent with all their rows (a
    respondent failing any of their checks is out); the flow then counts rows and respondents
    (``respondents_excluded``, ``respondents_remaining``).
    """
    resolved = resolve_rules(rules)
    long = _check_layout(survey, layout, item)
    if survey.meta.get("index") not in ("raw_id", "row"):
        raise InputError(
            "clean() needs the survey as read_survey returns it (raw IDs), "
            f"not one whose index is {survey.meta.get('index')!r}",
            file=survey.file,
        )
    has_ids = survey.meta.get("index") == "raw_id"
    log = list(survey.log)
    flow: list[dict[str, Any]] = []

    current = survey

    def add(rule: str, detail: str, excluded: np.ndarray | None = None) -> None:
        """Drop the rows ``excluded`` flags (none when None) and record the step in the flow."""
        nonlocal current
        if excluded is not None:
            current = current.subset(~excluded)
        _add(flow, rule, 0 if excluded is None else int(excluded.sum()), len(current.data), detail)
        if long:
            people = _people(current.data)
            before = flow[-2]["respondents_remaining"] if len(flow) > 1 else people
            flow[-1].update(respondents_excluded=before - people, respondents_remaining=people)

    n0 = len(survey.data)
    add("received", "rows (ratings) in the export" if long else "respondents in the export")
    received = flow[0]

    # 1. withdrawals, on raw IDs, before anything else
    if withdrawals is not None and not has_ids:
        raise InputError(
            "withdrawals need respondent IDs, and this survey has none", file=survey.file
        )
    if withdrawals is None:
        listed: set[str] = set()
        detail = "no withdrawals list"
    elif isinstance(withdrawals, (str, Path)):
        listed = read_withdrawals(withdrawals, instrument.id or "respondent_id")
        detail = f"respondents who withdrew consent ({Path(withdrawals).name})"
    else:
        listed = {_norm_id(v) for v in withdrawals}
        detail = "respondents who withdrew consent"
    match = match_withdrawals(
        survey.data.index,
        listed,
        id_match=id_match,
        unmatched=unmatched,
        rows=survey.rows,
        file=str(withdrawals) if isinstance(withdrawals, (str, Path)) else None,
        export=survey.file,
    )
    withdrawn = match.withdrawn
    msg = f"withdrawals: {int(withdrawn.sum())} respondent row(s) removed before any other step"
    if listed:
        msg += f" ({match.listed} ID(s) listed"
        msg += (
            f", {match.unmatched} matched no respondent)" if match.unmatched else ", all matched)"
        )
    log.append(msg)
    if match.unmatched:
        detail += f"; {match.unmatched} listed ID(s) matched no respondent"
    add("withdrawals", detail, withdrawn)

    if has_ids:
        if key is None:
            # where the key came from goes to the run log only: the survey's log is stored in
            # the interim files, which must be the same bytes on every run
            key = load_key()
        current = pseudonymise_survey(current, key)
        log.append(current.log[-1])

    # 2. duplicates
    rule = resolved["duplicates"]
    if not rule["enabled"]:
        add("duplicates", "rule disabled")
    elif not has_ids:
        add("duplicates", "no respondent ID to compare")
    else:
        dups = find_duplicates(current.data, instrument, rule["keep"], item)
        unit = f"respondent ID and {item}" if long else "respondent ID"
        detail = f"repeated {unit} with the same answers (kept the {rule['keep']})"
        add("duplicates", detail, dups.resubmitted)
    conflict = resolved["conflicting_duplicates"]
    if rule["enabled"] and has_ids:
        dups = find_duplicates(current.data, instrument, rule["keep"], item)
        drop = conflicting_rows(
            dups,
            unit_key(current.data, item),
            conflict["action"],
            rule["keep"],
            file=survey.file,
            rows=current.rows,
            variable=instrument.id,
            long=long,
        )
        how = {"error": "none found", "keep": f"kept the {rule['keep']}", "drop": "every copy"}
        unit = f"respondent ID and {item}" if long else "respondent ID"
        detail = f"repeated {unit} with different answers ({how[conflict['action']]})"
        add("conflicting_duplicates", detail, drop)
    else:
        add("conflicting_duplicates", "duplicates rule disabled")

    # zero design weights
    action = resolved["zero_weights"]["action"]
    zero, wname = zero_weights(
        current.data, instrument, action, file=survey.file, rows=current.rows
    )
    if wname is None:
        detail = "no design weight in the instrument"
    else:
        detail = f"{wname} of 0" + (" (excluded)" if action == "exclude" else " (none found)")
    add("zero_weights", detail, zero)

    # 3. speeders
    rule = resolved["speeders"]
    if not rule["enabled"]:
        add("speeders", "rule disabled")
    else:
        var = _require(current, instrument, rule["variable"], "speeders")
        duration = pd.to_numeric(current.data[var], errors="coerce").to_numpy(dtype=float)
        known = ~np.isnan(duration)
        if not known.any():
            raise InputError(
                "no respondent has a duration: cannot find speeders", file=survey.file, variable=var
            )
        # the median respondent's duration (in a long export, one value per respondent)
        first = ~current.data.index.duplicated() if long else np.ones(len(duration), bool)
        median = float(np.median(duration[known & first]))
        threshold = rule["share_of_median"] * median
        fast = _whole(current.data, known & (duration < threshold), long)
        detail = (
            f"{var} below {rule['share_of_median']:g} x median ({median:g}), "
            f"i.e. below {threshold:g}"
        )
        if (~known).any():
            detail += f"; {int((~known).sum())} without a duration kept"
        add("speeders", detail, fast)

    # 4. straight-liners
    rule = resolved["straightliners"]
    if not rule["enabled"]:
        add("straightliners", "rule disabled")
    else:
        grids = [rule["grid"]] if isinstance(rule["grid"], str) else list(rule["grid"])
        flagged = np.zeros(len(current.data), dtype=bool)
        for g in grids:
            if g not in instrument.grids:
                raise ConfigError(
                    f"cleaning.straightliners.grid: {g!r} is not a grid of the instrument"
                )
            flagged |= straightlining(
                current.data, instrument.grids[g].variables, rule["min_items"]
            )
        detail = (
            f"same answer to every item of {', '.join(grids)} answered "
            f"(at least {rule['min_items']} items)"
        )
        add("straightliners", detail, _whole(current.data, flagged, long))

    # 5. attention check
    rule = resolved["attention_check"]
    if not rule["enabled"]:
        add("attention_check", "rule disabled")
    else:
        var = _require(current, instrument, rule["variable"], "attention_check")
        v = instrument[var]
        codes = rule["pass"] if rule["pass"] is not None else list(v.pass_codes)
        if not codes:
            raise ConfigError(
                f"cleaning.attention_check: {var} has no pass codes in the instrument or the rule"
            )
        unknown = [c for c in codes if c not in v.codes]
        if unknown:
            raise ConfigError(
                f"cleaning.attention_check: pass codes {unknown} are not codes of {var}"
            )
        labels = [v.codes[c] for c in codes]
        answer = current.data[var]
        failed = ~answer.isin(labels).to_numpy()
        if rule["missing"] == "pass":
            failed &= answer.notna().to_numpy()
        detail = (
            f"{var} not {' or '.join(repr(lab) for lab in labels)}"
            + ("" if rule["missing"] == "pass" else " (no answer fails)")
            + ("; a respondent failing any rating's check leaves with every rating" if long else "")
        )
        add("attention_check", detail, _whole(current.data, failed, long))

    if has_ids and unit_key(current.data, item).duplicated().any():
        dup = np.asarray(unit_key(current.data, item).duplicated(keep=False), dtype=bool)
        raise InputError(
            (
                f"respondent ID and {item} pairs repeat and the duplicates rule is disabled: "
                "enable it or fix the export"
                if long
                else "respondent IDs repeat and the duplicates rule is disabled: enable it or "
                "fix the export; if the export has one row per rating (several rows per "
                "respondent), declare survey.layout: long and survey.item (the column naming "
                "the item each row rates)"
            ),
            file=survey.file,
            variable=instrument.id,
            rows=np.asarray(current.rows)[dup].tolist(),
        )
    check_answered(current.data, instrument, file=survey.file)
    add("analysed", "rows (ratings) in the analysis" if long else "respondents in the analysis")
    columns = FLOW_COLUMNS + (LONG_FLOW_COLUMNS if long else [])
    table = pd.DataFrame(flow, columns=columns).astype(
        {c: "int64" for c in columns if c not in ("rule", "detail")}
    )
    for row in flow[2:-1]:
        log.append(
            f"{row['rule']}: {row['excluded']} excluded, {row['remaining']} remain "
            f"({row['detail']})"
        )
    if long:
        log.append(
            f"analysed: {len(current.data)} of {n0} rows received, from "
            f"{_people(current.data)} of {received['respondents_remaining']} respondents"
        )
    else:
        log.append(f"analysed: {len(current.data)} of {n0} respondents received")
    meta = dict(current.meta)
    meta["cleaning"] = {"rules": resolved, "flow": [dict(r) for r in flow]}
    return Survey(data=current.data, meta=meta, log=log, rows=current.rows), table


def _check_layout(survey: Survey, layout: str, item: str | None) -> bool:
    """True for a long export; a long one needs its item column, present and never blank."""
    if layout not in LAYOUTS:
        raise ConfigError(f"survey.layout must be wide or long, not {layout!r}")
    if layout == "wide":
        if item is not None:
            raise ConfigError(
                f"survey.item is {item!r} but survey.layout is wide: declare survey.layout: long "
                "for an export with one row per rating, or set survey.item: null"
            )
        return False
    if not item:
        raise ConfigError(
            "survey.layout is long (one row per rating) but survey.item is not set: name the "
            "column that tells a respondent's rows apart (the item or scenario each row rates)"
        )
    if item not in survey.data.columns:
        raise InputError(
            "survey.item names a column the export does not have (or the instrument does not "
            "declare)",
            file=survey.file,
            variable=item,
        )
    blank = survey.data[item].isna().to_numpy()
    if blank.any():
        raise InputError(
            f"the item column of a long export is blank (or a missing code) in {int(blank.sum())} "
            "row(s): every rating must say which item it rates",
            file=survey.file,
            variable=item,
            rows=np.asarray(survey.rows)[blank].tolist(),
        )
    if survey.meta.get("index") != "raw_id":
        raise InputError(
            "a long export needs a respondent ID (the instrument's id) to tell whose ratings "
            "the rows are",
            file=survey.file,
        )
    return True


def _people(data: pd.DataFrame) -> int:
    """Respondents among the rows of a long export."""
    return int(data.index.nunique())


def _whole(data: pd.DataFrame, flagged: np.ndarray, long: bool) -> np.ndarray:
    """In a long export, every row of a respondent flagged on any row; else ``flagged``."""
    if not long or not flagged.any():
        return flagged
    return np.asarray(data.index.isin(data.index[flagged]), dtype=bool)


def _add(flow: list[dict[str, Any]], rule: str, excluded: int, remaining: int, detail: str) -> None:
    flow.append(
        {
            "step": len(flow),
            "rule": rule,
            "excluded": excluded,
            "remaining": remaining,
            "detail": detail,
        }
    )


def _require(survey: Survey, instrument: Instrument, var: str, rule: str) -> str:
    if var not in instrument:
        raise ConfigError(f"cleaning.{rule}.variable: {var!r} is not in the instrument")
    if var not in survey.data.columns:
        raise InputError(
            f"the {rule} rule needs {var}, which the survey does not have",
            file=survey.file,
            variable=var,
        )
    return var


def straightlining(data: pd.DataFrame, items: list[str], min_items: int) -> np.ndarray:
    """True where a respondent gave one and the same substantive answer to every item answered,
    having answered at least ``min_items`` of ``items`` (missing of any reason is not an answer)."""
    codes = (
        np.column_stack([data[v].cat.codes.to_numpy().astype(np.int32) for v in items])
        if items
        else np.empty((len(data), 0))
    )
    answered = codes >= 0
    n_answered = answered.sum(axis=1)
    hi = np.where(answered, codes, -1).max(axis=1, initial=-1)
    lo = np.where(answered, codes, np.iinfo(np.int32).max).min(
        axis=1, initial=np.iinfo(np.int32).max
    )
    return (n_answered >= min_items) & (hi == lo)
