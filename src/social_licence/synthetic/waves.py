"""A second wave of the synthetic parents' survey, with a known change and a panel overlap.

Wave 2 is drawn like wave 1 (:func:`.parents.generate`, the same population and design model)
with two differences, both stated in its ``truth.json``:

- **A known change.** Among lone parents, acceptance of predictive risk scoring falls by exactly
  ``CHANGE`` (8 points) on the census measure, unchanged everywhere else: each "Somewhat" or
  "Very acceptable" answer of a lone parent to a risk-scoring item becomes "Neither" with
  probability ``q = CHANGE / P(acceptable | lone parent, risk scoring)`` (the wave-1 census
  share). Because ``q`` is one constant for every lone parent and every risk-scoring cell, the
  census share among lone parents falls by ``q * P = CHANGE`` exactly, and no other census
  quantity of another group or purpose moves except through lone parents' share in it (listed).
- **A panel overlap.** ``overlap`` careful wave-1 parents (none of wave 1's QA cases) are
  interviewed again: the same ``respondent_id`` and identifiers, stratum, area and design weight,
  and the same answers as in wave 1 (a test-retest correlation of 1) except where the change
  moves them. The other ``n - overlap`` parents are a fresh draw with their own QA cases; their
  respondent IDs start at ``FRESH_ID_OFFSET`` and their area codes at area ``FRESH_AREA_OFFSET``
  within the stratum, so no fresh parent or area shares a code with wave 1 by chance.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..design.change import combine_waves, wave_changes
from ..design.design import SurveyDesign
from ..io import atomic_write_text
from ..survey.grid import grid_rows
from ..survey.instrument import Instrument, load_instrument
from .parents import (
    ACC_ITEMS,
    ACCEPTABLE_CODES,
    DATA_TYPES,
    DEFAULT_MODEL,
    GROUP_VARIABLES,
    LEVELS,
    PURPOSES,
    SEED,
    SyntheticModel,
    analysis_frame,
    census_table,
    check_against_instrument,
    generate,
    population_truth,
    write_sav,
)

WAVE2_SEED = 20260302
CHANGE = -0.08  # true change of acceptance of risk scoring among lone parents
CHANGED_PURPOSE = "risk_scoring"
CHANGED_GROUP = ("lone_parent", "Yes")
MOVED_TO_CODE = 3  # "Neither acceptable nor unacceptable"
OVERLAP = 400
FRESH_ID_OFFSET = 500_000
FRESH_AREA_OFFSET = 50
TRUTH_DECIMALS = 6


def _r(x: float) -> float:
    return round(float(x), TRUTH_DECIMALS)


def _census(model: SyntheticModel) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The census table with the wave-1 and wave-2 acceptance probabilities and base weights."""
    table = census_table(model)
    w = (table["population_share"] * table["p_answer"]).to_numpy()
    y1 = table["p_acceptable"].to_numpy()
    return table, w, y1


def _changed_mask(table: pd.DataFrame) -> np.ndarray:
    var, level = CHANGED_GROUP
    return ((table[var] == level) & (table["purpose"] == CHANGED_PURPOSE)).to_numpy()


def move_probability(model: SyntheticModel = DEFAULT_MODEL) -> float:
    """``q``: the chance an acceptable answer in the changed cells moves to "Neither"."""
    table, w, y1 = _census(model)
    mask = _changed_mask(table)
    return -CHANGE / float(np.sum(y1[mask] * w[mask]) / np.sum(w[mask]))


