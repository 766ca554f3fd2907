"""How the weights turned out: summary, margins before and after, balance on covariates, and
the methods note the brief quotes."""


from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import WeightingError
from ..survey.labels import margin_label
from .margins import MISSING_LABEL, Targets, as_margins, code_margin

logger = logging.getLogger(__name__)

# -- diagnostics -------------------------------------------------------------------------------
def kish_deff(w: np.ndarray | pd.Series) -> float:
    """Kish's design effect from unequal weighting, n * sum(w^2) / sum(w)^2 = 1 + CV^2.

    Over units with positive weight (CV with divisor n, as Kish 1965).
    """
    w = np.asarray(w, dtype=float)
    w = w[w > 0]
    return float(len(w) * np.sum(w * w) / np.sum(w) ** 2)


def effective_n(w: np.ndarray | pd.Series) -> float:
    """Kish's effective sample size, sum(w)^2 / sum(w^2): n divided by the design effect."""
    w = np.asarray(w, dtype=float)
    w = w[w > 0]
    return float(np.sum(w) ** 2 / np.sum(w * w))


def _summary_row(name: str, w: np.ndarray, with_deff: bool = True) -> dict[str, Any]:
    q = np.quantile(w, [0.25, 0.5, 0.75]) if len(w) else [np.nan] * 3
    mean = float(np.mean(w)) if len(w) else np.nan
    return {
        "weights": name,
        "n": len(w),
        "total": float(np.sum(w)),
        "mean": mean,
        "min": float(np.min(w)) if len(w) else np.nan,
        "q25": float(q[0]),
        "median": float(q[1]),
        "q75": float(q[2]),
        "max": float(np.max(w)) if len(w) else np.nan,
        "cv": float(np.std(w) / mean) if len(w) else np.nan,
        "deff_kish": kish_deff(w) if with_deff and len(w) else np.nan,
        "n_effective": effective_n(w) if with_deff and len(w) else np.nan,
    }


def weight_summary(
    weights: pd.Series | np.ndarray, base: pd.Series | np.ndarray | None = None
) -> pd.DataFrame:
    """Min, quartiles, max, CV (divisor n), Kish design effect and effective n of the weights.

    Rows: ``base`` (if given), ``final``, and ``adjustment`` = final / base rescaled to the same
    total (the factor raking applied; its spread is what bounds limit). Units with zero weight
    are left out.
    """
    w = np.asarray(weights, dtype=float)
    rows = []
    if base is not None:
        b = np.asarray(base, dtype=float)
        rows.append(_summary_row("base", b[b > 0]))
    rows.append(_summary_row("final", w[w > 0]))
    if base is not None:
        pos = b > 0
        ratio = w[pos] / (b[pos] * (w.sum() / b.sum()))
        rows.append(_summary_row("adjustment", ratio, with_deff=False))
    return pd.DataFrame(rows)


def margin_table(
    data: pd.DataFrame,
    weights: pd.Series | np.ndarray,
    base: pd.Series | np.ndarray | None,
    targets: Targets,
    *,
    missing: str = "error",
    missing_label: str = MISSING_LABEL,
) -> pd.DataFrame:
    """Each margin category's target share, share before (base weights) and after raking.

    Columns: ``margin``, ``category``, ``target``, ``before``, ``after``, ``abs_diff_before``,
    ``abs_diff_after`` (absolute differences from the target, in share points of 1),
    ``count_unweighted`` (respondents in the category).
    """
    margins = as_margins(targets)
    w = np.asarray(weights, dtype=float)
    b = np.ones(len(data)) if base is None else np.asarray(base, dtype=float)
    rows = []
    for m in margins:
        coding = code_margin(
            data, m, None if (b > 0).all() else b > 0, missing, missing_label, None
        )
        k = len(m.categories)
        counts = np.bincount(coding.codes, minlength=k)
        before = np.bincount(coding.codes, weights=b, minlength=k) / b.sum()
        after = np.bincount(coding.codes, weights=w, minlength=k) / w.sum()
        target = m.shares()
        for j, cat in enumerate(m.categories):
            rows.append(
                {
                    "margin": m.name,
                    "category": cat,
                    "target": target[j],
                    "before": before[j],
                    "after": after[j],
                    "abs_diff_before": abs(before[j] - target[j]),
                    "abs_diff_after": abs(after[j] - target[j]),
                    "count_unweighted": int(counts[j]),
                }
            )
    return pd.DataFrame(rows)


