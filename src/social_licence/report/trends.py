"""Publishing change between waves: disclosure control of every wave's cells, of the
differences and of the shares pooled over waves; the trend table, the pooled table, the trend
figure and the brief's "What changed" sentences.

The frames come from :mod:`social_licence.design.trends` (each wave's shares, stacked, the
changes between waves and the pooled shares). Each wave's cells are protected as one linked
system (:func:`protect_linked`: a dimension pooled over the other adds up to the cells), and a
change is withheld whenever either of its waves' cells is: a difference of two published figures
would otherwise give the withheld one away. For the same reason a pooled cell is withheld when
some waves publish the cell and others withhold it; the pooled cells are then protected as a
linked system of their own.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..design.change import WAVE
from ..design.estimators import OVERALL
from ..design.trends import BREAKDOWN, TEST_COLUMNS
from ..io import atomic_write_bytes, atomic_write_text
from ..survey.plan import Plan, Question
from .disclosure import REASON_SECONDARY, Thresholds, protect_linked
from .figures import OKABE_ITO, figure_withheld, p9, save_figure, theme_social_licence
from .tables import docx_bytes, format_p, format_percent, html_page, html_table, published_csv

#: Columns of the published trend table that identify a row.
KEYS = (BREAKDOWN, "group_variable", "group")


def _dims(frame: pd.DataFrame, q: Question) -> list[str]:
    return [d for d in q.dims if d in frame.columns and frame[d].notna().any()]


def protect_trend(
    shares: pd.DataFrame, change: pd.DataFrame, thresholds: Thresholds, plan: Plan, q: Question
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Disclosure control of a question's shares by wave and of its changes.

    Each wave's breakdowns are suppressed together as one linked system; a change is withheld
    (``suppressed``, with the reason) when the cell is withheld in either wave it compares.
    """
    shares_out = protect_waves(shares, thresholds, plan, q)
    keys = [*KEYS, *q.dims]
    held = shares_out[shares_out["suppressed"].fillna(False).astype(bool)]
    withheld = {(str(w), *_key(r, keys)) for w, (_, r) in zip(held[WAVE], held.iterrows(), strict=True)}
    change_out = change.copy()
    marks = []
    for _, row in change_out.iterrows():
        key = _key(row, keys)
        waves = [w for w in (str(row["baseline"]), str(row["wave"])) if (w, *key) in withheld]
        marks.append(REASON_SECONDARY.format(where=f"the cell is withheld in wave {' and '.join(waves)}") if waves else "")
    change_out["suppressed"] = [bool(m) for m in marks]
    change_out["reason"] = marks
    numbers = ["estimate_a", "estimate_b", "difference", "se", "ci_low", "ci_high", "statistic", "p_value", "p_adjusted", *TEST_COLUMNS.values()]
    hide = change_out["suppressed"].to_numpy()
    for c in numbers:
        if c in change_out:
            change_out.loc[hide, c] = np.nan
    change_out.loc[hide, "flagged"] = False
    return shares_out, change_out


def protect_waves(shares: pd.DataFrame, thresholds: Thresholds, plan: Plan, q: Question) -> pd.DataFrame:
    """Each wave's breakdowns of a question suppressed together, one linked system per wave."""
    protected = []
    for wave in pd.unique(shares[WAVE]):
        protected += _protected_breakdowns(shares[shares[WAVE] == wave], thresholds, plan, q, {WAVE: wave})
    out = pd.concat(protected).loc[shares.index]
    return out[list(shares.columns) + [c for c in out.columns if c not in shares.columns]]


def _protected_breakdowns(part: pd.DataFrame, thresholds: Thresholds, plan: Plan, q: Question, extra: Mapping[str, Any]) -> list[pd.DataFrame]:
    frames: dict[str, pd.DataFrame] = {}
    for name in pd.unique(part[BREAKDOWN]):
        piece = part[part[BREAKDOWN] == name]
        frames[name] = piece[[c for c in piece.columns if c not in (*extra, BREAKDOWN) and c not in set(q.dims) - set(_dims(piece, q))]]
    out = protect_linked(frames, thresholds, plan.instrument)
    return [frame.assign(**extra, **{BREAKDOWN: name}) for name, frame in out.items()]


