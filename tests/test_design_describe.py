"""The design actually used, in words: every sentence follows the stored design.

Specs are those the weight stage stores (``design_spec`` with its weighting record, plus the
calibration or replicate columns ``store_design`` adds); the instrument is the parents'
example's, so variables and margins are named by their labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from social_licence.design.build import build_design, design_spec, store_design
from social_licence.design.describe import describe_design, describe_file
from social_licence.errors import InputError
from social_licence.ingest.interim import write_interim
from social_licence.report.tables import METHOD_NOTE
from social_licence.survey.instrument import load_instrument
from social_licence.survey.survey import Survey

ROOT = Path(__file__).resolve().parents[1]
INSTRUMENT = load_instrument(ROOT / "config" / "instrument.yaml")
LINEAR = {"lonely_psu": "adjust", "variance": "linearisation"}


def _replicated(n_replicates: int) -> dict:
    """A stored spec with real bootstrap replicate columns (a small two-stratum design)."""
    data = pd.DataFrame(
        {"weight": np.ones(12), "stratum": np.repeat([1, 2], 6), "psu": np.repeat(np.arange(6), 2)},
        index=pd.Index([f"r{i}" for i in range(12)], name="respondent"),
    )
    reps = build_design(
        data, weights="weight", strata="stratum", psu="psu", lonely_psu="adjust",
        variance="bootstrap", replicates=n_replicates, seed=1,
    )
    survey = Survey(data=data, meta={}, log=[])
    spec = design_spec(
        {"strata": "stratum", "psu": "psu"},
        {"lonely_psu": "adjust", "variance": "bootstrap"},
        weighting={
            "method": "rake", "targets": "example_truth", "base": "design_weight",
            "margins": ["sex x age_band", "region"],
        },
    )
    return store_design(survey, spec, replicates=reps).meta["design"]


def test_unweighted_simple_random_sample():
    d = describe_design(design_spec({}, LINEAR, weighting={"method": "none"}))
    assert d.text() == (
        "The analysis is unweighted: every respondent counts once. The sample is not "
        "stratified. Respondents were sampled individually (no clusters). Standard errors use "
        "Taylor linearisation (no calibration)."
    )
    assert d.footnote() == (
        "Percentages are unweighted and rounded to whole numbers; 95% confidence intervals "
        "allow for the survey design (simple random sampling); bases are unweighted numbers of "
        "respondents who answered."
    )


def test_supplied_weight_with_strata_and_psus():
    spec = design_spec(
        {"weight": "design_weight", "strata": "stratum", "psu": "psu"},
        {"lonely_psu": "adjust", "variance": "jkn"},
        weighting={"method": "supplied", "variable": "design_weight"},
    )
    spec["replicates"] = {"columns": [f"repweight_{i:02d}" for i in range(1, 41)]}
    d = describe_design(spec, INSTRUMENT)
    weight_label = INSTRUMENT["design_weight"].label
    assert d.weighting == f"Estimates are weighted by the survey's supplied weight, {weight_label} (design_weight)."
    assert d.strata.startswith("The sample is stratified by ") and "(stratum)" in d.strata
    assert d.clusters.startswith("Respondents are clustered in primary sampling units")
    assert d.variance == "Standard errors use the stratified jackknife (JKn) with 40 replicate weights."
    assert "(weighting, stratification and clustering; 40 JKn jackknife replicates)" in d.footnote(0.9)
    assert d.footnote(0.9).startswith("Percentages are weighted") and "90% confidence" in d.footnote(0.9)


def test_raked_with_bootstrap_replicates():
    d = describe_design(_replicated(25), INSTRUMENT)
    assert d.weighting.startswith("Weights are the design weight, ")
    assert "raked to the population margins of " in d.weighting
    assert " by " in d.weighting and "(target set 'example_truth')" in d.weighting
    assert d.variance == (
        "Standard errors use the Rao-Wu bootstrap with 25 replicate weights, each replicate "
        "raked again to the same margins."
    )
    assert "25 bootstrap replicates" in d.footnote()


def test_the_examples_design_gives_the_examples_note():
    """Raked, stratified, clustered, linearised with calibration: the note the tables had."""
    spec = design_spec(
        {"weight": "design_weight", "strata": "stratum", "psu": "psu"}, LINEAR,
        weighting={"method": "rake", "targets": "example_truth", "margins": ["region"], "base": "design_weight"},
    )
    spec["calibration"] = {"columns": ["calibration__0"], "sizes": [12], "base": "calibration__base"}
    d = describe_design(spec, INSTRUMENT)
    assert d.footnote(unit="parents") == METHOD_NOTE
    assert d.variance == (
        "Standard errors use Taylor linearisation, allowing for the calibration of the weights "
        "to the raking margins."
    )


def test_long_export_clustered_on_the_respondent():
    d = describe_design(design_spec({}, LINEAR, weighting={"method": "none"}, layout="long"))
    assert d.weighting == "The analysis is unweighted: every rating counts once."
    assert d.clusters == (
        "Each respondent rated several items: the respondent is the cluster of their ratings, "
        "which are not treated as independent."
    )
    assert "(clustering of ratings within respondents)" in d.footnote()
    assert d.footnote().endswith("bases are unweighted numbers of ratings answered.")


def test_long_export_within_declared_psus():
    spec = design_spec({"psu": "psu"}, LINEAR, weighting={"method": "none"}, layout="long")
    d = describe_design(spec)
    assert d.clusters == (
        "Respondents are clustered in primary sampling units, psu; each respondent's ratings "
        "fall within their unit."
    )


def test_describe_file_reads_the_stored_design(tmp_path):
    data = pd.DataFrame({"weight": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="respondent"))
    survey = Survey(data=data, meta={"index": "pseudonym"}, log=[])
    store_design(survey, design_spec({}, LINEAR, weighting={"method": "none"}))
    write_interim(survey, tmp_path / "w.parquet")
    assert describe_file(tmp_path / "w.parquet").text().startswith("The analysis is unweighted")
    plain = Survey(data=data, meta={"index": "pseudonym"}, log=[])
    write_interim(plain, tmp_path / "plain.parquet")
    with pytest.raises(InputError, match="no survey design"):
        describe_file(tmp_path / "plain.parquet")
