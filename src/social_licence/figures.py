"""Publication figures: one house theme, colour-blind-safe palettes, withheld cells shown as such.

Every figure is a plain function of frames that have been through
:func:`social_licence.disclosure.suppress` and returns a :class:`plotnine.ggplot`; a withheld
cell is drawn as a labelled "[c]" placeholder, never as zero, and a figure with nothing left to
draw raises :class:`~social_licence.errors.DisclosureError` so the brief can say what was
withheld instead of printing an empty chart. Categories follow the instrument's order.
:func:`save_figure` writes PNG (300 dpi) and SVG that are identical byte for byte across runs.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from mizani.bounds import squish
from plotnine import (
    aes,
    element_blank,
    element_line,
    element_text,
    facet_grid,
    facet_wrap,
    geom_point,
    geom_rect,
    geom_segment,
    geom_text,
    geom_tile,
    geom_vline,
    ggplot,
    guide_legend,
    guides,
    labs,
    scale_color_identity,
    scale_color_manual,
    scale_fill_cmap,
    scale_fill_manual,
    scale_shape_manual,
    scale_x_continuous,
    scale_x_log10,
    scale_y_continuous,
    scale_y_discrete,
    theme,
    theme_minimal,
)

from .disclosure import SYMBOL_LOW_PRECISION, SYMBOL_SUPPRESSED, check_publishable, key_columns
from .errors import DisclosureError, OutputError
from .io import atomic_write_bytes
from .missing import DONT_KNOW_LABEL
from .tables import OVERALL_GROUP, format_percent, term_label

#: Okabe & Ito (2008) "Color Universal Design" palette, safe for the common colour-vision types.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
#: ColorBrewer PuOr, diverging and colour-blind safe (Brewer 2003): orange = negative end.
_PUOR = {
    2: ("#f1a340", "#998ec3"),
    3: ("#f1a340", "#d9d9d9", "#998ec3"),
    4: ("#e66101", "#fdb863", "#b2abd2", "#5e3c99"),
    5: ("#e66101", "#fdb863", "#d9d9d9", "#b2abd2", "#5e3c99"),
    6: ("#b35806", "#f1a340", "#fee0b6", "#d8daeb", "#998ec3", "#542788"),
    7: ("#b35806", "#f1a340", "#fee0b6", "#d9d9d9", "#d8daeb", "#998ec3", "#542788"),
}
WITHHELD_FILL = "#f0f0f0"
WITHHELD_TEXT = "#555555"
FONT = "DejaVu Sans"  # shipped with matplotlib, so every machine draws the same glyphs
#: Half an A4 page: 16 x 11 cm.
WIDTH_CM, HEIGHT_CM, DPI = 16.0, 11.0, 300
_SVG_RC = {"svg.hashsalt": "social-licence", "svg.fonttype": "path"}


def diverging_palette(n: int) -> list[str]:
    """A colour-blind-safe diverging palette of ``n`` (2 to 7) colours, negative end first."""
    if n not in _PUOR:
        raise OutputError(f"a diverging palette has 2 to 7 colours, not {n}")
    return list(_PUOR[n])


def theme_social_licence(base_size: float = 8.5) -> theme:
    """The house theme: minimal, legible at half an A4 page, left-aligned titles, legend below."""
    return theme_minimal(base_size=base_size, base_family=FONT) + theme(
        figure_size=(WIDTH_CM / 2.54, HEIGHT_CM / 2.54),
        dpi=DPI,
        plot_title=element_text(size=base_size + 2.5, weight="bold", ha="left", margin={"b": 4}),
        plot_subtitle=element_text(size=base_size + 0.5, ha="left", colour="#333333"),
        plot_caption=element_text(size=base_size - 1.5, ha="left", colour="#444444", margin={"t": 6}),
        plot_title_position="plot",
        plot_caption_position="plot",
        axis_text=element_text(colour="#222222"),
        axis_title=element_text(colour="#222222"),
        panel_grid_minor=element_blank(),
        panel_grid_major=element_line(colour="#e5e5e5", size=0.4),
        strip_text=element_text(weight="bold", ha="left", size=base_size),
        legend_position="bottom",
        legend_title=element_blank(),
        legend_text=element_text(size=base_size - 0.5),
        legend_key_size=10,
    )


# -- checks and labels ---------------------------------------------------------------------------
def _check(df: pd.DataFrame, name: str, required: Sequence[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise OutputError(f"figure {name}: expected a DataFrame, got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise OutputError(
            f"figure {name} needs column(s) {missing}, which the frame does not have "
            f"(it has {list(df.columns)})"
        )
    check_publishable(df, f"figure {name}")


def _flags(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    sup = df["suppressed"].fillna(False).to_numpy(dtype=bool) if "suppressed" in df else np.zeros(len(df), bool)
    low = df["low_precision"].fillna(False).to_numpy(dtype=bool) if "low_precision" in df else np.zeros(len(df), bool)
    return sup, low


def _grid(instrument: Any, grid: str, name: str):
    if grid not in instrument.grids:
        raise OutputError(f"figure {name}: grid {grid!r} is not in the instrument (has {', '.join(instrument.grids)})")
    return instrument.grids[grid]


def _dimension(instrument: Any, grid: str, by: str, name: str) -> dict[str, str]:
    """Codes -> display labels of one grid dimension, in instrument order."""
    g = _grid(instrument, grid, name)
    if by == g.row_name:
        labels = g.rows
    elif g.column_name and by == g.column_name:
        labels = g.columns
    else:
        dims = [d for d in (g.row_name, g.column_name) if d]
        raise OutputError(f"figure {name}: {by!r} is not a dimension of grid {grid} (it has {dims})")
    return {code: _sentence(label) for code, label in labels.items()}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _check_values(values: pd.Series, allowed: Sequence[str], what: str, name: str) -> None:
    present = pd.Series(values.astype(object).dropna().unique())
    unknown = [v for v in present if v not in allowed]
    if unknown:
        raise OutputError(
            f"figure {name}: {what} {unknown[0]!r} does not exist (known: {', '.join(map(str, allowed))})"
        )


def _caption(*parts: str | None, width: int = 125) -> str:
    return "\n".join(_wrap(p, width) for p in parts if p)


def withheld_note() -> str:
    return (
        f"{SYMBOL_SUPPRESSED} withheld: too few parents answered, or the figure would reveal one that is "
        f"withheld. {SYMBOL_LOW_PRECISION} low precision."
    )


def _likert_note(withheld_rows: list) -> str:
    note = "Weighted percentages of answers; 'Don't know' is not shown; segments under 7% are not labelled."
    return note + (" " + withheld_note() if withheld_rows else "")


def _base_note(df: pd.DataFrame, sup: np.ndarray) -> str | None:
    if "n_unweighted" not in df.columns:
        return None
    base = pd.to_numeric(df["n_unweighted"], errors="coerce").to_numpy(dtype=float)[~sup]
    base = base[np.isfinite(base)]
    if not base.size:
        return None
    lo, hi = int(base.min()), int(base.max())
    return f"Weighted percentages; unweighted bases {lo:,} to {hi:,} parents per cell." if lo != hi else f"Weighted percentages; unweighted base {lo:,} parents per cell."


def _groups_note(overall: float | None, any_withheld: bool) -> str:
    parts = ["Weighted percentages; lines show 95% confidence intervals; hollow points are low precision [u]."]
    if overall is not None and np.isfinite(overall):
        parts.append(f"Dashed line: all parents ({format_percent(overall)}%).")
    if any_withheld:
        parts.append(withheld_note())
    return " ".join(parts)


# -- diverging stacked bars ----------------------------------------------------------------------
def figure_likert(
    df: pd.DataFrame,
    instrument: Any,
    *,
    grid: str = "acceptability",
    by: str = "data_type",
    title: str | None = None,
    caption: str | None = None,
) -> ggplot:
    """Diverging stacked bars of the weighted distribution of a grid's ratings by one dimension.

    ``df``: a suppressed tidy frame with a ``by`` column (grid codes), ``level`` (the scale's
    labels) and ``estimate`` (proportions). Negative ratings extend left of zero, positive right,
    a neutral middle category is split across zero. A bar with any withheld level is drawn as a
    "[c]" placeholder (its remaining levels would reveal the withheld one).
    """
    name = f"likert ({grid} by {by})"
    dim = _dimension(instrument, grid, by, name)
    _check(df, name, [by, "level", "estimate"])
    g = instrument.grids[grid]
    scale = instrument.scales[g.scale]
    levels = [scale["codes"][c] for c in sorted(scale["codes"])]
    _check_values(df[by], list(dim), by, name)
    _check_values(df["level"], levels + [DONT_KNOW_LABEL, "acceptable"], "level", name)
    df = df[df["level"].astype(object).isin(levels)]  # "Don't know" and summaries are not bars
    absent = [lv for lv in levels if lv not in set(df["level"].astype(object))]
    if absent:
        raise OutputError(f"figure {name}: level {absent[0]!r} of the {g.scale} scale is not in the frame")
    if df[[by, "level"]].astype(object).duplicated().any():
        raise OutputError(f"figure {name}: several rows per {by} and level; filter the frame to one breakdown")
    sup, _ = _flags(df)
    k = len(levels)
    colours = diverging_palette(k)
    rects, withheld_rows, labels_rows = [], [], []
    cats = [c for c in dim if c in set(df[by].astype(object))]
    for idx, cat in enumerate(cats):
        y = len(cats) - idx
        rows = df[df[by].astype(object) == cat]
        rsup = sup[(df[by].astype(object) == cat).to_numpy()]
        est = dict(zip(rows["level"].astype(object), rows["estimate"].astype(float), strict=True))
        if rsup.any() or any(lv not in est or not np.isfinite(est[lv]) for lv in levels):
            withheld_rows.append({"y": y, "x": 0.0, "label": f"{SYMBOL_SUPPRESSED} withheld"})
            continue
        shares = np.array([est[lv] for lv in levels])
        half = k // 2
        neutral = shares[half] if k % 2 else 0.0
        left = -(shares[:half].sum() + neutral / 2)
        x = left
        for j, lv in enumerate(levels):
            rects.append({"y": y, "xmin": x, "xmax": x + shares[j], "level": lv})
            if shares[j] >= 0.07:
                labels_rows.append({"y": y, "x": x + shares[j] / 2, "label": format_percent(shares[j]), "dark": j in (0, k - 1)})
            x += shares[j]
    if not rects:
        raise DisclosureError(f"figure {name}: every bar is withheld, so there is nothing to draw")
    rect_df = pd.DataFrame(rects)
    rect_df["level"] = pd.Categorical(rect_df["level"], categories=levels, ordered=True)
    rect_df["ymin"], rect_df["ymax"] = rect_df["y"] - 0.36, rect_df["y"] + 0.36
    lim = max(abs(rect_df["xmin"].min()), rect_df["xmax"].max(), 0.5)
    lim = min(1.0, math.ceil(lim * 10) / 10)
    breaks = [b / 100 for b in range(-100, 101, 25) if abs(b / 100) <= lim + 1e-9]
    p = (
        ggplot(rect_df)
        + geom_vline(xintercept=0, colour="#333333", size=0.5)
        + geom_rect(aes(xmin="xmin", xmax="xmax", ymin="ymin", ymax="ymax", fill="level"), colour="white", size=0.3)
        + scale_fill_manual(
            values=dict(zip(levels, colours, strict=True)),
            breaks=levels,
            labels=[_wrap(lv, 22) for lv in levels],
            drop=False,
        )
        + scale_x_continuous(limits=(-lim, lim), breaks=breaks, labels=[f"{abs(b) * 100:.0f}%" for b in breaks])
        + scale_y_continuous(
            breaks=[len(cats) - i for i in range(len(cats))],
            labels=[_wrap(dim[c], 30) for c in cats],
            limits=(0.5, len(cats) + 0.5),
            expand=(0, 0),
        )
        + guides(fill=guide_legend(nrow=1 if k <= 4 else 2, byrow=True))
        + labs(title=title, caption=_caption(caption, _likert_note(withheld_rows)))
        + theme_social_licence()
        + theme(panel_grid_major_y=element_blank(), axis_title=element_blank(), legend_text=element_text(size=7))
    )
    if labels_rows:
        lab = pd.DataFrame(labels_rows)
        lab["colour"] = np.where(lab["dark"], "white", "#111111")
        p += geom_text(aes(x="x", y="y", label="label", color="colour"), data=lab, size=6.5, family=FONT)
        p += scale_color_identity()
    if withheld_rows:
        p += geom_text(aes(x="x", y="y", label="label"), data=pd.DataFrame(withheld_rows), size=7, colour=WITHHELD_TEXT, family=FONT)
    return p


def figure_acceptability(df: pd.DataFrame, instrument: Any, *, by: str = "data_type", **kwargs: Any) -> ggplot:
    """Diverging bars of weighted acceptability by data type (``by="data_type"``) or purpose."""
    kwargs.setdefault("title", f"How acceptable parents find linking records, by {by.replace('_', ' ')}")
    return figure_likert(df, instrument, grid="acceptability", by=by, **kwargs)


def figure_trust(df: pd.DataFrame, instrument: Any, **kwargs: Any) -> ggplot:
    """Diverging bars of trust in each organisation to use data about families responsibly."""
    kwargs.setdefault("title", "How much parents trust organisations with data about families")
    return figure_likert(df, instrument, grid="trust", by="organisation", **kwargs)


# -- heatmap -------------------------------------------------------------------------------------
def figure_heatmap(
    df: pd.DataFrame,
    instrument: Any,
    *,
    grid: str = "acceptability",
    level: str = "acceptable",
    title: str | None = "Percentage of parents who find each use acceptable",
    caption: str | None = None,
) -> ggplot:
    """Data type x purpose heatmap of the weighted % acceptable; withheld cells grey with "[c]"."""
    g = _grid(instrument, grid, "heatmap")
    if not g.column_name:
        raise OutputError(f"figure heatmap: grid {grid} has no columns, so it has no two-way table")
    name = f"heatmap ({grid})"
    _check(df, name, [g.row_name, g.column_name, "level", "estimate"])
    rows = _dimension(instrument, grid, g.row_name, name)
    cols = _dimension(instrument, grid, g.column_name, name)
    sub = df[df["level"].astype(object) == level].copy()
    if sub.empty:
        raise OutputError(f"figure {name}: no rows with level {level!r} (levels: {sorted(map(str, df['level'].unique()))})")
    _check_values(sub[g.row_name], list(rows), g.row_name, name)
    _check_values(sub[g.column_name], list(cols), g.column_name, name)
    sup, low = _flags(sub)
    est = sub["estimate"].to_numpy(dtype=float)
    if (sup | ~np.isfinite(est)).all():
        raise DisclosureError(f"figure {name}: every cell is withheld, so there is nothing to draw")
    row_labels = [_wrap(rows[c], 22) for c in rows]
    col_labels = [_wrap(cols[c], 20) for c in cols]
    plot_df = pd.DataFrame(
        {
            "row": pd.Categorical([_wrap(rows[c], 22) for c in sub[g.row_name].astype(object)], categories=row_labels[::-1], ordered=True),
            "col": pd.Categorical([_wrap(cols[c], 20) for c in sub[g.column_name].astype(object)], categories=col_labels, ordered=True),
            "value": np.where(sup, np.nan, est * 100),
            "label": [
                SYMBOL_SUPPRESSED if s or not np.isfinite(e) else format_percent(e) + "%" + (f"\n{SYMBOL_LOW_PRECISION}" if lo else "")
                for s, e, lo in zip(sup, est, low, strict=True)
            ],
        }
    )
    plot_df["colour"] = np.where(plot_df["value"].isna(), WITHHELD_TEXT, np.where(plot_df["value"] < 55, "white", "#111111"))
    shown = plot_df[plot_df["value"].notna()]
    hidden = plot_df[plot_df["value"].isna()]
    p = (
        ggplot(plot_df, aes(x="col", y="row"))
        + geom_tile(aes(fill="value"), data=shown, colour="white", size=0.8)
        + scale_fill_cmap(cmap_name="viridis", limits=(0, 100), guide=None)
        + geom_text(aes(label="label", color="colour"), size=7.5, family=FONT)
        + scale_color_identity()
        + labs(title=title, caption=_caption(caption, _base_note(sub, sup), withheld_note() if (sup.any() or low.any()) else None))
        + theme_social_licence()
        + theme(panel_grid_major=element_blank(), axis_title=element_blank(), axis_text_x=element_text(size=7.5))
    )
    if len(hidden):
        p += geom_tile(data=hidden, fill=WITHHELD_FILL, colour="white", size=0.8)
        p += geom_text(aes(label="label"), data=hidden, size=7.5, colour=WITHHELD_TEXT, family=FONT)
    return p


# -- dot plot by social group --------------------------------------------------------------------
def figure_groups(
    df: pd.DataFrame,
    instrument: Any,
    *,
    groups: Sequence[str] | None = None,
    level: str = "acceptable",
    where: Mapping[str, Any] | None = None,
    overall: float | None = None,
    title: str | None = "Percentage of parents who find it acceptable, by group",
    caption: str | None = None,
) -> ggplot:
    """Dot plot with 95% CIs of an estimate by social group, one panel per grouping variable.

    ``df``: a suppressed stacked group frame (``group_variable``, ``group``, ``level``,
    ``estimate``, ``ci_low``, ``ci_high``). ``where`` picks one cell of any other by columns
    (e.g. ``{"data_type": "police", "purpose": "early_help"}``). ``groups`` chooses and orders
    the grouping variables; groups follow the instrument's category order. The whole-sample
    rows (group ``"All"``) give the dashed reference line unless ``overall`` is given.
    Low-precision estimates are hollow; withheld ones are labelled "[c]".
    """
    name = "groups"
    _check(df, name, ["group_variable", "group", "level", "estimate", "ci_low", "ci_high"])
    sub = df[df["level"].astype(object) == level].copy()
    if sub.empty:
        raise OutputError(f"figure {name}: no rows with level {level!r} (levels: {sorted(map(str, df['level'].dropna().unique()))})")
    for col, value in (where or {}).items():
        if col not in sub.columns:
            raise OutputError(f"figure {name}: column {col!r} asked for in where= is not in the frame ({list(df.columns)})")
        if value not in set(sub[col].astype(object)):
            raise OutputError(f"figure {name}: {col} {value!r} does not exist (known: {', '.join(map(str, dict.fromkeys(sub[col].astype(object))))})")
        sub = sub[sub[col].astype(object) == value]
    if sub[["group_variable", "group"]].astype(object).duplicated().any():
        others = [c for c in key_columns(sub) if c not in ("group_variable", "group")]
        raise OutputError(f"figure {name}: several rows per group; choose one cell of {others} with where=")
    is_all = sub["group_variable"].astype(object) == OVERALL_GROUP
    if overall is None and is_all.any():
        row = sub[is_all].iloc[0]
        if not bool(row.get("suppressed", False)):
            overall = float(row["estimate"])
    sub = sub[~is_all]
    available = list(dict.fromkeys(sub["group_variable"].astype(object)))
    wanted = list(groups) if groups is not None else available
    unknown = [g for g in wanted if g not in available]
    if unknown:
        raise OutputError(
            f"figure {name}: group variable {unknown[0]!r} does not exist in the frame "
            f"(it has {', '.join(map(str, available))})"
        )
    pieces = []
    for gv in wanted:
        part = sub[sub["group_variable"].astype(object) == gv].copy()
        order = instrument[gv].labels if gv in instrument else list(dict.fromkeys(part["group"].astype(object)))
        _check_values(part["group"], order, f"group of {gv}", name)
        part["__order"] = [order.index(v) for v in part["group"].astype(object)]
        part["panel"] = instrument[gv].label if gv in instrument else gv
        pieces.append(part.sort_values("__order"))
    data = pd.concat(pieces, ignore_index=True)
    sup, low = _flags(data)
    est = data["estimate"].to_numpy(dtype=float)
    if (sup | ~np.isfinite(est)).all():
        raise DisclosureError(
            f"figure {name}: every group of {', '.join(wanted)} is withheld, so there is nothing to draw"
        )
    panels = list(dict.fromkeys(data["panel"]))
    data["panel"] = pd.Categorical([_wrap(p, 20) for p in data["panel"]], categories=[_wrap(p, 20) for p in panels], ordered=True)
    group_order = list(dict.fromkeys(data["group"].astype(str)))[::-1]
    data["group"] = pd.Categorical(data["group"].astype(str), categories=group_order, ordered=True)
    data["x"], data["lo"], data["hi"] = est * 100, data["ci_low"].astype(float) * 100, data["ci_high"].astype(float) * 100
    data["precision"] = np.where(low, "Low precision [u]", "Estimate")
    shown = data[~sup & np.isfinite(est)]
    hidden = data[sup | ~np.isfinite(est)].copy()
    hi_all = float(np.nanmax(shown["hi"])) if len(shown) else 100.0
    upper = min(100.0, math.ceil((hi_all + 5) / 10) * 10)
    lower = max(0.0, math.floor((float(np.nanmin(shown["lo"])) - 5) / 10) * 10)
    n_rows, n_panels = len(data), len(panels)
    height_cm = min(24.0, max(HEIGHT_CM, 3.0 + 0.45 * n_rows + 0.35 * n_panels))
    p = (
        ggplot(shown, aes(y="group"))
        + geom_segment(aes(x="lo", xend="hi", yend="group"), colour=OKABE_ITO[0], size=0.7)
        + geom_point(aes(x="x", shape="precision"), colour=OKABE_ITO[0], fill="white", size=2.2, stroke=0.8)
        + scale_shape_manual(values={"Estimate": "o", "Low precision [u]": "o"}, guide=None)
        + facet_grid("panel ~ .", scales="free_y", space="free_y")
        + scale_x_continuous(limits=(lower, upper), labels=lambda xs: [f"{x:.0f}%" for x in xs], oob=squish)
        + scale_y_discrete(drop=True)
        + labs(title=title, caption=_caption(caption, _groups_note(overall, bool(sup.any()))))
        + theme_social_licence()
        + theme(
            strip_text_y=element_text(angle=0, ha="left", weight="bold", size=7.5),
            panel_grid_major_y=element_blank(),
            axis_title=element_blank(),
            figure_size=(WIDTH_CM / 2.54, height_cm / 2.54),
        )
    )
    solid = shown[shown["precision"] == "Estimate"]
    if len(solid):
        p += geom_point(aes(x="x"), data=solid, colour=OKABE_ITO[0], size=2.2)
    if overall is not None and np.isfinite(overall):
        p += geom_vline(xintercept=overall * 100, linetype="dashed", colour="#555555", size=0.5)
    if len(hidden):
        hidden["x"] = lower
        hidden["label"] = f"{SYMBOL_SUPPRESSED} withheld"
        p += geom_text(aes(x="x", label="label"), data=hidden, size=6.5, colour=WITHHELD_TEXT, family=FONT, ha="left")
    return p


# -- forest plots of model results ---------------------------------------------------------------
def odds_ratio_columns(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Odds ratio and its CI per row: the ``odds_ratio_low/high`` columns when given, else the
    exponentiated ``ci_low/ci_high`` (which must then be on the log-odds scale)."""
    est = table["estimate"].to_numpy(dtype=float)
    orat = table["odds_ratio"].to_numpy(dtype=float)
    ok = np.isfinite(est) & np.isfinite(orat)
    if ok.any() and not np.allclose(orat[ok], np.exp(est[ok]), rtol=1e-6):
        raise OutputError("model table: odds_ratio is not exp(estimate); the table is not on the log-odds scale")
    if {"odds_ratio_low", "odds_ratio_high"} <= set(table.columns):
        return orat, table["odds_ratio_low"].to_numpy(dtype=float), table["odds_ratio_high"].to_numpy(dtype=float)
    return orat, np.exp(table["ci_low"].to_numpy(dtype=float)), np.exp(table["ci_high"].to_numpy(dtype=float))