def protect_pooled(
    pooled: pd.DataFrame, shares: pd.DataFrame, thresholds: Thresholds, plan: Plan, q: Question
) -> pd.DataFrame:
    """Disclosure control of a question's shares pooled over waves, given each wave's shares
    already protected (:func:`protect_waves`).

    ``waves_withheld`` counts the waves withholding the cell. A pooled cell is withheld when
    some waves publish the cell and others withhold it (the pooled figure with a wave's
    published one would give the withheld one away); then the pooled breakdowns are suppressed
    together as one linked system, so a withheld pooled cell cannot be derived either.
    """
    keys = [*KEYS, *q.dims]
    held: dict[tuple[str, ...], list[str]] = {}
    for _, row in shares[shares["suppressed"].fillna(False).astype(bool)].iterrows():
        held.setdefault(_key(row, keys), []).append(str(row[WAVE]))
    n_waves = len(pd.unique(shares[WAVE]))
    counts, marks = [], []
    for _, row in pooled.iterrows():
        waves = held.get(_key(row, keys), [])
        counts.append(len(waves))
        partial = 0 < len(waves) < n_waves
        marks.append(
            REASON_SECONDARY.format(where=f"the cell is withheld in wave {' and '.join(waves)} but published in another wave")
            if partial else ""
        )
    # the method sentence is no key of a cell: set aside while the cells are protected
    marked = pooled.drop(columns="pooling").assign(suppressed=[bool(m) for m in marks], reason=marks)
    protected = pd.concat(_protected_breakdowns(marked, thresholds, plan, q, {})).loc[pooled.index]
    protected["pooling"] = pooled["pooling"]
    protected = protected[list(pooled.columns) + [c for c in protected.columns if c not in pooled.columns]]
    protected["waves_withheld"] = counts
    return protected


def pooled_table(pooled: pd.DataFrame, q: Question) -> pd.DataFrame:
    """The published pooled frame (full precision, disclosure-controlled): one row per
    breakdown, group and cell; the pooled share, SE, interval and respondents (people: a panel
    member once), how many waves withhold the cell alone, and the pooling method."""
    keys = [*KEYS, *q.dims]
    out = pooled[[c for c in keys if c in pooled.columns]].reset_index(drop=True)
    for c in ("estimate", "se", "ci_low", "ci_high", "n_respondents"):
        out[c] = pooled[c].to_numpy() if c in pooled else np.nan
    out["waves_withheld"] = pooled["waves_withheld"].to_numpy()
    out["suppressed"] = pooled["suppressed"].fillna(False).astype(bool).to_numpy()
    out["reason"] = pooled["reason"].fillna("").astype(str).to_numpy()
    out["pooling"] = pooled["pooling"].to_numpy()
    return out


def pooled_title(plan: Plan, q: Question) -> str:
    return f"{q.title}: percentage of {plan.population} who {q.says_plain}, pooled over waves {', '.join(plan.waves)}"


