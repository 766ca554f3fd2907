"""The second synthetic example: university students rating campus data-use scenarios, long form.

A survey of another shape than the parents' example: one row per rating (student x scenario),
no design weights (a simple random sample of students with full response), several 0-10 and 0-5
rating dimensions per scenario, an acceptability yes/no per scenario, an attention check per
scenario, rating-level predictors (the consent framing shown, the position in the sequence) and
student characteristics repeated on each of a student's rows. Every number is a modelling
assumption, not a statistic about real students.

Population. Year of study, gender, international status and field of study; international
status depends on the year (postgraduates more often international), the others are independent
(``YEAR_SHARES``, ``GENDER_SHARES``, ``INTERNATIONAL_BY_YEAR``, ``FIELD_SHARES``).

Sample. ``n`` students drawn at random; each rates ``RATED`` of the ``len(SCENARIOS)`` scenarios,
chosen uniformly without replacement and shown in random order (``position`` 1-3); each rating is
shown with a consent framing drawn independently (opt-in or opt-out, half each).

Attitudes. A latent acceptance ``eta = scenario[s] + framing[f] + year[y] + international[i] +
gender[g] + field[d] + u``, ``u ~ N(0, STUDENT_SD^2)`` shared by a student's ratings (so ratings
cluster within students). Acceptable (yes/no): ``P(yes) = expit(eta)``. Each rating dimension
``r`` is cumulative logit on its own scale: ``P(Y <= k) = expit(cut_r[k] - (loading_r * eta +
shift_r))`` (``DIMENSIONS``); risk loads negatively. "Don't know" (and, on 0-10 items, "Prefer
not to say") replaces an answer independently of it, with the probabilities in ``DIMENSIONS``;
"Prefer not to say" replaces gender with probability ``GENDER_REFUSED``.

Inattentive students (share ``inattentive``, default ``INATTENTIVE_SHARE``) answer every item at
random (uniform over the substantive codes) and the attention check too (uniform 1-5, pass code
``ATTENTION_PASS``); attentive students always pass. The truth describes the attentive population.

Truth (:func:`population_truth`, ``truth.json``): the population shares enumerated exactly and
every population-averaged quantity integrated over ``u`` by Gauss-Hermite quadrature
(``GAUSS_HERMITE_NODES`` nodes): the share of "yes" among substantive answers and the mean of
each dimension among substantive answers, by scenario, by framing, by international status and
by year, and overall (each scenario equally often, as the design rates them).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat

from ..io import atomic_path, atomic_write_text
from .parents import SAV_TIMESTAMP, SAV_TIMESTAMP_OFFSET

SEED = 20260901
N_STUDENTS = 600
RATED = 3
STUDENT_SD = 1.0
GAUSS_HERMITE_NODES = 40
INATTENTIVE_SHARE = 0.05
GENDER_REFUSED = 0.03
ATTENTION_PASS = 2
TRUTH_DECIMALS = 6
SAV_FILE_LABEL = "Synthetic example: students' views on campus data use"

SCENARIOS: dict[str, tuple[str, float]] = {  # key -> (label, effect on eta)
    "wifi_location": ("Campus Wi-Fi location data to manage room occupancy", -0.3),
    "learning_analytics": ("Learning analytics to flag students at risk of failing", 0.4),
    "health_research": ("Student health-service records for medical research", 0.9),
    "card_access": ("Building card-access logs to investigate misconduct", -0.8),
    "library": ("Library borrowing records to recommend reading", 1.2),
    "social_media": ("Public social-media posts to monitor student wellbeing", -1.5),
}
FRAMING = {"Opt-in consent": 0.0, "Opt-out (used unless the student objects)": -0.5}
YEAR = ("First year", "Second year", "Third year or above", "Postgraduate")
YEAR_SHARES = (0.30, 0.25, 0.25, 0.20)
YEAR_EFFECT = (0.0, -0.1, -0.2, -0.4)
GENDER = ("Woman", "Man", "Non-binary or another gender")
GENDER_SHARES = (0.56, 0.41, 0.03)
GENDER_EFFECT = (0.0, 0.2, -0.5)
INTERNATIONAL = ("Yes", "No")
INTERNATIONAL_BY_YEAR = (0.15, 0.15, 0.15, 0.40)  # P(international) by year of study
INTERNATIONAL_EFFECT = (0.4, 0.0)
FIELD = ("Science and engineering", "Social sciences", "Arts and humanities", "Health and medicine")
FIELD_SHARES = (0.35, 0.25, 0.20, 0.20)
FIELD_EFFECT = (0.0, -0.3, -0.2, 0.2)

DONT_KNOW_10, REFUSED_10, DONT_KNOW = 98, 99, 8
YES, NO = 1, 2
P_DK_ACCEPTABLE = 0.06


def _cuts(n_points: int, spread: float) -> tuple[float, ...]:
    """Evenly spaced cutpoints between ``-spread`` and ``spread`` for a scale of n_points."""
    return tuple(float(c) for c in np.linspace(-spread, spread, n_points - 1))


# name -> (label, lowest code, highest code, loading, shift, P(don't know), P(prefer not to say))
DIMENSIONS: dict[str, tuple[str, int, int, float, float, float, float]] = {
    "comfort": (
        "Rating of this use: how comfortable would you be with it? (0-10)",
        0,
        10,
        1.0,
        0.0,
        0.04,
        0.01,
    ),
    "benefit": (
        "Rating of this use: how much would it benefit students? (0-10)",
        0,
        10,
        0.8,
        0.5,
        0.05,
        0.01,
    ),
    "fairness": ("Rating of this use: how fair is it? (0-10)", 0, 10, 0.9, 0.2, 0.05, 0.01),
    "trust": (
        "Rating of this use: how far would you trust the university with it? (0-5)",
        0,
        5,
        0.9,
        0.0,
        0.05,
        0.0,
    ),
    "risk": (
        "Rating of this use: how risky is it for your privacy? (0-5)",
        0,
        5,
        -0.9,
        0.0,
        0.05,
        0.0,
    ),
}
CUTPOINTS = {10: _cuts(11, 4.0), 5: _cuts(6, 2.5)}

COLUMNS = (
    "student_id",
    "email",
    "year_of_study",
    "gender",
    "international",
    "field_of_study",
    "duration_s",
    "scenario",
    "position",
    "framing",
    "acceptable",
    *DIMENSIONS,
    "attention",
    "comment",
)
LABELS = {
    "student_id": "Student survey identifier",
    "email": "University email address",
    "year_of_study": "Year of study",
    "gender": "Gender",
    "international": "International student (fees status)",
    "field_of_study": "Field of study",
    "duration_s": "Time taken to complete the survey (seconds)",
    "scenario": "Data-use scenario rated in this row",
    "position": "Order in which the scenario was shown (1-3)",
    "framing": "Consent framing shown with the scenario",
    "acceptable": "Would this use of data be acceptable to you?",
    **{k: v[0] for k, v in DIMENSIONS.items()},
    "attention": "To show you are reading, please select 'Disagree' for this scenario",
    "comment": "Any comment on this scenario? (free text)",
}
AGREE = ("Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree")
COMMENTS = (
    "Depends who sees it",
    "Fine if anonymised",
    "I was not aware this happens",
    "Only with my consent",
    "Seems useful",
    "Too intrusive",
)
COMMENT_SHARE = 0.1


def value_labels() -> dict[str, dict[int, str]]:
    """Value labels of every labelled column, missing codes included (as the .sav holds them)."""
    scale10 = {
        0: "Not at all",
        10: "Completely",
        DONT_KNOW_10: "Don't know",
        REFUSED_10: "Prefer not to say",
    }
    scale5 = {0: "Not at all", 5: "Completely", DONT_KNOW: "Don't know"}
    out: dict[str, dict[int, str]] = {
        "year_of_study": dict(enumerate(YEAR, start=1)),
        "gender": {**dict(enumerate(GENDER, start=1)), 9: "Prefer not to say"},
        "international": dict(enumerate(INTERNATIONAL, start=1)),
        "field_of_study": dict(enumerate(FIELD, start=1)),
        "scenario": {i: v[0] for i, v in enumerate(SCENARIOS.values(), start=1)},
        "framing": dict(enumerate(FRAMING, start=1)),
        "acceptable": {YES: "Yes", NO: "No", DONT_KNOW: "Don't know"},
        "attention": dict(enumerate(AGREE, start=1)),
    }
    for name, (_, _, top, *_rest) in DIMENSIONS.items():
        out[name] = dict(scale10 if top == 10 else scale5)
    return out


MISSING_CODES = {
    "gender": [9],
    "acceptable": [DONT_KNOW],
    **{
        k: ([DONT_KNOW_10, REFUSED_10] if v[2] == 10 else [DONT_KNOW])
        for k, v in DIMENSIONS.items()
    },
}


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _ordinal(
    rng: np.random.Generator, eta: np.ndarray, cuts: Sequence[float], low: int
) -> np.ndarray:
    """Cumulative-logit draws: ``low + #{k: eta + e > cut_k}``, ``e`` standard logistic."""
    latent = eta + rng.logistic(size=eta.shape)
    return low + (latent[:, None] > np.asarray(cuts)).sum(axis=1)