def figure_forest(
    table: pd.DataFrame,
    instrument: Any | None = None,
    *,
    kind: str = "odds_ratio",
    title: str | None = None,
    caption: str | None = None,
) -> ggplot:
    """Forest plot of a model's odds ratios (log scale) or of marginal effects (percentage points).

    ``kind="odds_ratio"``: a model table (``term``, ``estimate``, ``ci_low``, ``ci_high`` on the
    log-odds scale, ``odds_ratio``); the intercept and cut-points (``kind`` other than
    ``coefficient``) are left out. ``kind="marginal_effect"``: a marginal-effects frame; with a
    ``statistic`` column only the ``difference`` rows are drawn, labelled "group vs reference",
    one panel per ``group_variable``. A ``model`` column with several models gives a panel each.
    """
    if kind not in ("odds_ratio", "marginal_effect"):
        raise OutputError(f"figure forest: kind must be 'odds_ratio' or 'marginal_effect', not {kind!r}")
    name = f"forest ({kind})"
    label_col = "term" if kind == "odds_ratio" else ("group" if "group" in table.columns else "term")
    need = [label_col, "estimate", "ci_low", "ci_high"] + (["odds_ratio"] if kind == "odds_ratio" else [])
    _check(table, name, need)
    data = table.copy().reset_index(drop=True)
    panel = None
    if kind == "odds_ratio":
        if "kind" in data.columns:
            data = data[data["kind"].astype(str) == "coefficient"]
        data = data[~data["term"].astype(str).str.lower().isin(["intercept", "(intercept)", "const"])].reset_index(drop=True)
        if data.empty:
            raise OutputError(f"figure {name}: the model table has no coefficients besides the intercept")
        data["x"], data["lo"], data["hi"] = odds_ratio_columns(data)
        data["label"] = [_wrap(term_label(t, instrument), 40) for t in data["term"]]
        ref, xlab = 1.0, "Odds ratio (log scale), 95% CI"
        if "model" in data.columns and data["model"].nunique() > 1:
            panel = data["model"].astype(str)
    else:
        if "statistic" in data.columns:
            data = data[data["statistic"].astype(str) == "difference"].reset_index(drop=True)
            if data.empty:
                raise OutputError(f"figure {name}: the frame has no 'difference' rows")
        data["x"], data["lo"], data["hi"] = (data[c].astype(float) * 100 for c in ("estimate", "ci_low", "ci_high"))
        labels = data[label_col].astype(str)
        if "reference" in data.columns:
            labels = labels + " vs " + data["reference"].astype(str).str.replace("|", ", ", regex=False)
        data["label"] = [_wrap(v, 40) for v in labels]
        ref, xlab = 0.0, "Difference in percentage points, 95% CI"
        if "group_variable" in data.columns:
            panel = pd.Series(
                [instrument[v].label if instrument is not None and v in instrument else str(v) for v in data["group_variable"]]
            )
    sup, _ = _flags(data)
    sup = sup | ~np.isfinite(data["x"].to_numpy(dtype=float))
    if sup.all():
        raise DisclosureError(f"figure {name}: every term is withheld, so there is nothing to draw")
    if panel is not None:
        data["panel"] = pd.Categorical([_wrap(v, 30) for v in panel], categories=list(dict.fromkeys(_wrap(v, 30) for v in panel)))
        data["label"] = data["panel"].astype(str) + "\u0000" + data["label"]
    order = list(dict.fromkeys(data["label"]))[::-1]
    data["label"] = pd.Categorical(data["label"], categories=order, ordered=True)
    shown, hidden = data[~sup], data[sup].copy()
    p = (
        ggplot(shown, aes(y="label"))
        + geom_vline(xintercept=ref, colour="#555555", linetype="dashed", size=0.5)
        + geom_segment(aes(x="lo", xend="hi", yend="label"), colour=OKABE_ITO[0], size=0.7)
        + geom_point(aes(x="x"), colour=OKABE_ITO[0], size=2.2)
        + scale_y_discrete(labels=lambda ls: [str(v).split("\u0000")[-1] for v in ls], drop=True)
        + labs(x=xlab, title=title, caption=_caption(caption, "Lines show 95% confidence intervals."))
        + theme_social_licence()
        + theme(panel_grid_major_y=element_blank(), axis_title_y=element_blank())
    )
    if kind == "odds_ratio":
        p += scale_x_log10()
    if panel is not None:
        p += facet_grid("panel ~ .", scales="free_y", space="free_y")
        p += theme(strip_text_y=element_text(angle=0, ha="left", weight="bold", size=7.5))
    if len(hidden):
        hidden["x"] = ref
        hidden["text"] = f"{SYMBOL_SUPPRESSED} withheld"
        p += geom_text(aes(x="x", label="text"), data=hidden, size=6.5, colour=WITHHELD_TEXT, family=FONT)
    return p


