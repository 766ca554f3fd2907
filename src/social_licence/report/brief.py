"""The policy brief: one self-contained HTML page a policymaker can read in a minute and print.

Key messages are written from the numbers (never typed in), every frame passes disclosure
control (:func:`social_licence.disclosure.protect`) before it is quoted, tabulated or drawn, and
the page says what was withheld and why. Figures are embedded as data URIs and the CSS is
inline, so the single file renders anywhere and prints cleanly to A4 PDF; nothing in it
depends on the date or the machine, so the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from ..errors import DisclosureError, OutputError
from ..io import atomic_write_text
from ..survey.instrument import Instrument, load_instrument
from . import figures as F
from .disclosure import (
    GROUP_VARIABLE,
    SYMBOL_LOW_PRECISION,
    SYMBOL_SUPPRESSED,
    Thresholds,
    item_columns_of,
    key_columns,
    protect,
)
from .figures import render_figure
from .tables import (
    OVERALL_GROUP,
    RELATED,
    display_frame,
    footnotes,
    format_number,
    format_percent,
    headline_cell,
    html_table,
    interaction_note,
    is_published,
    lower_first,
    main_effects,
    main_model,
    model_type,
    read_frame,
    reference_note,
    variable_label,
)

#: What the brief reads, by name (values are frames, or CSV/Parquet paths).
BRIEF_INPUTS = {
    "instrument": "the Instrument (or the path of instrument.yaml); required",
    "acceptability_type_purpose": "% acceptable per data type x purpose (level 'acceptable'); required",
    "acceptability_by_type": "distribution of ratings (scale labels as levels) by data_type",
    "acceptability_by_purpose": "distribution of ratings (scale labels as levels) by purpose",
    "acceptability_by_group": "% acceptable by social group, stacked (group_variable, group), "
    "whole sample as 'All'; per data_type x purpose or pooled",
    "trust": "distribution of trust ratings by organisation",
    "rights": "distribution of agreement with each rights statement (consent, view, opt out) by right",
    "group_comparisons": "pairwise differences between groups per item (group_a, group_b, difference, "
    "p_adjusted, adjust_method, family_size), stacked as acceptability_by_group",
    "models": "model table(s): term, estimate, ci_low, ci_high (log-odds), p_value, odds_ratio",
    "effects": "marginal effects by group (statistic predicted/difference, reference)",
    "qa_flow": "QA flow: step, rule, excluded, remaining (detail); required",
    "weight_summary": "weight summary rows (weights = base/final): n, deff_kish, n_effective; required",
    "margins": "raking margins: margin, category, before, after, target",
}
REQUIRED = ("instrument", "acceptability_type_purpose", "qa_flow", "weight_summary")
DEFAULT_TITLE = "Parents' social licence for linking administrative data"


@dataclass
class _Page:
    """What the brief collects while it is built: withheld cells and figures, in order."""

    thresholds: Thresholds
    instrument: Instrument
    figure_format: str = "svg"
    dpi: int = 150
    withheld: list[tuple[str, str]] = field(default_factory=list)  # (what, why)
    figures: int = 0
    tables: int = 0


# -- helpers -------------------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(text: str) -> str:
    return f'<span class="number">{_e(text)}</span>'


def _pct(value: float) -> str:
    return format_percent(value) + "%"


def _load(inputs: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in REQUIRED if inputs.get(k) is None]
    if missing:
        raise OutputError(f"the brief needs input(s) {missing}; it was given {sorted(k for k in inputs if inputs[k] is not None)}")
    unknown = sorted(set(inputs) - set(BRIEF_INPUTS))
    if unknown:
        raise OutputError(f"the brief does not know input(s) {unknown}; it reads {sorted(BRIEF_INPUTS)}")
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        if value is None:
            continue
        if key == "instrument":
            out[key] = load_instrument(value) if isinstance(value, (str, Path)) else value
        elif isinstance(value, (str, Path)):
            out[key] = read_frame(value)
        elif isinstance(value, Mapping):  # several models: name -> table
            frames = []
            for name, v in value.items():
                f = read_frame(v) if isinstance(v, (str, Path)) else v
                frames.append(f if "model" in f.columns else f.assign(model=name))
            out[key] = pd.concat(frames, ignore_index=True) if frames else None
        elif isinstance(value, (list, tuple)):
            frames = [read_frame(v) if isinstance(v, (str, Path)) else v for v in value]
            out[key] = pd.concat(frames, ignore_index=True) if frames else None
        else:
            out[key] = value
    return out


def _label(instrument: Instrument, grid: str, dim: str, code: Any) -> str:
    g = instrument.grids[grid]
    labels = g.rows if dim == g.row_name else g.columns
    if code not in labels:
        raise OutputError(f"the brief: {dim} {code!r} is not in grid {grid} (known: {', '.join(labels)})")
    return labels[code]


def group_phrase(instrument: Instrument, group_variable: str, group: Any) -> str:
    """How a sentence names a group: 'Black parents', 'parents answering Yes to “Lone
    parent”', 'parents whose parent age band is 18-29'."""
    if group_variable == OVERALL_GROUP:
        return "all parents"
    if group_variable in instrument:
        var = instrument[group_variable]
        if set(var.labels) <= {"Yes", "No", "Not sure"}:
            return f"parents answering {group} to \u201c{var.label}\u201d"
        if var.type == "categorical":
            return f"{group} parents"
        return f"parents whose {lower_first(var.label)} is {lower_first(str(group))}"
    return f"parents in group {group_variable} = {group}"


