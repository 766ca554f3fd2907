"""Publication tables: CSV at full precision for machines, HTML and Word formatted for people.

Somewhat over 800 lines: the display rules (labels, percentages, odds ratios) and the writers
(CSV, HTML, Word) of the one table pipeline.

Every table is written from a frame that has passed disclosure control
(:func:`social_licence.disclosure.suppress`): withheld cells read ``[c]`` and low-precision
estimates carry ``[u]``, the Government Statistical Service's symbols. Formatted tables show
percentages as whole numbers with their 95% confidence interval and unweighted base, and end
with footnotes on method and suppression. HTML comes from the package's one HTML table
renderer (:func:`social_licence.html.html_table`, on ``great_tables``); Word from
``python-docx`` with fixed document properties and zip timestamps, so the same frame gives the
same bytes.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import OutputError
from ..html import GROUP_COLUMN, html_page, html_table, looks_numeric
from ..io import atomic_write_bytes, atomic_write_text, csv_text
from ..survey.labels import TIMES, factor_label, lower_first, sentence
from .disclosure import (
    GROUP_VARIABLE,
    SYMBOL_LOW_PRECISION,
    SYMBOL_SUPPRESSED,
    Thresholds,
    check_publishable,
    key_columns,
    protect,
)

#: Rows of a stacked group frame that describe the whole sample (as ``estimates.OVERALL``).
OVERALL_GROUP = "All"
FIXED_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
DASH = "\u2013"
#: The design note when the caller gives none; tables of the workflow describe the design they
#: were estimated on (``method_note``, from :func:`social_licence.design.describe.describe_file`).
METHOD_NOTE = (
    "Percentages are weighted and rounded to whole numbers; 95% confidence intervals allow for "
    "the survey design (weighting, stratification and clustering); bases are unweighted numbers "
    "of parents who answered."
)


# -- numbers as people read them -----------------------------------------------------------------
def format_percent(p: float, decimals: int = 0) -> str:
    """A proportion as a percentage, rounded half away from zero (``0.125`` -> ``"13"``)."""
    if p is None or not np.isfinite(p):
        return ""
    q = Decimal(1).scaleb(-decimals)
    return str((Decimal(repr(float(p))) * 100).quantize(q, rounding=ROUND_HALF_UP) + 0)


def format_number(x: float, decimals: int = 2) -> str:
    if x is None or pd.isna(x) or not np.isfinite(float(x)):
        return ""
    if float(x).is_integer() and decimals == 0:
        return f"{int(x):,}"
    q = Decimal(1).scaleb(-decimals)
    return f"{Decimal(repr(float(x))).quantize(q, rounding=ROUND_HALF_UP) + 0:,}"


def format_count(x: Any) -> str:
    if x is None or pd.isna(x):
        return ""
    return f"{int(round(float(x))):,}"


def format_p(p: float) -> str:
    if p is None or pd.isna(p):
        return ""
    return "<0.001" if p < 0.001 else format_number(p, 3)


_FACTOR = re.compile(r"^(?:C\()?(?P<var>[A-Za-z_][A-Za-z0-9_.]*)(?:,[^\[]*)?\)?\[T\.(?P<level>.+)\]$")
INTERCEPT_TERMS = ("intercept", "(intercept)", "const")


def split_term(term: Any) -> list[tuple[str, str | None]]:
    """The factors of a formula term, as ``(variable, level)`` pairs (level ``None`` for a
    numeric term): ``data_type[T.school]:purpose[T.early_help]`` ->
    ``[("data_type", "school"), ("purpose", "early_help")]``. Colons inside brackets or
    parentheses (a level such as ``"10:30"``) do not split."""
    parts, depth, start, text = [], 0, 0, str(term)
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == ":" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    out: list[tuple[str, str | None]] = []
    for part in parts:
        m = _FACTOR.match(part)
        out.append((m.group("var"), m.group("level")) if m else (part, None))
    return out


def is_interaction(term: Any) -> bool:
    """Whether a formula term is a product of several variables (``a[T.x]:b[T.y]``)."""
    return len(split_term(term)) > 1


def level_label(instrument: Any | None, name: str, level: Any) -> str:
    """A category for readers: a grid dimension's code by its label (``police`` -> ``Police
    records``); any other category as it is (the analysis frame already holds labels)."""
    labels = value_labels(instrument, name)
    return labels.get(level, str(level))


def known_levels(instrument: Any, variable: str) -> list[Any]:
    """Every level of a grid dimension (its codes) or an instrument variable (its labels)."""
    if instrument is None:
        return []
    for g in instrument.grids.values():
        if variable == g.row_name:
            return list(g.rows)
        if g.column_name and variable == g.column_name:
            return list(g.columns)
    return list(instrument[variable].labels) if variable in instrument else []


def level_order(instrument: Any, variable: str, present: Sequence[Any]) -> list[Any]:
    """Levels of a variable in instrument order (grid dimension or variable), others after."""
    known = known_levels(instrument, variable)
    present = list(dict.fromkeys(present))
    return [k for k in known if k in present] + [p for p in present if p not in known]


def reference_level(instrument: Any, variable: str, present: Sequence[Any]) -> Any | None:
    """The reference category of a treatment-coded factor: the one level of the instrument's
    list that has no term (``None`` when that is not exactly one)."""
    known = known_levels(instrument, variable)
    missing = [k for k in known if k not in set(present)]
    return missing[0] if len(missing) == 1 else None


def term_label(term: str, instrument: Any | None = None) -> str:
    """A readable label for a formula term: ``C(ethnicity)[T.Black]`` -> ``Ethnic group: Black``,
    ``purpose[T.risk_scoring]`` -> ``Purpose: Predictive risk scoring to flag children at risk``,
    an interaction -> ``Data type \u00d7 purpose: School records \u00d7 Identifying ...``."""
    if str(term).lower() in INTERCEPT_TERMS:
        return "Intercept"
    parts = split_term(term)
    if all(level is None for _, level in parts) and len(parts) == 1:
        name = parts[0][0]
        return instrument[name].label if instrument is not None and name in instrument else str(term)
    names = [factor_label(instrument, v) for v, _ in parts]
    if len(parts) > 1:
        names = [names[0]] + [n[:1].lower() + n[1:] for n in names[1:]]
    levels = [level_label(instrument, v, lv) if lv is not None else factor_label(instrument, v) for v, lv in parts]
    return f"{TIMES.join(names)}: {TIMES.join(levels)}"


def model_type(table: pd.DataFrame) -> str:
    """What one model's coefficient table is: ``ordinal`` (it has cut-points), ``logistic``
    (odds ratios on its coefficients) or ``other`` (a linear or count model: no odds ratios)."""
    if "kind" in table.columns and (table["kind"].astype(str) != "coefficient").any():
        return "ordinal"
    if "odds_ratio" in table.columns and np.isfinite(pd.to_numeric(table["odds_ratio"], errors="coerce").to_numpy(dtype=float)).any():
        return "logistic"
    return "other"


def model_types(table: pd.DataFrame) -> dict[str, str]:
    """:func:`model_type` of each model of a stacked table, in the table's order."""
    if "model" not in table.columns:
        return {"model": model_type(table)}
    return {str(name): model_type(part) for name, part in table.groupby(table["model"].astype(str), sort=False)}


