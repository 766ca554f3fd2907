"""Estimates over question grids (positive answers and distributions by the grid's dimensions and
by group), and the estimation stage's frames from the analysis plan, on the design built once from the weight stage's analysis file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..config import defaults
from ..errors import ConfigError, EstimationError
from ..survey.grid import grid_rows
from ..survey.instrument import Instrument
from ..survey.plan import Plan, build_plan
from .build import build_design, check_variance
from .design import SurveyDesign
from .estimators import OVERALL, adjust_pvalues, as_list, domain_codes, first_rows
from .replicates import ReplicateDesign


# -- question grids ------------------------------------------------------------------------------
def respondent_counts(
    table: pd.DataFrame, long: pd.DataFrame, by: Sequence[str], level: str | pd.Series
) -> pd.DataFrame:
    """Add ``n_respondents`` and ``count_respondents`` to a table of a grid's long frame.

    A domain pooled over items holds several ratings of one respondent; disclosure thresholds
    count respondents, so these are distinct respondents in the domain (``n_unweighted`` counts
    ratings) and in the level: ``level`` is the long frame's answer column, or a boolean mask of
    the rows in the table's single level.
    """
    by = list(by)
    valid = long.dropna(subset=by) if by else long

    def distinct(rows: pd.DataFrame, keys: list[str]) -> dict[tuple, int]:
        if not keys:
            return {(): int(rows["respondent"].nunique())}
        counts = rows.groupby(keys, observed=True, sort=False)["respondent"].nunique()
        index = counts.index if isinstance(counts.index, pd.MultiIndex) else [(k,) for k in counts.index]
        return {tuple(k): int(v) for k, v in zip(index, counts.to_numpy(), strict=True)}

    base = distinct(valid, by)
    domain = [tuple(r) for r in table[by].astype(object).itertuples(index=False, name=None)]
    out = table.copy()
    out["n_respondents"] = np.array([base.get(k, 0) for k in domain], dtype=np.int64)
    if isinstance(level, str):
        counts = distinct(valid, [*by, level])
        keys = [(*k, lv) for k, lv in zip(domain, table["level"].astype(object), strict=True)]
    else:
        counts = distinct(valid[level.loc[valid.index].to_numpy(dtype=bool)], by)
        keys = domain
    out["count_respondents"] = np.array([counts.get(k, 0) for k in keys], dtype=np.int64)
    return out


def grid_dimensions(instrument: Instrument, grid: str, by: Sequence[str] | str | None) -> list[str]:
    """``by`` as a list; None: the grid's own dimensions (its row, and its column if it has one)."""
    g = instrument.grids.get(grid)
    if g is None:
        raise ConfigError(f"grid {grid!r} is not in the instrument (grids: {', '.join(instrument.grids)})")
    return [g.row_name] + ([g.column_name] if g.column_name else []) if by is None else as_list(by)


def acceptability(
    design,
    instrument: Instrument,
    *,
    grid: str,
    by: Sequence[str] | None = None,
    groups: Sequence[str] = (),
    dk: str = "exclude",
    overall: bool = True,
    ci_level: float = 0.95,
    ci: str = "t",
    df: float | None = None,
    deff: str | None = "replace",
) -> pd.DataFrame:
    """Share of grid answers that are "acceptable", by grid row and/or column, and by group.

    Built on :func:`social_licence.grid.long_format`: cells missing by design are never rows,
    so never in a base; "Don't know" is left out of the base (``dk="exclude"``) or counted as
    not acceptable (``"include"``). ``by`` is any of the grid's row and column names (both:
    per item; one: pooled over the other; none: over all items). The long frame's design
    clusters the rows of a respondent on their PSU (or on the respondent). With ``groups``
    the table is stacked over each grouping variable (``group_variable``, ``group``), the
    whole sample first (``"All"``) when ``overall``. ``level`` is "acceptable". ``by`` defaults
    to the grid's own dimensions (its row, and its column if it has one).
    """
    by = grid_dimensions(instrument, grid, by)
    groups = as_list(groups)
    long, pos, ld = _long_design(design, instrument, grid, dk, groups, by)
    acceptable = long["acceptable"].to_numpy(dtype=float)
    g = instrument.grids[grid]
    if any(b not in (g.row_name, g.column_name) for b in by) or not design.data.index.is_unique:
        # A dimension that varies within an item (a long export's item column), or several rows
        # per respondent: cells from every row, respondents counted by their ID.
        return _acceptability_by_rows(ld, long, acceptable, by, groups, grid, overall, ci_level, ci, design.df if df is None else df, deff)
    # The by cell of each item, from one row per item; rows take their item's cell.
    item = long["item"].cat.codes.to_numpy()
    starts = np.flatnonzero(np.diff(item, prepend=-1))
    item_cell, cell_frame = domain_codes(long.iloc[starts], by)
    lookup = np.full(len(long["item"].cat.categories), -1, dtype=np.int64)
    lookup[item[starts]] = item_cell
    cell = lookup[item]
    # Every grouping at once; group values are the respondent's, so distinct respondents per
    # domain are the first rows of each respondent in its cell (first_rows); a respondent
    # answers an item once, so where no cell pools items every row is a first.
    codings = [(OVERALL, np.zeros(len(long), dtype=np.int64), np.array([OVERALL], dtype=object))] if overall or not groups else []
    for gv in groups:
        if isinstance(long[gv].dtype, pd.CategoricalDtype):
            code, levels = long[gv].cat.codes.to_numpy(), long[gv].cat.categories
        else:
            code, frame = domain_codes(long, [gv])
            levels = frame[gv]
        codings.append((gv, code, np.asarray(levels, dtype=object)))
    pooled = (np.bincount(lookup[lookup >= 0], minlength=len(cell_frame)) > 1).any()
    first = (first_rows(cell, pos), first_rows(np.where(acceptable == 1, cell, -1), pos)) if pooled else "rows"
    return ld._indicator_by_groups(
        acceptable, cell, cell_frame, codings if groups else [], grid, "acceptable",
        ci_level=ci_level, ci=ci, df=design.df if df is None else df, deff=deff, first=first,
    )


