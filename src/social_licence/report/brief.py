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
from ..survey.instrument import Instrument
from ..survey.plan import Plan, Question
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
from .figures import figure_title, render_figure
from .tables import (
    OVERALL_GROUP,
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
    related_frame,
    table_title,
    variable_label,
)
from .trends import changes_section, trend_figure

#: What the brief reads besides the estimate frames of the analysis plan (by their names,
#: :meth:`social_licence.survey.plan.Plan.estimates`). Values are frames, or CSV/Parquet paths.
BRIEF_INPUTS = {
    "models": "model table(s): term, estimate, ci_low, ci_high (log-odds), p_value, odds_ratio",
    "effects": "marginal effects by group (statistic predicted/difference, reference)",
    "qa_flow": "QA flow: step, rule, excluded, remaining (detail); required",
    "weight_summary": "weight summary rows (weights = base/final): n, deff_kish, n_effective",
    "margins": "raking margins: margin, category, before, after, target",
}
REQUIRED = ("qa_flow",)


@dataclass
class _Page:
    """What the brief collects while it is built: withheld cells and figures, in order."""

    thresholds: Thresholds
    instrument: Instrument
    figure_format: str = "svg"
    dpi: int = 150
    population: str = "respondents"
    figure_files: Mapping[str, Any] = field(default_factory=dict)  # figure name -> file made by the figure rule
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


