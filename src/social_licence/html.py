"""The one HTML table renderer, and the page around it, for every HTML file the package writes.

Tables are drawn by ``great_tables`` from a frame of display strings (published tables, the
brief's tables, the codebook's answer tables), with a stable id, so the same frame gives the same
bytes. At the bottom layer so that ingest (the codebook) and report (tables, brief) share it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

import pandas as pd

from .errors import OutputError

#: The group column of a display frame: its values head blocks of rows instead of a column.
GROUP_COLUMN = "Group variable"
_NUMERIC = re.compile(r"^(\[c\]|\[u\]|[<\-\u2212]?[\d,.]+.*)?$")


def slug(text: str) -> str:
    """A short, stable HTML id from a title."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "table"


def looks_numeric(values: pd.Series) -> bool:
    """Whether a column of display strings reads as numbers (figures, ``[c]``, ``[u]``, blanks):
    such columns are right-aligned in HTML and Word."""
    return all(bool(_NUMERIC.match(str(v))) for v in values)


def html_table(
    display: pd.DataFrame,
    *,
    title: str | None = None,
    subtitle: str | None = None,
    notes: Sequence[str] = (),
    table_id: str | None = None,
    numeric: Sequence[str] | None = None,
) -> str:
    """A table of display strings as a self-contained HTML fragment (its own scoped CSS).

    ``table_id``: the fragment's id (default: from the title); ``numeric``: the right-aligned
    columns (default: those that :func:`looks_numeric`). A :data:`GROUP_COLUMN` heads blocks of
    rows. ``notes`` are source notes under the table.
    """
    from great_tables import GT  # heavy: only when an HTML table is rendered

    if table_id is None and title is None:
        raise OutputError("an HTML table needs a title or a table_id for its id")
    group_col = GROUP_COLUMN if GROUP_COLUMN in display.columns else None
    frame = display.copy()
    # great_tables makes a frame of pandas "string" columns and fills it one cell at a time;
    # with Python storage each fill is several times cheaper than with pandas' default Arrow
    # storage (the text written is the same)
    with pd.option_context("mode.string_storage", "python"):
        gt = GT(frame, id=table_id or slug(title or ""), groupname_col=group_col)
    if title is not None:
        gt = gt.tab_header(title=title, subtitle=subtitle) if subtitle else gt.tab_header(title=title)
    if numeric is None:
        numeric = [c for c in frame.columns if c != group_col and looks_numeric(frame[c])]
    if numeric:
        gt = gt.cols_align(align="right", columns=list(numeric))
    for note in notes:
        gt = gt.tab_source_note(note)
    gt = gt.tab_options(
        table_font_names=["Segoe UI", "Helvetica Neue", "Arial", "sans-serif"],
        table_font_size="10pt",
        heading_align="left",
        heading_title_font_size="12pt",
        source_notes_font_size="8.5pt",
        row_group_font_weight="bold",
        column_labels_font_weight="bold",
        table_width="100%",
    )
    return gt.as_raw_html()


def html_page(fragment: str, title: str, *, head: str = "") -> str:
    """One self-contained HTML page holding ``fragment``; ``head``: more of its head (a
    viewport, a style sheet)."""
    return (
        '<!DOCTYPE html>\n<html lang="en-GB">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n{head}</head>\n<body>\n{fragment}\n</body>\n</html>\n"
    )
