"""The codebook: every variable with label, type, codes and labels, frequencies, missing counts.

One row per variable and answer category (one row for a numeric, text or date variable), with
unweighted and weighted counts and shares of the valid base, and, repeated on each row of a
variable, the variable's valid base and its missing counts by reason (``dont_know``,
``refused``, ``not_asked``, ``by_design``, ``system``). Shares are in [0, 1] in the CSV and shown
as percentages in the HTML. Numeric variables get their mean, standard deviation and median
(never the minimum or maximum, which are single respondents' values); text variables only the
number of answers. The HTML is one self-contained page (inline CSS, no scripts, no external
files); both files are written atomically and hold no timestamp, so a rerun gives the same bytes.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..html import html_page, html_table
from ..io import atomic_write_text, csv_text
from ..survey.instrument import MISSING_REASONS, Instrument
from ..survey.missing import reason_column
from ..survey.survey import Survey

__all__ = ["CODEBOOK_COLUMNS", "codebook_table", "write_codebook"]

MISSING_COLUMNS = [f"missing_{r}" for r in MISSING_REASONS]
CODEBOOK_COLUMNS = [
    "variable",
    "label",
    "type",
    "code",
    "level",
    "count_unweighted",
    "share_unweighted",
    "count_weighted",
    "share_weighted",
    "n_unweighted",
    "n_weighted",
    *MISSING_COLUMNS,
    "mean",
    "sd",
    "median",
    "weighted_mean",
    "weighted_by",
    "note",
]


def _weights(
    survey: Survey, instrument: Instrument | None, weights: Any
) -> tuple[np.ndarray | None, str]:
    data = survey.data
    if weights is None:
        name = instrument.design.get("weight") if instrument is not None else None
        if name and name in data.columns:
            weights = name
        else:
            return None, ""
    if isinstance(weights, str):
        if weights not in data.columns:
            raise InputError(
                "the weight column is not in the survey", file=survey.file, variable=weights
            )
        w = pd.to_numeric(data[weights], errors="coerce").to_numpy(dtype=float)
        label = weights
    else:
        w = np.asarray(
            weights.reindex(data.index) if isinstance(weights, pd.Series) else weights, dtype=float
        )
        label = getattr(weights, "name", None) or "weights given"
        if w.shape != (len(data),):
            raise InputError(
                f"weights have {w.shape[0] if w.ndim else 0} values for {len(data)} respondents"
            )
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise InputError(
            "weights must be finite and non-negative",
            file=survey.file,
            variable=label,
            value=float(w[np.flatnonzero(bad)[0]]),
            rows=np.asarray(survey.rows)[bad].tolist(),
        )
    return w, str(label)


def codebook_table(
    survey: Survey, instrument: Instrument | None = None, weights: Any = None
) -> pd.DataFrame:
    """The codebook as a frame with :data:`CODEBOOK_COLUMNS`.

    Variables in instrument order when an instrument is given (the respondent ID and the direct
    identifiers get a row that says how they were handled, and nothing else), then any other
    column of the frame (a final ``weight``, say) in frame order. ``weights``: a column name, an
    array or a Series aligned with the respondents; None uses the instrument's design weight
    when the survey has it, else the weighted columns are empty.
    """
    data = survey.data
    w, weighted_by = _weights(survey, instrument, weights)
    rows: list[dict[str, Any]] = []
    metas = survey.meta.get("variables", {})
    in_sets = {
        v: f"in multiple-response set {name}"
        for name, spec in (survey.meta.get("mr_sets") or {}).items()
        for v in spec.get("variables", [])
    }
    order = list(survey.variables)
    if instrument is not None:
        handled = {instrument.id, *instrument.identifiers}
        order = [v for v in instrument.variables if v in data.columns or v in handled]
        order += [v for v in survey.variables if v not in order]
    for var in order:
        if var not in data.columns:
            rows.append(_handled_row(var, instrument, survey, weighted_by))
            continue
        col = data[var]
        vmeta = metas.get(var, {})
        label = vmeta.get("label") or (
            instrument[var].label if instrument is not None and var in instrument else var
        )
        vtype = vmeta.get("type") or (
            "categorical" if isinstance(col.dtype, pd.CategoricalDtype) else "numeric"
        )
        rcol = reason_column(var)
        if rcol in data.columns:
            reasons = data[rcol].astype(str).where(data[rcol].notna())
            counts = reasons.value_counts()
            missing = {f"missing_{r}": int(counts.get(r, 0)) for r in MISSING_REASONS}
            unexplained = int((col.isna() & data[rcol].isna()).sum())
            missing["missing_system"] += unexplained
        else:
            missing = {c: 0 for c in MISSING_COLUMNS}
            missing["missing_system"] = int(col.isna().sum())
        valid = col.notna().to_numpy()
        base: dict[str, Any] = {
            "variable": var,
            "label": label,
            "type": vtype,
            "n_unweighted": int(valid.sum()),
            "n_weighted": float(w[valid].sum()) if w is not None else np.nan,
            **missing,
            "weighted_by": weighted_by,
            "note": in_sets.get(var, vmeta.get("note", "")),
        }
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy()
            k = len(col.cat.categories)
            counts = np.bincount(codes[codes >= 0], minlength=k)
            wcounts = (
                np.bincount(codes[codes >= 0], weights=w[codes >= 0], minlength=k)
                if w is not None
                else None
            )
            by_label = {str(lab): c for c, lab in (vmeta.get("value_labels") or {}).items()}
            for i, lab in enumerate(col.cat.categories):
                row = dict(base)
                row.update(
                    code=by_label.get(str(lab)),
                    level=str(lab),
                    count_unweighted=int(counts[i]),
                    share_unweighted=counts[i] / base["n_unweighted"]
                    if base["n_unweighted"]
                    else np.nan,
                    count_weighted=float(wcounts[i]) if wcounts is not None else np.nan,
                    share_weighted=(wcounts[i] / base["n_weighted"])
                    if wcounts is not None and base["n_weighted"] > 0
                    else np.nan,
                )
                rows.append(row)
            if k == 0:
                rows.append(dict(base))
        elif pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            x = col.to_numpy(dtype=float, na_value=np.nan)[valid]
            row = dict(base)
            row.update(count_unweighted=int(valid.sum()))
            if len(x):
                row.update(mean=float(x.mean()), median=float(np.median(x)))
                row["sd"] = float(x.std(ddof=1)) if len(x) > 1 else np.nan
                if w is not None and w[valid].sum() > 0:
                    row["weighted_mean"] = float(np.average(x, weights=w[valid]))
            rows.append(row)
        else:
            row = dict(base)
            row.update(count_unweighted=int(valid.sum()))
            rows.append(row)
    codes = [r.pop("code", None) for r in rows]
    table = pd.DataFrame(rows, columns=CODEBOOK_COLUMNS)
    table["code"] = pd.Series(codes, dtype=object, index=table.index)  # keep 1 as 1, ".a" as ".a"
    for c in ("count_unweighted", "n_unweighted", *MISSING_COLUMNS):
        table[c] = table[c].astype("Int64")
    source = survey.meta.get("source") or {}
    table.attrs["source"] = {
        k: source.get(k) for k in ("name", "sha256", "format", "n_rows") if k in source
    }
    table.attrs["respondents"] = len(data)
    table.attrs["weighted_by"] = weighted_by
    return table


def _handled_row(var: str, instrument: Instrument, survey: Survey, weighted_by: str) -> dict:
    """The row of a variable the analysis file does not carry: the ID or a direct identifier."""
    spec = instrument[var]
    if var == instrument.id:
        note = {
            "pseudonym": "replaced by a keyed pseudonym (HMAC-SHA256), the frame's index",
            "raw_id": "the frame's index (not yet pseudonymised)",
        }.get(survey.meta.get("index"), "the frame's index")
    else:
        note = "direct identifier: dropped at ingest, never read"
    row = {c: np.nan for c in CODEBOOK_COLUMNS}
    row.update(variable=var, label=spec.label, type=spec.type, weighted_by=weighted_by, note=note)
    for c in ("count_unweighted", "n_unweighted", *MISSING_COLUMNS):
        row[c] = None
    return row


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:60rem;
color:#1b1b1b;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem}
h2{font-size:1.15rem;margin:2rem 0 .3rem;border-top:1px solid #ccc;padding-top:1rem}
.meta{color:#444;font-size:.9rem}code{background:#f3f3f3;padding:0 .25rem}
nav ol{columns:2;font-size:.9rem}
"""
_HEAD = f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<style>{_CSS}</style>\n'
_ANSWER_COLUMNS = ("Code", "Label", "n", "%", "Weighted n", "Weighted %")
_STATISTIC_COLUMNS = ("Mean", "SD", "Median", "Weighted mean")


