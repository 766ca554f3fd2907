"""How variables and raking margins are named for readers: the one label formatter."""

from __future__ import annotations

from typing import Any

TIMES = " \u00d7 "


def sentence(text: str) -> str:
    """Upper-case the first letter (``data type`` -> ``Data type``)."""
    return text[:1].upper() + text[1:]


def lower_first(text: str) -> str:
    """Lower-case the first letter of a label for use mid-sentence, unless it starts an
    acronym ("NHS", "UK")."""
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


def factor_label(instrument: Any | None, name: str) -> str:
    """How a variable of a model or a breakdown is named for readers: a grid dimension by its
    name in words (``data_type`` -> ``Data type``), an instrument variable by its label."""
    if instrument is not None:
        for grid in instrument.grids.values():
            if name in (grid.row_name, grid.column_name):
                return sentence(name.replace("_", " "))
        if name in instrument:
            return instrument[name].label
    return str(name)


def margin_label(instrument: Any | None, margin: str, *, prose: bool = False) -> str:
    """A raking margin for readers. In a figure, ``sex x age_band`` -> ``Parent sex \u00d7 parent
    age band``; in ``prose``, ``parent sex by parent age band`` (the margin's own name when there
    is no instrument)."""
    names = [n.strip() for n in str(margin).split(" x ")]
    if prose:
        if instrument is None:
            return str(margin)
        return " by ".join(lower_first(factor_label(instrument, n)) for n in names)
    labels = [factor_label(instrument, n) for n in names]
    return labels[0] + "".join(TIMES + lower_first(lab) for lab in labels[1:])