# -- weighting diagnostics -----------------------------------------------------------------------
MARGIN_SERIES = {"before": "Sample (unweighted)", "after": "Weighted", "target": "Population target"}


def figure_weighting(
    margins: pd.DataFrame,
    instrument: Any | None = None,
    *,
    title: str | None = "Sample and weighted profile against population targets",
    caption: str | None = None,
) -> ggplot:
    """Dot plot of each raking margin's categories: unweighted sample, weighted and target shares.

    ``margins``: the weighting module's margin table (``margin`` or ``variable``, ``category``,
    ``before``, ``after``, ``target`` as proportions). Categories of a margin named after an
    instrument variable follow its order; others (joint margins) keep the table's order.
    """
    var_col = "margin" if "margin" in margins.columns else "variable"
    cat_col = "category" if "category" in margins.columns else "level"
    _check(margins, "weighting", [var_col, cat_col, "before", "after", "target"])
    if margins.empty:
        raise OutputError("figure weighting: the margin table is empty")
    rows = []
    for var, part in margins.groupby(var_col, sort=False):
        cats = [str(c) for c in part[cat_col]]
        known = instrument[var].labels if instrument is not None and var in instrument else []
        order = [c for c in known if c in cats] + [c for c in cats if c not in known]
        panel = instrument[var].label if instrument is not None and var in instrument else str(var)
        for _, r in part.assign(__o=[order.index(c) for c in cats]).sort_values("__o").iterrows():
            for key, series in MARGIN_SERIES.items():
                rows.append({"panel": _wrap(panel, 30), "category": str(r[cat_col]), "series": series, "share": float(r[key]) * 100})
    data = pd.DataFrame(rows)
    cats = list(dict.fromkeys(data["category"]))[::-1]
    data["category"] = pd.Categorical(data["category"], categories=cats, ordered=True)
    data["panel"] = pd.Categorical(data["panel"], categories=list(dict.fromkeys(data["panel"])), ordered=True)
    data["series"] = pd.Categorical(data["series"], categories=list(MARGIN_SERIES.values()), ordered=True)
    return (
        ggplot(data, aes(x="share", y="category", colour="series", shape="series"))
        + geom_point(size=2.2, stroke=0.8, fill="none")
        + scale_color_manual(values=dict(zip(MARGIN_SERIES.values(), (OKABE_ITO[1], OKABE_ITO[0], "#000000"), strict=True)))
        + scale_shape_manual(values=dict(zip(MARGIN_SERIES.values(), ("o", "s", "|"), strict=True)))
        + facet_wrap("panel", scales="free_y")
        + scale_x_continuous(labels=lambda xs: [f"{x:.0f}%" for x in xs])
        + scale_y_discrete(drop=True)
        + labs(x="Share of parents", title=title, caption=_caption(caption))
        + theme_social_licence()
        + theme(panel_grid_major_y=element_blank(), axis_title_y=element_blank())
    )


