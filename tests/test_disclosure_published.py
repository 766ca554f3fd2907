"""The example's published results, attacked as an intruder would.

An intruder knows every published count and base and how the tables add up: the groups of one
variable plus the people who did not answer it make All, the answers of an item make its base,
the items of a data type (or purpose) make the pooled table's ratings, the bases of a comparison
are those of its groups. Written as linear equations over non-negative counts, each withheld
figure can take a range of values; linear programming (scipy's HiGHS) gives that range exactly.
No withheld figure, and no group of 1-9 people who did not answer a grouping question, may have
a range of a single value. The model is built here from the published CSVs and the instrument,
not by the disclosure module, so the module is checked, not trusted.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

from social_licence.survey.instrument import load_instrument

pytestmark = pytest.mark.slow

OVERALL = "All"


@pytest.fixture(scope="module")
def example(example_run) -> Path:
    """The session's one complete run of the bundled example (tests/conftest.py)."""
    return example_run


class Model:
    """Linear equations over named non-negative counts."""

    def __init__(self) -> None:
        self.index: dict[tuple, int] = {}
        self.rows: list[dict[int, float]] = []
        self.rhs: list[float] = []

    def var(self, *key) -> int:
        return self.index.setdefault(key, len(self.index))

    def equal(self, terms: dict[int, float], value: float) -> None:
        self.rows.append(terms)
        self.rhs.append(float(value))

    def range_of(self, terms: dict[int, float]) -> tuple[float, float]:
        n = len(self.index)
        data, cols, ptr = [], [], [0]
        for row in self.rows:
            cols += list(row)
            data += list(row.values())
            ptr.append(len(cols))
        a = csr_matrix((data, cols, ptr), shape=(len(self.rows), n))
        c = np.zeros(n)
        for j, w in terms.items():
            c[j] = w
        bounds = (0, None)
        low = linprog(c, A_eq=a, b_eq=self.rhs, bounds=bounds, method="highs")
        high = linprog(-c, A_eq=a, b_eq=self.rhs, bounds=bounds, method="highs")
        assert low.status == 0 and high.status == 0, "the published figures must be consistent"
        return low.fun, -high.fun


def published(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~frame["suppressed"].astype(bool)]


def grid_model(results: Path, instrument) -> tuple[Model, list[tuple[str, dict[int, float]]]]:
    """Equations of the acceptability tables; the withheld figures, each as a sum of counts."""
    g = instrument.grids["acceptability"]
    scale = instrument.scales[g.scale]
    levels = [scale["codes"][c] for c in sorted(scale["codes"])]
    positive = {scale["codes"][c] for c in scale["positive"]}
    row, col = g.row_name, g.column_name
    read = {name: pd.read_csv(results / "tables" / f"{name}.csv") for name in (
        "acceptability_items", "acceptability_by_data_type", "acceptability_by_purpose",
        "acceptability_groups", "acceptability_comparisons")}
    m = Model()
    withheld: list[tuple[str, dict[int, float]]] = []
    items = [(r, c) for r in g.rows for c in g.columns]

    def item_terms(t, p, which):  # ratings of an item at the levels in `which`
        return {m.var("T", t, p, lv): 1.0 for lv in levels if lv in which}

    by_group = read["acceptability_groups"]
    groups = defaultdict(set)
    for gv, grp in by_group[[ "group_variable", "group"]].itertuples(index=False):
        if gv != OVERALL:
            groups[gv].add(grp)
    for t, p in items:
        for gv, members in groups.items():  # the groups and the unanswered remainder make All
            for answer, which in (("acc", positive), ("not", set(levels) - positive)):
                terms = {m.var("X", t, p, gv, grp, answer): 1.0 for grp in [*members, "(remainder)"]}
                for j, w in item_terms(t, p, which).items():
                    terms[j] = -w
                m.equal(terms, 0)

    def cell(t, p, gv, grp, what):
        acc = {m.var("X", t, p, gv, grp, "acc"): 1.0}
        if what == "count":
            return acc
        return {**acc, m.var("X", t, p, gv, grp, "not"): 1.0}

    def whole(t, p, what):
        return item_terms(t, p, positive if what == "count" else set(levels))

    for frame, stacked in ((read["acceptability_items"], False), (by_group, True)):
        for r in frame.itertuples(index=False):
            t, p = getattr(r, row), getattr(r, col)
            overall = not stacked or r.group_variable == OVERALL
            for what, column in (("count", "count_unweighted"), ("base", "n_unweighted")):
                terms = whole(t, p, what) if overall else cell(t, p, r.group_variable, r.group, what)
                if r.suppressed:
                    withheld.append((f"{t}/{p}/{'All' if overall else f'{r.group_variable}={r.group}'} {what}", terms))
                else:
                    m.equal(terms, getattr(r, column))
    for name, dim in (("acceptability_by_data_type", row), ("acceptability_by_purpose", col)):
        frame = read[name]
        for r in frame.itertuples(index=False):
            key = getattr(r, dim)
            pairs = [(key, o) if dim == row else (o, key) for o in (g.columns if dim == row else g.rows)]
            count = {m.var("T", t, p, r.level): 1.0 for t, p in pairs}
            base = {m.var("T", t, p, lv): 1.0 for t, p in pairs for lv in levels}
            if r.suppressed:
                withheld.append((f"{name} {key}/{r.level} ratings", count))
            else:
                m.equal(count, r.count_unweighted)
                m.equal(base, r.n_unweighted)
    comparisons = published(read["acceptability_comparisons"])
    for r in comparisons.itertuples(index=False):
        t, p = getattr(r, row), getattr(r, col)
        for grp, n in ((r.group_a, r.n_unweighted_a), (r.group_b, r.n_unweighted_b)):
            m.equal(cell(t, p, r.group_variable, grp, "base"), n)
    return m, withheld