def _long_design(design, instrument: Instrument, grid: str, dk: str, groups: list[str], by: list[str]):
    """A grid's long frame of ratings (:func:`grid_rows`, with the ``groups`` columns), each
    row's position in ``design`` and the design of the rows (clustered with their respondent)."""
    long, pos = grid_rows(design.data, instrument, grid, dk=dk, keep=groups, by=by)
    return long, pos, design._rows(long, pos)


def _acceptability_by_rows(ld, long, acceptable, by, groups, grid, overall, ci_level, ci, df, deff) -> pd.DataFrame:
    """:func:`acceptability` one grouping at a time, cells from every row (see there)."""
    options = dict(ci_level=ci_level, ci=ci, df=df, deff=deff)

    def table(keys: list[str]) -> pd.DataFrame:
        dom, frame = domain_codes(long, keys)
        return ld._indicator_table(acceptable, dom, frame, grid, "acceptable", **options)

    return _stacked_by_group(table, long, by, groups, overall, long["acceptable"] == 1)


def _stacked_by_group(table, long: pd.DataFrame, by: list[str], groups: list[str], overall: bool, level) -> pd.DataFrame:
    """``table(keys)`` for the whole sample (group "All", when ``overall`` or without groups)
    and for ``by`` x each grouping variable, stacked as (``group_variable``, ``group``), each
    with its respondent counts (:func:`respondent_counts` of ``level``)."""
    pieces = []
    if overall or not groups:
        t = respondent_counts(table(by), long, by, level)
        if groups:
            t.insert(len(by), "group", OVERALL)
            t.insert(len(by), "group_variable", OVERALL)
        pieces.append(t)
    for gv in groups:
        t = respondent_counts(table([*by, gv]), long, [*by, gv], level)
        t.insert(len(by), "group", t.pop(gv).astype(object))
        t.insert(len(by), "group_variable", gv)
        pieces.append(t)
    out = pd.concat(pieces, ignore_index=True)
    for b in by:
        out[b] = out[b].astype(pieces[0][b].dtype)
    if groups:
        out["group"] = out["group"].astype(object)
    return out


def acceptability_table(
    data: pd.DataFrame,
    instrument: Instrument,
    *,
    weights="weight",
    strata=None,
    psu=None,
    fpc=None,
    lonely_psu: str = "fail",
    **options: Any,
) -> pd.DataFrame:
    """:func:`acceptability` from an analysis frame: builds the respondent design first."""
    design = build_design(data, weights=weights, strata=strata, psu=psu, fpc=fpc, lonely_psu=lonely_psu)
    return acceptability(design, instrument, **options)


def grid_responses(
    design,
    instrument: Instrument,
    grid: str,
    *,
    by: Sequence[str] | None = None,
    groups: Sequence[str] = (),
    dk: str = "exclude",
    overall: bool = True,
    ci_level: float = 0.95,
    ci: str = "t",
    df: float | None = None,
    deff: str | None = "replace",
) -> pd.DataFrame:
    """Distribution of a grid's ratings (``level`` = scale labels, plus "Don't know" when
    ``dk="include"``) per ``by`` cell, pooled over the items of a cell, optionally by group.

    ``by`` defaults to all the grid's dimensions (one distribution per item, e.g. trust by
    organisation). Rows of a parent are clustered as in :func:`acceptability`; by-design cells
    are never in a base. ``variable`` is the grid's name.
    """
    by = grid_dimensions(instrument, grid, by)
    groups = as_list(groups)
    long, pos, ld = _long_design(design, instrument, grid, dk, groups, by)
    options = dict(ci_level=ci_level, ci=ci, df=design.df if df is None else df, deff=deff)
    out = _stacked_by_group(
        lambda keys: ld.proportion("response", by=keys, **options), long, by, groups, overall, "response"
    )
    out["variable"] = grid
    return out