def _pair_phrases(instrument: Instrument, group_variable: str, group: Any, other: Any) -> tuple[str, str]:
    """Two groups of one variable as a sentence compares them: 'Black parents' and 'White
    parents'; for a yes/no question the second is 'those answering No'."""
    who = group_phrase(instrument, group_variable, group)
    if group_variable in instrument and set(instrument[group_variable].labels) <= {"Yes", "No", "Not sure"}:
        return who, f"those answering {other}"
    return who, group_phrase(instrument, group_variable, other)


def _use_phrase(instrument: Instrument, grid: str, row: Any, col: Any) -> str:
    return f"linking {_label(instrument, grid, instrument.grids[grid].row_name, row)} for {_label(instrument, grid, instrument.grids[grid].column_name, col)}"


def _low(row: pd.Series) -> str:
    return f' <span class="low">(low precision {SYMBOL_LOW_PRECISION})</span>' if bool(row.get("low_precision", False)) else ""


def acceptable_share(frame: pd.DataFrame, instrument: Instrument, grid: str, by: str) -> pd.DataFrame:
    """Share in the scale's positive categories per value of ``by`` (the ``acceptable`` level
    when the frame has it, else the sum of the positive levels; withheld if any level is)."""
    scale = instrument.scales[instrument.grids[grid].scale]
    positive = [scale["codes"][c] for c in scale["positive"]]
    rows = []
    for value, part in frame.groupby(by, sort=False, observed=True):
        levels = part.set_index(part["level"].astype(object))
        if "acceptable" in levels.index:
            r = levels.loc["acceptable"]
            rows.append({by: value, "estimate": r["estimate"], "suppressed": bool(r.get("suppressed", False)), "low_precision": bool(r.get("low_precision", False))})
            continue
        if not all(p in levels.index for p in positive):
            continue
        sel = levels.loc[positive]
        withheld = bool(sel.get("suppressed", pd.Series(False, index=sel.index)).any())
        rows.append({by: value, "estimate": np.nan if withheld else float(sel["estimate"].sum()), "suppressed": withheld, "low_precision": False})
    return pd.DataFrame(rows)


# -- key messages --------------------------------------------------------------------------------
def _headline(data: Mapping[str, Any], options: Mapping[str, Any], inst: Instrument) -> str | None:
    """'N% of parents find linking X for Y acceptable; among <group>, M%.' The item is the one
    the group section shows (:func:`headline_cell`); the group is the configured one, else the
    published, precise group furthest from all parents."""
    by_group = data.get("acceptability_by_group")
    if by_group is None:
        return None
    g = inst.grids["acceptability"]
    wanted = dict(options.get("headline") or {})
    for key in wanted:
        if key not in (g.row_name, g.column_name, GROUP_VARIABLE, "group"):
            raise OutputError(f"the brief: headline option {key!r} is not one of {g.row_name}, {g.column_name}, group_variable, group")
    sub = by_group[by_group["level"].astype(object) == "acceptable"]
    for col in (GROUP_VARIABLE, "group"):
        if col in wanted and wanted[col] not in set(sub[col].astype(object)):
            raise OutputError(f"the brief: headline {col} {wanted[col]!r} is not in acceptability_by_group")
    item = headline_cell(by_group, options, inst)
    for c, v in item.items():
        sub = sub[sub[c].astype(object) == v]
    overall = sub[sub[GROUP_VARIABLE].astype(object) == OVERALL_GROUP]
    if overall.empty and item:
        overall = data["acceptability_type_purpose"]
        for c, v in item.items():
            overall = overall[overall[c].astype(object) == v]
    if overall.empty:
        return None
    o = overall.iloc[0]
    groups = sub[sub[GROUP_VARIABLE].astype(object) != OVERALL_GROUP]
    if "group_variable" in wanted:
        groups = groups[groups[GROUP_VARIABLE].astype(object) == wanted["group_variable"]]
    if "group" in wanted:
        groups = groups[groups["group"].astype(object) == wanted["group"]]
        if groups.empty:
            return None
        r = groups.iloc[0]
    else:
        ok = groups[[is_published(x) and not bool(x.get("low_precision", False)) for _, x in groups.iterrows()]]
        if ok.empty or not is_published(o):
            return None
        r = ok.loc[(ok["estimate"].astype(float) - float(o["estimate"])).abs().idxmax()]
    what = (
        _use_phrase(inst, "acceptability", item[g.row_name], item[g.column_name])
        if item
        else "linking records about their families (all uses asked about)"
    )
    lead = (
        f"{_num(_pct(o['estimate']))} of parents find {_e(what)} acceptable{_low(o)}"
        if is_published(o)
        else f"The share of parents who find {_e(what)} acceptable is withheld"
    )
    who = _e(group_phrase(inst, r[GROUP_VARIABLE], r["group"]))
    tail = (
        f"; among {who}, {_num(_pct(r['estimate']))}{_low(r)}."
        if is_published(r)
        else f"; among {who} the figure is withheld {SYMBOL_SUPPRESSED} (see what was withheld)."
    )
    return lead + tail