def write_pooled_table(
    table: pd.DataFrame, plan: Plan, q: Question, thresholds: Thresholds, csv_path: str | Path, html_path: str | Path, docx_path: str | Path
) -> None:
    """The pooled table as CSV (full precision), HTML page and Word document."""
    title = pooled_title(plan, q)
    display = pd.DataFrame(index=range(len(table)))
    display["Breakdown"] = table[BREAKDOWN].astype(str).str.replace("_", " ")
    display["Group"] = [("All" if g == OVERALL else f"{v.replace('_', ' ')}: {g}") for v, g in zip(table["group_variable"], table["group"], strict=True)]
    for d in q.dims:
        display[plan.dimension_label(q, d).capitalize()] = ["all" if pd.isna(v) else plan.level_label(q, d, v) for v in table[d].astype(object)]
    display["Pooled (%)"] = [format_percent(v) for v in table["estimate"]]
    display["95% CI"] = [
        "" if pd.isna(a) else f"{format_percent(a)} to {format_percent(b)}"
        for a, b in zip(table["ci_low"], table["ci_high"], strict=True)
    ]
    display["Respondents"] = ["" if pd.isna(n) else f"{int(n):,}" for n in table["n_respondents"]]
    display["Withheld in waves"] = [f"{int(n)} of {len(plan.waves)}" for n in table["waves_withheld"]]
    notes = [
        f"Method: {table['pooling'].iloc[0]}.",
        "Respondents are people: a respondent interviewed in several waves counts once.",
        thresholds.rule_text()
        + " A pooled cell is withheld when some waves publish the cell and others withhold it.",
    ]
    atomic_write_text(csv_path, published_csv(table))
    atomic_write_text(html_path, html_page(html_table(display, title=title, notes=notes), title))
    atomic_write_bytes(docx_path, docx_bytes(display, title=title, notes=notes))


def _key(row: pd.Series, keys: Sequence[str]) -> tuple[str, ...]:
    return tuple("" if c not in row or pd.isna(row[c]) else str(row[c]) for c in keys)


def trend_table(shares: pd.DataFrame, change: pd.DataFrame, plan: Plan, q: Question) -> pd.DataFrame:
    """The published trend frame (full precision, disclosure-controlled inputs): one row per
    breakdown, group, cell and change (``baseline`` to ``wave``: each wave from the one before
    and, with three or more waves, the last from the first); each wave's share, SE, interval and
    respondents, then the change, its SE and interval, adjusted p-value and whether flagged."""
    keys = [*KEYS, *q.dims]
    change = change.reset_index(drop=True)
    out = change[keys].copy()
    out["baseline"] = change["baseline"].astype(str)
    out["wave"] = change["wave"].astype(str)
    index: dict[tuple[str, ...], list[int]] = {}
    for i, (_, r) in enumerate(change.iterrows()):
        index.setdefault(_key(r, keys), []).append(i)
    for wave in plan.waves:
        part = shares[shares[WAVE].astype(str) == wave]
        cols = {f"share_{wave}": "estimate", f"se_{wave}": "se", f"ci_low_{wave}": "ci_low", f"ci_high_{wave}": "ci_high", f"n_{wave}": "n_respondents"}
        values = {c: np.full(len(out), np.nan) for c in cols}
        for _, r in part.iterrows():
            for i in index.get(_key(r, keys), ()):
                for c, src in cols.items():
                    values[c][i] = np.nan if r["suppressed"] else r[src]
        for c in cols:
            out[c] = values[c]
    out["change"] = change["difference"]
    out["change_se"] = change["se"]
    out["change_ci_low"] = change["ci_low"]
    out["change_ci_high"] = change["ci_high"]
    out["p_value"] = change["p_value"]
    out["p_adjusted"] = change["p_adjusted"]
    out["flagged"] = change["flagged"].astype(bool)
    out["suppressed"] = change["suppressed"].astype(bool)
    out["reason"] = change["reason"]
    for c in TEST_COLUMNS.values():
        out[c] = change[c]
    out["adjust_method"] = change["adjust_method"]
    out["family"] = change["family"]
    out["variance_method"] = change["variance_method"]
    return out


def trend_title(plan: Plan, q: Question) -> str:
    if len(plan.waves) > 2:
        return (
            f"{q.title}: percentage of {plan.population} who {q.says_plain}, wave by wave, the change "
            f"since each previous wave and since wave {plan.waves[0]}"
        )
    return f"{q.title}: percentage of {plan.population} who {q.says_plain}, wave by wave, and the change since wave {plan.waves[-2]}"