def _load(inputs: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    missing = [k for k in REQUIRED if inputs.get(k) is None]
    if missing:
        raise OutputError(f"the brief needs input(s) {missing}; it was given {sorted(k for k in inputs if inputs[k] is not None)}")
    known = set(BRIEF_INPUTS) | set(plan.estimates())
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise OutputError(f"the brief does not know input(s) {unknown}; it reads {sorted(known)}")
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        if value is None:
            continue
        if isinstance(value, (str, Path)):
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


def group_phrase(population: str, instrument: Instrument, group_variable: str, group: Any) -> str:
    """How a sentence names a group: 'Black parents', 'students answering Yes to “International
    student”', 'parents whose parent age band is 18-29'."""
    if group_variable == OVERALL_GROUP:
        return f"all {population}"
    if group_variable in instrument:
        var = instrument[group_variable]
        if set(var.labels) <= {"Yes", "No", "Not sure"}:
            return f"{population} answering {group} to \u201c{var.label}\u201d"
        if var.type == "categorical":
            return f"{group} {population}"
        return f"{population} whose {lower_first(var.label)} is {lower_first(str(group))}"
    return f"{population} in group {group_variable} = {group}"


def _pair_phrases(population: str, instrument: Instrument, group_variable: str, group: Any, other: Any) -> tuple[str, str]:
    """Two groups of one variable as a sentence compares them: 'Black parents' and 'White
    parents'; for a yes/no question the second is 'those answering No'."""
    who = group_phrase(population, instrument, group_variable, group)
    if group_variable in instrument and set(instrument[group_variable].labels) <= {"Yes", "No", "Not sure"}:
        return who, f"those answering {other}"
    return who, group_phrase(population, instrument, group_variable, other)


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


def _cell(row: pd.Series, q: Question) -> dict[str, Any]:
    return {d: row[d] for d in q.dims if d in row.index}


def _positive_rows(frame: pd.DataFrame | None) -> pd.DataFrame:
    if frame is None or "level" not in frame.columns:
        return pd.DataFrame()
    return frame[frame["level"].astype(object) == "acceptable"]


# -- key messages --------------------------------------------------------------------------------
def _headline(data: Mapping[str, Any], plan: Plan, options: Mapping[str, Any]) -> str | None:
    """'N% of parents find linking X for Y acceptable; among <group>, M%.' The question is the
    headline's (else the plan's first); the cell the one the group section shows
    (:func:`headline_cell`); the group is the configured one, else the published, precise group
    furthest from the whole sample."""
    q = plan.headline_question
    if q is None:
        return None
    inst, who_all = plan.instrument, plan.population
    wanted = dict(plan.headline or {})
    by_group = data.get(f"{q.name}_groups")
    items = _positive_rows(data.get(f"{q.name}_items"))
    if by_group is None:
        if items.empty or len(items) != 1 or not is_published(items.iloc[0]):
            return None
        o = items.iloc[0]
        return f"{_num(_pct(o['estimate']))} of {_e(who_all)} {_e(plan.says(q, {}))}{_low(o)}."
    sub = _positive_rows(by_group)
    for col in (GROUP_VARIABLE, "group"):
        if col in wanted and wanted[col] not in set(sub[col].astype(object)):
            raise OutputError(f"the brief: headline {col} {wanted[col]!r} is not in {q.name}_groups")
    cell = headline_cell(by_group, wanted, q)
    for c, v in cell.items():
        sub = sub[sub[c].astype(object) == v]
    overall = sub[sub[GROUP_VARIABLE].astype(object) == OVERALL_GROUP]
    if overall.empty and cell:
        overall = items
        for c, v in cell.items():
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
    what = plan.says(q, cell)
    lead = (
        f"{_num(_pct(o['estimate']))} of {_e(who_all)} {_e(what)}{_low(o)}"
        if is_published(o)
        else f"The share of {_e(who_all)} who {_e(what)} is withheld"
    )
    who = _e(group_phrase(who_all, inst, r[GROUP_VARIABLE], r["group"]))
    tail = (
        f"; among {who}, {_num(_pct(r['estimate']))}{_low(r)}."
        if is_published(r)
        else f"; among {who} the figure is withheld {SYMBOL_SUPPRESSED} (see what was withheld)."
    )
    return lead + tail


def _range_message(data: Mapping[str, Any], plan: Plan, q: Question) -> str | None:
    """The most and least positively answered cells of a question (its share table, else the
    positive levels of its distribution of answers summed)."""
    if not q.dims:
        return None
    rows = _positive_rows(data.get(f"{q.name}_items"))
    responses = data.get(f"{q.name}_responses")
    if rows.empty and responses is not None and len(q.dims) == 1 and q.dims[0] in responses.columns:
        rows = acceptable_share(responses, plan.instrument, q.grid, q.dims[0])
        rows = rows[~rows["suppressed"]] if len(rows) else rows
    ok = rows[[is_published(r) for _, r in rows.iterrows()]] if len(rows) else rows
    if len(ok) < 2:
        return None
    hi = ok.loc[ok["estimate"].astype(float).idxmax()]
    lo = ok.loc[ok["estimate"].astype(float).idxmin()]
    return (
        f"{_num(_pct(hi['estimate']))} of {_e(plan.population)} {_e(plan.says(q, _cell(hi, q)))}{_low(hi)}, but only "
        f"{_num(_pct(lo['estimate']))} {_e(plan.says(q, _cell(lo, q)))}{_low(lo)}."
    )


def _dimension_message(frame: pd.DataFrame | None, plan: Plan, q: Question, by: str) -> str | None:
    """Pooled over a two-way question's other dimension: the highest and lowest share."""
    if frame is None or by not in frame.columns:
        return None
    share = acceptable_share(frame, plan.instrument, q.grid, by)
    share = share[~share["suppressed"] & share["estimate"].notna()]
    if len(share) < 2:
        return None
    hi = share.loc[share["estimate"].astype(float).idxmax()]
    lo = share.loc[share["estimate"].astype(float).idxmin()]
    other = [d for d in q.dims if d != by]
    pooled = f"Pooled over {plan.dimension_label(q, other[0])}" if other else "Overall"
    name = lambda v: _e(plan.level_label(q, by, v))  # noqa: E731
    return (
        f"{pooled}, the share who {_e(q.says_plain)} is highest for {name(hi[by])} "
        f"({_num(_pct(hi['estimate']))}) and lowest for {name(lo[by])} ({_num(_pct(lo['estimate']))})."
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
    plan: Plan,
    models: pd.DataFrame | None = None,
    options: Mapping[str, Any] | None = None,
) -> str | None:
    """Adjusted differences from the main model (:func:`social_licence.tables.main_model`):
    the largest difference between items (a dimension of a question), and the largest between
    groups of respondents; each only when its interval excludes zero. Other models (on other
    outcomes or scales) are never quoted here."""
    if effects is None or "statistic" not in effects.columns:
        return None
    options = dict(options or {})
    inst, population = plan.instrument, plan.population
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
    outcome = "to give a positive answer" if level == "acceptable" else f"to answer {level}"
    dims = {d for q in plan.questions for d in q.dims}
    gv = diff[GROUP_VARIABLE].astype(str) if GROUP_VARIABLE in diff.columns else pd.Series("", index=diff.index)
    uses = diff[gv.isin(dims)]
    groups = diff[~gv.isin(dims)]
    sentences = []
    if len(uses):
        r = uses.loc[uses["estimate"].astype(float).abs().idxmax()]
        dim = str(r[GROUP_VARIABLE])
        q = next(q for q in plan.questions if dim in q.dims)
        this, ref = (plan.level_label(q, dim, r[c]) for c in ("group", "reference"))
        direction = "less" if float(r["estimate"]) < 0 else "more"
        sentences.append(
            f"answers for {_e(this)} are {_num(_magnitude(r['estimate']) + ' percentage points')} {direction} likely "
            f"{_e(outcome)} than for {_e(ref)} {_e(_ci_points(r, ci_level))}"
        )
    if len(groups):
        r = groups.loc[groups["estimate"].astype(float).abs().idxmax()]
        gvar = r.get(GROUP_VARIABLE, None)
        who, ref = (
            _pair_phrases(population, inst, gvar, r["group"], r["reference"])
            if gvar is not None
            else (f"{population} in group {r['group']}", f"group {r['reference']}")
        )
        direction = "less" if float(r["estimate"]) < 0 else "more"
        sentences.append(
            f"{_e(who)} are {_num(_magnitude(r['estimate']) + ' percentage points')} {direction} likely than {_e(ref)} "
            f"{_e(outcome)} {_e(_ci_points(r, ci_level))}"
        )
    if not sentences:
        return None
    return "Other things equal, " + ", and ".join(sentences) + "."


def _comparisons_message(
    comparisons: pd.DataFrame | None,
    plan: Plan,
    q: Question,
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
    population = plan.population
    ci_level = float(dict(dict(options or {}).get("estimation") or {}).get("ci_level", 0.95))
    alpha = 1 - ci_level
    sizes = comparisons["family_size"].dropna().astype(int)
    families = comparisons["family"].nunique() if "family" in comparisons.columns else 1
    n_vars = comparisons[GROUP_VARIABLE].nunique()
    cells = [c for c in q.dims if c in comparisons.columns]
    n_cells = len(comparisons[cells].drop_duplicates()) if cells else 0
    scope = f"{n_vars} characteristics" + (f" and {n_cells} items" if n_cells > 1 else "")
    family = (
        f"{methods[0]} adjustment over all {int(sizes.iloc[0]):,} pairwise comparisons between groups of {population}, for {scope}"
        if families == 1 and len(sizes)
        else f"{methods[0]} adjustment within each of {families} families of comparisons, for {scope}"
    )
    published = comparisons[~comparisons["suppressed"].astype(bool) & comparisons["p_adjusted"].notna()]
    survive = published[published["p_adjusted"].astype(float) < alpha]
    level = f"{alpha:.0%} level"
    if survive.empty:
        return (
            f"Allowing for multiple comparisons ({_e(family)}), no published difference between groups of "
            f"{_e(population)} remains significant at the {level}: read the group differences for single items as indicative."
        )
    r = survive.loc[survive["difference"].astype(float).abs().idxmax()]
    where = plan.says(q, _cell(r, q))
    k = len(survive)
    direction = "less" if float(r["difference"]) < 0 else "more"
    who, ref = _pair_phrases(population, plan.instrument, r[GROUP_VARIABLE], r["group_a"], r["group_b"])
    count = "one published difference remains" if k == 1 else f"{k} published differences remain"
    return (
        f"Allowing for multiple comparisons ({_e(family)}), {count} significant at the {level}"
        f"{':' if k == 1 else '; the largest:'} {_e(who)} are {_num(_magnitude(r['difference']) + ' percentage points')} "
        f"{direction} likely than {_e(ref)} to {_e(where)}."
    )


# -- figures and tables --------------------------------------------------------------------------
def _figure(page: _Page, title: str, build: Callable[[], Any], caption: str, name: str | None = None) -> str:
    """A figure embedded as a data URI: the figure rule's file (SVG or PNG) of that ``name`` when
    the brief was given it (drawn once, by the figure job), else drawn here."""
    mime = "image/svg+xml" if page.figure_format == "svg" else "image/png"
    if name is not None and name in page.figure_files:
        path = Path(page.figure_files[name])
        data, mime = path.read_bytes(), "image/svg+xml" if path.suffix == ".svg" else "image/png"
    else:
        try:
            plot = build()
        except DisclosureError as exc:
            page.withheld.append((f"Figure: {title}", str(exc).split(": ", 1)[-1]))
            return f'<p class="notice">{SYMBOL_SUPPRESSED} The figure "{_e(title)}" is withheld: {_e(str(exc).split(": ", 1)[-1])}.</p>'
        data = render_figure(plot, page.figure_format, dpi=page.dpi)
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
            why = f"fewer than {t.min_base} {page.population} answered"
        elif reasons.str.startswith("secondary").all():
            why = "withheld so that another withheld figure cannot be worked out from the totals"
        else:
            why = f"fewer than {t.min_base} {page.population} answered, or withheld to protect such a figure"
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


def _sample(flow: pd.DataFrame, numbers: pd.DataFrame, population: str) -> str:
    """'1,412 parents were analysed, of 1,505 responses received'; in a long export (the flow
    counts respondents beside rows) the respondents and their ratings."""
    received = numbers["remaining"].iloc[0] + numbers["excluded"].iloc[0]
    analysed = numbers["remaining"].iloc[-1]
    if "respondents_remaining" in flow.columns:
        people = pd.to_numeric(flow["respondents_remaining"], errors="coerce")
        return (
            f"{_count(people.iloc[-1])} {population} were analysed ({_count(analysed)} ratings), of "
            f"{_count(people.iloc[0])} who responded ({_count(received)} ratings)."
        )
    return f"{_count(analysed)} {population} were analysed, of {_count(received)} responses received."


def _methods(data: Mapping[str, Any], page: _Page, plan: Plan, options: Mapping[str, Any]) -> str:
    flow = data["qa_flow"]
    need = [c for c in ("rule", "excluded", "remaining") if c not in flow.columns]
    if need:
        raise OutputError(f"the brief: qa_flow lacks column(s) {need} (has {list(flow.columns)})")
    population = plan.population
    numbers = flow[["excluded", "remaining"]].apply(pd.to_numeric, errors="coerce")
    excl = flow[numbers["excluded"].fillna(1).to_numpy() > 0]  # withheld counts (NaN) are listed as [c]
    detail = flow["detail"] if "detail" in flow.columns else flow["rule"]
    items = "".join(
        f"<li>{_e(str(detail[i]) or str(r['rule']).replace('_', ' '))}: {_e(_count(r['excluded']))}</li>"
        for i, r in excl.iterrows()
    )
    est = dict(options.get("estimation") or {})
    ci_level = float(est.get("ci_level", 0.95))
    dk = est.get("dk", "exclude")
    design_text = options.get("design_text") or "Standard errors and intervals are computed from the survey design."
    weighting_text = options.get("weighting_text") or "The analysis is unweighted."
    q = plan.headline_question
    main = data.get(f"{q.name}_items") if q is not None else None
    deff = (
        pd.to_numeric(main.loc[~main["suppressed"].astype(bool), "deff"], errors="coerce").dropna()
        if main is not None and "deff" in main.columns
        else pd.Series(dtype=float)
    )
    deff_text = ""
    summary = data.get("weight_summary")
    if summary is not None and len(summary):
        final = _final_weights(summary)
        deff_text = (
            f"Kish's design effect from the weights is {_e(format_number(final['deff_kish'], 2))}, so the {_e(_count(final['n']))} "
            f"weighted responses carry about as much information as {_e(format_number(final['n_effective'], 0))} from a simple random sample. "
        )
    if len(deff):
        deff_text += (
            f"Design effects of the estimates in the main table range from {_e(format_number(deff.min(), 1))} to "
            f"{_e(format_number(deff.max(), 1))}."
        )
    parts = [
        "<dl>",
        f"<dt>Sample</dt><dd>{_e(_sample(flow, numbers, population))}</dd>",
        f"<dt>Exclusions (quality checks, in order)</dt><dd>{'<ul>' + items + '</ul>' if items else 'None.'}</dd>",
        f"<dt>Weighting</dt><dd>{_e(weighting_text)}</dd>",
        f"<dt>Survey design and variance</dt><dd>{_e(design_text)}</dd>",
    ]
    if deff_text:
        parts.append(f"<dt>Design effect and effective sample size</dt><dd>{deff_text}</dd>")
    if options.get("pooled_text"):
        parts.append(f"<dt>Pooled over waves</dt><dd>{_e(options['pooled_text'])}</dd>")
    parts += [
        f"<dt>What the intervals mean</dt><dd>Each range is a {ci_level:.0%} confidence interval computed from the survey design: "
        f"across repeated samples drawn the same way, {ci_level:.0%} of such intervals would contain the value for "
        f"all {_e(population)}. Estimates are percentages of {_e(population)} who answered; "
        + ("'Don't know' answers are left out of the base." if dk == "exclude" else "'Don't know' answers count as not positive.")
        + " Items not put to a respondent (a split ballot, a routed question) are never counted as non-response.</dd>",
        f"<dt>Disclosure control</dt><dd>{_e(page.thresholds.rule_text())} Counts are unweighted numbers of {_e(population)}.</dd>",
        "</dl>",
    ]
    return "\n".join(parts)


# -- the page ------------------------------------------------------------------------------------
def _template(name: str) -> str:
    return resources.files("social_licence.report").joinpath("templates", name).read_text(encoding="utf-8")


def _question_section(page: _Page, data: Mapping[str, Any], plan: Plan, q: Question, options: Mapping[str, Any]) -> str:
    """One question: its main table and figures, then its groups (at the headline cell)."""
    inst = plan.instrument
    who = plan.population
    items = _positive_rows(data.get(f"{q.name}_items"))
    _record_withheld(page, q.title, items)
    part = [f"<section><h2>{_e(q.title)}</h2>"]
    if q.two_way and q.figures:
        part.append(
            _figure(page, figure_title(f"{q.name}_heatmap", plan), lambda: F.figure_heatmap(items, inst, grid=q.grid, dims=q.dims),
                    f"Weighted percentage of {who} who {q.says_plain}, by {' and '.join(plan.dimension_label(q, d) for d in q.dims)}.",
                    name=f"{q.name}_heatmap")
        )
    if len(items):
        wide = tuple(q.dims) if q.two_way else None
        part.append(_table(page, items, table_title(f"{q.name}_items", plan), **({"wide": wide} if wide else {})))
    shapes = [(f"{q.name}_by_{d}", d) for d in q.dims] if len(q.dims) >= 2 else [(f"{q.name}_responses", q.dims[0] if q.dims else inst.grids[q.grid].row_name)]
    for key, by in shapes:
        frame = data.get(key)
        if frame is None or not q.figures:
            continue
        _record_withheld(page, f"{q.title}, by {plan.dimension_label(q, by)}", frame)
        part.append(_figure(page, figure_title(key, plan), lambda frame=frame, by=by: F.figure_likert(frame, inst, grid=q.grid, by=by),
                            f"Weighted distribution of answers by {plan.dimension_label(q, by)}, pooled over the items each respondent rated.",
                            name=key))
    by_group = data.get(f"{q.name}_groups")
    if by_group is not None:
        _record_withheld(page, f"{q.title}, by group", by_group)
        headline = plan.headline if plan.headline_question is q else None
        where = headline_cell(by_group, headline, q)
        shown = by_group
        for c, v in where.items():
            shown = shown[shown[c].astype(object) == v]
        what = plan.says(q, where)
        part.append(f"<h3>Differences between groups of {_e(who)}</h3>")
        part.append(_figure(page, f"Percentage of {who} who {what}, by group", lambda: F.figure_groups(shown, inst, groups=list(q.groups)),
                            f"Weighted percentage of {who} who {what}, with 95% confidence intervals.",
                            name=f"{q.name}_groups" if q.figures else None))
        part.append(_table(page, shown.drop(columns=list(where), errors="ignore"), f"Percentage of {who} who {what}, by group"))
    part.append("</section>")
    return "\n".join(part)


def _changes(page: _Page, plan: Plan, trends: Mapping[str, Any]) -> str | None:
    """"What changed since <wave>" (:func:`changes_section`) with the headline's trend figure."""
    text = changes_section(trends, plan, _e)
    if not text:
        return None
    figures = []
    for name in plan.trend_figures():
        q = plan.question(name.removesuffix("_trend"))
        if q.name in trends:
            figures.append(_figure(page, f"{q.title}: change between waves", lambda q=q: trend_figure(trends[q.name][0], plan, q),
                                   f"Weighted percentage of {plan.population} who {q.says_plain}, wave by wave, with 95% confidence intervals.", name=name))
    return text.removesuffix("</section>") + "".join(figures) + "</section>"


def build_brief(
    inputs: Mapping[str, Any],
    thresholds: Thresholds,
    plan: Plan,
    *,
    title: str | None = None,
    subtitle: str = "",
    options: Mapping[str, Any] | None = None,
) -> str:
    """The brief as one HTML string. ``inputs``: the plan's estimate frames by name and
    :data:`BRIEF_INPUTS` (frames or paths).

    ``plan`` (:mod:`social_licence.survey.plan`): the questions, in order, each a section; its
    headline question, cell and group give the first key message (by default the published cell
    and group furthest from the whole sample). ``options``: ``estimation`` (the config's
    estimation block: ``ci_level``, ``dk``), ``weighting_text`` and ``design_text`` (sentences
    on the weighting and the design actually used), ``figure_files`` (figure name -> PNG made by
    the figure rule, SVG or PNG, embedded as it is), ``figure_format`` (``svg`` or ``png``, for figures drawn
    here), ``dpi`` (for PNG), ``model`` (the main model).
    """
    if not isinstance(thresholds, Thresholds):
        raise OutputError(f"the brief needs Thresholds, not {type(thresholds).__name__}")
    options = dict(options or {})
    fmt = options.get("figure_format", "svg")
    if fmt not in ("svg", "png"):
        raise OutputError(f"the brief embeds svg or png figures, not {fmt!r}")
    raw = _load(inputs, plan)
    inst: Instrument = plan.instrument
    page = _Page(thresholds, inst, figure_format=fmt, dpi=int(options.get("dpi", 150)), population=plan.population,
                 figure_files=dict(options.get("figure_files") or {}))
    data: dict[str, Any] = {}
    for key, frame in raw.items():
        if key in plan.estimates():
            other = related_frame(key)
            related = data.get(other) if other else None
            data[key] = protect(frame, thresholds, inst, estimates=related, name=key)
        else:
            data[key] = protect(frame, thresholds, inst, name=key) if key in ("models", "effects") else frame

    messages: list[str | None] = [_headline(data, plan, options)]
    for q in plan.questions:
        messages.append(_range_message(data, plan, q))
        if len(q.dims) >= 2:
            messages += [_dimension_message(data.get(f"{q.name}_by_{d}"), plan, q, d) for d in q.dims]
    messages.append(_effect_message(data.get("effects"), plan, data.get("models"), options))
    q0 = plan.headline_question
    if q0 is not None:
        messages.append(_comparisons_message(data.get(f"{q0.name}_comparisons"), plan, q0, options))
    messages = [m for m in messages if m]

    changed = _changes(page, plan, options.get("trends") or {})
    sections = [_question_section(page, data, plan, q, options) for q in plan.questions]
    if changed:
        sections.insert(0, changed)

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
                _figure(page, "Odds ratios from the main model", lambda: F.figure_forest(first, inst),
                        f"Odds ratios with 95% confidence intervals from the survey-weighted model '{name}'; "
                        "1 means no difference from the reference category.", name="model_forest")
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
            model_parts.append(_figure(page, "Adjusted differences in the percentage giving a positive answer",
                                       lambda: F.figure_forest(effects, inst, kind="marginal_effect"),
                                       "Average marginal effects in percentage points: the difference from the reference category, "
                                       "holding the model's other characteristics as observed.", name="model_effects"))
    if model_parts:
        sections.append("<section><h2>What goes with a positive answer, other things equal</h2>\n" + "\n".join(model_parts) + "\n</section>")

    methods = _methods(data, page, plan, options)
    if data.get("margins") is not None:
        methods += _figure(page, "Sample and weighted profile against population targets", lambda: F.figure_weighting(data["margins"], inst),
                           "Each weighting margin: the unweighted sample, the weighted sample and the population target.", name="weights")

    if page.withheld:
        withheld = "<p>To protect respondents, these figures are not published:</p><ul>" + "".join(
            f"<li><strong>{_e(what)}</strong>: {_e(why)}.</li>" for what, why in page.withheld
        ) + f"</ul><p>{_e(thresholds.rule_text())}</p>"
    else:
        withheld = f"<p>Nothing was withheld: every published estimate rests on at least {thresholds.min_base} {_e(plan.population)}.</p>"

    key_html = "<ol>" + "".join(f"<li>{m}</li>" for m in messages) + "</ol>" if messages else "<p>No key message could be computed from the published figures.</p>"
    if page.withheld:
        key_html += '<p class="notice">Some figures for small groups are withheld; see <a href="#withheld">what was withheld</a>.</p>'
    title = title or inst.name
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
            f"Estimates from a survey of {plan.population}; percentages rounded to whole numbers. "
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
