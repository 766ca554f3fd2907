"""A question of the analysis plan across waves: each wave's shares, the changes between waves
and the shares pooled over waves, with design-based standard errors
(:mod:`social_licence.design.change`).

Each wave is its own sample with its own final weights, strata, PSUs and raking margins. The
waves' respondent designs are combined once (:func:`stack_waves`: independent samples, or
clustered on the person when a panel overlap is declared; each wave's raking linearised on its
own margins), a question's grid is stacked into rows of that one design
(:func:`social_licence.survey.grid.grid_rows`), and each change in the share of positive answers
is a contrast of it (:func:`wave_changes`): each wave against the one before and, with three or
more waves, the last against the first (:func:`comparisons`), adjusted for multiple comparisons
over every change of the question (one family). A wave's share has the standard error of its
single-wave estimate, so for independent samples a change's variance is exactly the sum of the
two waves' published variances.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..survey.grid import grid_rows
from ..survey.plan import Plan, Question
from .change import (
    WAVE,
    WaveSet,
    change_tests,
    combine_waves,
    comparisons,
    pool_factors,
    pool_method,
    rescaled,
    wave_changes,
)
from .design import SurveyDesign
from .estimators import OVERALL, adjust_pvalues
from .grids import acceptability

#: The column naming the breakdown of a trend row: its dimensions joined by " x ".
BREAKDOWN = "breakdown"
#: The column linking the same person across waves in the stacked rows.
PERSON = "person"


def breakdowns(q: Question) -> list[tuple[tuple[str, ...], bool]]:
    """The breakdowns of a question's trend: (dimensions, with groups). Every cell of all its
    dimensions for the whole sample; with two dimensions, each dimension pooled over the other
    for the whole sample and each group (a single dimension: its cells by group)."""
    dims = tuple(q.dims)
    if len(dims) < 2:
        return [(dims, bool(q.groups))]
    return [(dims, False)] + [((d,), bool(q.groups)) for d in dims]


def _linearised(design: Any, wave: str) -> SurveyDesign:
    if not isinstance(design, SurveyDesign):
        raise ConfigError(
            f"wave {wave!r}: changes between waves need estimation.variance: linearisation "
            f"(the wave's design is {type(design).__name__})"
        )
    return design


def stack_waves(
    designs: Mapping[str, Any], panel: Collection[str] | None = None, factors: Mapping[str, float] | None = None
) -> WaveSet:
    """The waves' respondent designs combined into one (oldest first), each respondent's
    ``person``: their pseudonym when listed in ``panel`` (linked across waves), else the wave and
    pseudonym (their own cluster). ``panel=None``: independent samples. ``factors``: each wave's
    weights multiplied first (pooling, :func:`pool_factors`)."""
    prepared = {}
    for wave, design in designs.items():
        d = _linearised(design, wave)
        if factors is not None:
            d = rescaled(d, factors[wave])
        who = pd.Index(d.data.index).astype(str)
        own = wave + "|" + who
        person = own if panel is None else np.where(who.isin(list(panel)), who, own)
        prepared[wave] = d.with_data(d.data.assign(**{PERSON: np.asarray(person, dtype=object)}))
    return combine_waves(prepared, panel=None if panel is None else PERSON)


def wave_shares(
    designs: Mapping[str, Any], plan: Plan, q: Question, *, dk: str = "exclude", ci_level: float = 0.95
) -> pd.DataFrame:
    """Each wave's share of positive answers per breakdown (:func:`breakdowns`): the estimate
    frames of :func:`acceptability` on each wave's design (as its single-wave estimates),
    stacked with ``wave`` and ``breakdown`` columns (group ``All`` for the whole sample)."""
    pieces = []
    for wave, design in designs.items():
        t = _shares(_linearised(design, wave), plan, q, dk, ci_level)
        t.insert(0, WAVE, wave)
        pieces.append(t)
    return _stack(pieces, plan, q)


def _shares(design: SurveyDesign, plan: Plan, q: Question, dk: str, ci_level: float) -> pd.DataFrame:
    pieces = []
    for dims, with_groups in breakdowns(q):
        groups = list(q.groups) if with_groups else []
        t = acceptability(design, plan.instrument, grid=q.grid, by=list(dims), groups=groups, dk=dk, ci_level=ci_level)
        if not groups:
            t.insert(len(dims), "group", OVERALL)
            t.insert(len(dims), "group_variable", OVERALL)
        t.insert(0, BREAKDOWN, " x ".join(dims))
        pieces.append(t)
    return pd.concat(pieces, ignore_index=True)


def pooled_shares(
    designs: Mapping[str, Any],
    plan: Plan,
    q: Question,
    *,
    rescale: str = "sample_size",
    panel: Collection[str] | None = None,
    dk: str = "exclude",
    ci_level: float = 0.95,
) -> tuple[pd.DataFrame, str]:
    """The share of positive answers pooled over every wave, per breakdown and group (as
    :func:`wave_shares`), each wave's weights rescaled first (``rescale``: :func:`pool_factors`),
    and the method sentence. Respondents are counted as people: a panel member once."""
    factors = pool_factors({w: _linearised(d, w) for w, d in designs.items()}, rescale)
    waves = stack_waves(designs, panel, factors)
    data = waves.design.data
    # index by person so that the counts are of people (a panel member answering twice is one)
    by_person = waves.design._rows(data.set_axis(pd.Index(data[PERSON], name=data.index.name)), np.arange(len(data)))
    method = pool_method(waves.waves, rescale, waves.method)
    out = _stack([_shares(by_person, plan, q, dk, ci_level)], plan, q)
    out["pooling"] = method
    return out, method


def _stack(pieces: Sequence[pd.DataFrame], plan: Plan, q: Question) -> pd.DataFrame:
    out = pd.concat(pieces, ignore_index=True)
    grid = plan.instrument.grids[q.grid]
    for d in q.dims:
        labels = grid.rows if d == grid.row_name else grid.columns if d == grid.column_name else None
        if labels is not None:
            out[d] = pd.Categorical(out[d], categories=list(labels), ordered=True)
    out["group"] = out["group"].astype(object).astype(str)
    return out


def wave_change_table(
    designs: Mapping[str, Any],
    plan: Plan,
    q: Question,
    *,
    panel: Collection[str] | None = None,
    dk: str = "exclude",
    ci_level: float = 0.95,
    adjust: str = "holm",
) -> tuple[pd.DataFrame, str]:
    """The changes in the share of positive answers (:func:`comparisons`: each wave against the
    one before, and the last against the first when there are three or more), per breakdown
    and group, and the method sentence.

    ``panel``: the pseudonymised respondent IDs of people interviewed in more than one wave
    (rows of those people are linked across waves; everyone else is their own cluster); None
    treats the waves as independent samples. P-values are adjusted over every row (one family
    per question, every comparison); ``flagged`` when the adjusted p-value is below
    ``1 - ci_level``.
    """
    names = list(designs)
    if len(names) < 2:
        raise ConfigError(f"question {q.name}: a change needs two waves, got {names}")
    pairs = comparisons(names)
    stacked = stack_waves(designs, panel)
    rows, tests = [], []
    for dims, with_groups in breakdowns(q):
        groups = list(q.groups) if with_groups else []
        long, pos = grid_rows(stacked.design.data, plan.instrument, q.grid, dk=dk, keep=[WAVE, *groups], by=list(dims))
        waves = stacked.rows(long, pos)
        for gv in [None, *groups]:
            by = [*dims, *([gv] if gv else [])]
            for base in dict.fromkeys(b for b, _ in pairs):
                later = [w for b, w in pairs if b == base]
                t = wave_changes(waves, "acceptable", None, by=by, baseline=base, dk=dk, ci_level=ci_level, adjust="none")
                t = t[t["wave"].astype(str).isin(later)].reset_index(drop=True)
                t.insert(0, "group", OVERALL if gv is None else t.pop(gv).astype(object).astype(str))
                t.insert(0, "group_variable", OVERALL if gv is None else gv)
                t.insert(0, BREAKDOWN, " x ".join(dims))
                rows.append(t)
        if len(dims) <= 1:
            tests += [_distribution_tests(waves, dims, dk, pair) for pair in pairs]
    out = pd.concat(rows, ignore_index=True)
    out["variable"] = q.grid
    out["level"] = "acceptable"
    out["wave"] = out["wave"].astype(str)
    out["baseline"] = out["baseline"].astype(str)
    since = " and ".join(f"wave {b!r} to {w!r}" for b, w in pairs)
    family = (
        f"changes from {since} in the share who {q.says_plain} ({q.name}), "
        f"every breakdown and group, {len(out)} tests"
    ) if len(pairs) > 1 else (
        f"changes since wave {pairs[0][0]!r} in the share who {q.says_plain} ({q.name}), "
        f"every breakdown and group, {len(out)} tests"
    )
    out = adjust_pvalues(out.drop(columns=["p_adjusted", "adjust_method", "family", "family_size"]), method=adjust, family=family)
    out["flagged"] = out["p_adjusted"] < 1 - ci_level
    grid = plan.instrument.grids[q.grid]
    for d in q.dims:
        labels = grid.rows if d == grid.row_name else grid.columns if d == grid.column_name else None
        if labels is not None and d in out:
            out[d] = pd.Categorical(out[d].astype(object), categories=list(labels), ordered=True)
    out = _with_tests(out, pd.concat(tests, ignore_index=True), q, adjust)
    method = str(out["variance_method"].iloc[0])
    return out, method


#: Columns of a Rao-Scott test of change in the distribution of answers, on a change row.
TEST_COLUMNS = {"statistic": "rs_statistic", "ndf": "rs_ndf", "ddf": "rs_ddf", "p_value": "rs_p_value", "p_adjusted": "rs_p_adjusted"}


def _distribution_tests(waves, dims: tuple[str, ...], dk: str, pair: tuple[str, str]) -> pd.DataFrame:
    """Rao-Scott tests (second order, F) that the distribution of answers is the same in the
    two waves of ``pair`` (baseline, later): one per level of the question's single dimension
    (or one for a question without)."""
    by = dims[0] if dims else None
    out = change_tests(waves, "rating", by=by, dk=dk, adjust="none", between=pair)
    if by is None:
        out.insert(0, "group", "")
        out.insert(0, "group_variable", "")
    out.insert(0, BREAKDOWN, " x ".join(dims))
    out["baseline"], out["wave"] = pair
    return out


def _with_tests(out: pd.DataFrame, tests: pd.DataFrame, q: Question, adjust: str) -> pd.DataFrame:
    """The whole sample's rows of a one-dimension breakdown get the Rao-Scott test of change in
    their distribution of answers between the row's two waves, adjusted over the question's
    tests (a family of its own)."""
    family = f"Rao-Scott tests of change in the distribution of answers ({q.name}), {len(tests)} tests"
    tests = adjust_pvalues(tests.drop(columns=["p_adjusted", "adjust_method", "family", "family_size"], errors="ignore"), method=adjust, family=family)
    for c in TEST_COLUMNS.values():
        out[c] = np.nan
    out["rs_family"] = ""
    for _, t in tests.iterrows():
        where = (out[BREAKDOWN] == t[BREAKDOWN]) & (out["group_variable"] == OVERALL)
        where &= (out["baseline"] == t["baseline"]) & (out["wave"] == t["wave"])
        if t["group_variable"]:
            where &= out[t["group_variable"]].astype(object).astype(str) == str(t["group"])
        for src, c in TEST_COLUMNS.items():
            out.loc[where, c] = t[src]
        out.loc[where, "rs_family"] = family
    return out