def _display(table: pd.DataFrame, plan: Plan, q: Question) -> pd.DataFrame:
    out = pd.DataFrame(index=range(len(table)))
    out["Breakdown"] = table[BREAKDOWN].astype(str).str.replace("_", " ")
    out["Group"] = [("All" if g == OVERALL else f"{v.replace('_', ' ')}: {g}") for v, g in zip(table["group_variable"], table["group"], strict=True)]
    for d in q.dims:
        out[plan.dimension_label(q, d).capitalize()] = [
            "all" if pd.isna(v) else plan.level_label(q, d, v) for v in table[d].astype(object)
        ]
    for wave in plan.waves:
        out[f"{wave} (%)"] = [format_percent(v) for v in table[f"share_{wave}"]]
    if len(plan.waves) > 2:
        out["Waves compared"] = [f"{b} to {w}" for b, w in zip(table["baseline"], table["wave"], strict=True)]
    out["Change (points)"] = [format_percent(v) for v in table["change"]]
    out["95% CI of change"] = [
        "" if pd.isna(a) else f"{format_percent(a)} to {format_percent(b)}"
        for a, b in zip(table["change_ci_low"], table["change_ci_high"], strict=True)
    ]
    out["Adjusted p"] = [format_p(p) for p in table["p_adjusted"]]
    out["Change"] = ["withheld" if s else ("yes" if f else "no") for f, s in zip(table["flagged"], table["suppressed"], strict=True)]
    out["Answers: Rao-Scott adjusted p"] = [format_p(p) for p in table["rs_p_adjusted"]]
    return out


def write_trend_table(
    table: pd.DataFrame, plan: Plan, q: Question, thresholds: Thresholds, csv_path: str | Path, html_path: str | Path, docx_path: str | Path
) -> None:
    """The trend table as CSV (full precision), HTML page and Word document."""
    title = trend_title(plan, q)
    display = _display(table, plan, q)
    notes = [
        f"A change is flagged when significant after {table['adjust_method'].iloc[0]} adjustment over "
        f"{table['family'].iloc[0]}.",
        f"Standard errors: {table['variance_method'].iloc[0]}.",
        "Answers: a Rao-Scott test (second order, F) that the distribution of answers is the same in the two waves compared, "
        f"{table['adjust_method'].iloc[0]}-adjusted over the question's tests; for the whole sample's rows of one dimension.",
        thresholds.rule_text() + " A change is withheld when its cell is withheld in either wave.",
    ]
    atomic_write_text(csv_path, published_csv(table))
    atomic_write_text(html_path, html_page(html_table(display, title=title, notes=notes), title))
    atomic_write_bytes(docx_path, docx_bytes(display, title=title, notes=notes))


def trend_figure(shares: pd.DataFrame, plan: Plan, q: Question):
    """Each wave's share of positive answers for the whole sample, by the question's last
    dimension pooled over the others (its cells for a one-dimension question), with intervals."""
    dim = q.dims[-1] if q.dims else None
    rows = shares[(shares["group_variable"] == OVERALL) & (shares[BREAKDOWN] == (dim or ""))].copy()
    title = f"{q.title}: change between waves"
    if rows.empty or rows["suppressed"].all():
        return figure_withheld(title, "Every cell is below the disclosure threshold.")
    rows = rows[~rows["suppressed"].astype(bool)]
    rows["wave_label"] = pd.Categorical(rows[WAVE].astype(str), categories=list(plan.waves), ordered=True)
    def label(v: Any) -> str:
        return textwrap.fill(plan.level_label(q, dim, v), 45)

    labels = [label(v) for v in rows[dim].astype(object)] if dim else ["All"] * len(rows)
    order = [label(v) for v in rows[dim].cat.categories if v in set(rows[dim].astype(object))] if dim else ["All"]
    rows["series"] = pd.Categorical(labels, categories=order)
    for c in ("estimate", "ci_low", "ci_high"):
        rows[c] = rows[c].astype(float) * 100
    dodge = p9.position_dodge(width=0.25)
    return (
        p9.ggplot(rows, p9.aes(x="wave_label", y="estimate", colour="series", group="series"))
        + p9.geom_line(position=dodge, size=0.6)
        + p9.geom_errorbar(p9.aes(ymin="ci_low", ymax="ci_high"), width=0.12, position=dodge)
        + p9.geom_point(position=dodge, size=2)
        + p9.scale_colour_manual(values=list(OKABE_ITO)[: len(order)] or ["#000000"])
        + p9.scale_y_continuous(limits=(0, 100))
        + p9.guides(colour=p9.guide_legend(ncol=2))
        + p9.labs(
            title=title,
            subtitle=f"Percentage of {plan.population} who {q.says_plain}" + (f", by {plan.dimension_label(q, dim)}" if dim else ""),
            x="Wave",
            y="%",
            caption="Weighted percentages with 95% confidence intervals (design-based, as each wave's own estimates).",
        )
        + theme_social_licence()
    )


