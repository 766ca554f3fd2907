"""Publication figures: one house theme, colour-blind-safe palettes, withheld cells shown as such.

Long (~1,150 lines) on purpose: one house theme and its palettes, and one function per figure of
the workflow; each figure function is short, and splitting them would scatter the shared helpers.

Every figure is a plain function of frames that have been through
:func:`social_licence.disclosure.suppress` and returns a :class:`plotnine.ggplot`; a withheld
cell is drawn as a labelled "[c]" placeholder, never as zero, and a figure with nothing left to
draw raises :class:`~social_licence.errors.DisclosureError` so the brief can say what was
withheld instead of printing an empty chart. Categories follow the instrument's order and
read as its labels, never as codes. Dot plots (groups, model results, weighting margins) are
laid out in blocks, each headed by its variable's label on a row of its own, so a long label has
the width of the panel and never runs into a neighbour. Model figures show one scale: odds
ratios of main effects (not intercepts, cut-points or interactions, which the caption
explains), or marginal effects in percentage points.
:func:`save_figure` writes PNG (300 dpi) and SVG that are identical byte for byte across runs.
"""

from __future__ import annotations

import importlib
import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import DisclosureError, OutputError
from ..io import atomic_write_bytes
from ..survey.instrument import scale_midpoint
from ..survey.labels import margin_label, sentence
from ..survey.missing import DONT_KNOW_LABEL
from .disclosure import (
    SYMBOL_LOW_PRECISION,
    SYMBOL_SUPPRESSED,
    check_publishable,
    key_columns,
    protect,
)
from .tables import (
    OVERALL_GROUP,
    factor_label,
    format_percent,
    headline_cell,
    interaction_note,
    level_label,
    level_order,
    lower_first,
    main_effects,
    main_model,
    model_types,
    reference_note,
    split_term,
    term_label,
)

if TYPE_CHECKING:
    from plotnine import ggplot, theme  # for annotations only: plotnine is imported lazily