def _fmt_int(v: Any) -> str:
    return "" if v is None or pd.isna(v) else f"{int(v):,}"


def _fmt_num(v: Any, digits: int = 1) -> str:
    return "" if v is None or pd.isna(v) else f"{float(v):,.{digits}f}"


def _fmt_pct(v: Any) -> str:
    return "" if v is None or pd.isna(v) else f"{100 * float(v):.1f}%"


def _fmt_code(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def codebook_html(table: pd.DataFrame, title: str = "Codebook") -> str:
    """The codebook as one self-contained HTML page; its tables come from the package's one
    HTML table renderer (:func:`social_licence.html.html_table`)."""
    e = html.escape
    source = table.attrs.get("source") or {}
    weighted_by = table.attrs.get("weighted_by") or ""
    parts = [f"<h1>{e(title)}</h1>"]
    facts = []
    if source.get("name"):
        facts.append(f"Source file <code>{e(str(source['name']))}</code>")
    if source.get("sha256"):
        facts.append(f"SHA-256 <code>{e(str(source['sha256']))}</code>")
    if "respondents" in table.attrs:
        facts.append(f"{int(table.attrs['respondents']):,} respondents")
    facts.append(f"weighted by <code>{e(weighted_by)}</code>" if weighted_by else "unweighted")
    parts.append(f'<p class="meta">{" · ".join(facts)}</p>')
    parts.append(
        '<p class="meta">Shares are of the valid answers (the base); missing answers are counted '
        "by reason and never enter a base.</p>"
    )
    variables = list(dict.fromkeys(table["variable"]))
    parts.append("<nav><ol>")
    for i, var in enumerate(variables):
        parts.append(f'<li><a href="#v{i}">{e(str(var))}</a></li>')
    parts.append("</ol></nav>")
    for i, (var, block) in enumerate(table.groupby("variable", sort=False)):
        first = block.iloc[0]
        parts.append(
            f'<section id="v{i}"><h2><code>{e(str(var))}</code> {e(str(first["label"]))}</h2>'
        )
        note = first.get("note")
        note = note if isinstance(note, str) and note else ""
        if pd.isna(first["n_unweighted"]):  # the ID or an identifier: how it was handled, no data
            parts.append(f'<p class="meta">Type: {e(str(first["type"]))} · {e(note)}</p></section>')
            continue
        miss = ", ".join(
            f"{r.replace('_', ' ')} {_fmt_int(first[f'missing_{r}'])}"
            for r in MISSING_REASONS
            if first[f"missing_{r}"] > 0
        )
        weighted = (
            f" (weighted {_fmt_num(first['n_weighted'])})" if pd.notna(first["n_weighted"]) else ""
        )
        parts.append(
            f'<p class="meta">Type: {e(str(first["type"]))} · valid answers '
            f"{_fmt_int(first['n_unweighted'])}{weighted} · missing: {e(miss) if miss else 'none'}"
            + (f" · {e(note)}" if note else "")
            + "</p>"
        )
        if block["level"].notna().any():
            answers = pd.DataFrame(
                {
                    "Code": [_fmt_code(v) for v in block["code"]],
                    "Label": [str(v) for v in block["level"]],
                    "n": [_fmt_int(v) for v in block["count_unweighted"]],
                    "%": [_fmt_pct(v) for v in block["share_unweighted"]],
                    "Weighted n": [_fmt_num(v) for v in block["count_weighted"]],
                    "Weighted %": [_fmt_pct(v) for v in block["share_weighted"]],
                },
                columns=list(_ANSWER_COLUMNS),
            )
            parts.append(html_table(answers, table_id=f"v{i}-answers", numeric=_ANSWER_COLUMNS[2:]))
        elif pd.notna(first["mean"]):
            stats = pd.DataFrame(
                [[_fmt_num(first[c], 3) for c in ("mean", "sd", "median", "weighted_mean")]],
                columns=list(_STATISTIC_COLUMNS),
            )
            parts.append(html_table(stats, table_id=f"v{i}-statistics", numeric=_STATISTIC_COLUMNS))
        parts.append("</section>")
    return html_page("\n".join(parts), title, head=_HEAD)


def write_codebook(
    table: pd.DataFrame,
    csv_path: str | Path,
    html_path: str | Path,
    *,
    title: str = "Codebook",
    columns: Sequence[str] = tuple(CODEBOOK_COLUMNS),
) -> None:
    """Write the codebook as CSV and HTML; both are rendered before either file is written,
    and each is written atomically."""
    missing = [c for c in ("variable", "label", "type", "level") if c not in table.columns]
    if missing:
        raise InputError(f"not a codebook table: no column(s) {', '.join(missing)}")
    csv = csv_text(table[list(columns)])
    html_text = codebook_html(table, title=title)
    atomic_write_text(csv_path, csv)
    atomic_write_text(html_path, html_text)
