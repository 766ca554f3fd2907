"""Re-raking replicates whose margins cannot be met within the bounds."""

import numpy as np
import pandas as pd
import pytest

from social_licence.errors import WeightingError
from social_licence.weighting.solver import make_reweighter


def _data():
    # two rows of A, eight of B; the population is 30% A
    return pd.DataFrame({"g": pd.Categorical(["A"] * 2 + ["B"] * 8), "w": np.ones(10)})


TARGETS = {"g": {"A": 0.3, "B": 0.7}}


def test_full_sample_within_bounds_is_raked_with_them():
    rw = make_reweighter(_data(), TARGETS, base_weight="w", bounds=[0.5, 2.0], infeasible="unbounded")
    w = rw(np.ones(10))
    # hand calculation: A rows need 0.3 / 0.2 = 1.5, B rows 0.7 / 0.8 = 0.875 (total 10)
    np.testing.assert_allclose(w, [1.5] * 2 + [0.875] * 8, rtol=1e-9)
    assert rw.unbounded == []


def test_replicate_that_cannot_meet_the_bounds_is_raked_without_them():
    rw = make_reweighter(_data(), TARGETS, base_weight="w", bounds=[0.5, 2.0], infeasible="unbounded")
    rw(np.ones(10))
    # a replicate whose A rows carry a quarter of the weight: A's share is 0.5 / 8.5 and needs
    # a factor of 0.3 / (0.5 / 8.5) = 5.1 > 2, so the bounds cannot hold
    base = np.array([0.25, 0.25] + [1.0] * 8)
    w = rw(base)
    assert rw.unbounded == [2]
    assert w.sum() == pytest.approx(10)
    assert w[:2].sum() / w.sum() == pytest.approx(0.3, abs=1e-9)
    # unbounded raking of one margin is post-stratification: A rows 3 / 0.5, B rows 7 / 8
    np.testing.assert_allclose(w[:2], [0.25 * 3 / 0.5] * 2, rtol=1e-9)
    np.testing.assert_allclose(w[2:], [7 / 8] * 8, rtol=1e-9)


def test_infeasible_replicate_is_an_error_by_default():
    rw = make_reweighter(_data(), TARGETS, base_weight="w", bounds=[0.5, 2.0])
    rw(np.ones(10))
    with pytest.raises(WeightingError, match="A"):
        rw(np.array([0.25, 0.25] + [1.0] * 8))


def test_margins_are_named_by_their_labels_for_readers():
    from pathlib import Path

    from social_licence.survey.instrument import load_instrument
    from social_licence.survey.labels import margin_label

    inst = load_instrument(Path(__file__).resolve().parents[1] / "config" / "instrument.yaml")
    assert margin_label(inst, "sex x age_band", prose=True) == "parent sex by parent age band"
    assert margin_label(inst, "ethnicity", prose=True) == "ethnic group"
    assert margin_label(None, "sex x age_band", prose=True) == "sex x age_band"