def generate(
    n: int = N_STUDENTS, seed: int = SEED, inattentive: float = INATTENTIVE_SHARE
) -> pd.DataFrame:
    """The coded long export: ``n * RATED`` rows, columns :data:`COLUMNS`, codes as in the .sav.

    ``attrs["inattentive"]`` lists the student IDs who answered at random.
    """
    if n < 1 or not 0 <= inattentive < 1:
        raise ValueError(
            f"need n >= 1 and 0 <= inattentive < 1, not n={n}, inattentive={inattentive}"
        )
    rng = np.random.default_rng(seed)
    year = rng.choice(len(YEAR), size=n, p=YEAR_SHARES)
    gender = rng.choice(len(GENDER), size=n, p=GENDER_SHARES)
    international = np.where(rng.random(n) < np.asarray(INTERNATIONAL_BY_YEAR)[year], 0, 1)
    field = rng.choice(len(FIELD), size=n, p=FIELD_SHARES)
    u = rng.normal(0.0, STUDENT_SD, size=n)
    careless = rng.random(n) < inattentive
    gender_refused = rng.random(n) < GENDER_REFUSED
    duration = np.round(
        np.exp(rng.normal(np.log(540.0), 0.35, size=n)) * np.where(careless, 0.4, 1.0)
    )
    ids = np.array(
        [f"S{7_000_000 + 37 * i + int(d):07d}" for i, d in enumerate(rng.integers(0, 37, n))]
    )
    first = ("alex", "sam", "jo", "kim", "lee", "ria", "tom", "ana", "ben", "zoe")
    email = np.array(
        [f"{first[i % 10]}.{sid[1:].lower()}@students.campus.example" for i, sid in enumerate(ids)]
    )

    scen = np.argsort(rng.random((n, len(SCENARIOS))), axis=1)[
        :, :RATED
    ]  # random subset, random order
    student = np.repeat(np.arange(n), RATED)
    scenario = scen.ravel()
    position = np.tile(np.arange(1, RATED + 1), n)
    framing = rng.integers(0, len(FRAMING), size=n * RATED)
    m = len(student)
    eta = (
        np.array([v[1] for v in SCENARIOS.values()])[scenario]
        + np.array(list(FRAMING.values()))[framing]
        + np.asarray(YEAR_EFFECT)[year[student]]
        + np.asarray(INTERNATIONAL_EFFECT)[international[student]]
        + np.asarray(GENDER_EFFECT)[gender[student]]
        + np.asarray(FIELD_EFFECT)[field[student]]
        + u[student]
    )
    random_rows = careless[student]
    out: dict[str, Any] = {
        "student_id": ids[student],
        "email": email[student],
        "year_of_study": year[student] + 1,
        "gender": np.where(gender_refused, 9, gender + 1)[student],
        "international": international[student] + 1,
        "field_of_study": field[student] + 1,
        "duration_s": duration[student],
        "scenario": scenario + 1,
        "position": position,
        "framing": framing + 1,
    }
    acceptable = np.where(rng.random(m) < _expit(eta), YES, NO)
    acceptable = np.where(random_rows, rng.integers(1, 3, m), acceptable)
    out["acceptable"] = np.where(rng.random(m) < P_DK_ACCEPTABLE, DONT_KNOW, acceptable)
    for name, (_, low, top, loading, shift, p_dk, p_ref) in DIMENSIONS.items():
        codes = _ordinal(rng, loading * eta + shift, CUTPOINTS[top - low], low)
        codes = np.where(random_rows, rng.integers(low, top + 1, m), codes)
        w = rng.random(m)
        dk = DONT_KNOW_10 if top == 10 else DONT_KNOW
        codes = np.where(w < p_dk, dk, codes)
        out[name] = np.where((w >= p_dk) & (w < p_dk + p_ref), REFUSED_10, codes)
    out["attention"] = np.where(random_rows, rng.integers(1, 6, m), ATTENTION_PASS)
    says = rng.random(m) < COMMENT_SHARE
    picks = rng.integers(0, len(COMMENTS), m)
    out["comment"] = np.where(says, np.array(COMMENTS, dtype=object)[picks], "")
    frame = pd.DataFrame(out, columns=list(COLUMNS))
    frame.attrs["inattentive"] = sorted(ids[careless].tolist())
    return frame