def main_model(
    models: pd.DataFrame | None,
    effects: pd.DataFrame | None = None,
    preferred: str | None = None,
) -> str | None:
    """The model whose results lead: ``preferred`` when given, else the first logistic model
    of the stacked model table (then the first ordinal one), else the first model of the
    marginal effects on the probability scale (outcome level other than ``mean``)."""
    names: list[str] = []
    for frame in (models, effects):
        if frame is not None and "model" in frame.columns:
            names += [n for n in dict.fromkeys(frame["model"].astype(str)) if n not in names]
    if preferred is not None:
        if preferred not in names:
            raise OutputError(f"model {preferred!r} is not among the models ({', '.join(names) or 'none'})")
        return preferred
    if models is not None and "model" in models.columns:
        types = model_types(models)
        for wanted in ("logistic", "ordinal"):
            for name, kind in types.items():
                if kind == wanted:
                    return name
    if effects is not None and "model" in effects.columns:
        for name, part in effects.groupby(effects["model"].astype(str), sort=False):
            if "level" not in part.columns or not (part["level"].astype(str) == "mean").all():
                return str(name)
    return None


def column_labels(instrument: Any | None) -> dict[str, str]:
    """Headers for by columns: grid dimensions and instrument variables by their labels."""
    out = {GROUP_VARIABLE: GROUP_COLUMN, "group": "Group", "variable": "Question", "level": "Answer"}
    if instrument is None:
        return out
    for grid in instrument.grids.values():
        out[grid.row_name] = sentence(grid.row_name.replace("_", " "))
        if grid.column_name:
            out[grid.column_name] = sentence(grid.column_name.replace("_", " "))
    return out


def value_labels(instrument: Any | None, column: str) -> dict[str, str]:
    """Display labels of a by column's codes: a grid dimension's labels, else identity."""
    if instrument is None:
        return {}
    for grid in instrument.grids.values():
        if column == grid.row_name:
            return {k: sentence(v) for k, v in grid.rows.items()}
        if column == grid.column_name:
            return {k: sentence(v) for k, v in grid.columns.items()}
    return {}