def grid_comparisons(
    design,
    instrument: Instrument,
    groups: str | Sequence[str],
    *,
    grid: str,
    by: Sequence[str] | None = None,
    dk: str = "exclude",
    reference: dict[str, Any] | None = None,
    ci_level: float = 0.95,
    ci: str = "t",
    df: float | None = None,
    adjust: str = "holm",
) -> pd.DataFrame:
    """Differences in acceptability between the groups of each grouping variable, in every
    ``by`` cell of the grid, with p-values adjusted across the whole set as one family.

    ``reference`` maps a grouping variable to its reference group (others: all pairs). The
    ``family`` column states the family: every comparison in the returned table.
    """
    groups = as_list(groups)
    if not groups:
        raise ConfigError("grid_comparisons needs at least one grouping variable")
    by = grid_dimensions(instrument, grid, by)
    reference = reference or {}
    long, pos, ld = _long_design(design, instrument, grid, dk, groups, by)
    y = long["acceptable"].to_numpy(dtype=float)
    ok = ~np.isnan(y)
    deg = design.df if df is None else df
    pieces = []
    for gv in groups:
        dom, frame = domain_codes(long, [*by, gv])
        pieces.append(ld._differences(y, ok, dom, frame, by, gv, reference.get(gv), ci_level, ci, deg))
    out = pd.concat(pieces, ignore_index=True)
    for b in by:
        out[b] = out[b].astype(pieces[0][b].dtype)
    out.insert(len(by), "level", "acceptable")
    out.insert(len(by), "variable", grid)
    n_cells = len(domain_codes(long, by)[1])
    family = (
        f"{len(out)} differences in the share answering positively ({grid} grid) between groups of "
        f"{', '.join(groups)} within {n_cells} {' x '.join(by) or 'whole-grid'} cells"
    )
    return adjust_pvalues(out, method=adjust, family=family)


def grid_association(
    design,
    instrument: Instrument,
    groups: str | Sequence[str],
    *,
    grid: str,
    by: Sequence[str] | None = None,
    dk: str = "exclude",
    statistic: str = "F",
    adjust: str = "holm",
) -> pd.DataFrame:
    """Rao-Scott test of acceptable x group in every ``by`` cell of the grid, for each grouping
    variable, p-values adjusted across all of them as one family (stated in ``family``).

    Each test is :meth:`Estimators.chisq` on the cell as a domain of the long design (the
    whole design's degrees of freedom; R's ``svychisq`` on ``subset()`` counts only the PSUs
    left in the subset). A cell where either variable has one observed level gets NaN and a
    ``note``.
    """
    groups = as_list(groups)
    if not groups:
        raise ConfigError("grid_association needs at least one grouping variable")
    by = grid_dimensions(instrument, grid, by)
    long, pos, ld = _long_design(design, instrument, grid, dk, groups, by)
    cell_dom, cell_frame = domain_codes(long, by)
    records = []
    for gv in groups:
        for d in range(len(cell_frame)):
            record = {b: cell_frame[b].iloc[d] for b in by}
            record["group_variable"] = gv
            try:
                test = ld.chisq("acceptable", gv, statistic=statistic, where=cell_dom == d)
                record.update(test.table().drop(columns=["row_variable", "col_variable"]).iloc[0].to_dict())
                record["note"] = ""
            except EstimationError as exc:
                record.update(test=statistic, statistic=np.nan, p_value=np.nan, note=str(exc))
            records.append(record)
    out = pd.DataFrame(records)
    for b in by:
        out[b] = pd.Categorical(out[b], dtype=cell_frame[b].dtype)
    out.insert(len(by), "variable", grid)
    family = (
        f"{int(out['p_value'].notna().sum())} Rao-Scott tests of positive answers ({grid} grid) by "
        f"{', '.join(groups)} within {len(cell_frame)} {' x '.join(by) or 'whole-grid'} cells"
    )
    return adjust_pvalues(out, method=adjust, family=family)


# -- the estimation stage, from config ----------------------------------------------------------
ESTIMATION_OPTIONS: dict[str, Any] = {
    **{
        k: v
        for k, v in defaults("estimation").items()
        if k in ("variance", "replicates", "seed", "lonely_psu", "dk", "ci_level", "adjust")
    },
    "groups": [],
    "weights": "weight",
    "calibration": None,
}
"""Keys of the ``estimation`` config section :func:`estimate_from_config` reads, and defaults
(from the config schema; ``groups`` defaults to none, as the schema's are the example's)."""



