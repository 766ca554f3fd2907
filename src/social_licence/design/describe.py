"""The design actually used, in words: for table footnotes and the brief's methods box.

Read from the design the weight stage stored in the analysis file (``meta["design"]``, see
:func:`social_licence.design.build.design_spec`), so that every stage describes the same design:
whether and how the analysis is weighted (unweighted, a supplied weight, raked to named
margins), strata or not, clusters or not (PSUs, or the respondent of a long export), and how the
variance was computed (linearisation with or without calibration; JK1, JKn or bootstrap with R
replicates). :func:`describe_file` reads only the file's metadata, never its rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..ingest.interim import read_interim_meta
from ..survey.labels import margin_label
from .build import DESIGN_KEY

__all__ = ["DesignDescription", "describe_design", "describe_file"]

_REPLICATES = {
    "jk1": "the delete-one jackknife (JK1)",
    "jkn": "the stratified jackknife (JKn)",
    "bootstrap": "the Rao-Wu bootstrap",
}


_SHORT = {"jk1": "JK1 jackknife", "jkn": "JKn jackknife", "bootstrap": "bootstrap"}


@dataclass(frozen=True)
class DesignDescription:
    """Sentences describing one stored design; :meth:`text` for a methods box, :meth:`footnote`
    for a table of estimates."""

    weighted: bool
    weighting: str  # sentence: how (or whether) the analysis is weighted
    strata: str  # sentence: stratified or not
    clusters: str  # sentence: clustered or not, and on what
    variance: str  # sentence: how standard errors and intervals were computed
    parts: tuple[str, ...]  # what the intervals allow for, e.g. ("weighting", "clustering")
    replicates: str | None  # e.g. "200 bootstrap replicates"; None for linearisation
    unit: str  # what a row is: "respondents", or "ratings" in a long export

    @property
    def sentences(self) -> list[str]:
        return [self.weighting, self.strata, self.clusters, self.variance]

    def text(self) -> str:
        """The methods paragraph: weighting, strata, clusters, variance."""
        return " ".join(self.sentences)

    def footnote(self, ci_level: float = 0.95, unit: str | None = None) -> str:
        """The note under a table of estimates; ``unit`` names what the bases count (default
        respondents, or ratings in a long export), e.g. the population noun "parents"."""
        how = "weighted" if self.weighted else "unweighted"
        allow = _and(list(self.parts))
        if self.replicates:
            allow += f"; {self.replicates}"
        unit = unit or self.unit
        base = "ratings answered" if unit == "ratings" else f"{unit} who answered"
        return (
            f"Percentages are {how} and rounded to whole numbers; {ci_level:.0%} confidence "
            f"intervals allow for the survey design ({allow}); bases are unweighted numbers "
            f"of {base}."
        )


def _label(instrument: Any | None, name: str) -> str:
    if instrument is None:
        return name
    try:
        label = instrument[name].label
    except (KeyError, AttributeError, TypeError):
        return name
    return f"{label} ({name})" if label and label != name else name


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe_design(spec: Mapping[str, Any], instrument: Any | None = None) -> DesignDescription:
    """Describe the design stored by the weight stage (``meta["design"]``). With the
    ``instrument``, variables and margins are named by their labels."""
    if not spec:
        raise InputError("no survey design to describe: not the weight stage's analysis file")
    long = spec.get("layout") == "long"
    weighting = dict(spec.get("weighting") or {"method": "rake"})
    method = weighting.get("method", "rake")
    parts: list[str] = []
    if method == "none":
        weighted = False
        w_text = (
            "The analysis is unweighted: every rating counts once."
            if long
            else "The analysis is unweighted: every respondent counts once."
        )
    elif method == "supplied":
        weighted = True
        w_text = (
            "Estimates are weighted by the survey's supplied weight, "
            f"{_label(instrument, weighting['variable'])}."
        )
        parts.append("weighting")
    else:
        weighted = True
        margins = [margin_label(instrument, m, prose=True) for m in weighting.get("margins", [])]
        base = weighting.get("base")
        start = f"the design weight, {_label(instrument, base)}," if base else "equal weights"
        target = f" (target set {weighting['targets']!r})" if weighting.get("targets") else ""
        if margins:
            w_text = (
                f"Weights are {start} raked to the population margins of {_and(margins)}"
                f"{target}."
            )
        else:
            w_text = f"Weights are {start} raked to population margins{target}."
        parts.append("weighting")
    strata = spec.get("strata")
    if strata:
        s_text = f"The sample is stratified by {_label(instrument, strata)}."
        parts.append("stratification")
    else:
        s_text = "The sample is not stratified."
    psu = spec.get("psu")
    if psu and long:
        c_text = (
            f"Respondents are clustered in primary sampling units, {_label(instrument, psu)}; "
            "each respondent's ratings fall within their unit."
        )
        parts.append("clustering")
    elif psu:
        c_text = f"Respondents are clustered in primary sampling units, {_label(instrument, psu)}."
        parts.append("clustering")
    elif long:
        c_text = (
            "Each respondent rated several items: the respondent is the cluster of their "
            "ratings, which are not treated as independent."
        )
        parts.append("clustering of ratings within respondents")
    else:
        c_text = "Respondents were sampled individually (no clusters)."
    variance = spec.get("variance", "linearisation")
    replicates = spec.get("replicates")
    reps = None
    if variance == "linearisation" or not replicates:
        if spec.get("calibration"):
            v_text = (
                "Standard errors use Taylor linearisation, allowing for the calibration of "
                "the weights to the raking margins."
            )
        else:
            v_text = "Standard errors use Taylor linearisation (no calibration)."
    else:
        r = len(replicates.get("columns", []))
        name = _REPLICATES.get(variance, variance)
        v_text = f"Standard errors use {name} with {r} replicate weights"
        if method == "rake":
            v_text += ", each replicate raked again to the same margins."
        else:
            v_text += "."
        reps = f"{r} {_SHORT[variance]} replicates"
    if not parts:
        parts.append("simple random sampling")
    unit = "ratings" if long else "respondents"
    return DesignDescription(weighted, w_text, s_text, c_text, v_text, tuple(parts), reps, unit)


def describe_file(path: str | Path, instrument: Any | None = None) -> DesignDescription:
    """:func:`describe_design` of an analysis file, from its metadata alone (no rows read)."""
    return describe_design(read_interim_meta(path).get(DESIGN_KEY) or {}, instrument)
