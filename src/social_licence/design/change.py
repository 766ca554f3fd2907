"""Several waves, one analysis: estimates by wave, changes between waves, pooled estimates.

Each wave arrives as its own :class:`SurveyDesign` (its own final weights, strata and PSUs).
:func:`combine_waves` stacks them into one design with a ``wave`` column, and every quantity is
then an ordinary estimator of that design, so the variance is computed in one place:

- **Independent samples** (default): the wave is a stratum, and each wave's strata and PSUs are
  nested in it. A difference of two waves' estimates then has variance ``V1 + V2``, exactly the
  sum of the two single-wave variances (no covariance between strata).
- **A panel overlap** (``panel=`` names the pseudonymised respondent ID shared across waves):
  the design is clustered on the respondent across waves (one stratum, the person as PSU), the
  linearisation R gives with ``svydesign(ids=~id, weights=~w, data=stacked)`` then
  ``svyby(~y, ~wave, svymean)`` and ``svycontrast``. The covariance of the two waves' estimates
  comes from the people answering in both. Each wave's own strata and PSUs are not used: a
  person cannot be nested in two waves' different areas (stated in :attr:`WaveSet.method`).

Calibration (raking) of a wave's weights is carried into the combined design: each wave's margins
become margins of the stacked design that only its own respondents are in, so influence values
are replaced by their residuals on that wave's margins alone (the cross-products are block
diagonal by wave), exactly as the single-wave design linearises them. A wave's share in the
combined design then has the standard error published for that wave alone, and a change between
independent waves has variance ``V1 + V2`` of those published variances. Calibrated waves are
combined one row per respondent (``repeated=False``); rows per rating are made afterwards from
the combined design (:meth:`SurveyDesign.long`), so that every respondent's residual counts.
Waves are linearisation designs (:class:`SurveyDesign`); replicate-weight designs are not combined
here.

Harmonisation (:func:`check_harmonised`): waves are only combined when every variable used is
present in every wave with the same codes, labels and missing codes; otherwise an error names the
wave, file, variable and value. Nothing is merged silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..errors import EstimationError, InputError
from ..survey.plan import WAVE
from ..survey.survey import Survey
from ..weighting.calibration import Calibration
from .design import SurveyDesign
from .estimators import adjust_pvalues, as_list, domain_codes, level_codes

#: How each wave's weights are rescaled before pooling (config ``waves_pool.rescale``).
POOL_SCALES = ("sample_size", "equal", "none")


@dataclass(frozen=True)
class WaveSet:
    """Several waves stacked into one design, with how their variance is linearised."""

    design: SurveyDesign
    waves: tuple[str, ...]
    panel: str | None
    n_overlap: int
    calibrated: bool = False

    @property
    def method(self) -> str:
        """One sentence for a methods box: how changes between waves get their variance."""
        weights = (
            "each wave's raking linearised on its own margins (calibration residuals), as in "
            "its single-wave estimates"
            if self.calibrated
            else "weights taken as fixed"
        )
        if self.panel is None:
            return (
                "waves treated as independent samples: the wave is a stratum and each wave's "
                "strata and PSUs are nested in it, so the variance of a change is the sum of "
                f"the waves' variances; {weights}"
            )
        return (
            f"panel overlap of {self.n_overlap} respondents (same {self.panel!r} in more than "
            "one wave): linearised on the respondent, a design clustered on the person across "
            "waves (as R survey's svyby(~y, ~wave) and svycontrast on svydesign(ids=~"
            f"{self.panel})); {weights}"
        )

    def rows(self, frame: pd.DataFrame, pos: np.ndarray) -> WaveSet:
        """The same waves over rows of ``frame``, row i copying respondent ``pos[i]`` of the
        combined design (a long frame of ratings from :func:`grid_rows` on ``design.data``)."""
        return WaveSet(self.design._rows(frame, pos), self.waves, self.panel, self.n_overlap, self.calibrated)


def _respondent(data: pd.DataFrame, panel: str, wave: str, repeated: bool) -> pd.Series:
    if panel in data.columns:
        ids = data[panel]
    elif panel == data.index.name:
        ids = data.index.to_series(index=data.index)
    else:
        raise EstimationError(f"wave {wave!r} has no respondent ID column or index {panel!r}")
    if ids.isna().any():
        raise EstimationError(f"wave {wave!r}: respondent ID {panel!r} is missing in some rows")
    if not repeated and ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        raise EstimationError(f"wave {wave!r}: respondent ID {panel!r} repeats ({dup!r})")
    return ids.astype(str)


def combine_waves(
    waves: Mapping[str, SurveyDesign],
    *,
    panel: str | None = None,
    repeated: bool = False,
    lonely_psu: str | None = None,
) -> WaveSet:
    """Stack the waves' designs (in the mapping's order) into one :class:`WaveSet`.

    ``panel`` names the respondent ID (a column or the index name) that links the same person
    across waves; without it the waves are independent samples. ``repeated=True`` allows
    several rows of one respondent within a wave (a long frame, e.g. one row per rating, whose
    design comes from :meth:`SurveyDesign.long`); otherwise a repeated ID is an error. Waves
    with raked weights are combined one row per respondent only (each wave's margins carried
    into the combined design, see the module docstring). The stacked data hold every
    wave's columns plus ``wave`` (an ordered Categorical of the wave names); columns absent
    from a wave are missing there, so check harmonisation first.
    """
    if len(waves) < 2:
        raise EstimationError(f"combining waves needs at least two, got {len(waves)}")
    names = tuple(str(k) for k in waves)
    calibrated = [name for name, d in waves.items() if getattr(d, "_cal", None) is not None]
    if calibrated and repeated:
        raise EstimationError(
            f"wave {calibrated[0]!r} has raked weights: combine calibrated waves one row per "
            "respondent, then make the rows per rating from the combined design"
        )
    frames, weights, strata, psus, fpcs, ids = [], [], [], [], [], []
    for name, design in waves.items():
        if WAVE in design.data.columns:
            raise EstimationError(f"wave {name!r} already has a column named {WAVE!r}")
        st = design.structure
        frames.append(design.data.reset_index(drop=True))
        weights.append(design.weights)
        strata.append(np.char.add(f"{name}|", st.stratum.astype(str)))
        psus.append(st.psu.astype(str))
        fpcs.append(st.popsize[st.stratum] if design.has_fpc else None)
        if panel is not None:
            ids.append(_respondent(design.data, panel, name, repeated).to_numpy())
    data = pd.concat(frames, ignore_index=True)
    sizes = [len(f) for f in frames]
    data[WAVE] = pd.Categorical(np.repeat(names, sizes), categories=list(names), ordered=True)
    w = np.concatenate(weights)
    lonely = lonely_psu or next(iter(waves.values())).lonely_psu
    cal = _stacked_calibration(waves, data.index) if calibrated else None
    if panel is None:
        fpc = None if any(f is None for f in fpcs) else np.concatenate(fpcs)
        design = SurveyDesign(
            data,
            weights=w,
            strata=np.concatenate(strata),
            psu=np.concatenate(psus),
            fpc=fpc,
            lonely_psu=lonely,
            calibration=cal,
        )
        return WaveSet(design, names, None, 0, cal is not None)
    person = np.concatenate(ids)
    waves_of = pd.DataFrame({"person": person, "wave": data[WAVE].cat.codes.to_numpy()})
    in_waves = waves_of.drop_duplicates().groupby("person").size()
    design = SurveyDesign(data, weights=w, psu=person, lonely_psu=lonely, calibration=cal)
    return WaveSet(design, names, panel, int((in_waves > 1).sum()), cal is not None)


def _stacked_calibration(waves: Mapping[str, SurveyDesign], index: pd.Index) -> Calibration:
    """Every wave's raking margins as margins of the stacked rows: a wave's margins code only
    its own respondents (-1 elsewhere), so the residuals are each wave's own."""
    blocks, sizes, base = [], [], []
    for design in waves.values():
        cal = design._cal
        if cal is None:
            blocks.append(np.zeros((design.n, 0), dtype=np.int64))
            base.append(design.weights)
            continue
        blocks.append(cal.codes)
        sizes += list(cal.sizes)
        # the weights of a rescaled wave (pooling) keep their ratio to the base weights
        base.append(cal.d)
    codes = np.full((len(index), len(sizes)), -1, dtype=np.int64)
    row = col = 0
    for block in blocks:
        codes[row : row + len(block), col : col + block.shape[1]] = block
        row += len(block)
        col += block.shape[1]
    return Calibration(codes=codes, sizes=tuple(sizes), base=np.concatenate(base), index=index)