def _acceptance(table: pd.DataFrame, w: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    def share(mask: np.ndarray) -> float:
        return float(np.sum(y[mask] * w[mask]) / np.sum(w[mask]))

    def by(column: str, extra: np.ndarray | None = None) -> dict[str, float]:
        keep = np.ones(len(table), bool) if extra is None else extra
        return {
            str(lev): share(keep & (table[column] == lev).to_numpy())
            for lev in table[column].cat.categories
        }

    everyone = np.ones(len(table), bool)
    return {
        "acceptable_overall": share(everyone),
        "acceptable_by_cell": {
            d: {
                p: share(((table["data_type"] == d) & (table["purpose"] == p)).to_numpy())
                for p in PURPOSES
            }
            for d in DATA_TYPES
        },
        "acceptable_by_data_type": by("data_type"),
        "acceptable_by_purpose": by("purpose"),
        "acceptable_by_group": {var: by(var) for var in GROUP_VARIABLES},
        "acceptable_by_group_and_purpose": {
            var: {
                str(lev): by("purpose", (table[var] == lev).to_numpy())
                for lev in table[var].cat.categories
            }
            for var in GROUP_VARIABLES
        },
    }


def _rounded(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _rounded(v) for k, v in tree.items()}
    return _r(tree)


def _difference(a: Any, b: Any) -> Any:
    if isinstance(a, dict):
        return {k: _difference(a[k], b[k]) for k in a}
    return _r(b - a)


def wave_truth(model: SyntheticModel = DEFAULT_MODEL) -> dict[str, Any]:
    """Acceptance census quantities of both waves and the true changes (wave 2 - wave 1)."""
    table, w, y1 = _census(model)
    q = move_probability(model)
    y2 = np.where(_changed_mask(table), y1 * (1 - q), y1)
    wave1, wave2 = _acceptance(table, w, y1), _acceptance(table, w, y2)
    return {
        "move_probability": _r(q),
        "wave1": _rounded(wave1),
        "wave2": _rounded(wave2),
        "change": _difference(wave1, wave2),
    }


@lru_cache(maxsize=1)
def _default_truth() -> dict[str, Any]:
    return wave_truth()


def _careful(frame: pd.DataFrame) -> np.ndarray:
    """Positions of parents who are none of the export's QA cases (and appear once)."""
    qa = frame.attrs.get("qa", {})
    flagged = set(frame.attrs.get("withdrawals", []))
    for ids in qa.values():
        flagged.update(ids)
    ids = frame["respondent_id"]
    return np.flatnonzero((~ids.isin(flagged) & ~ids.duplicated(keep=False)).to_numpy())


def _apply_change(frame: pd.DataFrame, rows: np.ndarray, q: float, rng) -> None:
    """Move acceptable answers of lone parents to risk-scoring items, in place, at ``rows``."""
    lone = frame["lone_parent"].to_numpy()[rows] == LEVELS["lone_parent"].index("Yes") + 1
    target = rows[lone]
    for item in ACC_ITEMS:
        if not item.endswith(f"__{CHANGED_PURPOSE}"):
            continue
        values = frame[item].to_numpy().copy()
        draw = rng.random(len(target)) < q
        hit = target[np.isin(values[target], ACCEPTABLE_CODES) & draw]
        values[hit] = MOVED_TO_CODE
        frame[item] = values


def generate_waves(
    n: int = 1500,
    overlap: int = OVERLAP,
    seed: int = SEED,
    wave2_seed: int = WAVE2_SEED,
    *,
    sample: str = "panel",
    qa: bool = True,
    model: SyntheticModel = DEFAULT_MODEL,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wave 1 (exactly :func:`generate` ``(n, seed)``) and wave 2 with the change and overlap.

    ``attrs["panel"]`` of wave 2 lists the respondent IDs interviewed in both waves.
    """
    wave1 = generate(n, seed, sample=sample, qa=qa, model=model)
    rng = np.random.default_rng(wave2_seed)
    careful = _careful(wave1)
    if overlap > len(careful):
        raise ValueError(f"overlap {overlap} exceeds the {len(careful)} careful wave-1 parents")
    panel = wave1.iloc[np.sort(rng.choice(careful, overlap, replace=False))].copy()
    fresh = generate(n - overlap, wave2_seed, sample=sample, qa=qa, model=model)
    number = fresh["respondent_id"].str[1:].astype(int) + FRESH_ID_OFFSET
    renamed = dict(zip(fresh["respondent_id"], "P" + number.astype(str).str.zfill(6), strict=False))
    fresh["respondent_id"] = fresh["respondent_id"].map(renamed)
    if sample == "panel":
        area = fresh["psu"] % 100
        if area.max() >= FRESH_AREA_OFFSET:
            raise ValueError("too many areas in a stratum to keep wave-2 area codes distinct")
        fresh["psu"] = fresh["psu"] + FRESH_AREA_OFFSET
    taken = set(wave1["panel_id"])
    fresh["panel_id"] = [
        p if p not in taken else f"PNL{int(p[3:]) % 1_000_000 + 9_000_000:07d}"
        for p in fresh["panel_id"]
    ]
    wave2 = pd.concat([fresh, panel], ignore_index=True)
    order = rng.permutation(len(wave2))
    wave2 = wave2.iloc[order].reset_index(drop=True)
    flagged = {i for ids in fresh.attrs.get("qa", {}).values() for i in ids}
    flagged = {renamed[i] for i in flagged}
    rows = np.flatnonzero(~wave2["respondent_id"].isin(flagged).to_numpy())
    _apply_change(wave2, rows, move_probability(model), rng)
    wave2.attrs = {
        "seed": wave2_seed,
        "n": n,
        "sample": sample,
        "qa": {k: sorted(renamed[i] for i in v) for k, v in fresh.attrs.get("qa", {}).items()},
        "withdrawals": sorted(renamed[i] for i in fresh.attrs.get("withdrawals", [])),
        "panel": sorted(panel["respondent_id"].tolist()),
    }
    return wave1, wave2


def write_wave2(
    out: str | Path,
    n: int = 1500,
    overlap: int = OVERLAP,
    seed: int = SEED,
    wave2_seed: int = WAVE2_SEED,
    instrument: str | Path | Instrument = "config/instrument.yaml",
) -> list[Path]:
    """Write parents_wave2.sav, truth.json, withdrawals.csv and panel.csv into ``out``."""
    inst = instrument if isinstance(instrument, Instrument) else load_instrument(instrument)
    _, wave2 = generate_waves(n, overlap, seed, wave2_seed)
    check_against_instrument(wave2, inst)
    out = Path(out)
    paths = [
        out / name for name in ("parents_wave2.sav", "truth.json", "withdrawals.csv", "panel.csv")
    ]
    write_sav(wave2, paths[0], inst)
    truth = copy.deepcopy(population_truth())
    changes = wave_truth()
    truth["description"] = (
        "Ground truth of wave 2 of the synthetic parents' survey: the wave-1 model "
        "(data/raw/example/truth.json) with acceptance of risk scoring among lone parents "
        f"{CHANGE * 100:+.0f} points, and a panel overlap of {overlap} parents."
    )
    census = truth["census"]
    for key, value in changes["wave2"].items():
        census[key] = value
    for key in ("marginal_logit", "average_marginal_effects"):
        census.pop(key)  # of the wave-1 model only; the change is not a logit shift
    truth["change"] = {
        "definition": (
            "wave 2 - wave 1 census quantity; each acceptable answer of a lone parent to a "
            f"{CHANGED_PURPOSE} item moves to code {MOVED_TO_CODE} with probability "
            "move_probability"
        ),
        "group": {CHANGED_GROUP[0]: CHANGED_GROUP[1]},
        "purpose": CHANGED_PURPOSE,
        "true_change": CHANGE,
        "move_probability": changes["move_probability"],
        "wave1": changes["wave1"],
        "quantities": changes["change"],
    }
    truth["generated_with"] = {
        "command": (
            f"python -m social_licence.synthetic.waves --n {n} --overlap {overlap} "
            f"--seed {seed} --wave2-seed {wave2_seed} --out <folder>"
        ),
        "n_parents": n,
        "rows": len(wave2),
        "seed": wave2_seed,
        "wave1_seed": seed,
        "sample": "panel",
        "panel_overlap": overlap,
        "qa": wave2.attrs["qa"],
    }
    atomic_write_text(paths[1], json.dumps(truth, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(
        paths[2], "respondent_id\n" + "".join(f"{i}\n" for i in wave2.attrs["withdrawals"])
    )
    atomic_write_text(paths[3], "respondent_id\n" + "".join(f"{i}\n" for i in wave2.attrs["panel"]))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m social_licence.synthetic.waves",
        description="Write wave 2 of the synthetic example survey and its ground truth.",
    )
    parser.add_argument("--out", default="data/raw/example_wave2", help="output folder")
    parser.add_argument("--n", type=int, default=1500, help="number of parents in each wave")
    parser.add_argument("--overlap", type=int, default=OVERLAP, help="parents in both waves")
    parser.add_argument("--seed", type=int, default=SEED, help="wave-1 seed")
    parser.add_argument("--wave2-seed", type=int, default=WAVE2_SEED, help="wave-2 seed")
    parser.add_argument("--instrument", default="config/instrument.yaml", help="instrument file")
    args = parser.parse_args(argv)
    paths = write_wave2(args.out, args.n, args.overlap, args.seed, args.wave2_seed, args.instrument)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def change_draw(
    draw: int,
    n: int = 1500,
    overlap: int = OVERLAP,
    *,
    panel: bool = True,
    instrument: Instrument | None = None,
) -> pd.DataFrame:
    """One draw of both waves (simple random samples, no QA cases) and the estimated changes
    in acceptance by lone parent x purpose, long format (each parent x item rated once), with
    the true change beside each row (for coverage and false-flag checks over many draws).

    The design clusters ratings on the parent; ``panel=True`` also links the overlap across
    waves, ``False`` treats the waves as independent samples (ignoring the overlap).
    """
    inst = instrument if instrument is not None else load_instrument("config/instrument.yaml")
    raws = generate_waves(
        n, overlap, seed=1_000 + 2 * draw, wave2_seed=1_001 + 2 * draw, sample="srs", qa=False
    )
    designs = {}
    for name, raw in zip(("wave1", "wave2"), raws, strict=True):
        frame = analysis_frame(
            raw[["respondent_id", "design_weight", "lone_parent", *ACC_ITEMS]], inst
        )
        rows, _ = grid_rows(frame, inst, "acceptability", keep=["lone_parent"])
        designs[name] = SurveyDesign(frame, weights="weight").long(rows)
    waves = combine_waves(designs, panel="respondent" if panel else None, repeated=True)
    out = wave_changes(waves, "acceptable", None, by=["lone_parent", "purpose"])
    truth = _default_truth()["change"]["acceptable_by_group_and_purpose"]["lone_parent"]
    out["true_change"] = [
        truth[str(g)][str(p)] for g, p in zip(out["lone_parent"], out["purpose"], strict=True)
    ]
    out["draw"] = draw
    return out