def figure_withheld(title: str, message: str) -> ggplot:
    """A placeholder for a figure whose every cell is withheld: it says so rather than showing
    an empty chart (for a workflow that must still write the figure file)."""
    data = pd.DataFrame({"x": [0.0], "y": [0.0], "label": [_wrap(f"{SYMBOL_SUPPRESSED} Withheld. {message}", 70)]})
    return (
        ggplot(data, aes(x="x", y="y", label="label"))
        + geom_text(size=9, colour=WITHHELD_TEXT, family=FONT)
        + labs(title=title)
        + theme_social_licence()
        + theme(axis_text=element_blank(), axis_title=element_blank(), panel_grid_major=element_blank())
    )


# -- saving --------------------------------------------------------------------------------------
def render_figure(
    plot: ggplot,
    fmt: str,
    *,
    width_cm: float | None = None,
    height_cm: float | None = None,
    dpi: int = DPI,
) -> bytes:
    """The figure as PNG or SVG bytes, with no date, software stamp or random ids.

    The size is the plot's own (the house theme's 16 x 11 cm, taller for long dot plots)
    unless ``width_cm`` and ``height_cm`` are given.
    """
    if fmt not in ("png", "svg"):
        raise OutputError(f"figures are saved as png or svg, not {fmt!r}")
    size = plot.theme.getp("figure_size") if plot.theme is not None else None
    width_in, height_in = size if size else (WIDTH_CM / 2.54, HEIGHT_CM / 2.54)
    width = width_cm if width_cm is not None else width_in * 2.54
    height = height_cm if height_cm is not None else height_in * 2.54
    metadata: Mapping[str, Any] = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    buf = io.BytesIO()
    with matplotlib.rc_context(_SVG_RC):
        plot.save(
            buf,
            format=fmt,
            width=width,
            height=height,
            units="cm",
            dpi=dpi,
            verbose=False,
            metadata=dict(metadata),
        )
    plt.close("all")
    return buf.getvalue()