def sensitive_remainders(results: Path, instrument) -> list[tuple[str, tuple]]:
    """(label, key) of every item x grouping variable whose unanswered remainder holds 1-9
    people, from the full-precision interim estimates (the truth the intruder is after)."""
    g = instrument.grids["acceptability"]
    truth = pd.read_parquet(results / "interim" / "estimates" / "acceptability_groups.parquet")
    keys = [g.row_name, g.column_name]
    truth[keys] = truth[keys].astype(str)
    whole = truth[truth["group_variable"] == OVERALL].set_index(keys)["n_unweighted"]
    out = []
    for gv, part in truth[truth["group_variable"] != OVERALL].groupby("group_variable"):
        rest = whole - part.groupby(keys)["n_unweighted"].sum()
        for (t, p), n in rest.items():
            if 1 <= n <= 9:
                out.append((f"{t}/{p}/{gv} not answered", (t, p, gv)))
    return out


def test_no_withheld_figure_of_the_example_can_be_derived_by_linear_programming(example):
    results = example / "results" / "parents"
    instrument = load_instrument(example / "config" / "instrument.yaml")
    m, withheld = grid_model(results, instrument)
    for label, key in sensitive_remainders(results, instrument):
        t, p, gv = key
        acc = m.var("X", t, p, gv, "(remainder)", "acc")
        nope = m.var("X", t, p, gv, "(remainder)", "not")
        withheld.append((label + " base", {acc: 1.0, nope: 1.0}))
    assert any("not answered" in label for label, _ in withheld), "the example has unanswered remainders"
    assert len(withheld) > 50
    derivable = []
    for label, terms in withheld:
        low, high = m.range_of(terms)
        if high - low < 0.5:
            derivable.append(f"{label} = {low:g}")
    assert not derivable, f"withheld figures that can be derived: {derivable[:10]}"


def test_the_levels_tables_of_the_example_hide_each_withheld_level(example):
    """Trust and rights: the levels of an item add up to its published base."""
    for name in ("trust_responses", "rights_responses"):
        frame = pd.read_csv(example / "results" / "parents" / "tables" / f"{name}.csv")
        item = frame.columns[0]
        m = Model()
        withheld = []
        for key, part in frame.groupby(item):
            shown = published(part)
            terms = {m.var(key, lv): 1.0 for lv in part["level"]}
            if len(shown):
                m.equal(terms, shown["n_unweighted"].iloc[0])
            for r in part.itertuples(index=False):
                if r.suppressed:
                    withheld.append((f"{name} {key}/{r.level}", {m.var(key, r.level): 1.0}))
                else:
                    m.equal({m.var(key, r.level): 1.0}, r.count_unweighted)
        for label, terms in withheld:
            low, high = m.range_of(terms)
            assert high - low >= 0.5, f"{label} can be derived ({low:g})"


#: Columns of published files that hold numbers of people (weighted sums and estimates aside).
COUNT_NAME = re.compile(r"^(n|n_unweighted(_a|_b)?|count_unweighted|n_respondents|count_respondents|excluded|remaining|missing_.*)$")


def small_counts(results: Path) -> list[str]:
    """Every published count of 1-9 people under results/ (row-level interim files and run
    logs aside: they are not publications)."""
    found = []
    for path in sorted(results.rglob("*.csv")):
        rel = path.relative_to(results)
        if rel.parts[0] in ("interim", "logs"):
            continue
        frame = pd.read_csv(path)
        for column in frame.columns:
            if not COUNT_NAME.match(str(column)):
                continue
            values = pd.to_numeric(frame[column], errors="coerce")
            rows = np.flatnonzero(((values >= 1) & (values <= 9)).to_numpy())
            found += [f"{rel} {column} row {r + 2}: {values.iloc[r]:g}" for r in rows]
        # in an estimate table, a base and a count published together also tell those who
        # answered otherwise (in people: the respondent columns where a table pools ratings);
        # a model's effects table counts the group's respondents among all, not answers
        for base, count in (("n_respondents", "count_respondents"), ("n_unweighted", "count_unweighted")):
            if rel.parts[0] == "tables" and {base, count} <= set(frame.columns):
                rest = pd.to_numeric(frame[base], errors="coerce") - pd.to_numeric(frame[count], errors="coerce")
                rows = np.flatnonzero(((rest >= 1) & (rest <= 9)).to_numpy())
                found += [f"{rel} {base} - {count} row {r + 2}: {rest.iloc[r]:g}" for r in rows]
                break
    return found


def test_no_count_of_1_to_9_people_is_published_in_the_example(example):
    assert not small_counts(example / "results" / "parents")