class _Lazy:
    """A module imported on its first use. plotnine and matplotlib take ~1 s to import, and most
    jobs import this module (through the brief and the stages) without drawing a figure."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


p9 = _Lazy("plotnine")
matplotlib = _Lazy("matplotlib")
plt = _Lazy("matplotlib.pyplot")
mizani_bounds = _Lazy("mizani.bounds")
mizani_palettes = _Lazy("mizani.palettes")

#: Okabe & Ito (2008) "Color Universal Design" palette, safe for the common colour-vision types.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
#: The midpoint of a diverging scale: a grey that stays visible on white (ColorBrewer's own
#: #f7f7f7 does not).
NEUTRAL = "#d9d9d9"
#: Colours either side of a midpoint that ColorBrewer's diverging palettes give (11 in all).
MAX_SIDE = 5
WITHHELD_FILL = "#f0f0f0"
WITHHELD_TEXT = "#555555"
FONT = "DejaVu Sans"  # shipped with matplotlib, so every machine draws the same glyphs
#: Half an A4 page: 16 x 11 cm.
WIDTH_CM, HEIGHT_CM, DPI = 16.0, 11.0, 300
_SVG_RC = {"svg.hashsalt": "social-licence", "svg.fonttype": "path"}


def _puor(n: int) -> list[str]:
    """ColorBrewer PuOr (Brewer 2003), diverging and colour-blind safe, orange (negative) end
    first, ``n`` from 2 to 11; the middle colour of an odd ``n`` is :data:`NEUTRAL`."""
    if n == 2:
        return [_puor(3)[0], _puor(3)[2]]
    colours = [c.lower() for c in mizani_palettes.brewer_pal(type="div", palette="PuOr")(n)]
    if n % 2:
        colours[n // 2] = NEUTRAL
    return colours


def diverging_palette(n: int, midpoint: int | None = None) -> list[str]:
    """Colour-blind-safe diverging colours for ``n`` (2 to 11) ordered categories, negative end first.

    ``midpoint``: the position (0-based) of the neutral category, drawn :data:`NEUTRAL`; by
    default the middle one of an odd ``n``, none of an even ``n`` (its halves meet between the
    middle two). Each side takes PuOr's colours outward from the centre, so two categories the
    same number of steps either side of the midpoint are equally light, in opposite hues.
    """
    if not 2 <= n <= 2 * MAX_SIDE + 1:
        raise OutputError(f"a diverging palette has 2 to {2 * MAX_SIDE + 1} colours, not {n}")
    if midpoint is None and n % 2:
        midpoint = n // 2
    if midpoint is not None and not 0 <= midpoint < n:
        raise OutputError(f"the midpoint of a diverging palette of {n} colours is at 0 to {n - 1}, not {midpoint}")
    below = n // 2 if midpoint is None else midpoint
    above = n - below - (midpoint is not None)
    side = max(below, above)
    if side > MAX_SIDE:
        raise OutputError(
            f"a diverging palette has at most {MAX_SIDE} colours either side of its midpoint, "
            f"not {below} below and {above} above"
        )
    full = _puor(2 * side + (midpoint is not None))
    centre = [NEUTRAL] if midpoint is not None else []
    return full[side - below : side] + centre + full[len(full) - side :][:above]


def qualitative_palette(n: int) -> list[str]:
    """``n`` colours of :data:`OKABE_ITO`, for the categories of an unordered scale (at most 8)."""
    if not 1 <= n <= len(OKABE_ITO):
        raise OutputError(f"a qualitative palette has 1 to {len(OKABE_ITO)} colours, not {n}")
    return list(OKABE_ITO[:n])


def text_colour(fill: str) -> str:
    """White text on a fill darker than CIE lightness L* 60 (the dark ends of a palette, its
    saturated orange), near-black on a lighter one (its pale middle, the grey midpoint)."""
    rgb = np.array([int(fill[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    luminance = float(linear @ np.array([0.2126, 0.7152, 0.0722]))
    lightness = 116 * np.cbrt(luminance) - 16 if luminance > 216 / 24389 else 24389 / 27 * luminance
    return "white" if lightness < 60 else "#111111"


def theme_social_licence(base_size: float = 8.5) -> theme:
    """The house theme: minimal, legible at half an A4 page, left-aligned titles, legend below."""
    return p9.theme_minimal(base_size=base_size, base_family=FONT) + p9.theme(
        figure_size=(WIDTH_CM / 2.54, HEIGHT_CM / 2.54),
        dpi=DPI,
        plot_title=p9.element_text(size=base_size + 2.5, weight="bold", ha="left", margin={"b": 4}),
        plot_subtitle=p9.element_text(size=base_size + 0.5, ha="left", colour="#333333"),
        plot_caption=p9.element_text(size=base_size - 1.5, ha="left", colour="#444444", margin={"t": 6}),
        plot_title_position="plot",
        plot_caption_position="plot",
        axis_text=p9.element_text(colour="#222222"),
        axis_title=p9.element_text(colour="#222222"),
        panel_grid_minor=p9.element_blank(),
        panel_grid_major=p9.element_line(colour="#e5e5e5", size=0.4),
        strip_text=p9.element_text(weight="bold", ha="left", size=base_size),
        legend_position="bottom",
        legend_title=p9.element_blank(),
        legend_text=p9.element_text(size=base_size - 0.5),
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
    """Codes -> display labels of one dimension of a grid's estimates, in instrument order: the
    grid's rows or columns, or a labelled variable of the data (the item column of a long
    export), whose values are its labels."""
    g = _grid(instrument, grid, name)
    if by == g.row_name:
        labels = g.rows
    elif g.column_name and by == g.column_name:
        labels = g.columns
    elif by in instrument.variables and instrument.variables[by].codes:
        labels = {label: label for label in instrument.variables[by].labels}
    else:
        dims = [d for d in (g.row_name, g.column_name) if d]
        raise OutputError(f"figure {name}: {by!r} is not a dimension of grid {grid} (it has {dims}) nor a labelled variable")
    return {code: sentence(label) for code, label in labels.items()}


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


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
        f"{SYMBOL_SUPPRESSED} withheld: too few respondents answered, or the figure would reveal one that is "
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
    return f"Weighted percentages; unweighted bases {lo:,} to {hi:,} answers per cell." if lo != hi else f"Weighted percentages; unweighted base {lo:,} answers per cell."


def _groups_note(overall: float | None, any_withheld: bool) -> str:
    parts = ["Weighted percentages; lines show 95% confidence intervals; hollow points are low precision [u]."]
    if overall is not None and np.isfinite(overall):
        parts.append(f"Dashed line: the whole sample ({format_percent(overall)}%).")
    if any_withheld:
        parts.append(withheld_note())
    return " ".join(parts)


# -- diverging stacked bars ----------------------------------------------------------------------
def scale_colours(scale: Mapping[str, Any]) -> tuple[list[str], int | None]:
    """Colours of a parsed instrument scale's codes in code order, and the position of its
    midpoint. An ordered scale's diverge from the midpoint (grey; none on an even scale that
    declares none), an unordered scale's are :data:`OKABE_ITO` (Yes / No / Not sure is not a
    scale from bad to good) and it has no midpoint."""
    codes = sorted(scale["codes"])
    if not scale["ordered"]:
        return qualitative_palette(len(codes)), None
    midpoint = scale_midpoint(scale["codes"], True, scale.get("midpoint"), "scale")
    at = None if midpoint is None else codes.index(midpoint)
    return diverging_palette(len(codes), at), at


def _bar_scale(instrument: Any, grid: str, name: str, diverging: bool | None) -> tuple[list[str], list[str], int | None, bool]:
    """The grid's scale for bars: labels and colours in code order, the position of the
    midpoint, and whether the bars diverge (by default when the scale is ordered)."""
    g = instrument.grids[grid]
    scale = instrument.scales[g.scale]
    where = f"figure {name}: scale {g.scale!r} of grid {grid!r}"
    if diverging is None:
        diverging = scale["ordered"]
    if diverging and not scale["ordered"]:
        raise OutputError(
            f"{where} is not ordered, so its answers cannot diverge from a midpoint "
            "(declare it ordered in the instrument, or draw stacked bars)"
        )
    try:
        colours, midpoint = scale_colours(scale)
    except OutputError as exc:
        raise OutputError(f"{where} has {len(scale['codes'])} codes, which cannot be drawn: {exc}") from None
    return [scale["codes"][c] for c in sorted(scale["codes"])], colours, midpoint, diverging


def figure_likert(
    df: pd.DataFrame,
    instrument: Any,
    *,
    grid: str,
    by: str | None = None,
    title: str | None = None,
    caption: str | None = None,
    diverging: bool | None = None,
) -> ggplot:
    """Stacked bars of the weighted distribution of a grid's ratings by one dimension.

    ``df``: a suppressed tidy frame with a ``by`` column (grid codes), ``level`` (the scale's
    labels) and ``estimate`` (proportions). An ordered scale of 2 to 11 codes diverges from
    zero (``diverging``, its default): codes below the scale's midpoint extend left, codes above
    it right, the midpoint (grey) is split across zero; an even scale without a midpoint meets
    at zero between its middle codes. An unordered scale (or ``diverging=False``) is stacked
    from 0 to 100%. A bar with any withheld level is drawn as a "[c]" placeholder (its
    remaining levels would reveal the withheld one).
    """
    if by is None:  # the grid's row dimension
        by = getattr(getattr(instrument, "grids", {}).get(grid), "row_name", None) or "item"
    name = f"likert ({grid} by {by})"
    dim = _dimension(instrument, grid, by, name)
    _check(df, name, [by, "level", "estimate"])
    g = instrument.grids[grid]
    levels, colours, midpoint, diverging = _bar_scale(instrument, grid, name, diverging)
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
    below = (k // 2 if midpoint is None else midpoint) if diverging else 0
    rects, withheld_rows, labels_rows = [], [], []
    cats = [c for c in dim if c in set(df[by].astype(object))]
    for idx, cat in enumerate(cats):
        y = len(cats) - idx
        rows = df[df[by].astype(object) == cat]
        rsup = sup[(df[by].astype(object) == cat).to_numpy()]
        est = dict(zip(rows["level"].astype(object), rows["estimate"].astype(float), strict=True))
        if rsup.any() or any(lv not in est or not np.isfinite(est[lv]) for lv in levels):
            withheld_rows.append({"y": y, "x": 0.0 if diverging else 0.5, "label": f"{SYMBOL_SUPPRESSED} withheld"})
            continue
        shares = np.array([est[lv] for lv in levels])
        neutral = shares[midpoint] if diverging and midpoint is not None else 0.0
        x = -(shares[:below].sum() + neutral / 2) if diverging else 0.0
        for j, lv in enumerate(levels):
            rects.append({"y": y, "xmin": x, "xmax": x + shares[j], "level": lv})
            if shares[j] >= 0.07:
                labels_rows.append({"y": y, "x": x + shares[j] / 2, "label": format_percent(shares[j]), "colour": text_colour(colours[j])})
            x += shares[j]
    if not rects:
        raise DisclosureError(f"figure {name}: every bar is withheld, so there is nothing to draw")
    rect_df = pd.DataFrame(rects)
    rect_df["level"] = pd.Categorical(rect_df["level"], categories=levels, ordered=True)
    rect_df["ymin"], rect_df["ymax"] = rect_df["y"] - 0.36, rect_df["y"] + 0.36
    if diverging:
        lim = max(abs(rect_df["xmin"].min()), rect_df["xmax"].max(), 0.5)
        lim = min(1.0, math.ceil(lim * 10) / 10)
        breaks = [b / 100 for b in range(-100, 101, 25) if abs(b / 100) <= lim + 1e-9]
        limits: tuple[float, float] = (-lim, lim)
    else:
        breaks, limits = [b / 100 for b in range(0, 101, 25)], (0.0, 1.0)
    p = p9.ggplot(rect_df)
    if diverging:
        p += p9.geom_vline(xintercept=0, colour="#333333", size=0.5)
    p = (
        p
        + p9.geom_rect(p9.aes(xmin="xmin", xmax="xmax", ymin="ymin", ymax="ymax", fill="level"), colour="white", size=0.3)
        + p9.scale_fill_manual(
            values=dict(zip(levels, colours, strict=True)),
            breaks=levels,
            labels=[_wrap(lv, 22) for lv in levels],
            drop=False,
        )
        + p9.scale_x_continuous(limits=limits, breaks=breaks, labels=[f"{abs(b) * 100:.0f}%" for b in breaks])
        + p9.scale_y_continuous(
            breaks=[len(cats) - i for i in range(len(cats))],
            labels=[_wrap(dim[c], 30) for c in cats],
            limits=(0.5, len(cats) + 0.5),
            expand=(0, 0),
        )
        + p9.guides(fill=p9.guide_legend(nrow=1 if k <= 4 else 2 if k <= 8 else 3, byrow=True))
        + p9.labs(title=title, caption=_caption(caption, _likert_note(withheld_rows)))
        + theme_social_licence()
        + p9.theme(panel_grid_major_y=p9.element_blank(), axis_title=p9.element_blank(), legend_text=p9.element_text(size=7))
    )
    if labels_rows:
        p += p9.geom_text(p9.aes(x="x", y="y", label="label", color="colour"), data=pd.DataFrame(labels_rows), size=6.5, family=FONT)
        p += p9.scale_color_identity()
    if withheld_rows:
        p += p9.geom_text(p9.aes(x="x", y="y", label="label"), data=pd.DataFrame(withheld_rows), size=7, colour=WITHHELD_TEXT, family=FONT)
    return p


# -- heatmap -------------------------------------------------------------------------------------
def figure_heatmap(
    df: pd.DataFrame,
    instrument: Any,
    *,
    grid: str,
    dims: Sequence[str] | None = None,
    level: str = "acceptable",
    title: str | None = "Percentage of positive answers in each cell",
    caption: str | None = None,
) -> ggplot:
    """Two-way heatmap (``dims``: rows, columns; by default the grid's row and column names) of
    the weighted share of positive answers; withheld cells grey with "[c]"."""
    g = _grid(instrument, grid, "heatmap")
    if dims is None:
        if not g.column_name:
            raise OutputError(f"figure heatmap: grid {grid} has no columns, so it has no two-way table")
        dims = (g.row_name, g.column_name)
    row_dim, col_dim = dims
    name = f"heatmap ({grid})"
    _check(df, name, [row_dim, col_dim, "level", "estimate"])
    rows = _dimension(instrument, grid, row_dim, name)
    cols = _dimension(instrument, grid, col_dim, name)
    sub = df[df["level"].astype(object) == level].copy()
    if sub.empty:
        raise OutputError(f"figure {name}: no rows with level {level!r} (levels: {sorted(map(str, df['level'].unique()))})")
    _check_values(sub[row_dim], list(rows), row_dim, name)
    _check_values(sub[col_dim], list(cols), col_dim, name)
    sup, low = _flags(sub)
    est = sub["estimate"].to_numpy(dtype=float)
    if (sup | ~np.isfinite(est)).all():
        raise DisclosureError(f"figure {name}: every cell is withheld, so there is nothing to draw")
    row_labels = [_wrap(rows[c], 22) for c in rows]
    col_labels = [_wrap(cols[c], 20) for c in cols]
    plot_df = pd.DataFrame(
        {
            "row": pd.Categorical([_wrap(rows[c], 22) for c in sub[row_dim].astype(object)], categories=row_labels[::-1], ordered=True),
            "col": pd.Categorical([_wrap(cols[c], 20) for c in sub[col_dim].astype(object)], categories=col_labels, ordered=True),
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
        p9.ggplot(plot_df, p9.aes(x="col", y="row"))
        + p9.geom_tile(p9.aes(fill="value"), data=shown, colour="white", size=0.8)
        + p9.scale_fill_cmap(cmap_name="viridis", limits=(0, 100), guide=None)
        + p9.geom_text(p9.aes(label="label", color="colour"), size=7.5, family=FONT)
        + p9.scale_color_identity()
        + p9.labs(title=title, caption=_caption(caption, _base_note(sub, sup), withheld_note() if (sup.any() or low.any()) else None))
        + theme_social_licence()
        + p9.theme(panel_grid_major=p9.element_blank(), axis_title=p9.element_blank(), axis_text_x=p9.element_text(size=7.5))
    )
    if len(hidden):
        p += p9.geom_tile(data=hidden, fill=WITHHELD_FILL, colour="white", size=0.8)
        p += p9.geom_text(p9.aes(label="label"), data=hidden, size=7.5, colour=WITHHELD_TEXT, family=FONT)
    return p


# -- dot plots in blocks: one block per variable, its name as a heading row ----------------------
#: Height of one row of a dot plot (cm): 7.5 pt labels with air between them.
ROW_CM = 0.38
#: Characters per line of a block heading: it runs across the panel of a 16 cm figure.
HEADING_WIDTH = 62
HEADING_SIZE = 7.5
MODEL_SHAPES = ("o", "^", "s", "D")


def _layout(
    blocks: Sequence[tuple[str, Sequence[tuple[Any, str]]]],
    *,
    label_width: int = 32,
    heading_width: int = HEADING_WIDTH,
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Rows of a dot plot, top to bottom: a heading row per block (its variable, wrapped to
    ``heading_width``), then one row per item. Returns ``(rows, headings, bottom)``: ``rows``
    with ``block``, ``key``, ``tick`` (the wrapped axis label) and ``y``; ``headings`` with ``y``
    and ``label``; the y of the bottom edge (the top is 0). Long headings and labels get taller
    rows, so no text overlaps another and none leaves its own row."""
    y = 0.0
    rows, heads = [], []
    for b, (heading, items) in enumerate(blocks):
        if b:
            y -= 0.25
        if heading:
            text = _wrap(heading, heading_width)
            h = 1.0 + 0.7 * text.count("\n")
            heads.append({"y": y - h / 2, "label": text})
            y -= h
        for key, label in items:
            tick = _wrap(str(label), label_width)
            h = 1.0 + 0.6 * tick.count("\n")
            rows.append({"block": b, "key": key, "tick": tick, "y": y - h / 2})
            y -= h
    return pd.DataFrame(rows, columns=["block", "key", "tick", "y"]), pd.DataFrame(heads, columns=["y", "label"]), y


def _dot_plot_scales(rows: pd.DataFrame, heads: pd.DataFrame, bottom: float, x_left: float) -> list:
    """The y axis of a block layout and its heading rows (bold, left-aligned at ``x_left``, on
    white so a reference or grid line never runs through them)."""
    parts: list = [
        p9.scale_y_continuous(breaks=list(rows["y"]), labels=list(rows["tick"]), limits=(bottom, 0.0), expand=(0, 0.1)),
    ]
    if len(heads):
        parts.append(
            p9.geom_label(
                p9.aes(x="x", y="y", label="label"),
                data=heads.assign(x=x_left),
                ha="left",
                va="center",
                fontweight="bold",
                size=HEADING_SIZE,
                family=FONT,
                fill="white",
                label_size=0,
                label_padding=0.1,
                colour="#1a1a1a",
                inherit_aes=False,
            )
        )
    return parts


def _dot_height(bottom: float, caption: str, *, legend_rows: int = 0, title: str | None = None) -> float:
    """Figure height (cm) that gives every row ``ROW_CM``: title, rows, axis, legend, caption."""
    title_lines = (title or "").count("\n") + 1 if title else 0
    caption_lines = caption.count("\n") + 1 if caption else 0
    legend = 0.35 + 0.45 * legend_rows if legend_rows else 0.0
    height = 0.9 + 0.55 * title_lines + (-bottom) * ROW_CM + 1.1 + legend + 0.34 * caption_lines
    return min(26.0, max(7.0, height))


def _dot_theme(height_cm: float) -> theme:
    return theme_social_licence() + p9.theme(
        panel_grid_major_y=p9.element_blank(),
        axis_title_y=p9.element_blank(),
        axis_text_y=p9.element_text(size=7.5, colour="#222222"),
        figure_size=(WIDTH_CM / 2.54, height_cm / 2.54),
    )


def _reference_note(refs: Sequence[tuple[str, str]]) -> str | None:
    if not refs:
        return None
    return "Reference categories \u2013 " + "; ".join(f"{lower_first(v)}: {r}" for v, r in refs) + "."


def model_display_name(name: str, kind: str) -> str:
    """A model as a legend or caption names it: its kind in words and its configured name."""
    words = {"logistic": "Logistic model", "ordinal": "Proportional-odds model"}.get(kind, "Model")
    return f"{words} ({name})"


def _model_series(data: pd.DataFrame, names: Sequence[str], types: Mapping[str, str]) -> tuple[pd.DataFrame, list]:
    """Colour, shape and a small vertical offset per model when several are drawn together."""
    if len(names) < 2:
        return data.assign(dy=0.0), []
    labels = {n: model_display_name(n, types.get(n, "other")) for n in names}
    step = 0.5 / len(names)
    offsets = {n: 0.25 - step / 2 - i * step for i, n in enumerate(names)}
    out = data.assign(dy=[offsets[m] for m in data["model"].astype(str)])
    out["series"] = pd.Categorical([labels[m] for m in data["model"].astype(str)], categories=[labels[n] for n in names])
    colours = (OKABE_ITO[0], OKABE_ITO[5]) if len(names) == 2 else OKABE_ITO
    scales = [
        p9.scale_color_manual(values=dict(zip(labels.values(), colours, strict=False))),
        p9.scale_shape_manual(values=dict(zip(labels.values(), MODEL_SHAPES, strict=False))),
        p9.guides(colour=p9.guide_legend(ncol=1), shape=p9.guide_legend(ncol=1)),  # long names, one per line
    ]
    return out, scales


# -- dot plot by social group --------------------------------------------------------------------
def figure_groups(
    df: pd.DataFrame,
    instrument: Any,
    *,
    groups: Sequence[str] | None = None,
    level: str = "acceptable",
    where: Mapping[str, Any] | None = None,
    overall: float | None = None,
    title: str | None = "Percentage of positive answers, by group",
    caption: str | None = None,
) -> ggplot:
    """Dot plot with 95% CIs of an estimate by social group, one block per grouping variable.

    ``df``: a suppressed stacked group frame (``group_variable``, ``group``, ``level``,
    ``estimate``, ``ci_low``, ``ci_high``). ``where`` picks one cell of any other by columns
    (e.g. ``{"data_type": "police", "purpose": "early_help"}``). ``groups`` chooses and orders
    the grouping variables; groups follow the instrument's category order under a heading
    naming the variable. The whole-sample rows (group ``"All"``) give the dashed reference line
    unless ``overall`` is given. Low-precision estimates are hollow; withheld ones are
    labelled "[c]".
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
    pieces, blocks = [], []
    for gv in wanted:
        part = sub[sub["group_variable"].astype(object) == gv].copy()
        order = instrument[gv].labels if gv in instrument else list(dict.fromkeys(part["group"].astype(object)))
        _check_values(part["group"], order, f"group of {gv}", name)
        part["__order"] = [order.index(v) for v in part["group"].astype(object)]
        part = part.sort_values("__order")
        part["block"] = len(blocks)
        blocks.append((factor_label(instrument, gv), [(g, g) for g in part["group"].astype(object)]))
        pieces.append(part)
    data = pd.concat(pieces, ignore_index=True)
    sup, low = _flags(data)
    est = data["estimate"].to_numpy(dtype=float)
    if (sup | ~np.isfinite(est)).all():
        raise DisclosureError(
            f"figure {name}: every group of {', '.join(wanted)} is withheld, so there is nothing to draw"
        )
    rows, heads, bottom = _layout(blocks)
    data["y"] = rows["y"].to_numpy()  # rows are laid out in the order of the blocks' groups
    group_order = list(dict.fromkeys(data["group"].astype(str)))[::-1]
    data["group"] = pd.Categorical(data["group"].astype(str), categories=group_order, ordered=True)
    data["x"], data["lo"], data["hi"] = est * 100, data["ci_low"].astype(float) * 100, data["ci_high"].astype(float) * 100
    data["precision"] = np.where(low, "Low precision [u]", "Estimate")
    shown = data[~sup & np.isfinite(est)]
    hidden = data[sup | ~np.isfinite(est)].copy()
    hi_all = float(np.nanmax(shown["hi"])) if len(shown) else 100.0
    upper = min(100.0, math.ceil((hi_all + 5) / 10) * 10)
    lower = max(0.0, math.floor((float(np.nanmin(shown["lo"])) - 5) / 10) * 10)
    cap = _caption(caption, _groups_note(overall, bool(sup.any())))
    height_cm = _dot_height(bottom, cap, title=title)
    p = (
        p9.ggplot(shown, p9.aes(y="y"))
        + p9.geom_segment(p9.aes(x="lo", xend="hi", yend="y"), colour=OKABE_ITO[0], size=0.7)
        + p9.geom_point(p9.aes(x="x", shape="precision"), colour=OKABE_ITO[0], fill="white", size=2.2, stroke=0.8)
        + p9.scale_shape_manual(values={"Estimate": "o", "Low precision [u]": "o"}, guide=None)
        + p9.scale_x_continuous(limits=(lower, upper), labels=lambda xs: [f"{x:.0f}%" for x in xs], oob=mizani_bounds.squish)
        + p9.labs(title=title, caption=cap)
        + _dot_theme(height_cm)
        + p9.theme(axis_title=p9.element_blank())
    )
    solid = shown[shown["precision"] == "Estimate"]
    if len(solid):
        p += p9.geom_point(p9.aes(x="x"), data=solid, colour=OKABE_ITO[0], size=2.2)
    if overall is not None and np.isfinite(overall):
        p += p9.geom_vline(xintercept=overall * 100, linetype="dashed", colour="#555555", size=0.5)
    if len(hidden):
        hidden["x"] = lower
        hidden["label"] = f"{SYMBOL_SUPPRESSED} withheld"
        p += p9.geom_text(p9.aes(x="x", label="label"), data=hidden, size=6.5, colour=WITHHELD_TEXT, family=FONT, ha="left")
    for part in _dot_plot_scales(rows, heads, bottom, lower):
        p += part
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


def _log_breaks(lower: float, upper: float) -> list[float]:
    """Breaks of an odds-ratio axis: 1-2-5 steps, finer (quarters) when the range is narrow."""
    breaks = [b for b in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if lower <= b <= upper]
    if len(breaks) < 4:
        breaks = [b for b in (0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 10) if lower <= b <= upper]
    return breaks


def _select_models(data: pd.DataFrame, models: Sequence[str] | None, name: str) -> list[str]:
    present = list(dict.fromkeys(data["model"].astype(str)))
    if models is None:
        return present
    chosen = [str(m) for m in models]
    unknown = [m for m in chosen if m not in present]
    if unknown:
        raise OutputError(f"figure {name}: model {unknown[0]!r} is not in the table (it has {', '.join(present)})")
    return chosen


def figure_forest(
    table: pd.DataFrame,
    instrument: Any | None = None,
    *,
    kind: str = "odds_ratio",
    models: Sequence[str] | None = None,
    title: str | None = None,
    caption: str | None = None,
) -> ggplot:
    """Forest plot of odds ratios (log scale) or of marginal effects (percentage points).

    ``kind="odds_ratio"``: a model table (``term``, ``estimate``, ``ci_low``, ``ci_high`` on the
    log-odds scale, ``odds_ratio``). Only the main effects of logistic and ordinal models are
    drawn: the intercept, cut-points and interaction terms are left out (the caption says
    which interactions the model has and what that means for reading the rest), and a linear
    model is refused, since it has no odds ratios. Terms are grouped in blocks by variable,
    labelled from the instrument ("Police records", "Black" under "Ethnic group"), with the
    reference categories in the caption.

    ``kind="marginal_effect"``: a marginal-effects frame; only the ``difference`` rows are drawn,
    in blocks by ``group_variable``. Effects on the probability scale are shown in percentage
    points; models whose outcome is a mean (``level == "mean"``) are on their own scale and
    cannot share an axis with them.

    ``models`` picks the models to draw (default: every model the kind allows); several are
    told apart by colour and shape.
    """
    if kind not in ("odds_ratio", "marginal_effect"):
        raise OutputError(f"figure forest: kind must be 'odds_ratio' or 'marginal_effect', not {kind!r}")
    name = f"forest ({kind})"
    label_col = "term" if kind == "odds_ratio" else ("group" if "group" in table.columns else "term")
    need = [label_col, "estimate", "ci_low", "ci_high"] + (["odds_ratio"] if kind == "odds_ratio" else [])
    _check(table, name, need)
    data = table.copy().reset_index(drop=True)
    if "model" not in data.columns:
        data["model"] = "model"
    data["model"] = data["model"].astype(str)
    notes: list[str | None] = []
    ref_list: list[tuple[str, str]] = []
    blocks: list[tuple[str, list[tuple[Any, str]]]] = []
    if kind == "odds_ratio":
        types = model_types(data)
        chosen = _select_models(data, models, name)
        if models is None:
            chosen = [m for m in chosen if types[m] in ("logistic", "ordinal")]
            if not chosen:
                raise OutputError(
                    f"figure {name}: no model in the table has odds ratios ({', '.join(f'{m}: {t}' for m, t in types.items())}); "
                    "an odds-ratio plot shows logistic and ordinal models only"
                )
        for m in chosen:
            if types[m] not in ("logistic", "ordinal"):
                raise OutputError(
                    f"figure {name}: model {m!r} has no odds ratios (a linear or count model); "
                    "an odds-ratio plot shows logistic and ordinal models only"
                )
        full = data[data["model"].isin(chosen)]
        data = main_effects(full).reset_index(drop=True)
        if data.empty:
            raise OutputError(f"figure {name}: the model table has no coefficients besides the intercept")
        data["x"], data["lo"], data["hi"] = odds_ratio_columns(data)
        parts = [split_term(t)[0] for t in data["term"]]
        data["var"] = [v for v, _ in parts]
        data["key"] = [lv for _, lv in parts]
        data["label"] = [term_label(t, instrument) for t in data["term"]]
        variables = list(dict.fromkeys(data["var"]))
        for var in variables:
            levels = [k for k in data.loc[data["var"] == var, "key"] if k is not None]
            order = level_order(instrument, var, levels) if levels else [None]
            ticks = [level_label(instrument, var, k) if k is not None else "Per unit" for k in order]
            blocks.append((factor_label(instrument, var), list(zip(order, ticks, strict=True))))
        ref, xlab = 1.0, "Odds ratio (log scale), 95% CI"
        source = f" from the survey-weighted {lower_first(model_display_name(chosen[0], types[chosen[0]]))}" if len(chosen) == 1 else ""
        notes.append(
            f"Points are odds ratios{source}; lines show 95% confidence intervals; 1 means no difference "
            "from the reference category."
        )
        notes.append(reference_note(data, instrument))
        for m in chosen:
            subject = "The model" if len(chosen) == 1 else f"The {lower_first(model_display_name(m, types[m]))}"
            notes.append(interaction_note(full[full["model"] == m], instrument, subject=subject))
    else:
        if "statistic" in data.columns:
            data = data[data["statistic"].astype(str) == "difference"].reset_index(drop=True)
            if data.empty:
                raise OutputError(f"figure {name}: the frame has no 'difference' rows")
        chosen = _select_models(data, models, name)
        data = data[data["model"].isin(chosen)].reset_index(drop=True)
        scale = {
            m: "mean" if "level" in data.columns and (part["level"].astype(str) == "mean").all() else "probability"
            for m, part in data.groupby("model", sort=False)
        }
        if len(set(scale.values())) > 1:
            raise OutputError(
                f"figure {name}: the models are on different scales ({', '.join(f'{m}: {s}' for m, s in scale.items())}); "
                "draw them in separate figures (models=[...])"
            )
        types = {m: "other" for m in chosen}
        on_mean = set(scale.values()) == {"mean"}
        factor = 1.0 if on_mean else 100.0
        data["x"], data["lo"], data["hi"] = (data[c].astype(float) * factor for c in ("estimate", "ci_low", "ci_high"))
        gv = data["group_variable"].astype(str) if "group_variable" in data.columns else pd.Series("", index=data.index)
        data["var"] = gv
        data["key"] = data[label_col].astype(object)
        refs_col = data["reference"].astype(object) if "reference" in data.columns else pd.Series(None, index=data.index)
        data["label"] = [
            f"{level_label(instrument, v, k)} vs {level_label(instrument, v, r)}" if r is not None and not pd.isna(r) else level_label(instrument, v, k)
            for v, k, r in zip(data["var"], data["key"], refs_col, strict=True)
        ]
        dims = _grid_dimensions(instrument)
        variables = list(dict.fromkeys(data["var"]))
        variables = [v for v in variables if v in dims] + [v for v in variables if v not in dims]
        for var in variables:
            order = level_order(instrument, var, list(data.loc[data["var"] == var, "key"]))
            blocks.append((factor_label(instrument, var) if var else "", [(k, level_label(instrument, var, k)) for k in order]))
            rset = [r for r in refs_col[data["var"] == var] if r is not None and not pd.isna(r)]
            if var and rset:
                shown_ref = level_label(instrument, var, rset[0])
                ref_list.append((factor_label(instrument, var), lower_first(shown_ref) if var in _grid_dimensions(instrument) else shown_ref))
        ref = 0.0
        if on_mean:
            outcome = str(data["variable"].iloc[0]) if "variable" in data.columns else "the outcome"
            xlab = f"Difference in mean {lower_first(factor_label(instrument, outcome)).replace('_', ' ')}, 95% CI"
            what = "the difference in the predicted mean"
        else:
            xlab = "Difference in percentage points, 95% CI"
            level = str(data["level"].iloc[0]) if "level" in data.columns else ""
            what = "the difference in the predicted percentage " + (
                "giving a positive answer" if level == "acceptable" else (f"answering {level}" if level else "with the outcome")
            )
        described = f"model {chosen[0]!r}" if len(chosen) == 1 and chosen[0] != "model" else "each model"
        notes.append(
            f"Average marginal effects from {described}: {what} between each category and its reference, "
            "with the other characteristics as observed; lines show 95% confidence intervals."
        )
        notes.append(_reference_note(ref_list))
    sup, _ = _flags(data)
    sup = sup | ~np.isfinite(data["x"].to_numpy(dtype=float))
    if sup.all():
        raise DisclosureError(f"figure {name}: every term is withheld, so there is nothing to draw")
    rows, heads, bottom = _layout(blocks)
    position = {(int(b), k): y for b, k, y in zip(rows["block"], rows["key"], rows["y"], strict=True)}
    block_of = {v: i for i, v in enumerate(variables)}
    data["y0"] = [position[(block_of[v], k)] for v, k in zip(data["var"], data["key"], strict=True)]
    data, model_scales = _model_series(data, chosen, types)
    data["y"] = data["y0"] + data["dy"]
    data["label"] = pd.Categorical(data["label"], categories=list(dict.fromkeys(data["label"])))
    shown, hidden = data[~sup].copy(), data[sup].copy()
    finite = shown[["lo", "hi", "x"]].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if kind == "odds_ratio":
        lower, upper = min(float(finite.min()), 1.0) / 1.15, max(float(finite.max()), 1.0) * 1.15
    else:
        span = max(float(finite.max()), 0.0) - min(float(finite.min()), 0.0)
        lower, upper = min(float(finite.min()), 0.0) - 0.06 * span, max(float(finite.max()), 0.0) + 0.06 * span
    several = len(chosen) > 1
    cap = _caption(caption, *notes, withheld_note() if len(hidden) else None)
    height_cm = _dot_height(bottom, cap, legend_rows=len(chosen) if several else 0, title=title)
    mapping = {"colour": "series", "shape": "series"} if several else {}
    p = (
        p9.ggplot(shown, p9.aes(y="y"))
        + p9.geom_vline(xintercept=ref, colour="#555555", linetype="dashed", size=0.5)
        + p9.geom_segment(p9.aes(x="lo", xend="hi", yend="y", **({"colour": "series"} if several else {})), size=0.7, **({} if several else {"colour": OKABE_ITO[0]}))
        + p9.geom_point(p9.aes(x="x", **mapping), size=2.2, **({} if several else {"colour": OKABE_ITO[0]}))
        + p9.labs(x=xlab, title=title, caption=cap)
        + _dot_theme(height_cm)
    )
    for part in model_scales:
        p += part
    if kind == "odds_ratio":
        breaks = _log_breaks(lower, upper)
        p += p9.scale_x_log10(limits=(lower, upper), breaks=breaks, labels=[f"{b:g}" for b in breaks])
    else:
        p += p9.scale_x_continuous(limits=(lower, upper), breaks=_linear_breaks(lower, upper))
    if len(hidden):
        hidden["x"] = ref
        hidden["text"] = f"{SYMBOL_SUPPRESSED} withheld"
        p += p9.geom_text(p9.aes(x="x", label="text"), data=hidden, size=6.5, colour=WITHHELD_TEXT, family=FONT)
    for part in _dot_plot_scales(rows, heads, bottom, lower):
        p += part
    return p


def _linear_breaks(lower: float, upper: float) -> list[float]:
    """Breaks every 5, 10, 20 or 50 units (about four to eight of them), always through zero."""
    span = upper - lower
    step = next((s for s in (1, 2, 5, 10, 20, 50, 100) if span / s <= 8), 100)
    first = math.ceil(lower / step) * step
    return [float(first + i * step) for i in range(int((upper - first) // step) + 1)]


def _grid_dimensions(instrument: Any) -> set[str]:
    if instrument is None:
        return set()
    return {n for g in instrument.grids.values() for n in (g.row_name, g.column_name) if n}


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
    ``before``, ``after``, ``target`` as proportions). One block per margin, headed by its
    instrument label; categories of a margin named after an instrument variable follow its
    order, a joint margin's cells (``Female|18-29``) read ``Female, 18-29`` in table order.
    """
    var_col = "margin" if "margin" in margins.columns else "variable"
    cat_col = "category" if "category" in margins.columns else "level"
    _check(margins, "weighting", [var_col, cat_col, "before", "after", "target"])
    if margins.empty:
        raise OutputError("figure weighting: the margin table is empty")
    rows, blocks = [], []
    for var, part in margins.groupby(var_col, sort=False):
        cats = [str(c) for c in part[cat_col]]
        order = level_order(instrument, str(var), cats) if instrument is not None and var in instrument else cats
        part = part.assign(__o=[order.index(c) for c in cats]).sort_values("__o")
        blocks.append((margin_label(instrument, str(var)), [(str(c), str(c).replace("|", ", ")) for c in part[cat_col]]))
        for _, r in part.iterrows():
            for key, series in MARGIN_SERIES.items():
                rows.append({"block": len(blocks) - 1, "key": str(r[cat_col]), "category": str(r[cat_col]).replace("|", ", "), "series": series, "share": float(r[key]) * 100})
    data = pd.DataFrame(rows)
    layout, heads, bottom = _layout(blocks)
    position = {(int(b), k): y for b, k, y in zip(layout["block"], layout["key"], layout["y"], strict=True)}
    data["y"] = [position[(b, k)] for b, k in zip(data["block"], data["key"], strict=True)]
    cats = list(dict.fromkeys(data["category"]))[::-1]
    data["category"] = pd.Categorical(data["category"], categories=cats, ordered=True)
    data["series"] = pd.Categorical(data["series"], categories=list(MARGIN_SERIES.values()), ordered=True)
    upper = min(100.0, math.ceil((float(data["share"].max()) + 2) / 10) * 10)
    cap = _caption(caption, "Shares of the sample and of the population in each category of the margins the weights were raked to.")
    height_cm = _dot_height(bottom, cap, legend_rows=1, title=title)
    p = (
        p9.ggplot(data, p9.aes(x="share", y="y", colour="series", shape="series"))
        + p9.geom_point(size=2.0, stroke=0.8, fill="none")
        + p9.scale_color_manual(values=dict(zip(MARGIN_SERIES.values(), (OKABE_ITO[1], OKABE_ITO[0], "#000000"), strict=True)))
        + p9.scale_shape_manual(values=dict(zip(MARGIN_SERIES.values(), ("o", "s", "|"), strict=True)))
        + p9.scale_x_continuous(limits=(0, upper), labels=lambda xs: [f"{x:.0f}%" for x in xs])
        + p9.labs(x="Share", title=title, caption=cap)
        + _dot_theme(height_cm)
    )
    for part in _dot_plot_scales(layout, heads, bottom, 0.0):
        p += part
    return p


def figure_withheld(title: str, message: str) -> ggplot:
    """A placeholder for a figure whose every cell is withheld: it says so rather than showing
    an empty chart (for a workflow that must still write the figure file)."""
    data = pd.DataFrame({"x": [0.0], "y": [0.0], "label": [_wrap(f"{SYMBOL_SUPPRESSED} Withheld. {message}", 70)]})
    return (
        p9.ggplot(data, p9.aes(x="x", y="y", label="label"))
        + p9.geom_text(size=9, colour=WITHHELD_TEXT, family=FONT)
        + p9.labs(title=title)
        + theme_social_licence()
        + p9.theme(axis_text=p9.element_blank(), axis_title=p9.element_blank(), panel_grid_major=p9.element_blank())
    )


# -- saving --------------------------------------------------------------------------------------
def render_figures(
    plot: ggplot,
    formats: Sequence[str],
    *,
    width_cm: float | None = None,
    height_cm: float | None = None,
    dpi: int = DPI,
) -> dict[str, bytes]:
    """The figure in each of ``formats`` (PNG, SVG), as bytes with no date, software stamp or
    random ids. plotnine builds and lays out the figure once; each format is then only written
    (plotnine's own ``save`` builds the whole figure again for every file).

    The size is the plot's own (the house theme's 16 x 11 cm, taller for long dot plots)
    unless ``width_cm`` and ``height_cm`` are given.
    """
    for fmt in formats:
        if fmt not in ("png", "svg"):
            raise OutputError(f"figures are saved as png or svg, not {fmt!r}")
    size = plot.theme.getp("figure_size") if plot.theme is not None else None
    width_in, height_in = size if size else (WIDTH_CM / 2.54, HEIGHT_CM / 2.54)
    width = width_cm if width_cm is not None else width_in * 2.54
    height = height_cm if height_cm is not None else height_in * 2.54
    out: dict[str, bytes] = {}
    with matplotlib.rc_context(_SVG_RC):
        # what plot.save(...) does, with the drawing shared by the formats
        view = plot.save_helper(width=width, height=height, units="cm", dpi=dpi, verbose=False)
        try:
            with matplotlib.rc_context(plot.theme.rcParams):  # as plot.save writes the file
                # SVG first: its clip-path ids hash the clip boxes, which a PNG write before it
                # would leave in the PNG's resolution (the bytes then differ from a fresh draw)
                for fmt in sorted(formats, key=lambda f: f != "svg"):
                    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
                    buf = io.BytesIO()
                    view.figure.savefig(buf, format=fmt, metadata=metadata)
                    out[fmt] = buf.getvalue()
        finally:
            plt.close("all")
    return out


def render_figure(
    plot: ggplot,
    fmt: str,
    *,
    width_cm: float | None = None,
    height_cm: float | None = None,
    dpi: int = DPI,
) -> bytes:
    """The figure as PNG or SVG bytes (:func:`render_figures` with one format)."""
    return render_figures(plot, [fmt], width_cm=width_cm, height_cm=height_cm, dpi=dpi)[fmt]


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
    paths = {fmt: path for fmt, path in (("png", png_path), ("svg", svg_path)) if path is not None}
    rendered = render_figures(plot, list(paths), width_cm=width_cm, height_cm=height_cm, dpi=dpi)
    for fmt, path in paths.items():
        atomic_write_bytes(path, rendered[fmt])


# -- the workflow's figures, by name -------------------------------------------------------------
def figure_title(name: str, plan: Any) -> str:
    """The title of one of the workflow's figures (:meth:`Plan.figures`)."""
    if name == "model_forest":
        return "Odds ratios from the main model"
    if name == "model_effects":
        return "Adjusted differences in the percentage giving a positive answer (main model)"
    if name == "weights":
        return "Sample and weighted profile against population targets"
    q, kind = plan.output(name)
    population = plan.population
    if kind == "heatmap":
        return f"{q.title}: percentage of {population} who {q.says_plain}"
    if kind == "groups":
        return f"{q.title}: percentage who {q.says_plain}, by group"
    if kind.startswith("by_"):
        return f"{q.title}: answers by {plan.dimension_label(q, kind[3:])}"
    return f"{q.title}: answers"


def figure_from_inputs(
    name: str,
    inputs: Mapping[str, Any],
    plan: Any,
    thresholds: Any,
    options: Mapping[str, Any] | None = None,
) -> ggplot:
    """One of the workflow's figures (:meth:`social_licence.survey.plan.Plan.figures`) from the
    named inputs the brief also reads (estimate frames, ``models``, ``effects``, ``margins``),
    each protected by :func:`social_licence.disclosure.protect` first. A figure with every cell
    withheld comes back as :func:`figure_withheld`, saying so.

    The group figure shows the plan's headline cell for the headline question (else the cell
    whose groups lie furthest from the whole sample). ``options``: ``model`` (the model whose odds ratios and marginal effects are drawn; by default the first
    logistic model, :func:`social_licence.tables.main_model`), ``forest_models`` (several
    models with odds ratios to draw together, e.g. the logistic and the ordinal model)."""
    if name not in plan.figures():
        raise OutputError(f"figure {name!r} is not one of the analysis plan's ({', '.join(plan.figures())})")
    options = dict(options or {})
    instrument = plan.instrument
    title = _wrap(figure_title(name, plan), 70)

    def frame(key: str) -> pd.DataFrame:
        value = inputs.get(key)
        if value is None or len(value) == 0:
            raise OutputError(f"figure {name}: input {key!r} is missing or empty")
        if isinstance(value, (list, tuple)):
            value = pd.concat(list(value), ignore_index=True)
        protected = protect(value, thresholds, instrument, name=key)
        if "suppressed" in protected.columns and protected["suppressed"].fillna(False).astype(bool).all():
            raise DisclosureError(f"figure {name}: every cell is withheld, so there is nothing to draw")
        return protected

    try:
        if name == "model_forest":
            models = frame("models")
            main = main_model(models, None, options.get("model"))
            chosen = options.get("forest_models") or ([main] if main is not None else None)
            return figure_forest(models, instrument, models=chosen, title=title)
        if name == "model_effects":
            effects = frame("effects")
            models = inputs.get("models")
            models = pd.concat(list(models), ignore_index=True) if isinstance(models, (list, tuple)) else models
            main = main_model(models if models is not None and len(models) else None, effects, options.get("model"))
            return figure_forest(effects, instrument, kind="marginal_effect", models=[main] if main else None, title=title)
        if name == "weights":
            margins = inputs.get("margins")
            if margins is None:
                raise OutputError("figure weights: input 'margins' is missing")
            return figure_weighting(margins, instrument, title=title)
        q, kind = plan.output(name)
        if kind == "heatmap":
            items = frame(f"{q.name}_items")
            return figure_heatmap(items[items["level"].astype(object) == "acceptable"], instrument, grid=q.grid, dims=q.dims, title=title)
        if kind == "groups":
            by_group = frame(f"{q.name}_groups")
            where = headline_cell(by_group, plan.headline if plan.headline_question is q else None, q)
            if where:
                title = _wrap(f"{q.title}: percentage who {q.says_plain} ({plan.cell_phrase(q, where)}), by group", 70)
            return figure_groups(by_group, instrument, where=where, groups=q.groups, title=title)
        if kind.startswith("by_"):
            by = kind[3:]
        else:  # the responses of a question of one dimension, or of one item (its single row)
            by = q.dims[0] if q.dims else instrument.grids[q.grid].row_name
        return figure_likert(frame(name), instrument, grid=q.grid, by=by, title=title)
    except DisclosureError as exc:
        return figure_withheld(title, str(exc).split(": ", 1)[-1] + ".")


def publish_figure(
    name: str,
    inputs: Mapping[str, Any],
    plan: Any,
    thresholds: Any,
    png_path: str | Path | None,
    svg_path: str | Path | None,
    options: Mapping[str, Any] | None = None,
) -> ggplot:
    """Build one of the workflow's figures (:func:`figure_from_inputs`) and save PNG and SVG."""
    plot = figure_from_inputs(name, inputs, plan, thresholds, options)
    save_figure(plot, png_path, svg_path)
    return plot