# --------------------------------------------------------------------------------------------
# Truth
# --------------------------------------------------------------------------------------------
def population_cells() -> pd.DataFrame:
    """Every (year, gender, international, field) pattern with its exact population share."""
    rows = []
    for y, py in enumerate(YEAR_SHARES):
        for g, pg in enumerate(GENDER_SHARES):
            for i in range(2):
                pi = INTERNATIONAL_BY_YEAR[y] if i == 0 else 1 - INTERNATIONAL_BY_YEAR[y]
                for f, pf in enumerate(FIELD_SHARES):
                    effect = (
                        YEAR_EFFECT[y]
                        + GENDER_EFFECT[g]
                        + INTERNATIONAL_EFFECT[i]
                        + FIELD_EFFECT[f]
                    )
                    rows.append((y, g, i, f, py * pg * pi * pf, effect))
    return pd.DataFrame(
        rows, columns=["year", "gender", "international", "field", "share", "effect"]
    )


def _quadrature() -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights integrating over ``u ~ N(0, STUDENT_SD^2)``."""
    x, w = np.polynomial.hermite_e.hermegauss(GAUSS_HERMITE_NODES)
    return x * STUDENT_SD, w / w.sum()


def _expected(eta: np.ndarray, name: str | None) -> np.ndarray:
    """E[outcome | eta]: P(yes) for acceptable (name None), else the mean code of a dimension."""
    if name is None:
        return _expit(eta)
    _, low, top, loading, shift, *_ = DIMENSIONS[name]
    cuts = np.asarray(CUTPOINTS[top - low])
    # E[Y] = low + sum_k P(Y > low + k) = low + sum_k expit(loading * eta + shift - cut_k)
    return low + _expit((loading * eta + shift)[..., None] - cuts).sum(axis=-1)


def _r(x: float) -> float:
    return round(float(x), TRUTH_DECIMALS)


def population_truth() -> dict[str, Any]:
    """Exact population quantities of the attentive population (see the module docstring)."""
    cells = population_cells()
    nodes, qw = _quadrature()
    scen_eff = np.array([v[1] for v in SCENARIOS.values()])
    frame_eff = np.array(list(FRAMING.values()))
    # eta over (cell, scenario, framing, node); ratings spread evenly over scenarios and framings
    eta = (
        cells["effect"].to_numpy()[:, None, None, None]
        + scen_eff[None, :, None, None]
        + frame_eff[None, None, :, None]
        + nodes[None, None, None, :]
    )
    share = cells["share"].to_numpy()
    outcomes = {"acceptable": None, **{d: d for d in DIMENSIONS}}
    truth: dict[str, Any] = {
        "description": (
            "Population quantities of the attentive student population, each scenario and framing "
            "rated equally often; acceptable = share of 'Yes' among Yes/No answers; dimensions = "
            "mean code among substantive answers (Don't know and Prefer not to say excluded)."
        ),
        "model": {
            "student_sd": STUDENT_SD,
            "scenario_effect": {k: v[1] for k, v in SCENARIOS.items()},
            "framing_effect": dict(FRAMING),
            "year_effect": dict(zip(YEAR, YEAR_EFFECT, strict=True)),
            "gender_effect": dict(zip(GENDER, GENDER_EFFECT, strict=True)),
            "international_effect": dict(zip(INTERNATIONAL, INTERNATIONAL_EFFECT, strict=True)),
            "field_effect": dict(zip(FIELD, FIELD_EFFECT, strict=True)),
            "dimensions": {
                k: {
                    "codes": [v[1], v[2]],
                    "loading": v[3],
                    "shift": v[4],
                    "cutpoints": list(CUTPOINTS[v[2] - v[1]]),
                }
                for k, v in DIMENSIONS.items()
            },
            "gauss_hermite_nodes": GAUSS_HERMITE_NODES,
        },
        "population": {
            "year_of_study": {
                YEAR[y]: _r(cells.loc[cells.year == y, "share"].sum()) for y in range(4)
            },
            "gender": {
                GENDER[g]: _r(cells.loc[cells.gender == g, "share"].sum()) for g in range(3)
            },
            "international": {
                INTERNATIONAL[i]: _r(cells.loc[cells.international == i, "share"].sum())
                for i in range(2)
            },
            "field_of_study": {
                FIELD[f]: _r(cells.loc[cells.field == f, "share"].sum()) for f in range(4)
            },
        },
    }
    for out_name, dim in outcomes.items():
        value = (_expected(eta, dim) * qw).sum(axis=-1)  # (cell, scenario, framing)
        by_cell_scen = value.mean(axis=2)
        entry = {
            "overall": _r((share[:, None] * by_cell_scen).sum() / len(SCENARIOS)),
            "by_scenario": {
                k: _r((share * by_cell_scen[:, j]).sum()) for j, k in enumerate(SCENARIOS)
            },
            "by_framing": {
                k: _r((share[:, None] * value[:, :, j]).sum() / len(SCENARIOS))
                for j, k in enumerate(FRAMING)
            },
        }
        for var, col, levels in (
            ("international", "international", INTERNATIONAL),
            ("year_of_study", "year", YEAR),
        ):
            entry[f"by_{var}"] = {}
            for c, lab in enumerate(levels):
                mask = cells[col].to_numpy() == c
                entry[f"by_{var}"][lab] = _r(
                    (share[mask] * by_cell_scen[mask].mean(axis=1)).sum() / share[mask].sum()
                )
        truth[out_name] = entry
    return truth


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
def _measure(name: str) -> str:
    if name in ("duration_s", "position", "comfort", "benefit", "fairness"):
        return "scale"  # 0-10 ratings are often stored as scale variables in real exports
    if name in ("year_of_study", "attention", "trust", "risk"):
        return "ordinal"
    return "nominal"


def write_sav(frame: pd.DataFrame, path: str | Path) -> None:
    """The export as SPSS .sav: variable and value labels, user-missing codes, measures; byte-stable."""
    out = frame.copy()
    numeric = [n for n in COLUMNS if pd.api.types.is_numeric_dtype(out[n])]
    for name in COLUMNS:
        out[name] = out[name].astype(float if name in numeric else object)
    formats = {n: "F8.0" for n in numeric}
    with atomic_path(path) as tmp:
        pyreadstat.write_sav(
            out,
            str(tmp),
            file_label=SAV_FILE_LABEL,
            row_compress=True,
            column_labels=[LABELS[n] for n in COLUMNS],
            variable_value_labels=value_labels(),
            missing_ranges=MISSING_CODES,
            variable_measure={n: _measure(n) for n in COLUMNS},
            variable_format=formats,
        )
        raw = bytearray(tmp.read_bytes())
        if raw[:4] != b"$FL2":
            raise ValueError(f"pyreadstat wrote an unexpected .sav header to {path}")
        raw[SAV_TIMESTAMP_OFFSET : SAV_TIMESTAMP_OFFSET + len(SAV_TIMESTAMP)] = SAV_TIMESTAMP
        tmp.write_bytes(bytes(raw))


def csv_text(frame: pd.DataFrame) -> str:
    """The export as plain CSV: one header row of names, numeric codes, blank for no comment."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in frame.itertuples(index=False):
        writer.writerow([v if isinstance(v, str) else str(int(v)) for v in row])
    return buffer.getvalue()


def write_example(out: str | Path, n: int = N_STUDENTS, seed: int = SEED) -> list[Path]:
    """Write campus.sav, campus.csv and truth.json into ``out``."""
    frame = generate(n, seed)
    out = Path(out)
    paths = [out / "campus.sav", out / "campus.csv", out / "truth.json"]
    write_sav(frame, paths[0])
    atomic_write_text(paths[1], csv_text(frame))
    truth = population_truth()
    truth["generated_with"] = {
        "command": f"python -m social_licence.synthetic.scenarios --n {n} --seed {seed} --out <folder>",
        "n_students": n,
        "rows": len(frame),
        "seed": seed,
        "inattentive": frame.attrs["inattentive"],
    }
    atomic_write_text(paths[2], json.dumps(truth, indent=2, ensure_ascii=False) + "\n")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m social_licence.synthetic.scenarios",
        description="Write the synthetic campus data-use survey (long form) and its ground truth.",
    )
    parser.add_argument("--out", default="data/raw/campus", help="output folder")
    parser.add_argument("--n", type=int, default=N_STUDENTS, help="number of students")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    args = parser.parse_args(argv)
    for path in write_example(args.out, args.n, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