def _range_message(grid: pd.DataFrame, inst: Instrument) -> str | None:
    g = inst.grids["acceptability"]
    ok = grid[[is_published(r) for _, r in grid.iterrows()]]
    ok = ok[ok["level"].astype(object) == "acceptable"]
    if len(ok) < 2:
        return None
    hi = ok.loc[ok["estimate"].astype(float).idxmax()]
    lo = ok.loc[ok["estimate"].astype(float).idxmin()]
    return (
        f"Acceptability depends on what is linked and why: {_num(_pct(hi['estimate']))} of parents find "
        f"{_e(_use_phrase(inst, 'acceptability', hi[g.row_name], hi[g.column_name]))} acceptable{_low(hi)}, but only "
        f"{_num(_pct(lo['estimate']))} {_e(_use_phrase(inst, 'acceptability', lo[g.row_name], lo[g.column_name]))}{_low(lo)}."
    )


def _dimension_message(frame: pd.DataFrame | None, inst: Instrument, by: str) -> str | None:
    if frame is None or by not in frame.columns:
        return None
    share = acceptable_share(frame, inst, "acceptability", by)
    share = share[~share["suppressed"] & share["estimate"].notna()]
    if len(share) < 2:
        return None
    hi = share.loc[share["estimate"].astype(float).idxmax()]
    lo = share.loc[share["estimate"].astype(float).idxmin()]
    name = lambda v: _e(_label(inst, "acceptability", by, v))  # noqa: E731
    if by == inst.grids["acceptability"].column_name:
        return (
            f"Across all the records asked about, the most accepted purpose is {name(hi[by])} "
            f"({_num(_pct(hi['estimate']))} acceptable) and the least accepted is {name(lo[by])} ({_num(_pct(lo['estimate']))})."
        )
    return (
        f"Across all purposes, parents are most comfortable with linking {name(hi[by])} "
        f"({_num(_pct(hi['estimate']))} acceptable) and least with {name(lo[by])} ({_num(_pct(lo['estimate']))})."
    )


def _trust_message(frame: pd.DataFrame | None, inst: Instrument) -> str | None:
    if frame is None or "trust" not in inst.grids:
        return None
    g = inst.grids["trust"]
    if g.row_name not in frame.columns:
        return None
    share = acceptable_share(frame, inst, "trust", g.row_name)
    share = share[~share["suppressed"] & share["estimate"].notna()]
    if len(share) < 2:
        return None
    hi = share.loc[share["estimate"].astype(float).idxmax()]
    lo = share.loc[share["estimate"].astype(float).idxmin()]
    return (
        f"{_num(_pct(hi['estimate']))} of parents trust {_e(g.rows[hi[g.row_name]])} at least a fair amount to use "
        f"data about families responsibly, against {_num(_pct(lo['estimate']))} for {_e(g.rows[lo[g.row_name]])}."
    )


def _magnitude(value: float) -> str:
    return format_percent(abs(float(value)))


def _ci_points(row: pd.Series, ci_level: float) -> str:
    """'(95% CI 5 to 27 points)' for an effect whose interval lies on one side of zero."""
    a, b = sorted((abs(float(row["ci_low"])), abs(float(row["ci_high"]))))
    return f"({ci_level:.0%} CI {format_percent(a)} to {format_percent(b)} points)"


def _clear_of_zero(frame: pd.DataFrame) -> pd.DataFrame:
    lo, hi = frame["ci_low"].astype(float), frame["ci_high"].astype(float)
    return frame[(lo > 0) | (hi < 0)]