def estimates_by_wave(
    waves: WaveSet,
    variable: str,
    *,
    by: str | Sequence[str] | None = None,
    level=None,
    dk: str = "exclude",
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Proportions of ``variable`` (only ``level`` if given) by wave and ``by`` groups."""
    out = waves.design.proportion(variable, by=[WAVE, *as_list(by)], dk=dk, ci_level=ci_level)
    if level is not None:
        out = out[out["level"] == level].reset_index(drop=True)
    return out


def wave_changes(
    waves: WaveSet,
    variable: str,
    level,
    *,
    by: str | Sequence[str] | None = None,
    baseline: str | None = None,
    dk: str = "exclude",
    ci_level: float = 0.95,
    adjust: str = "holm",
    family: str | None = None,
) -> pd.DataFrame:
    """Change in the proportion in ``level`` (or the mean) since ``baseline``, per group.

    One row per later wave and ``by`` group: ``estimate_a`` (that wave), ``estimate_b``
    (baseline), ``difference`` (a - b), its design-based ``se`` and CI, a t test on the combined
    design's df, and p-values adjusted over all rows returned (``family`` says which). A
    change is ``flagged`` when its adjusted p-value is below ``1 - ci_level``.
    """
    base = waves.waves[0] if baseline is None else baseline
    if base not in waves.waves:
        raise EstimationError(f"baseline wave {base!r} is not one of {list(waves.waves)}")
    design = waves.design
    y, ok, level, categorical = design._comparison_values(variable, level, dk)
    cells = [WAVE, *as_list(by)]
    dom_all, dom_frame = domain_codes(design.data, cells)
    out = design._differences(
        y, ok, dom_all, dom_frame, as_list(by), WAVE, base, ci_level, "t", None
    )
    out = out.rename(columns={"group_a": "wave", "group_b": "baseline"})
    out = out.drop(columns="group_variable")
    out.insert(0, "level", level)
    out.insert(0, "variable", variable)
    if family is None:
        what = f"P({variable} = {level})" if categorical else f"mean {variable}"
        groups = f" within {' x '.join(as_list(by))} groups" if by else ""
        family = f"changes in {what} since wave {base!r}{groups}, {len(out)} tests"
    out = adjust_pvalues(out, method=adjust, family=family)
    out["flagged"] = out["p_adjusted"] < 1 - ci_level
    out["variance_method"] = waves.method
    return out


def change_tests(
    waves: WaveSet,
    variables: str | Sequence[str],
    *,
    by: str | None = None,
    dk: str = "exclude",
    adjust: str = "holm",
    family: str | None = None,
    between: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rao-Scott test (second order, F) of change in the distribution of categorical items.

    One test per variable (and ``by`` group): is the distribution of the item the same in every
    wave (only the waves ``between`` names, when given)? As R's
    ``svychisq(~item + wave, subset(design, answered))`` on the combined design:
    the variance over every PSU, the denominator df from the PSUs and strata with an answer in
    the domain (R's ``degf`` of a subset). P-values adjusted over every row returned.
    """
    design = waves.design
    among = None
    if between is not None:
        unknown = [w for w in between if w not in waves.waves]
        if unknown:
            raise EstimationError(f"waves {unknown} are not among {list(waves.waves)}")
        among = design.data[WAVE].astype(str).isin([str(w) for w in between]).to_numpy()
    rows = []
    for variable in as_list(variables):
        if by is None:
            groups = [(None, None)]
        else:
            labels = pd.Series(design.data[by]).dropna().unique().tolist()
            groups = [(g, (design.data[by] == g).to_numpy()) for g in labels]
        for group, where in groups:
            if among is not None:
                where = among if where is None else where & among
            test = design.chisq(variable, WAVE, dk=dk, where=where).table()
            answered = level_codes(design.data, variable, dk)[0] >= 0
            if where is not None:
                answered &= where
            ddf = test["ndf"].iloc[0] * _domain_df(design, answered)
            test["ddf"] = ddf
            from scipy import stats  # slow to import: only where p-values are computed

            test["p_value"] = stats.f.sf(test["statistic"].iloc[0], test["ndf"].iloc[0], ddf)
            if by is not None:
                test.insert(0, "group", group)
                test.insert(0, "group_variable", by)
            rows.append(test)
    out = pd.concat(rows, ignore_index=True)
    if family is None:
        family = f"tests of change across waves {', '.join(waves.waves)}, {len(out)} tests"
    out = adjust_pvalues(out, method=adjust, family=family)
    out["variance_method"] = waves.method
    return out


def _domain_df(design: SurveyDesign, rows: np.ndarray) -> int:
    """Degrees of freedom of a domain as R's ``degf`` of a subset design: PSUs with a row in
    the domain minus strata with a row in it (the variance still uses every PSU)."""
    st = design.structure
    return len(np.unique(st.psu[rows])) - len(np.unique(st.stratum[rows]))


def comparisons(waves: Sequence[str]) -> list[tuple[str, str]]:
    """The changes reported, as (baseline, later wave) pairs: each wave against the one before
    it and, with three or more waves, the last against the first."""
    names = [str(w) for w in waves]
    pairs = list(zip(names[:-1], names[1:], strict=True))
    if len(names) >= 3:
        pairs.append((names[0], names[-1]))
    return pairs


def rescaled(design: SurveyDesign, factor: float) -> SurveyDesign:
    """The design with its weights multiplied by ``factor`` (and its calibration with them)."""
    cal = design._cal
    if cal is not None:
        cal = replace(cal, d=cal.d * factor, solve=cal.solve / factor, psu_x=cal.psu_x * factor)
    return SurveyDesign._from_parts(design.data, design.weights * factor, design.structure, design.lonely_psu, cal)


def pool_factors(waves: Mapping[str, SurveyDesign], scale: str) -> dict[str, float]:
    """Each wave's weight factor before pooling: ``sample_size``, its weights sum to its number
    of respondents (waves count in proportion to their size); ``equal``, every wave sums to the
    mean wave size (waves count equally); ``none``, the weights as they are (a wave counts by
    its weighted total, e.g. its population)."""
    if scale not in POOL_SCALES:
        raise EstimationError(
            f"pooling scale must be one of {', '.join(POOL_SCALES)}, not {scale!r}"
        )
    mean_n = float(np.mean([d.n for d in waves.values()]))
    out = {}
    for name, design in waves.items():
        total = float(design.weights.sum())
        if scale == "none":
            out[name] = 1.0
        else:
            out[name] = (design.n if scale == "sample_size" else mean_n) / total
    return out


def pool_method(waves: Sequence[str], scale: str, method: str) -> str:
    """One sentence for a methods box: how the waves were pooled."""
    share = {
        "sample_size": "rescaled to sum to its number of respondents (waves count in proportion to their size)",
        "equal": "rescaled to sum to the same total (every wave counts equally)",
        "none": "kept as they are (each wave counts by its weighted total)",
    }[scale]
    return f"pooled over waves {', '.join(waves)}: each wave's final weights {share}; {method}"


def pooled_estimates(
    waves: Mapping[str, SurveyDesign],
    variable: str,
    *,
    by: str | Sequence[str] | None = None,
    scale: str = "sample_size",
    panel: str | None = None,
    dk: str = "exclude",
    ci_level: float = 0.95,
) -> tuple[pd.DataFrame, str]:
    """The estimate over all waves together, each wave's weights rescaled first
    (:func:`pool_factors`). Returns the table and the method sentence."""
    factors = pool_factors(waves, scale)
    combined = combine_waves({k: rescaled(d, factors[k]) for k, d in waves.items()}, panel=panel)
    out = combined.design.proportion(variable, by=by, dk=dk, ci_level=ci_level)
    method = pool_method(combined.waves, scale, combined.method)
    out["pooling"] = method
    return out, method


# -- harmonisation ---------------------------------------------------------------------------
def _labels(meta: dict) -> dict[str, str]:
    return {str(k): str(v) for k, v in (meta.get("value_labels") or {}).items()}


def _missing(meta: dict) -> dict[str, str]:
    return {str(k): str(v) for k, v in (meta.get("missing") or {}).items()}


def check_harmonised(surveys: Mapping[str, Survey], variables: Sequence[str] | None = None) -> None:
    """Raise :class:`InputError` unless the waves agree on every variable used.

    ``variables`` default to those of the first wave. For each variable: present in every wave;
    the same value codes with the same labels; the same missing-value codes and reasons. The
    error names the wave, its file, the variable and the code or label that differs.
    """
    items = list(surveys.items())
    if len(items) < 2:
        return
    first_name, first = items[0]
    names = list(variables) if variables is not None else first.variables
    for name in names:
        for wave, survey in items:
            if name not in survey.data.columns:
                raise InputError(
                    f"wave {wave!r} lacks a variable used by the analysis",
                    file=survey.file,
                    variable=name,
                )
        ref = first.meta["variables"].get(name, {})
        for wave, survey in items[1:]:
            meta = survey.meta["variables"].get(name, {})
            for kind, get in (("value label", _labels), ("missing code", _missing)):
                a, b = get(ref), get(meta)
                for code in sorted(set(a) | set(b)):
                    if a.get(code) != b.get(code):
                        raise InputError(
                            f"wave {wave!r} codes {name!r} differently from wave "
                            f"{first_name!r}: {kind} {code} is {b.get(code)!r} there and "
                            f"{a.get(code)!r} in {first.file or first_name!r}",
                            file=survey.file,
                            variable=name,
                            value=code,
                        )
            cat_a, cat_b = first.data[name].dtype, survey.data[name].dtype
            if isinstance(cat_a, pd.CategoricalDtype) and isinstance(cat_b, pd.CategoricalDtype):
                only = [c for c in cat_b.categories if c not in set(cat_a.categories)]
                if only or list(cat_a.categories) != list(cat_b.categories):
                    value = only[0] if only else list(cat_b.categories)
                    raise InputError(
                        f"wave {wave!r} has different categories of {name!r} from wave "
                        f"{first_name!r} ({list(cat_a.categories)})",
                        file=survey.file,
                        variable=name,
                        value=value,
                    )