def save_trend_figure(shares: pd.DataFrame, plan: Plan, q: Question, png_path: str | Path, svg_path: str | Path) -> None:
    save_figure(trend_figure(shares, plan, q), png_path, svg_path)


def changes_section(trends: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], plan: Plan, escape) -> str | None:
    """The brief's section "What changed since <wave>", from protected change frames by question:
    the changes of the current wave from the one before (and, with three or more waves, from the
    first); only changes flagged after the adjustment are called changes."""
    if len(plan.waves) < 2 or not trends:
        return None
    base, latest = plan.waves[-2], plan.waves[-1]
    tested, items = _changes_between(trends, plan, escape, base, latest)
    head = f"<section><h2>What changed since {escape(base)}</h2>"
    if not items:
        body = (
            f"<p>No difference between wave {escape(latest)} and wave {escape(base)} is large enough to be called a change: "
            f"none of the {tested} differences tested survives the adjustment for multiple comparisons.</p>"
        )
    else:
        body = (
            f"<p>Of {tested} differences tested between wave {escape(latest)} and wave {escape(base)}, "
            f"{len(items)} survive the adjustment for multiple comparisons:</p><ul>"
            + "".join(f"<li>{i}</li>" for i in items)
            + "</ul>"
        )
    if len(plan.waves) > 2:
        first = plan.waves[0]
        tested, items = _changes_between(trends, plan, escape, first, latest)
        body += (
            f"<p>Since wave {escape(first)}, {len(items)} of {tested} differences survive the adjustment"
            + (":</p><ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>" if items else ".</p>")
        )
    methods = sorted({str(m) for _, change in trends.values() for m in change["variance_method"].dropna()})
    note = (
        "<p>Other differences between the waves are within what sampling alone could produce once every comparison "
        f"made is taken into account. Standard errors of changes: {escape('; '.join(methods))}.</p>"
    )
    return head + body + note + "</section>"


def _changes_between(trends, plan: Plan, escape, base: str, later: str) -> tuple[int, list[str]]:
    """How many changes from wave ``base`` to ``later`` were tested, and a sentence for each
    flagged one (largest first)."""
    items = []
    tested = 0
    for name, (_, change) in trends.items():
        q = plan.question(name)
        change = change[(change["baseline"].astype(str) == base) & (change["wave"].astype(str) == later)]
        tested += int(change["p_adjusted"].notna().sum())
        flagged = change[change["flagged"].astype(bool)].copy()
        flagged = flagged.reindex(flagged["difference"].abs().sort_values(ascending=False).index)
        for _, row in flagged.iterrows():
            cell = {d: row[d] for d in q.dims if d in row and not pd.isna(row[d])}
            who = plan.population if row["group_variable"] == OVERALL else f"{plan.population} with {str(row['group_variable']).replace('_', ' ')} {row['group']}"
            direction = "rose" if row["difference"] > 0 else "fell"
            items.append(
                f"The percentage of {escape(who)} who {escape(plan.says(q, cell))} {direction} from "
                f"{format_percent(row['estimate_b'])}% to {format_percent(row['estimate_a'])}% "
                f"({'+' if row['difference'] > 0 else ''}{format_percent(row['difference'])} points, "
                f"95% CI {format_percent(row['ci_low'])} to {format_percent(row['ci_high'])})."
            )
    return tested, items
