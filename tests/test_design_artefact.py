"""The design is built once: the weight stage writes it into the analysis file, later stages read it.

The weight stage runs on the bundled example (ingested here from the raw export) with bootstrap
replicates; the estimate and model stages then read the analysis file. The count of raking
solves comes from the solver itself (every solve of a raking problem increments it), so the
test sees any stage that re-rakes.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from example_stages import CONFIG, INSTRUMENT, ROOT, TARGETS, THRESHOLDS, weight_example

from social_licence.config import with_defaults
from social_licence.design.build import load_design, without_design
from social_licence.design.design import SurveyDesign
from social_licence.design.grids import estimate_from_config
from social_licence.design.replicates import ReplicateDesign
from social_licence.errors import InputError
from social_licence.ingest.interim import read_interim
from social_licence.stages import (
    rake_options,
    run_estimate,
    run_model,
    write_parquet,
)
from social_licence.survey.instrument import load_instrument
from social_licence.weighting.solver import make_reweighter, raking_solves
from social_licence.weighting.targets import load_targets

REPLICATES = 20


def test_bootstrap_replicates_are_raked_once_per_run(example_clean, tmp_path, caplog):
    estimation = {**CONFIG["estimation"], "variance": "bootstrap", "replicates": REPLICATES, "seed": 3}
    caplog.set_level(logging.INFO, logger="social_licence.stages")
    before = raking_solves()
    weighted = weight_example(example_clean, tmp_path, estimation)
    weight_solves = raking_solves() - before
    logged = [r.getMessage() for r in caplog.records if "raking solves" in r.getMessage()]
    assert logged == [f"raking solves in this run: {weight_solves}"]
    # the full sample once, the reweighter's check of it once, each replicate once; a replicate
    # that cannot meet the bounds is solved a second time without them (logged as unbounded)
    unbounded = [r.getMessage() for r in caplog.records if "raked without bounds" in r.getMessage()]
    n_unbounded = int(unbounded[0].split("; ")[1].split(" ")[0])
    assert weight_solves == 1 + 1 + REPLICATES + n_unbounded

    before = raking_solves()
    outputs = {"acceptability_items": tmp_path / "atp.parquet"}
    run_estimate(weighted, INSTRUMENT, {**CONFIG, "estimation": estimation}, outputs)
    run_model(
        "licence_index_linear", weighted, INSTRUMENT, ROOT / CONFIG["models"]["file"], THRESHOLDS,
        estimation, tmp_path / "m.csv", tmp_path / "e.csv", tmp_path / "c.csv",
    )
    assert raking_solves() == before, "a stage after weighting raked again"

    survey = read_interim(weighted)
    design = load_design(survey)
    assert isinstance(design, ReplicateDesign) and design.replicates == REPLICATES
    # the same estimates as re-raking every replicate on the spot, as the estimate stage once did
    data = without_design(survey).data
    instrument = load_instrument(INSTRUMENT)
    weighting = with_defaults("weighting", CONFIG["weighting"])
    targets = load_targets(TARGETS, weighting["targets"], instrument=instrument, data=data)
    reweighter = make_reweighter(
        data, targets, empty="partial", infeasible="unbounded", **rake_options(weighting, instrument)
    )
    opts = {k: estimation[k] for k in ("variance", "replicates", "seed", "lonely_psu", "dk", "ci_level")}
    direct = estimate_from_config(
        data, instrument, opts, reweighter=reweighter, base_weights=instrument.design["weight"]
    )["acceptability_items"]
    write_parquet(direct, tmp_path / "direct.parquet")
    assert (tmp_path / "direct.parquet").read_bytes() == outputs["acceptability_items"].read_bytes()


def test_linearisation_stores_the_raking_margins_not_replicates(example_clean, tmp_path):
    estimation = {**CONFIG["estimation"], "variance": "linearisation"}
    before = raking_solves()
    survey = read_interim(weight_example(example_clean, tmp_path, estimation))
    assert raking_solves() - before == 1
    design = load_design(survey)
    assert isinstance(design, SurveyDesign)
    spec = survey.meta["design"]
    assert "replicates" not in spec and len(spec["calibration"]["sizes"]) >= 1
    # a raked margin's share has a standard error of zero under calibration (Deville-Sarndal)
    margin = spec["calibration"]["columns"][0]
    est = design.proportion(margin)
    np.testing.assert_allclose(est["se"].to_numpy(), 0.0, atol=1e-9)
    assert list(without_design(survey).data.columns) == [
        c for c in survey.data.columns if not c.startswith("calibration__")
    ]


def test_a_file_without_a_design_is_refused(example_clean):
    with pytest.raises(InputError, match="no survey design"):
        load_design(read_interim(example_clean))