def save_figure(
    plot: ggplot,
    png_path: str | Path | None,
    svg_path: str | Path | None,
    *,
    width_cm: float | None = None,
    height_cm: float | None = None,
    dpi: int = DPI,
) -> None:
    """Write the figure as PNG (300 dpi) and SVG, each identical byte for byte across runs."""
    for path, fmt in ((png_path, "png"), (svg_path, "svg")):
        if path is None:
            continue
        atomic_write_bytes(path, render_figure(plot, fmt, width_cm=width_cm, height_cm=height_cm, dpi=dpi))


# -- the workflow's figures, by name -------------------------------------------------------------
FIGURE_TITLES = {
    "acceptability_by_type": "How acceptable parents find linking records, by data type",
    "acceptability_by_purpose": "How acceptable parents find linking records, by purpose",
    "acceptability_heatmap": "Percentage of parents who find each use acceptable",
    "acceptability_by_group": "Percentage of parents who find it acceptable, by group",
    "model_forest": "Odds ratios from the acceptability models",
    "model_effects": "Differences in predicted acceptability between groups",
    "trust": "How much parents trust organisations with data about families",
    "weights": "Sample and weighted profile against population targets",
}


def figure_from_inputs(
    name: str,
    inputs: Mapping[str, Any],
    instrument: Any,
    thresholds: Any,
    options: Mapping[str, Any] | None = None,
) -> ggplot:
    """One of the workflow's figures (:data:`FIGURE_TITLES`) from the named inputs the brief
    also reads (estimate frames, ``models``, ``effects``, ``margins``), each protected by
    :func:`social_licence.disclosure.protect` first. A figure with every cell withheld comes
    back as :func:`figure_withheld`, saying so."""
    from .brief import headline_cell
    from .disclosure import protect

    if name not in FIGURE_TITLES:
        raise OutputError(f"figure {name!r} is not one of {', '.join(FIGURE_TITLES)}")
    options = dict(options or {})
    title = FIGURE_TITLES[name]

    def frame(key: str) -> pd.DataFrame:
        value = inputs.get(key)
        if value is None or len(value) == 0:
            raise OutputError(f"figure {name}: input {key!r} is missing or empty")
        if isinstance(value, (list, tuple)):
            value = pd.concat(list(value), ignore_index=True)
        return protect(value, thresholds, instrument, name=key)

    g = instrument.grids["acceptability"]
    try:
        if name == "acceptability_by_type":
            return figure_acceptability(frame("acceptability_by_type"), instrument, by=g.row_name, title=title)
        if name == "acceptability_by_purpose":
            return figure_acceptability(frame("acceptability_by_purpose"), instrument, by=g.column_name, title=title)
        if name == "acceptability_heatmap":
            grid = frame("acceptability_type_purpose")
            return figure_heatmap(grid[grid["level"].astype(object) == "acceptable"], instrument, title=title)
        if name == "acceptability_by_group":
            by_group = frame("acceptability_by_group")
            where = headline_cell(by_group, options, instrument)
            if where:
                what = f"linking {g.rows[where[g.row_name]]} for {g.columns[where[g.column_name]]}"
                title = _wrap(f"Percentage of parents who find {what} acceptable, by group", 70)
            return figure_groups(by_group, instrument, where=where, groups=options.get("groups"), title=title)
        if name == "model_forest":
            return figure_forest(frame("models"), instrument, title=title)
        if name == "model_effects":
            return figure_forest(frame("effects"), instrument, kind="marginal_effect", title=title)
        if name == "trust":
            return figure_trust(frame("trust"), instrument, title=title)
        margins = inputs.get("margins")
        if margins is None:
            raise OutputError("figure weights: input 'margins' is missing")
        return figure_weighting(margins, instrument, title=title)
    except DisclosureError as exc:
        return figure_withheld(title, str(exc).split(": ", 1)[-1] + ".")


def publish_figure(
    name: str,
    inputs: Mapping[str, Any],
    instrument: Any,
    thresholds: Any,
    png_path: str | Path | None,
    svg_path: str | Path | None,
    options: Mapping[str, Any] | None = None,
) -> ggplot:
    """Build one of the workflow's figures (:func:`figure_from_inputs`) and save PNG and SVG."""
    plot = figure_from_inputs(name, inputs, instrument, thresholds, options)
    save_figure(plot, png_path, svg_path)
    return plot