def _weighted_mean_sd(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    mean = float(np.sum(w * x) / np.sum(w))
    sd = float(np.sqrt(np.sum(w * (x - mean) ** 2) / np.sum(w)))
    return mean, sd


def balance_table(
    data: pd.DataFrame,
    weights: pd.Series | np.ndarray,
    covariates: Sequence[str],
    *,
    base: pd.Series | np.ndarray | None = None,
    reference: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Absolute standardised mean differences of covariates that were not used in weighting.

    A categorical covariate contributes one row per level (its indicator); a numeric one, one
    row. ``mean_before`` and ``mean_after`` are weighted by the base and the final weights over
    respondents with a valid value; ``sd`` is the base-weighted standard deviation (divisor the
    sum of weights). ``asmd_shift`` = |after - before| / sd says how far weighting moved the
    covariate. With ``reference`` (``{covariate: {level: population share}}`` or
    ``{covariate: population mean}``), ``asmd_before`` and ``asmd_after`` = |mean - reference| /
    sd say whether weighting brought the sample closer to the population.
    """
    w = np.asarray(weights, dtype=float)
    b = np.ones(len(data)) if base is None else np.asarray(base, dtype=float)
    reference = reference or {}
    rows = []
    for cov in covariates:
        if cov not in data.columns:
            raise WeightingError(f"balance covariate {cov!r} is not in the data")
        col = data[cov]
        valid = col.notna().to_numpy()
        if isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col):
            levels = (
                list(col.cat.categories)
                if isinstance(col.dtype, pd.CategoricalDtype)
                else sorted(col.dropna().unique(), key=str)
            )
            series = [(str(lev), (col == lev).to_numpy(dtype=float)) for lev in levels]
            ref = reference.get(cov, {})
            refs = [ref.get(name) if isinstance(ref, Mapping) else None for name, _ in series]
        else:
            series = [("", col.to_numpy(dtype=float))]
            ref = reference.get(cov)
            refs = [None if isinstance(ref, Mapping) else ref]
        for (level, x), r in zip(series, refs, strict=True):
            xv, bv, wv = x[valid], b[valid], w[valid]
            before, sd = _weighted_mean_sd(xv, bv)
            after = float(np.sum(wv * xv) / np.sum(wv))
            scale = sd if sd > 0 else np.nan
            rows.append(
                {
                    "covariate": cov,
                    "level": level,
                    "n_unweighted": int(valid.sum()),
                    "mean_before": before,
                    "mean_after": after,
                    "sd": sd,
                    "reference": np.nan if r is None else float(r),
                    "asmd_before": np.nan if r is None else abs(before - float(r)) / scale,
                    "asmd_after": np.nan if r is None else abs(after - float(r)) / scale,
                    "asmd_shift": abs(after - before) / scale,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "covariate",
            "level",
            "n_unweighted",
            "mean_before",
            "mean_after",
            "sd",
            "reference",
            "asmd_before",
            "asmd_after",
            "asmd_shift",
        ],
    )


def methods_note(diagnostics: Mapping[str, pd.DataFrame], instrument: Any = None) -> str:
    """One paragraph for the brief's methods box, from :func:`rake_from_config`'s diagnostics.

    With the instrument, margins are named by their variables' labels. Without a raking
    (``weighting.method`` none or supplied: the summary alone) the paragraph describes the
    weights only; :func:`social_licence.design.describe.describe_file` says how they were made.
    """
    if "convergence" not in diagnostics:
        return _weights_text(diagnostics["summary"].set_index("weights").loc["final"], "")
    conv = diagnostics["convergence"].iloc[0]
    margins = ", ".join(
        margin_label(instrument, m, prose=True) for m in dict.fromkeys(diagnostics["margins"]["margin"])
    )
    final = diagnostics["summary"].set_index("weights").loc["final"]
    text = (
        f"Weights were raked to {int(conv['margins'])} population margins ({margins}) in "
        f"{int(conv['iterations'])} iterations; every margin category is met to within "
        f"{conv['max_margin_error']:.1e} (share)."
    )
    if not math.isnan(conv["bound_low"]):
        text += (
            f" Each weight was kept between {conv['bound_low']:.3g} and "
            f"{conv['bound_high']:.3g} times its base weight."
        )
    if len(diagnostics["collapsed"]):
        text += f" {len(diagnostics['collapsed'])} sparse categories were merged before raking."
    return _weights_text(final, text)


def _weights_text(final: pd.Series, text: str) -> str:
    """``text`` followed by the spread of the final weights (a row of :func:`weight_summary`)."""
    lead = text + " " if text else ""
    if pd.isna(final["n"]):  # withheld by disclosure control: too few respondents
        return lead + "The weight summary is withheld [c]: too few respondents to publish it."
    if final["min"] == final["max"]:
        return lead + f"Every one of the {int(final['n'])} rows analysed has the same weight."
    return lead + (
        f"Weights range from {final['min']:.3g} to {final['max']:.3g} (CV {final['cv']:.2f});"
        f" Kish's design effect from weighting is {final['deff_kish']:.2f}, an effective sample"
        f" size of {final['n_effective']:.0f} from {int(final['n'])} respondents."
    )
