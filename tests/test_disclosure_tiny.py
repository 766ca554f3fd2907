"""A survey of five respondents, run through the whole workflow: nothing it publishes describes
fewer than the threshold's 10 people (pooled tables count parents, not their ratings)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
import yaml
from test_disclosure_published import small_counts
from workflow_helpers import ROOT, copy_project, snakemake

pytestmark = pytest.mark.slow

EXPORT = ROOT / "data" / "raw" / "example" / "parents.sav"

CONFIG = {
    "survey": {"export": "data/raw/tiny/parents.sav", "withdrawals": None},
    "weighting": {"targets_file": "config/tiny_targets.yaml", "targets": "tiny", "covariates": [], "bounds": [0.05, 20.0]},
    "models": {"file": "config/tiny_models.yaml"},
    "report": {"headline": None},
}
TARGETS = {
    "sets": {
        "tiny": {
            "description": "Sex only: five respondents cannot be raked to more.",
            "margins": [
                {
                    "variable": "sex",
                    "source": "tests/test_disclosure_tiny.py: equal shares, by hand",
                    "date": "2026",
                    "shares": {"Female": 0.5, "Male": 0.5},
                }
            ],
        }
    }
}
MODELS = {
    "models": [
        {
            "name": "licence_by_sex",
            "description": "Acceptable by sex: two parameters, so five respondents can be fitted.",
            "data": "long",
            "outcome": "acceptable",
            "formula": "acceptable ~ sex",
            "family": "binomial",
            "reference": {"sex": "Female"},
            "dk": "exclude",
            "marginal_effects": ["sex"],
        }
    ]
}


def five_respondents(dest: Path) -> None:
    """Five rows of the example export that pass every cleaning rule, both sexes, metadata kept."""
    raw, meta = pyreadstat.read_sav(str(EXPORT), user_missing=True)
    ok = (raw["attention_check"] == 2) & raw["duration_s"].between(550, 750)
    items = [c for c in raw.columns if c.startswith("acc_")]
    varied = raw[items].nunique(axis=1) > 1
    # every grid item needs a valid answer from someone (ingest stops on an item nobody answered):
    # take, greedily, the respondent who answers most items no one picked so far answers
    missing = {c: meta.missing_ranges.get(c, []) for c in items}

    def valid(col: str) -> pd.Series:
        values = raw[col]
        out = values.notna()
        for r in missing[col]:
            out &= ~values.between(r["lo"], r["hi"])
        return out

    answered = pd.DataFrame({c: valid(c) for c in items})
    pick: list[int] = []
    for sex, count in ((1, 3), (2, 2)):
        pool = raw.index[ok & varied & (raw["sex"] == sex)]
        for _ in range(count):
            covered = answered.loc[pick].any(axis=0) if pick else pd.Series(False, index=items)
            gain = answered.loc[pool, ~covered].sum(axis=1).drop(pick, errors="ignore")
            pick.append(int(gain.idxmax()))
    assert answered.loc[pick].any(axis=0).all(), "five respondents cannot answer every item"
    tiny = raw.loc[pick].reset_index(drop=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    pyreadstat.write_sav(
        tiny,
        str(dest),
        column_labels=dict(zip(meta.column_names, meta.column_labels, strict=True)),
        variable_value_labels=meta.variable_value_labels,
        missing_ranges=meta.missing_ranges,
        variable_measure=meta.variable_measure,
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    workdir = copy_project(tmp_path_factory.mktemp("tiny"))
    five_respondents(workdir / "data" / "raw" / "tiny" / "parents.sav")
    # five people in their own strata leave no degrees of freedom for any model: analyse them
    # as a simple random sample (the weight stays)
    instrument = workdir / "config" / "instrument.yaml"
    text = instrument.read_text(encoding="utf-8")
    instrument.write_text(text.replace("  strata: stratum\n  psu: psu\n", ""), encoding="utf-8")
    assert "strata: stratum" not in instrument.read_text(encoding="utf-8")
    (workdir / "config" / "tiny.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    (workdir / "config" / "tiny_targets.yaml").write_text(yaml.safe_dump(TARGETS), encoding="utf-8")
    (workdir / "config" / "tiny_models.yaml").write_text(yaml.safe_dump(MODELS), encoding="utf-8")
    snakemake(workdir, "--configfile", "config/config.yaml", "config/tiny.yaml")
    return workdir


def test_five_respondents_publish_no_count_of_1_to_9(tiny):
    assert (tiny / "results" / "parents" / "MANIFEST.sha256").exists()
    assert not small_counts(tiny / "results" / "parents")


def test_five_respondents_publish_no_estimate_or_statistic_of_a_group(tiny):
    """Every estimate, pooled or not, is withheld; so are the weight summary's quantiles, the
    balance shares and the codebook's means, medians and SDs of five people."""
    results = tiny / "results" / "parents"
    for path in sorted((results / "tables").glob("*.csv")):
        frame = pd.read_csv(path)
        assert frame["suppressed"].all(), f"{path.name} publishes a cell of five respondents"
        estimates = [c for c in frame.columns if c.startswith("estimate") or c == "difference"]
        assert estimates and frame[estimates].isna().all().all(), path.name
    summary = pd.read_csv(results / "weighting" / "weight_summary.csv")
    numbers = summary.drop(columns="weights")
    assert numbers.isna().all().all(), "weight quantiles of five people are published"
    codebook = pd.read_csv(results / "codebook" / "codebook.csv")
    for column in ("mean", "sd", "median", "weighted_mean", "share_unweighted", "share_weighted"):
        assert codebook[column].isna().all(), f"codebook {column} of five people is published"
    for name in ("models/licence_by_sex.csv", "models/licence_by_sex_effects.csv"):
        frame = pd.read_csv(results / name)
        assert frame["suppressed"].all(), name
    brief = (results / "brief" / "brief.html").read_text(encoding="utf-8")
    assert "these figures are not published" in brief