def _effect_message(
    effects: pd.DataFrame | None,
    inst: Instrument,
    models: pd.DataFrame | None = None,
    options: Mapping[str, Any] | None = None,
) -> str | None:
    """Adjusted differences from the main model (:func:`social_licence.tables.main_model`):
    the largest difference between uses (data type or purpose), phrased about the use, and the
    largest between groups of parents, phrased about the parents; each only when its interval
    excludes zero. Other models (on other outcomes or scales) are never quoted here."""
    if effects is None or "statistic" not in effects.columns:
        return None
    options = dict(options or {})
    ci_level = float(dict(options.get("estimation") or {}).get("ci_level", 0.95))
    main = main_model(models, effects, options.get("model"))
    diff = effects[(effects["statistic"].astype(str) == "difference") & ~effects["suppressed"].astype(bool)]
    if main is not None and "model" in diff.columns:
        diff = diff[diff["model"].astype(str) == main]
    diff = _clear_of_zero(diff[diff["estimate"].notna()])
    if diff.empty:
        return None
    level = str(diff["level"].iloc[0]) if "level" in diff.columns else "acceptable"
    if level == "mean":
        return None  # the outcome is not a share: no percentage points to quote
    outcome = "to find a use acceptable" if level == "acceptable" else f"to answer {level}"
    g = inst.grids["acceptability"]
    gv = diff[GROUP_VARIABLE].astype(str) if GROUP_VARIABLE in diff.columns else pd.Series("", index=diff.index)
    uses = diff[gv.isin([g.row_name, g.column_name])]
    groups = diff[~gv.isin([g.row_name, g.column_name])]
    sentences = []
    if len(uses):
        r = uses.loc[uses["estimate"].astype(float).abs().idxmax()]
        dim = r[GROUP_VARIABLE]
        this, ref = (_label(inst, "acceptability", dim, r[c]) for c in ("group", "reference"))
        subject, versus = (
            (f"linking records for {this}", f"linking them for {ref}") if dim == g.column_name else (f"linking {this}", f"linking {ref}")
        )
        direction = "less" if float(r["estimate"]) < 0 else "more"
        found = "to be found acceptable" if level == "acceptable" else outcome
        sentences.append(
            f"{_e(subject)} is {_num(_magnitude(r['estimate']) + ' percentage points')} {direction} likely {found} than "
            f"{_e(versus)} {_e(_ci_points(r, ci_level))}"
        )
    if len(groups):
        r = groups.loc[groups["estimate"].astype(float).abs().idxmax()]
        gvar = r.get(GROUP_VARIABLE, None)
        who, ref = (
            _pair_phrases(inst, gvar, r["group"], r["reference"])
            if gvar is not None
            else (f"parents in group {r['group']}", f"group {r['reference']}")
        )
        direction = "less" if float(r["estimate"]) < 0 else "more"
        sentences.append(
            f"{_e(who)} are {_num(_magnitude(r['estimate']) + ' percentage points')} {direction} likely than {_e(ref)} "
            f"{_e(outcome)} {_e(_ci_points(r, ci_level))}"
        )
    if not sentences:
        return None
    return "Other things equal, " + ", and ".join(sentences) + "."


def _rights_message(frame: pd.DataFrame | None, inst: Instrument) -> str | None:
    """'N% of parents agree that <statement>; M% that <statement> ...' for the rights grid."""
    if frame is None or "rights" not in inst.grids:
        return None
    g = inst.grids["rights"]
    if g.row_name not in frame.columns:
        return None
    share = acceptable_share(frame, inst, "rights", g.row_name)
    share = share[~share["suppressed"] & share["estimate"].notna()]
    if share.empty:
        return None
    scale = inst.scales[g.scale]
    positive = [scale["codes"][c] for c in scale["positive"]]
    verb = "agree" if all("agree" in p.lower() for p in positive) else "answer " + " or ".join(positive)
    parts = []
    for i, (_, r) in enumerate(share.iterrows()):
        statement = _e(lower_first(g.rows[r[g.row_name]]))
        pct = _num(_pct(r["estimate"]))
        parts.append(f"{pct} of parents {verb} that {statement}" if i == 0 else f"{pct} that {statement}")
    return "; ".join(parts) + "."