def estimate_from_config(
    data: pd.DataFrame,
    instrument: Instrument,
    options: dict[str, Any] | None = None,
    *,
    plan: Plan | None = None,
    reweighter=None,
    base_weights=None,
) -> dict[str, pd.DataFrame]:
    """Every estimate of the analysis plan (:meth:`Plan.estimates`), as configured.

    ``plan`` defaults to the plan drafted from the instrument (:func:`build_plan`) with the
    options' ``groups``.

    ``options`` is the ``estimation`` config section (:data:`ESTIMATION_OPTIONS`): ``variance``
    ``linearisation``, ``jk1`` (unstratified designs), ``jkn`` or ``bootstrap`` (``replicates``,
    ``seed``); replicate variances re-rake every replicate, so they need ``reweighter``
    (``social_licence.weighting.make_reweighter``) and ``base_weights`` (the column it starts
    from, e.g. ``design_weight``); linearisation takes ``calibration``
    (:func:`social_licence.weighting.calibration`) so that it too reflects the raking.
    ``groups``, ``dk``, ``ci_level``, ``adjust``, ``lonely_psu`` and ``weights`` (the final
    weight column) apply to every frame.
    """
    opts = dict(ESTIMATION_OPTIONS)
    unknown = sorted(set(options or {}) - set(opts))
    if unknown:
        raise ConfigError(f"estimation options {unknown} are not known; known: {sorted(opts)}")
    opts.update(options or {})
    check_variance(opts["variance"], "estimation variance")
    groups = as_list(opts["groups"])
    missing = [g for g in groups if g not in data.columns]
    if missing:
        raise ConfigError(f"estimation groups {missing} are not columns of the analysis frame")
    spec = {k: instrument.design.get(k) for k in ("strata", "psu", "fpc")}
    absent = [f"{k} {c!r}" for k, c in spec.items() if c is not None and c not in data.columns]
    if absent:
        raise EstimationError(
            f"the instrument's design names {', '.join(absent)}, which the analysis frame lacks"
        )
    if opts["variance"] != "linearisation" and reweighter is None:
        raise ConfigError(
            f"variance: {opts['variance']} re-rakes every replicate; pass reweighter= "
            "(social_licence.weighting.make_reweighter) and base_weights="
        )
    design = build_design(
        data,
        weights=opts["weights"],
        lonely_psu=opts["lonely_psu"],
        variance=opts["variance"],
        calibration=opts["calibration"],
        replicates=opts["replicates"],
        seed=opts["seed"],
        reweighter=reweighter,
        base_weights=base_weights,
        **spec,
    )
    if plan is None:
        plan = build_plan({"estimation": {"groups": groups}}, instrument)
    return estimate_frames(design, plan, opts)


def estimate_frames(
    design: SurveyDesign | ReplicateDesign, plan: Plan, options: dict[str, Any] | None = None
) -> dict[str, pd.DataFrame]:
    """Every frame of the analysis plan (:meth:`Plan.estimates`, in that order) from a built
    design (the weight stage's, through :func:`social_licence.design.build.load_design`);
    ``options`` as :func:`estimate_from_config` (its ``groups`` are the plan's, per question)."""
    opts = {**ESTIMATION_OPTIONS, **(options or {})}
    instrument = plan.instrument
    common = dict(dk=opts["dk"], ci_level=opts["ci_level"])
    out: dict[str, pd.DataFrame] = {}
    for q in plan.questions:
        missing = [g for g in q.groups if g not in design.data.columns]
        if missing:
            raise ConfigError(f"question {q.name}: groups {missing} are not columns of the analysis frame")
        dims = list(q.dims)
        grid = q.grid
        # a question of one item: its single row names it in the tables and the bar of its figure
        shown = dims or [instrument.grids[grid].row_name]
        if q.shares:
            out[f"{q.name}_items"] = acceptability(design, instrument, grid=grid, by=shown, **common)
        out[f"{q.name}_responses"] = grid_responses(design, instrument, grid, by=shown, **common)
        if len(dims) >= 2:
            for d in dims:
                out[f"{q.name}_by_{d}"] = grid_responses(design, instrument, grid, by=[d], **common)
        if q.groups:
            groups = list(q.groups)
            out[f"{q.name}_groups"] = acceptability(design, instrument, grid=grid, by=dims, groups=groups, **common)
            if q.compare:
                out[f"{q.name}_comparisons"] = grid_comparisons(
                    design, instrument, groups, grid=grid, by=dims, adjust=opts["adjust"], **common
                )
                out[f"{q.name}_tests"] = grid_association(
                    design, instrument, groups, grid=grid, by=dims, dk=opts["dk"], adjust=opts["adjust"]
                )
    return {name: out[name] for name in plan.estimates()}
