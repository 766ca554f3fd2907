"""The main acceptability model recovers the synthetic generator's truth on one fixed sample.

Expected numbers: ``data/raw/example/truth.json`` (``census.marginal_logit`` and
``census.average_marginal_effects``), the exact census projection of the generating model made by
``social_licence.synthetic.population_truth``, not by our model code. The sample is a simple
random sample with full response (``sample="srs"``), so the design-weighted fit targets that
projection without any weighting adjustment; each parent's ratings are clustered on the parent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from social_licence.models.fit import fit_model
from social_licence.models.spec import ModelSpec
from social_licence.survey.instrument import load_instrument
from social_licence.synthetic import parents as synthetic

ROOT = Path(__file__).resolve().parents[1]
TRUTH = json.loads((ROOT / "data" / "raw" / "example" / "truth.json").read_text(encoding="utf-8"))
INSTRUMENT = load_instrument(ROOT / "config" / "instrument.yaml")
SEED = 424242


def coded_to_frame(raw: pd.DataFrame) -> pd.DataFrame:
    return synthetic.analysis_frame(raw, INSTRUMENT)


@pytest.fixture(scope="module")
def fit():
    raw = synthetic.generate(1500, seed=SEED, sample="srs", qa=False)
    spec = ModelSpec(
        name="main", formula=TRUTH["census"]["marginal_logit"]["formula"], family="binomial"
    )
    return fit_model(
        spec,
        coded_to_frame(raw),
        INSTRUMENT,
        {"weights": "weight", "strata": "stratum", "psu": "psu"},
    )


def test_coefficients_cover_the_census_truth(fit):
    truth = pd.Series(TRUTH["census"]["marginal_logit"]["coefficients"])
    assert set(truth.index) == set(fit.params.index)  # same terms, same reference levels
    truth = truth[fit.params.index]
    z = (fit.params - truth) / fit.bse
    # Each coefficient within its own 99.9% interval ...
    assert (np.abs(z) < stats.norm.isf(0.0005)).all(), z[np.abs(z) >= 3.29]
    # ... and the truth inside the joint 99.9% confidence region: the Wald statistic
    # d' V^-1 d of all 36 coefficients at once (they are correlated, so their misses cluster),
    # referred to F(36, df_resid) as R's regTermTest does.
    d = (fit.params - truth).to_numpy()
    wald = float(d @ np.linalg.solve(fit.cov_params().to_numpy(), d))
    p = stats.f.sf(wald / len(d), len(d), fit.df_resid)
    assert p > 0.001, (wald, p)


def test_group_gaps_cover_the_census_average_marginal_effects(fit):
    effects = TRUTH["census"]["average_marginal_effects"]["effects"]
    for variable, gaps in effects.items():
        me = fit.marginal_effects(variable)
        diff = me[me["statistic"] == "difference"].set_index(variable)
        for level, true_gap in gaps.items():
            row = diff.loc[level]
            z = (row["estimate"] - true_gap) / row["se"]
            assert abs(z) < 3.29, (variable, level, row["estimate"], true_gap, row["se"])


def test_predicted_acceptability_by_purpose_is_close_to_the_census(fit):
    me = fit.marginal_effects("purpose")
    pred = me[me["statistic"] == "predicted"].set_index("purpose")["estimate"]
    se = me[me["statistic"] == "predicted"].set_index("purpose")["se"]
    for purpose, share in TRUTH["census"]["acceptable_by_purpose"].items():
        assert abs(pred[purpose] - share) < 3.29 * se[purpose], (purpose, pred[purpose], share)