def _comparisons_message(
    comparisons: pd.DataFrame | None,
    inst: Instrument,
    options: Mapping[str, Any] | None = None,
) -> str | None:
    """Which published differences between groups survive the multiple-comparison adjustment,
    with the family it was made over (method and size from the frame); none when the frame
    says no adjustment was made."""
    need = {"group_a", "group_b", "difference", "p_adjusted", "adjust_method", "family_size"}
    if comparisons is None or not need <= set(comparisons.columns) or comparisons.empty:
        return None
    methods = sorted(set(comparisons["adjust_method"].dropna().astype(str)))
    if not methods or methods == ["none"] or len(methods) > 1:
        return None
    ci_level = float(dict(dict(options or {}).get("estimation") or {}).get("ci_level", 0.95))
    alpha = 1 - ci_level
    g = inst.grids["acceptability"]
    sizes = comparisons["family_size"].dropna().astype(int)
    families = comparisons["family"].nunique() if "family" in comparisons.columns else 1
    n_vars = comparisons[GROUP_VARIABLE].nunique()
    cells = [c for c in (g.row_name, g.column_name) if c in comparisons.columns]
    n_uses = len(comparisons[cells].drop_duplicates()) if cells else 0
    scope = f"{n_vars} characteristics" + (f" and {n_uses} uses" if n_uses > 1 else "")
    family = (
        f"{methods[0]} adjustment over all {int(sizes.iloc[0]):,} pairwise comparisons between groups of parents, for {scope}"
        if families == 1 and len(sizes)
        else f"{methods[0]} adjustment within each of {families} families of comparisons, for {scope}"
    )
    published = comparisons[~comparisons["suppressed"].astype(bool) & comparisons["p_adjusted"].notna()]
    survive = published[published["p_adjusted"].astype(float) < alpha]
    level = f"{alpha:.0%} level"
    if survive.empty:
        return (
            f"Allowing for multiple comparisons ({_e(family)}), no published difference between groups of parents "
            f"remains significant at the {level}: read the group differences for single uses as indicative."
        )
    r = survive.loc[survive["difference"].astype(float).abs().idxmax()]
    where = (
        "find " + _use_phrase(inst, "acceptability", r[g.row_name], r[g.column_name]) + " acceptable"
        if len(cells) == 2
        else "find it acceptable"
    )
    k = len(survive)
    direction = "less" if float(r["difference"]) < 0 else "more"
    who, ref = _pair_phrases(inst, r[GROUP_VARIABLE], r["group_a"], r["group_b"])
    count = "one published difference remains" if k == 1 else f"{k} published differences remain"
    return (
        f"Allowing for multiple comparisons ({_e(family)}), {count} significant at the {level}"
        f"{':' if k == 1 else '; the largest:'} {_e(who)} are {_num(_magnitude(r['difference']) + ' percentage points')} "
        f"{direction} likely than {_e(ref)} to {_e(where)}."
    )


# -- figures and tables --------------------------------------------------------------------------
def _figure(page: _Page, title: str, build: Callable[[], Any], caption: str) -> str:
    try:
        plot = build()
    except DisclosureError as exc:
        page.withheld.append((f"Figure: {title}", str(exc).split(": ", 1)[-1]))
        return f'<p class="notice">{SYMBOL_SUPPRESSED} The figure "{_e(title)}" is withheld: {_e(str(exc).split(": ", 1)[-1])}.</p>'
    data = render_figure(plot, page.figure_format, dpi=page.dpi)
    mime = "image/svg+xml" if page.figure_format == "svg" else "image/png"
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    page.figures += 1
    return (
        f'<figure id="figure-{page.figures}"><img src="{uri}" alt="{_e(title)}">'
        f"<figcaption>Figure {page.figures}. {_e(caption)}</figcaption></figure>"
    )


def _table(page: _Page, frame: pd.DataFrame, title: str, notes: Sequence[str] = (), **options: Any) -> str:
    shown = display_frame(frame, page.instrument, **options)
    page.tables += 1
    notes = footnotes(frame, page.thresholds, notes)
    fragment = html_table(shown, title=f"Table {page.tables}. {title}", notes=notes, table_id=f"table-{page.tables}")
    size = " long" if len(shown) > 14 else ""
    return f'<div class="table-wrap{size}">{fragment}</div>'


def _record_withheld(page: _Page, title: str, frame: pd.DataFrame | None) -> None:
    """Summarise the withheld cells of a published frame as plain sentences."""
    if frame is None or "suppressed" not in frame.columns:
        return
    held = frame[frame["suppressed"].fillna(False).astype(bool)]
    if held.empty:
        return
    skip = set(item_columns_of(page.instrument)) | {"variable", "level", "statistic", "reference", "model"}
    keys = [c for c in key_columns(frame) + ["group"] if c in frame.columns and c not in skip]
    keys = list(dict.fromkeys(keys))
    t = page.thresholds
    for values, part in held.groupby(keys, sort=False, dropna=False) if keys else [((), held)]:
        values = values if isinstance(values, tuple) else (values,)
        desc = dict(zip(keys, values, strict=True))
        if GROUP_VARIABLE in desc:
            who = f"{variable_label(page.instrument, desc.pop(GROUP_VARIABLE))}: {desc.pop('group', '')}"
        else:
            who = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in desc.items()) or "some cells"
        reasons = part["reason"].astype(str)
        n = len(part)
        count = f"{n} estimate{'s' if n != 1 else ''}"
        if reasons.str.startswith("primary").all():
            why = f"fewer than {t.min_base} parents answered"
        elif reasons.str.startswith("secondary").all():
            why = "withheld so that another withheld figure cannot be worked out from the totals"
        else:
            why = f"fewer than {t.min_base} parents answered, or withheld to protect such a figure"
        page.withheld.append((f"{title}: {who} ({count})", why))


