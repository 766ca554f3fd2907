"""A question of the analysis plan across waves: each wave's shares and the change between the
last two waves, with design-based standard errors (:mod:`social_licence.design.change`).

Each wave is its own sample with its own final weights, strata and PSUs. A question's grid is
stacked into rows per wave (:func:`social_licence.survey.grid.grid_rows`), the waves' row designs
are combined (:func:`combine_waves`: independent samples, or clustered on the person when a panel
overlap is declared) and the change in the share of positive answers is a contrast of that one
design (:func:`wave_changes`), adjusted for multiple comparisons over every change of the
question (one family). Weights are taken as fixed in both the waves' shares and their changes
(the calibration of a wave's raking is not carried across waves, see ``change.py``), so a change's
variance is exactly the sum of the two waves' variances for independent samples.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..survey.grid import grid_rows
from ..survey.plan import Plan, Question
from .change import WAVE, change_tests, combine_waves, wave_changes
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


def _fixed_weights(design: Any, wave: str) -> SurveyDesign:
    if not isinstance(design, SurveyDesign):
        raise ConfigError(
            f"wave {wave!r}: changes between waves need estimation.variance: linearisation "
            f"(the wave's design is {type(design).__name__})"
        )
    return SurveyDesign._from_parts(design.data, design.weights, design.structure, design.lonely_psu)


def wave_shares(
    designs: Mapping[str, Any], plan: Plan, q: Question, *, dk: str = "exclude", ci_level: float = 0.95
) -> pd.DataFrame:
    """Each wave's share of positive answers per breakdown (:func:`breakdowns`): the estimate
    frames of :func:`acceptability` on each wave's design with its weights taken as fixed,
    stacked with ``wave`` and ``breakdown`` columns (group ``All`` for the whole sample)."""
    pieces = []
    for wave, design in designs.items():
        fixed = _fixed_weights(design, wave)
        for dims, with_groups in breakdowns(q):
            groups = list(q.groups) if with_groups else []
            t = acceptability(fixed, plan.instrument, grid=q.grid, by=list(dims), groups=groups, dk=dk, ci_level=ci_level)
            if not groups:
                t.insert(len(dims), "group", OVERALL)
                t.insert(len(dims), "group_variable", OVERALL)
            t.insert(0, BREAKDOWN, " x ".join(dims))
            t.insert(0, WAVE, wave)
            pieces.append(t)
    return _stack(pieces, plan, q)


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
    """The change in the share of positive answers between the last two waves, per breakdown
    and group, and the method sentence.

    ``panel``: the pseudonymised respondent IDs of people interviewed in more than one wave
    (rows of those people are linked across waves; everyone else is their own cluster); None
    treats the waves as independent samples. P-values are adjusted over every row (one family
    per question); ``flagged`` when the adjusted p-value is below ``1 - ci_level``.
    """
    names = list(designs)
    if len(names) < 2:
        raise ConfigError(f"question {q.name}: a change needs two waves, got {names}")
    latest, baseline = names[-1], names[-2]
    rows, tests = [], []
    for dims, with_groups in breakdowns(q):
        groups = list(q.groups) if with_groups else []
        waves = combine_waves(
            _long_designs(designs, plan, q, dims, groups, dk, panel),
            panel=None if panel is None else PERSON,
            repeated=True,
        )
        for gv in [None, *groups]:
            by = [*dims, *([gv] if gv else [])]
            t = wave_changes(waves, "acceptable", None, by=by, baseline=baseline, dk=dk, ci_level=ci_level, adjust="none")
            t = t[t["wave"].astype(str) == latest].reset_index(drop=True)
            t.insert(0, "group", OVERALL if gv is None else t.pop(gv).astype(object).astype(str))
            t.insert(0, "group_variable", OVERALL if gv is None else gv)
            t.insert(0, BREAKDOWN, " x ".join(dims))
            rows.append(t)
        if len(dims) <= 1:
            tests.append(_distribution_tests(waves, dims, dk))
    out = pd.concat(rows, ignore_index=True)
    out["variable"] = q.grid
    out["level"] = "acceptable"
    out["wave"] = out["wave"].astype(str)
    out["baseline"] = out["baseline"].astype(str)
    family = (
        f"changes since wave {baseline!r} in the share who {q.says_plain} ({q.name}), "
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


def _distribution_tests(waves, dims: tuple[str, ...], dk: str) -> pd.DataFrame:
    """Rao-Scott tests (second order, F) that the distribution of answers is the same in every
    wave: one per level of the question's single dimension (or one for a question without)."""
    by = dims[0] if dims else None
    out = change_tests(waves, "rating", by=by, dk=dk, adjust="none")
    if by is None:
        out.insert(0, "group", "")
        out.insert(0, "group_variable", "")
    out.insert(0, BREAKDOWN, " x ".join(dims))
    return out


def _with_tests(out: pd.DataFrame, tests: pd.DataFrame, q: Question, adjust: str) -> pd.DataFrame:
    """The whole sample's rows of a one-dimension breakdown get the Rao-Scott test of change in
    their distribution of answers, adjusted over the question's tests (a family of its own)."""
    family = f"Rao-Scott tests of change in the distribution of answers ({q.name}), {len(tests)} tests"
    tests = adjust_pvalues(tests.drop(columns=["p_adjusted", "adjust_method", "family", "family_size"], errors="ignore"), method=adjust, family=family)
    for c in TEST_COLUMNS.values():
        out[c] = np.nan
    out["rs_family"] = ""
    for _, t in tests.iterrows():
        where = (out[BREAKDOWN] == t[BREAKDOWN]) & (out["group_variable"] == OVERALL)
        if t["group_variable"]:
            where &= out[t["group_variable"]].astype(object).astype(str) == str(t["group"])
        for src, c in TEST_COLUMNS.items():
            out.loc[where, c] = t[src]
        out.loc[where, "rs_family"] = family
    return out


def _long_designs(designs, plan, q, dims, groups, dk, panel) -> dict[str, SurveyDesign]:
    out = {}
    for wave, design in designs.items():
        fixed = _fixed_weights(design, wave)
        long, pos = grid_rows(fixed.data, plan.instrument, q.grid, dk=dk, keep=groups, by=list(dims))
        if panel is not None:
            who = long["respondent"].astype(str)
            long[PERSON] = np.where(who.isin(panel), who, wave + "|" + who)
        out[wave] = fixed._rows(long, pos)
    return out
