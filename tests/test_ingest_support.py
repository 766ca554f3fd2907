"""Exports the ingest tests write themselves: a small coded survey matching config/instrument.yaml.

The coded frame is built here by hand with a fixed seed, so every expected count in the tests
is a plain count of codes in this frame (an independent reference, not our own output).
Holds no tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
from conftest import DATA

from social_licence.survey.instrument import load_instrument

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_SPSS = DATA / "reference" / "spss"
INSTRUMENT = load_instrument(ROOT / "config" / "instrument.yaml")
KEY = b"test-key-for-pseudonyms"

# ballot code -> purposes asked (the instrument's ballot labels)
BALLOTS = {
    1: ("early_help", "risk_scoring"),
    2: ("early_help", "planning"),
    3: ("early_help", "eligibility"),
    4: ("risk_scoring", "planning"),
    5: ("risk_scoring", "eligibility"),
    6: ("planning", "eligibility"),
}
MISSING_LABELS = {8: "Don't know", 9: "Refused", 99: "Refused", -1: "Not in this ballot"}


def coded_export(n: int = 60, seed: int = 7) -> pd.DataFrame:
    """A raw coded export: numeric codes as in the instrument, identifiers, missing codes."""
    rng = np.random.default_rng(seed)
    inst = INSTRUMENT
    out: dict[str, object] = {
        "respondent_id": [f"P{10001 + i}" for i in range(n)],
        "panel_id": (700000 + rng.permutation(n)).astype(float),
        "email": [f"parent{i}@example.org" for i in range(n)],
        "postcode": [f"ZZ{i % 9} {i % 7}AB" for i in range(n)],
        "comment": [f"free text comment number {i} about my family" for i in range(n)],
        "design_weight": np.round(rng.uniform(0.5, 2.0, n), 6),
        "stratum": rng.integers(1, 4, n).astype(float),
        "psu": rng.integers(1, 13, n).astype(float),
        "duration_s": rng.integers(400, 1800, n).astype(float),
    }
    for name, var in inst.variables.items():
        if (
            name in out
            or var.type in ("id", "identifier", "weight", "design", "numeric")
            and name != "ballot"
        ):
            continue
        if var.grid is not None:
            continue
        codes = sorted(var.codes)
        miss = [c for c in sorted(var.missing) if c != -1]
        values = rng.choice(codes, n).astype(float)
        if miss:
            pick = rng.random(n) < 0.1
            values[pick] = rng.choice(miss, int(pick.sum()))
        out[name] = values
    out["attention_check"] = np.where(rng.random(n) < 0.9, 2.0, 4.0)
    ballot = rng.integers(1, 7, n)
    out["ballot"] = ballot.astype(float)
    grid = inst.grids["acceptability"]
    for var, _row, column in grid.cells():
        asked = np.array([column in BALLOTS[b] for b in ballot])
        values = rng.choice(
            [1, 2, 3, 4, 5, 8, 9], n, p=[0.15, 0.2, 0.2, 0.2, 0.15, 0.07, 0.03]
        ).astype(float)
        out[var] = np.where(asked, values, -1.0)
    for gname in ("trust", "rights"):
        g = inst.grids[gname]
        codes = sorted(inst.scales[g.scale]["codes"])
        for var in g.variables:
            values = rng.choice(codes + [8, 9], n).astype(float)
            out[var] = values
    return pd.DataFrame(out)


def value_labels(frame: pd.DataFrame) -> dict[str, dict[float, str]]:
    """SPSS value labels for the export: the instrument's labels plus its missing codes."""
    labels: dict[str, dict[float, str]] = {}
    for name in frame.columns:
        if name in INSTRUMENT and INSTRUMENT[name].codes:
            var = INSTRUMENT[name]
            lab = {float(c): text for c, text in var.codes.items()}
            for c in var.missing:
                lab[float(c)] = MISSING_LABELS[c]
            labels[name] = lab
    return labels


def write_sav(frame: pd.DataFrame, path: Path, *, user_missing: bool = True, **kwargs) -> Path:
    """Write ``frame`` as SPSS with labels, and (by default) the instrument's missing codes as
    SPSS user-missing values, as a panel company's export would."""
    labels = value_labels(frame)
    missing = {}
    if user_missing:
        for name in labels:
            codes = sorted(INSTRUMENT[name].missing)
            if codes:
                missing[name] = [float(c) for c in codes[:3]]
    column_labels = {c: INSTRUMENT[c].label if c in INSTRUMENT else c for c in frame.columns}
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels=column_labels,
        variable_value_labels=kwargs.pop("variable_value_labels", labels),
        missing_ranges=kwargs.pop("missing_ranges", missing),
        **kwargs,
    )
    return path


def label_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The same export as label text (as a 'labels' CSV export shows it)."""
    labels = value_labels(frame)
    out = frame.copy().astype(object)
    for name, lab in labels.items():
        out[name] = [lab.get(v, v) if not pd.isna(v) else "" for v in frame[name]]
    return out