# -- methods -------------------------------------------------------------------------------------
def _final_weights(summary: pd.DataFrame) -> pd.Series:
    need = ["n", "deff_kish", "n_effective"]
    missing = [c for c in need if c not in summary.columns]
    if missing:
        raise OutputError(f"the brief: weight_summary lacks column(s) {missing} (has {list(summary.columns)})")
    if "weights" in summary.columns and (summary["weights"] == "final").any():
        return summary[summary["weights"] == "final"].iloc[0]
    return summary.iloc[-1]


def _count(value: Any) -> str:
    """A published count, or [c] where disclosure control withheld it."""
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return SYMBOL_SUPPRESSED if pd.isna(number) else format_number(number, 0)


def _methods(data: Mapping[str, Any], page: _Page, options: Mapping[str, Any]) -> str:
    flow = data["qa_flow"]
    need = [c for c in ("rule", "excluded", "remaining") if c not in flow.columns]
    if need:
        raise OutputError(f"the brief: qa_flow lacks column(s) {need} (has {list(flow.columns)})")
    numbers = flow[["excluded", "remaining"]].apply(pd.to_numeric, errors="coerce")
    received = numbers["remaining"].iloc[0] + numbers["excluded"].iloc[0]
    analysed = numbers["remaining"].iloc[-1]
    excl = flow[numbers["excluded"].fillna(1).to_numpy() > 0]  # withheld counts (NaN) are listed as [c]
    detail = flow["detail"] if "detail" in flow.columns else flow["rule"]
    items = "".join(
        f"<li>{_e(str(detail[i]) or str(r['rule']).replace('_', ' '))}: {_e(_count(r['excluded']))}</li>"
        for i, r in excl.iterrows()
    )
    final = _final_weights(data["weight_summary"])
    est = dict(options.get("estimation") or {})
    ci_level = float(est.get("ci_level", 0.95))
    variance = {
        "linearisation": "Taylor linearisation, allowing for the raking to population margins",
        "jk1": "jackknife replicate weights re-raked in each replicate",
        "jkn": "stratified jackknife replicate weights re-raked in each replicate",
        "bootstrap": "bootstrap replicate weights re-raked in each replicate",
    }.get(str(est.get("variance", "linearisation")), str(est.get("variance")))
    dk = est.get("dk", "exclude")
    margins = data.get("margins")
    margin_names = []
    if margins is not None:
        col = "margin" if "margin" in margins.columns else "variable"
        margin_names = [variable_label(page.instrument, m).lower() if m in page.instrument else str(m) for m in dict.fromkeys(margins[col])]
    grid = data["acceptability_type_purpose"]
    deff = pd.to_numeric(grid.loc[~grid["suppressed"].astype(bool), "deff"], errors="coerce").dropna() if "deff" in grid.columns else pd.Series(dtype=float)
    weighting_text = options.get("weighting_text") or (
        "Weights were raked (iterative proportional fitting) so that the weighted sample matches "
        f"population margins{' for ' + ', '.join(margin_names) if margin_names else ''}."
    )
    parts = [
        "<dl>",
        f"<dt>Sample</dt><dd>{_e(_count(analysed))} parents were analysed, of {_e(_count(received))} responses received.</dd>",
        f"<dt>Exclusions (quality checks, in order)</dt><dd>{'<ul>' + items + '</ul>' if items else 'None.'}</dd>",
        f"<dt>Weighting</dt><dd>{_e(weighting_text)}</dd>",
        "<dt>Design effect and effective sample size</dt><dd>"
        f"Kish's design effect from the weights is {_e(format_number(final['deff_kish'], 2))}, so the {_e(_count(final['n']))} "
        f"weighted responses carry about as much information as {_e(format_number(final['n_effective'], 0))} from a simple random sample."
        + (
            f" Design effects of the estimates in the main table, which also reflect stratification and clustering, range from "
            f"{_e(format_number(deff.min(), 1))} to {_e(format_number(deff.max(), 1))}."
            if len(deff)
            else ""
        )
        + "</dd>",
        f"<dt>What the intervals mean</dt><dd>Each range is a {ci_level:.0%} confidence interval computed from the survey design "
        f"({_e(variance)}): across repeated samples drawn the same way, {ci_level:.0%} of such intervals would contain the value for "
        "all parents. Estimates are percentages of parents who answered; "
        + ("'Don't know' answers are left out of the base." if dk == "exclude" else "'Don't know' answers count as not acceptable.")
        + " Items not put to a parent under the split ballot are never counted as non-response.</dd>",
        f"<dt>Disclosure control</dt><dd>{_e(page.thresholds.rule_text())} Counts are unweighted numbers of parents.</dd>",
        "</dl>",
    ]
    return "\n".join(parts)


