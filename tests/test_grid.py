"""The grid long format keeps only items asked, and treats Don't know as configured."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from social_licence.errors import ConfigError
from social_licence.survey.grid import long_format
from social_licence.survey.instrument import load_instrument
from social_licence.survey.missing import reason_column

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def instrument():
    return load_instrument(ROOT / "config" / "instrument.yaml")


def _frame(instrument):
    """Two parents, hand-built: parent a rated early_help and planning; parent b early_help and
    risk_scoring, with a Don't know on police x early_help and a refusal on school x risk_scoring."""
    grid = instrument.grids["acceptability"]
    labels = instrument["acc_health__early_help"].labels
    dtype = pd.CategoricalDtype(labels, ordered=True)
    data = {}
    asked = {"a": {"early_help", "planning"}, "b": {"early_help", "risk_scoring"}}
    for var, row, col in grid.cells():
        values, why = [], []
        for parent, k in (("a", 0), ("b", 1)):
            if col not in asked[parent]:
                values.append(None)
                why.append("by_design")
            elif parent == "b" and (row, col) == ("police", "early_help"):
                values.append(None)
                why.append("dont_know")
            elif parent == "b" and (row, col) == ("school", "risk_scoring"):
                values.append(None)
                why.append("refused")
            else:
                values.append(labels[(k * 3 + len(row)) % 5])
                why.append(None)
        data[var] = pd.Categorical(values, dtype=dtype)
        data[reason_column(var)] = why
    frame = pd.DataFrame(data, index=pd.Index(["a", "b"], name="respondent"))
    frame["weight"] = [1.5, 2.0]
    return frame


def test_by_design_cells_never_become_rows(instrument):
    long = long_format(_frame(instrument), instrument, keep=["weight"], grid="acceptability")
    # a: 6 types x 2 purposes = 12; b: 12 asked minus one Don't know and one refusal = 10
    assert (long["respondent"] == "a").sum() == 12
    assert (long["respondent"] == "b").sum() == 10
    assert set(long.loc[long["respondent"] == "a", "purpose"]) == {"early_help", "planning"}
    assert long["weight"].tolist().count(1.5) == 12


def test_dont_know_included_as_its_own_response_not_acceptable(instrument):
    long = long_format(_frame(instrument), instrument, dk="include", grid="acceptability")
    assert (long["respondent"] == "b").sum() == 11  # the refusal is still item non-response
    dk = long[long["response"] == "Don't know"]
    assert len(dk) == 1
    assert dk["data_type"].item() == "police" and dk["purpose"].item() == "early_help"
    assert dk["acceptable"].item() == 0.0 and pd.isna(dk["rating"].item())


def test_acceptable_is_somewhat_or_very_acceptable(instrument):
    long = long_format(_frame(instrument), instrument, grid="acceptability")
    expected = long["rating"].isin(["Somewhat acceptable", "Very acceptable"]).astype(float)
    np.testing.assert_array_equal(long["acceptable"].to_numpy(), expected.to_numpy())
    assert long["rating"].cat.ordered
    assert list(long["data_type"].cat.categories)[0] == "health"


def test_unknown_grid_and_dk_option_are_refused(instrument):
    frame = _frame(instrument)
    with pytest.raises(ConfigError, match="grid 'acceptabilty' is not in the instrument"):
        long_format(frame, instrument, grid="acceptabilty")
    with pytest.raises(ConfigError, match="dk must be one of"):
        long_format(frame, instrument, dk="drop", grid="acceptability")