def variable_label(instrument: Any | None, name: Any) -> str:
    if instrument is None or pd.isna(name):
        return "" if pd.isna(name) else str(name)
    if name in instrument.grids:
        return sentence(instrument.grids[name].label.split("{")[0].strip() or name)
    if name in instrument:
        return instrument[name].label
    return str(name)


# -- display frames ------------------------------------------------------------------------------
def _flags(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    sup = df["suppressed"].fillna(False).to_numpy(dtype=bool) if "suppressed" in df else np.zeros(len(df), bool)
    low = df["low_precision"].fillna(False).to_numpy(dtype=bool) if "low_precision" in df else np.zeros(len(df), bool)
    return sup, low


def is_estimate_frame(df: pd.DataFrame) -> bool:
    return {"estimate", "n_unweighted", "variable", "level"} <= set(df.columns)


def is_comparison_frame(df: pd.DataFrame) -> bool:
    return {"group_a", "group_b", "difference"} <= set(df.columns)


def is_model_frame(df: pd.DataFrame) -> bool:
    return {"term", "estimate", "ci_low", "ci_high"} <= set(df.columns)


def estimate_display(
    df: pd.DataFrame,
    instrument: Any | None = None,
    *,
    percent: bool = True,
    decimals: int = 0,
) -> pd.DataFrame:
    """Formatted estimate table: labels, estimate, 95% CI, unweighted base, [c]/[u] symbols.

    Stacked group frames keep ``group_variable`` (as the instrument's label) for row groups.
    ``percent`` shows proportions as percentages (``decimals`` places); otherwise the estimate
    is shown as a number.
    """
    check_publishable(df, "table")
    sup, low = _flags(df)
    heads = column_labels(instrument)
    out = pd.DataFrame(index=range(len(df)))
    keys = key_columns(df)
    if GROUP_VARIABLE in keys:
        out[heads[GROUP_VARIABLE]] = [
            "All parents" if v == OVERALL_GROUP else variable_label(instrument, v) for v in df[GROUP_VARIABLE].astype(object)
        ]
    for k in keys:
        if k == GROUP_VARIABLE:
            continue
        labels = value_labels(instrument, k)
        vals = df[k].astype(object)
        out[heads.get(k, sentence(str(k).replace("_", " ")))] = [
            "All parents" if k == "group" and v == OVERALL_GROUP else labels.get(v, "" if pd.isna(v) else str(v)) for v in vals
        ]
    if df["variable"].nunique(dropna=False) > 1:
        out[heads["variable"]] = [variable_label(instrument, v) for v in df["variable"]]
    if df["level"].nunique(dropna=False) > 1:
        out[heads["level"]] = ["" if pd.isna(v) else str(v) for v in df["level"]]

    def fmt(x: float) -> str:
        return format_percent(x, decimals) if percent else format_number(x, max(decimals, 2))

    est = df["estimate"].to_numpy(dtype=float)
    est_head = "%" if percent else "Estimate"
    out[est_head] = [
        SYMBOL_SUPPRESSED if s or not np.isfinite(e) else fmt(e) + (f" {SYMBOL_LOW_PRECISION}" if lo else "")
        for s, e, lo in zip(sup, est, low, strict=True)
    ]
    if {"ci_low", "ci_high"} <= set(df.columns):
        lo_, hi_ = df["ci_low"].to_numpy(dtype=float), df["ci_high"].to_numpy(dtype=float)
        out["95% CI"] = [
            SYMBOL_SUPPRESSED if s or not np.isfinite(a) else f"{fmt(a)}{DASH}{fmt(b)}"
            for s, a, b in zip(sup, lo_, hi_, strict=True)
        ]
    base = pd.to_numeric(df["n_unweighted"], errors="coerce").to_numpy(dtype=float)
    out["Unweighted base"] = [SYMBOL_SUPPRESSED if s else format_count(b) for s, b in zip(sup, base, strict=True)]
    return out


def wide_display(
    df: pd.DataFrame,
    rows: str,
    columns: str,
    instrument: Any | None = None,
    *,
    decimals: int = 0,
) -> pd.DataFrame:
    """One estimate per cell, ``rows`` down and ``columns`` across (e.g. data type x purpose)."""
    check_publishable(df, "table")
    for c in (rows, columns):
        if c not in df.columns:
            raise OutputError(f"table: column {c!r} asked for the wide layout is not in the frame ({list(df.columns)})")
    if df[[rows, columns]].astype(object).duplicated().any():
        raise OutputError(f"table: several rows per {rows} x {columns} cell; filter the frame to one level first")
    sup, low = _flags(df)
    est = df["estimate"].to_numpy(dtype=float)
    text = [
        SYMBOL_SUPPRESSED if s or not np.isfinite(e) else format_percent(e, decimals) + (f" {SYMBOL_LOW_PRECISION}" if lo else "")
        for s, e, lo in zip(sup, est, low, strict=True)
    ]
    heads = column_labels(instrument)
    rlab, clab = value_labels(instrument, rows), value_labels(instrument, columns)
    rvals = list(df[rows].cat.categories) if isinstance(df[rows].dtype, pd.CategoricalDtype) else list(dict.fromkeys(df[rows]))
    cvals = list(df[columns].cat.categories) if isinstance(df[columns].dtype, pd.CategoricalDtype) else list(dict.fromkeys(df[columns]))
    cell = dict(zip(zip(df[rows].astype(object), df[columns].astype(object), strict=True), text, strict=True))
    present_r = [r for r in rvals if any((r, c) in cell for c in cvals)]
    present_c = [c for c in cvals if any((r, c) in cell for r in rvals)]
    out = pd.DataFrame({heads.get(rows, rows): [rlab.get(r, str(r)) for r in present_r]})
    for c in present_c:
        out[clab.get(c, str(c))] = [cell.get((r, c), "") for r in present_r]
    return out


def comparison_display(df: pd.DataFrame, instrument: Any | None = None) -> pd.DataFrame:
    """Formatted group comparisons: difference in percentage points, CI, adjusted p, bases."""
    check_publishable(df, "table")
    sup, _ = _flags(df)
    heads = column_labels(instrument)
    out = pd.DataFrame(index=range(len(df)))
    out[heads[GROUP_VARIABLE]] = [variable_label(instrument, v) for v in df[GROUP_VARIABLE]]
    for k in [c for c in df.columns if c in value_labels_all(instrument)]:
        labels = value_labels(instrument, k)
        out[heads.get(k, k)] = [labels.get(v, str(v)) for v in df[k].astype(object)]
    out["Comparison"] = [f"{a} vs {b}" for a, b in zip(df["group_a"], df["group_b"], strict=True)]
    diff = df["difference"].to_numpy(dtype=float)
    out["Difference (points)"] = [SYMBOL_SUPPRESSED if s else format_percent(d) for s, d in zip(sup, diff, strict=True)]
    if {"ci_low", "ci_high"} <= set(df.columns):
        out["95% CI"] = [
            SYMBOL_SUPPRESSED if s else f"{format_percent(a)} to {format_percent(b)}"
            for s, a, b in zip(sup, df["ci_low"].astype(float), df["ci_high"].astype(float), strict=True)
        ]
    pcol = "p_adjusted" if "p_adjusted" in df.columns else "p_value"
    if pcol in df.columns:
        out["p (adjusted)" if pcol == "p_adjusted" else "p"] = [
            SYMBOL_SUPPRESSED if s else format_p(p) for s, p in zip(sup, df[pcol].astype(float), strict=True)
        ]
    if {"n_unweighted_a", "n_unweighted_b"} <= set(df.columns):
        out["Bases"] = [
            SYMBOL_SUPPRESSED if s else f"{format_count(a)} / {format_count(b)}"
            for s, a, b in zip(sup, df["n_unweighted_a"], df["n_unweighted_b"], strict=True)
        ]
    return out


def value_labels_all(instrument: Any | None) -> set[str]:
    if instrument is None:
        return set()
    out: set[str] = set()
    for grid in instrument.grids.values():
        out |= {grid.row_name} | ({grid.column_name} if grid.column_name else set())
    return out


def model_display(df: pd.DataFrame, instrument: Any | None = None) -> pd.DataFrame:
    """Formatted model table: term labels, coefficient and 95% CI, odds ratio and its CI, p."""
    check_publishable(df, "table")
    sup, _ = _flags(df)
    out = pd.DataFrame({"Term": [term_label(t, instrument) for t in df["term"]]})
    if "model" in df.columns and df["model"].nunique() > 1:
        out.insert(0, "Model", df["model"].astype(str).to_numpy())
    est = df["estimate"].to_numpy(dtype=float)
    lo, hi = df["ci_low"].to_numpy(dtype=float), df["ci_high"].to_numpy(dtype=float)

    def num(values, digits):
        return [SYMBOL_SUPPRESSED if s else format_number(v, digits) for s, v in zip(sup, values, strict=True)]

    def ci(a_values, b_values, digits):
        return [
            SYMBOL_SUPPRESSED if s else ("" if not np.isfinite(a) else f"{format_number(a, digits)} to {format_number(b, digits)}")
            for s, a, b in zip(sup, a_values, b_values, strict=True)
        ]

    out["Coefficient"] = num(est, 3)
    out["95% CI"] = ci(lo, hi, 3)
    if "odds_ratio" in df.columns:
        if {"odds_ratio_low", "odds_ratio_high"} <= set(df.columns):
            olo, ohi = df["odds_ratio_low"].to_numpy(dtype=float), df["odds_ratio_high"].to_numpy(dtype=float)
        else:
            olo, ohi = np.exp(lo), np.exp(hi)
        orat = df["odds_ratio"].to_numpy(dtype=float)
        if "kind" in df.columns:  # cut-points of an ordinal model have no odds ratio
            coef = (df["kind"].astype(str) == "coefficient").to_numpy()
            orat, olo, ohi = (np.where(coef, v, np.nan) for v in (orat, olo, ohi))
        out["Odds ratio"] = num(orat, 2)
        out["95% CI (odds ratio)"] = ci(olo, ohi, 2)
    if "p_value" in df.columns:
        out["p"] = [SYMBOL_SUPPRESSED if s else format_p(p) for s, p in zip(sup, df["p_value"].astype(float), strict=True)]
    return out


def main_effects(table: pd.DataFrame) -> pd.DataFrame:
    """The coefficient rows of a model table that are neither the intercept, a cut-point nor
    an interaction: the terms a reader can interpret one by one."""
    out = table
    if "kind" in out.columns:
        out = out[out["kind"].astype(str) == "coefficient"]
    out = out[~out["term"].astype(str).str.lower().isin(INTERCEPT_TERMS)]
    return out[~out["term"].map(is_interaction).astype(bool)]


def _references(table: pd.DataFrame, instrument: Any | None) -> list[tuple[str, str]]:
    """``(variable name, reference category as readers see it)`` per factor of the main effects."""
    levels: dict[str, list[Any]] = {}
    for term in main_effects(table)["term"].astype(str):
        var, lv = split_term(term)[0]
        if lv is not None:
            levels.setdefault(var, []).append(lv)
    out = []
    for var, present in levels.items():
        ref = reference_level(instrument, var, present)
        if ref is not None:
            text = level_label(instrument, var, ref)
            out.append((var, lower_first(text) if text != str(ref) else text))
    return out


def reference_categories(table: pd.DataFrame, instrument: Any | None) -> list[tuple[str, str]]:
    """``(variable, reference category)`` for each factor among a model's main effects, as
    readers name them (``("Data type", "health records")``, ``("Ethnic group", "White")``): the
    one instrument level without a term."""
    return [(factor_label(instrument, var), ref) for var, ref in _references(table, instrument)]


def reference_note(table: pd.DataFrame, instrument: Any | None) -> str | None:
    """'Reference categories \u2013 data type: health records; ethnic group: White; ...' for the
    main effects of a model table, or ``None`` when none can be named."""
    refs = reference_categories(table, instrument)
    if not refs:
        return None
    return "Reference categories \u2013 " + "; ".join(f"{lower_first(v)}: {r}" for v, r in refs) + "."


def interaction_note(table: pd.DataFrame, instrument: Any | None, *, subject: str = "The model") -> str | None:
    """What a reader of the main effects alone must know about a model's interaction terms:
    which there are, and (for one two-way interaction of factors) that each factor's odds
    ratios then apply at the reference category of the other."""
    terms = table["term"].astype(str)
    if "kind" in table.columns:
        terms = terms[table["kind"].astype(str) == "coefficient"]
    pairs = list(dict.fromkeys(tuple(v for v, _ in split_term(t)) for t in terms if is_interaction(t)))
    if not pairs:
        return None
    names = ", ".join(TIMES.join(lower_first(factor_label(instrument, v)) for v in pair) for pair in pairs)
    note = f"{subject} also includes {names} interaction terms, not shown"
    ref_of = dict(_references(table, instrument))
    if len(pairs) == 1 and len(pairs[0]) == 2 and all(v in ref_of for v in pairs[0]):
        a, b = pairs[0]
        note += (
            f", so the {lower_first(factor_label(instrument, a))} odds ratios apply to {ref_of[b]} and the "
            f"{lower_first(factor_label(instrument, b))} odds ratios to {ref_of[a]}"
        )
    return note + "."


def odds_ratio_display(df: pd.DataFrame, instrument: Any | None = None) -> pd.DataFrame:
    """Odds ratios of a model's main effects, grouped by variable (the ``Group variable``
    column becomes row groups), categories in instrument order: odds ratio, 95% CI and p."""
    check_publishable(df, "table")
    table = main_effects(df).reset_index(drop=True)
    if table.empty:
        raise OutputError("table: the model has no main-effect coefficients to show as odds ratios")
    sup, _ = _flags(table)
    parts = [split_term(t)[0] for t in table["term"]]
    table = table.assign(__var=[v for v, _ in parts], __level=[lv for _, lv in parts])
    order: list[int] = []
    for var in dict.fromkeys(table["__var"]):
        block = table[table["__var"] == var]
        keys = level_order(instrument, var, [lv for lv in block["__level"] if lv is not None])
        rank = [keys.index(lv) if lv in keys else len(keys) for lv in block["__level"]]
        order += [int(block.index[i]) for i in np.argsort(rank, kind="stable")]
    table, sup = table.loc[order].reset_index(drop=True), sup[order]
    if {"odds_ratio_low", "odds_ratio_high"} <= set(table.columns):
        lo, hi = table["odds_ratio_low"].to_numpy(dtype=float), table["odds_ratio_high"].to_numpy(dtype=float)
    else:
        lo, hi = np.exp(table["ci_low"].to_numpy(dtype=float)), np.exp(table["ci_high"].to_numpy(dtype=float))
    orat = table["odds_ratio"].to_numpy(dtype=float)
    out = pd.DataFrame(
        {
            GROUP_COLUMN: [factor_label(instrument, v) for v in table["__var"]],
            "Category": [level_label(instrument, v, lv) if lv is not None else "Per unit" for v, lv in zip(table["__var"], table["__level"], strict=True)],
            "Odds ratio": [SYMBOL_SUPPRESSED if s else format_number(v, 2) for s, v in zip(sup, orat, strict=True)],
            "95% CI": [SYMBOL_SUPPRESSED if s else f"{format_number(a, 2)} to {format_number(b, 2)}" for s, a, b in zip(sup, lo, hi, strict=True)],
        }
    )
    if "p_value" in table.columns:
        out["p"] = [SYMBOL_SUPPRESSED if s else format_p(p) for s, p in zip(sup, table["p_value"].astype(float), strict=True)]
    return out


def plain_display(df: pd.DataFrame, *, decimals: int = 2, percent_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Any other aggregate frame (QA flow, weight summary, margins): counts as whole numbers."""
    check_publishable(df, "table")
    out = pd.DataFrame(index=range(len(df)))
    for c in df.columns:
        s = df[c]
        head = sentence(str(c).replace("_", " "))
        if c in percent_columns:
            out[head + " (%)"] = [format_percent(v) for v in s.astype(float)]
        elif pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s):
            out[head] = [format_count(v) if not isinstance(v, (bool, np.bool_)) else ("yes" if v else "no") for v in s]
        elif pd.api.types.is_float_dtype(s):
            out[head] = [format_number(v, decimals) for v in s]
        else:
            out[head] = ["" if pd.isna(v) else str(v) for v in s]
    return out


def display_frame(df: pd.DataFrame, instrument: Any | None = None, **options: Any) -> pd.DataFrame:
    """The formatted version of any published frame, by its kind."""
    if is_comparison_frame(df):
        return comparison_display(df, instrument)
    if is_estimate_frame(df):
        if options.get("wide"):
            rows, cols = options["wide"]
            return wide_display(df, rows, cols, instrument, decimals=options.get("decimals", 0))
        return estimate_display(df, instrument, percent=options.get("percent", True), decimals=options.get("decimals", 0))
    if is_model_frame(df):
        if options.get("odds_ratios"):
            return odds_ratio_display(df, instrument)
        return model_display(df, instrument)
    return plain_display(df, decimals=options.get("decimals", 2), percent_columns=options.get("percent_columns", ()))


# -- footnotes -----------------------------------------------------------------------------------
def footnotes(
    df: pd.DataFrame,
    thresholds: Thresholds | None,
    notes: Sequence[str] = (),
    method_note: str | None = None,
) -> list[str]:
    """Method, suppression and precision notes for a table, plus what was withheld in it.
    ``method_note``: the design the estimates allow for, in words
    (:meth:`social_licence.design.describe.DesignDescription.footnote`)."""
    out = list(notes)
    if is_estimate_frame(df) or is_comparison_frame(df):
        out.append(method_note or METHOD_NOTE)
    if thresholds is not None and "suppressed" in df.columns:
        out.append(thresholds.rule_text())
        sup, low = _flags(df)
        if sup.any():
            reasons = df.loc[sup, "reason"].astype(str)
            primary = int(reasons.str.startswith("primary").sum())
            secondary = int(sup.sum()) - primary
            text = f"In this table {int(sup.sum())} estimate{'s' if sup.sum() != 1 else ''} {'are' if sup.sum() != 1 else 'is'} withheld"
            detail = []
            if primary:
                detail.append(f"{primary} for a small base")
            if secondary:
                detail.append(f"{secondary} to protect {'them' if primary != 1 else 'it'}")
            out.append(text + (f" ({', '.join(detail)})." if detail else "."))
        if low.any():
            out.append(f"{int(low.sum())} estimate{'s are' if low.sum() != 1 else ' is'} of low precision {SYMBOL_LOW_PRECISION}: treat with caution.")
    return out


# -- writers -------------------------------------------------------------------------------------
def is_published(row: pd.Series) -> bool:
    """True when an estimate row is neither withheld nor empty."""
    return not bool(row.get("suppressed", False)) and np.isfinite(float(row["estimate"]))


def headline_cell(by_group: pd.DataFrame, headline: Mapping[str, Any] | None, question: Any) -> dict[str, Any]:
    """The cell (one value per dimension of ``question``) the group section shows: the
    headline's ``cell`` when it names every dimension, else the published cell whose groups lie
    furthest from the whole sample."""
    item_cols = [c for c in question.dims if c in by_group.columns]
    if not item_cols:
        return {}
    wanted = dict(dict(headline or {}).get("cell") or {})
    if all(c in wanted for c in item_cols):
        return {c: wanted[c] for c in item_cols}
    # the cell of the automatic headline: widest published gap from the whole sample
    best, best_gap = None, -math.inf
    sub = by_group[by_group["level"].astype(object) == "acceptable"]
    for key, part in sub.groupby(item_cols, sort=False, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        overall = part[part[GROUP_VARIABLE].astype(object) == OVERALL_GROUP]
        if overall.empty or not is_published(overall.iloc[0]):
            continue
        o = float(overall.iloc[0]["estimate"])
        ok = part[(part[GROUP_VARIABLE].astype(object) != OVERALL_GROUP) & ~part["suppressed"].astype(bool) & ~part["low_precision"].astype(bool)]
        gap = float((ok["estimate"].astype(float) - o).abs().max()) if len(ok) else -1.0
        if gap > best_gap:
            best, best_gap = dict(zip(item_cols, key, strict=True)), gap
    if best is None:
        first = sub.iloc[0]
        best = {c: first[c] for c in item_cols}
    return best


def published_csv(df: pd.DataFrame) -> str:
    """A published table as CSV at full precision (:func:`social_licence.io.csv_text`)."""
    return csv_text(df, float_format=None)


def docx_bytes(
    display: pd.DataFrame,
    *,
    title: str,
    subtitle: str | None = None,
    notes: Sequence[str] = (),
) -> bytes:
    """A Word document holding the table, ready to paste into a journal or brief; fixed bytes."""
    # python-docx is heavy (lxml): loaded only when a Word table is written
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt
    from docx.table import _Cell

    doc = Document()
    section = doc.sections[0]
    wide = len(display.columns) > 6
    section.orientation = WD_ORIENT.LANDSCAPE if wide else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (Cm(29.7), Cm(21.0)) if wide else (Cm(21.0), Cm(29.7))
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2))
    normal = doc.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(10)
    heading = doc.add_paragraph()
    run = heading.add_run(title)
    run.bold = True
    run.font.size = Pt(12)
    if subtitle:
        doc.add_paragraph(subtitle)
    group_col = GROUP_COLUMN if GROUP_COLUMN in display.columns else None
    cols = [c for c in display.columns if c != group_col]
    table = doc.add_table(rows=1, cols=len(cols))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    numeric = {c for c in cols if looks_numeric(display[c])}
    hdr = table.rows[0]
    tr_pr = hdr._tr.get_or_add_trPr()
    repeat = OxmlElement("w:tblHeader")
    repeat.set(qn("w:val"), "true")
    tr_pr.append(repeat)
    for cell, c in zip(hdr.cells, cols, strict=True):
        cell.text = ""
        r = cell.paragraphs[0].add_run(str(c))
        r.bold = True
        if c in numeric:
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    # A data row is a copy of one row made by python-docx, its texts replaced: the same XML
    # as python-docx's add_row and cell.text for each row, at a fraction of the cost. A text
    # python-docx would write differently (tabs, line breaks, spaces at its ends, empty) is
    # written by python-docx itself.
    prototype = table.add_row()
    for cell, c in zip(prototype.cells, cols, strict=True):
        cell.text = "x"
        if c in numeric:
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    template = prototype._tr
    tbl = table._tbl
    tbl.remove(template)
    current = None
    for row in display[[*([group_col] if group_col else []), *cols]].itertuples(index=False):
        values = [str(v) for v in row]
        if group_col:
            group, values = values[0], values[1:]
            if group != current:
                current = group
                grow = table.add_row()
                merged = grow.cells[0].merge(grow.cells[-1]) if len(cols) > 1 else grow.cells[0]
                merged.text = ""
                merged.paragraphs[0].add_run(group).bold = True
        tr = copy.deepcopy(template)
        tbl.append(tr)
        for tc, c, text in zip(tr.tc_lst, cols, values, strict=True):
            if text and text.strip() == text and not any(ch in text for ch in "\t\r\n"):
                tc.xpath("./w:p/w:r/w:t")[0].text = text
            else:
                cell = _Cell(tc, table)
                cell.text = text
                if c in numeric:
                    cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for note in notes:
        p = doc.add_paragraph()
        r = p.add_run(note)
        r.font.size = Pt(8)
    props = doc.core_properties
    props.title = title
    props.author = "social-licence"
    props.last_modified_by = "social-licence"
    props.created = props.modified = props.last_printed = FIXED_TIME.replace(tzinfo=None)
    props.revision = 1
    buf = io.BytesIO()
    doc.save(buf)
    return normalise_zip(buf.getvalue())


def normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip (docx) with fixed member timestamps and attributes: same content, same bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            fixed.create_system = 3
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def write_table(
    df: pd.DataFrame,
    csv_path: str | Path | None,
    html_path: str | Path | None = None,
    docx_path: str | Path | None = None,
    *,
    title: str,
    subtitle: str | None = None,
    notes: Sequence[str] = (),
    thresholds: Thresholds | None = None,
    instrument: Any | None = None,
    method_note: str | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Write one published table as CSV (full precision), HTML page and Word document.

    ``df`` must have been through disclosure control (an estimate frame without ``suppressed``
    is refused). ``options``: ``wide=(rows, columns)`` for a two-way layout, ``percent``,
    ``decimals``, ``percent_columns`` (for plain frames). Returns the formatted frame.
    """
    if not title:
        raise OutputError("write_table needs a title")
    check_publishable(df, title)
    display = display_frame(df, instrument, **options)
    if display.empty:
        raise OutputError(f"table {title!r} has no rows to publish")
    foot = footnotes(df, thresholds, notes, method_note)
    if csv_path is not None:
        atomic_write_text(csv_path, published_csv(df))
    if html_path is not None:
        fragment = html_table(display, title=title, subtitle=subtitle, notes=foot)
        atomic_write_text(html_path, html_page(fragment, title))
    if docx_path is not None:
        atomic_write_bytes(docx_path, docx_bytes(display, title=title, subtitle=subtitle, notes=foot))
    return display


def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a published or interim frame from CSV or Parquet."""
    path = Path(path)
    if not path.exists():
        raise OutputError(f"input {path} does not exist")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        try:
            return pd.read_csv(path)
        except pd.errors.EmptyDataError:  # a table with no columns (a model without marginal effects)
            return pd.DataFrame()
    raise OutputError(f"input {path} is neither CSV nor Parquet")


# -- the workflow's tables, by name --------------------------------------------------------------
def table_title(name: str, plan: Any) -> str:
    """The title of one of the workflow's tables (:meth:`Plan.tables`), from the plan's words."""
    q, kind = plan.output(name)
    who = plan.population
    dims = " and ".join(plan.dimension_label(q, d) for d in q.dims)
    if kind == "items":
        return f"{q.title}: percentage of {who} who {q.says_plain}" + (f", by {dims}" if dims else "")
    if kind == "groups":
        return f"{q.title}: percentage of {who} who {q.says_plain}, by group"
    if kind == "comparisons":
        return f"{q.title}: differences between groups of {who} in the percentage who {q.says_plain}"
    if kind == "tests":
        return f"{q.title}: tests of association with group"
    if kind.startswith("by_"):
        return f"{q.title}: distribution of answers by {plan.dimension_label(q, kind[3:])}"
    return f"{q.title}: distribution of answers" + (f" by {dims}" if dims else "")


def related_frame(name: str) -> str | None:
    """The frame whose withheld cells a table's cells depend on: a question's group comparisons
    compare the estimates of its group table."""
    return name[: -len("_comparisons")] + "_groups" if name.endswith("_comparisons") else None


def publish_table(
    name: str,
    frames: Mapping[str, pd.DataFrame],
    plan: Any,
    thresholds: Thresholds,
    csv_path: str | Path | None,
    html_path: str | Path | None = None,
    docx_path: str | Path | None = None,
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
    method_note: str | None = None,
) -> pd.DataFrame:
    """Disclosure-control and write one of the workflow's tables from the estimate frames.

    ``frames``: the estimation stage's frames by name (``interim/estimates/``); the table is
    ``frames[name]``, protected by :func:`social_licence.disclosure.protect` (a question's group
    comparisons against its protected group table, so a group withheld there is withheld here
    too). ``plan``: the analysis plan (:mod:`social_licence.survey.plan`), whose instrument and
    words title the table. Returns the formatted frame.
    """
    instrument = plan.instrument
    if name not in frames:
        raise OutputError(f"table {name!r} is not among the estimates ({', '.join(frames)})")
    frame = frames[name]
    if frame is None or len(frame) == 0:
        raise OutputError(f"table {name!r}: the estimate frame is empty (is its grid in the instrument?)")
    related = None
    other = related_frame(name)
    if other is not None and other in frames:
        related = protect(frames[other], thresholds, instrument, name=other)
    protected = protect(frame, thresholds, instrument, estimates=related, name=name)
    return write_table(
        protected,
        csv_path,
        html_path,
        docx_path,
        title=title or table_title(name, plan),
        notes=notes,
        thresholds=thresholds,
        instrument=instrument,
        method_note=method_note,
    )