# -- the page ------------------------------------------------------------------------------------
def _template(name: str) -> str:
    return resources.files("social_licence.report").joinpath("templates", name).read_text(encoding="utf-8")


def build_brief(
    inputs: Mapping[str, Any],
    thresholds: Thresholds,
    *,
    title: str = DEFAULT_TITLE,
    subtitle: str = "",
    options: Mapping[str, Any] | None = None,
) -> str:
    """The brief as one HTML string. ``inputs``: see :data:`BRIEF_INPUTS` (frames or paths).

    ``options``: ``headline`` (``{data_type, purpose, group_variable, group}``: the cell and
    group of the first key message; by default the published item and group furthest from all
    parents), ``groups`` (grouping variables of the group figure, in order), ``estimation``
    (the config's estimation block: ``ci_level``, ``variance``, ``dk``), ``weighting_text``
    (a sentence on the weighting, e.g. ``weighting.methods_note``), ``figure_format``
    (``svg`` or ``png``), ``dpi`` (for PNG).
    """
    if not isinstance(thresholds, Thresholds):
        raise OutputError(f"the brief needs Thresholds, not {type(thresholds).__name__}")
    options = dict(options or {})
    fmt = options.get("figure_format", "svg")
    if fmt not in ("svg", "png"):
        raise OutputError(f"the brief embeds svg or png figures, not {fmt!r}")
    raw = _load(inputs)
    inst: Instrument = raw["instrument"]
    page = _Page(thresholds, inst, figure_format=fmt, dpi=int(options.get("dpi", 150)))
    data: dict[str, Any] = {"instrument": inst}
    for key in BRIEF_INPUTS:
        if key == "instrument" or raw.get(key) is None:
            continue
        related = data.get(RELATED[key]) if key in RELATED else None
        data[key] = protect(raw[key], thresholds, inst, estimates=related, name=key)
    g = inst.grids["acceptability"]

    messages = [
        m
        for m in (
            _headline(data, options, inst),
            _range_message(data["acceptability_type_purpose"], inst),
            _dimension_message(data.get("acceptability_by_purpose"), inst, g.column_name),
            _dimension_message(data.get("acceptability_by_type"), inst, g.row_name),
            _rights_message(data.get("rights"), inst),
            _trust_message(data.get("trust"), inst),
            _effect_message(data.get("effects"), inst, data.get("models"), options),
            _comparisons_message(data.get("group_comparisons"), inst, options),
        )
        if m
    ]

    sections: list[str] = []
    grid = data["acceptability_type_purpose"]
    grid_acc = grid[grid["level"].astype(object) == "acceptable"]
    _record_withheld(page, "Acceptability by data type and purpose", grid_acc)
    part = [
        '<section><h2>What parents find acceptable</h2>',
        _figure(page, "Percentage of parents who find each use acceptable", lambda: F.figure_heatmap(grid_acc, inst),
                "Weighted percentage of parents finding each use of linked records acceptable (somewhat or very)."),
        _table(page, grid_acc, "Percentage of parents who find each use acceptable, by data type and purpose", wide=(g.row_name, g.column_name)),
    ]
    for key, by in (("acceptability_by_type", g.row_name), ("acceptability_by_purpose", g.column_name)):
        if key in data:
            frame = data[key]
            _record_withheld(page, f"Acceptability by {by.replace('_', ' ')}", frame)
            part.append(_figure(page, f"How acceptable parents find linking records, by {by.replace('_', ' ')}",
                                lambda frame=frame, by=by: F.figure_acceptability(frame, inst, by=by),
                                f"Weighted distribution of answers by {by.replace('_', ' ')}, pooled over the items each parent rated."))
    part.append("</section>")
    sections.append("\n".join(part))

    if "acceptability_by_group" in data:
        by_group = data["acceptability_by_group"]
        _record_withheld(page, "Acceptability by group", by_group)
        where = headline_cell(by_group, options, inst)
        shown = by_group
        for c, v in where.items():
            shown = shown[shown[c].astype(object) == v]
        what = _use_phrase(inst, "acceptability", where[g.row_name], where[g.column_name]) if where else "linking records (all uses pooled)"
        groups = options.get("groups")
        sections.append(
            "\n".join(
                [
                    "<section><h2>Differences between groups of parents</h2>",
                    _figure(page, f"Acceptability of {what}, by group", lambda: F.figure_groups(shown, inst, groups=groups),
                            f"Weighted percentage of parents finding {what} acceptable, with 95% confidence intervals."),
                    _table(page, shown.drop(columns=[c for c in where], errors="ignore"), f"Acceptability of {what}, by group"),
                    "</section>",
                ]
            )
        )

    model_parts = []
    main = main_model(data.get("models"), data.get("effects"), options.get("model"))
    if "models" in data:
        models = data["models"]
        first = models[models["model"].astype(str) == main] if main is not None and "model" in models.columns else models
        _record_withheld(page, "Model", first)
        if model_type(first) in ("logistic", "ordinal") and not main_effects(first).empty:
            name = str(first["model"].iloc[0]) if "model" in first.columns else "model"
            notes = [n for n in (reference_note(first, inst), interaction_note(first, inst)) if n]
            model_parts.append(
                _figure(page, "Odds ratios from the logistic model", lambda: F.figure_forest(first, inst),
                        f"Odds ratios with 95% confidence intervals from the survey-weighted model '{name}'; "
                        "1 means no difference from the reference category.")
            )
            model_parts.append(
                _table(page, first, f"Odds ratios from the model '{name}'", odds_ratios=True,
                       notes=notes + ["The full coefficient table, with any interaction terms, is published with the model results."])
            )
    if "effects" in data:
        effects = data["effects"]
        if main is not None and "model" in effects.columns:
            effects = effects[effects["model"].astype(str) == main]
        _record_withheld(page, "Marginal effects", effects)
        on_mean = "level" in effects.columns and (effects["level"].astype(str) == "mean").all()
        if len(effects) and not on_mean:
            model_parts.append(_figure(page, "Adjusted differences in the percentage who find a use acceptable",
                                       lambda: F.figure_forest(effects, inst, kind="marginal_effect"),
                                       "Average marginal effects in percentage points: the difference from the reference category, "
                                       "holding the model's other characteristics as observed."))
    if model_parts:
        sections.append("<section><h2>What goes with acceptability, other things equal</h2>\n" + "\n".join(model_parts) + "\n</section>")

    if "rights" in data and "rights" in inst.grids:
        rights = data["rights"]
        _record_withheld(page, "Rights", rights)
        sections.append(
            "<section><h2>Consent, access and opting out</h2>\n"
            + _figure(page, "Parents' views on consent, access to their data and opting out", lambda: F.figure_rights(rights, inst),
                      "Weighted distribution of agreement with each statement about parents' say over linked records.")
            + "\n</section>"
        )

    if "trust" in data:
        trust = data["trust"]
        _record_withheld(page, "Trust", trust)
        sections.append(
            "<section><h2>Trust in organisations</h2>\n"
            + _figure(page, "How much parents trust organisations with data about families", lambda: F.figure_trust(trust, inst),
                      "Weighted distribution of trust in each organisation to use data about families responsibly.")
            + "\n</section>"
        )

    methods = _methods(data, page, options)
    if "margins" in data:
        methods += _figure(page, "Sample and weighted profile against population targets", lambda: F.figure_weighting(data["margins"], inst),
                           "Each weighting margin: the unweighted sample, the weighted sample and the population target.")

    if page.withheld:
        withheld = "<p>To protect respondents, these figures are not published:</p><ul>" + "".join(
            f"<li><strong>{_e(what)}</strong>: {_e(why)}.</li>" for what, why in page.withheld
        ) + f"</ul><p>{_e(thresholds.rule_text())}</p>"
    else:
        withheld = f"<p>Nothing was withheld: every published estimate rests on at least {thresholds.min_base} parents.</p>"

    key_html = "<ol>" + "".join(f"<li>{m}</li>" for m in messages) + "</ol>" if messages else "<p>No key message could be computed from the published figures.</p>"
    if page.withheld:
        key_html += '<p class="notice">Some figures for small groups are withheld; see <a href="#withheld">what was withheld</a>.</p>'
    page_html = Template(_template("brief.html")).substitute(
        version=_e(__version__),
        title=_e(title),
        subtitle=_e(subtitle),
        css=_template("brief.css"),
        key_messages=key_html,
        sections="\n".join(sections),
        methods=methods,
        withheld=withheld,
        footer=_e(
            "Weighted estimates from a survey of parents; percentages rounded to whole numbers. "
            f"{SYMBOL_SUPPRESSED} withheld, {SYMBOL_LOW_PRECISION} low precision. Produced by the social-licence pipeline {__version__}."
        ),
    )
    return page_html


def write_brief(
    inputs: Mapping[str, Any],
    thresholds: Thresholds,
    path: str | Path,
    **kwargs: Any,
) -> str:
    """Build the brief and write it (atomically) to ``path``, e.g. ``results/brief/brief.html``."""
    text = build_brief(inputs, thresholds, **kwargs)
    atomic_write_text(path, text)
    return text


__all__: Sequence[str] = ["BRIEF_INPUTS", "build_brief", "write_brief", "acceptable_share", "group_phrase"]
