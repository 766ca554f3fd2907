"""read_survey on third-party SPSS files (tests/data/reference/spss) and on the bundled example.

Expected values come from the reference CSVs shipped with the SPSS files (what pyreadstat's
authors read from them, ``sample.csv`` plain and ``sample_missing_user.csv`` with user-missing
values kept), from the files' documented metadata (reference README), and for the example
export from the raw codes read with pyreadstat and counted with pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml
from test_ingest_support import INSTRUMENT, REFERENCE_SPSS, ROOT

from social_licence.ingest.formats import read_survey

EXAMPLE = ROOT / "data" / "raw" / "example"


def test_compressed_zsav_reads_as_its_reference_csv():
    ref = pd.read_csv(REFERENCE_SPSS / "sample.csv", encoding="utf-8-sig")
    got = read_survey(REFERENCE_SPSS / "sample.zsav")
    assert got.meta["source"]["format"] == "zsav"
    data = got.data
    assert list(data["mychar"]) == list(ref["mychar"])
    np.testing.assert_allclose(data["mynum"].to_numpy(), ref["mynum"].to_numpy())
    # value labels from the file: mylabl 1 Male 2 Female; myord 1 low 2 medium 3 high (ordinal)
    assert list(data["mylabl"]) == [{1: "Male", 2: "Female"}[v] for v in ref["mylabl"]]
    assert list(data["myord"]) == [{1: "low", 2: "medium", 3: "high"}[v] for v in ref["myord"]]
    assert data["myord"].cat.ordered and not data["mylabl"].cat.ordered
    assert got.variable("mynum")["label"] == "numeric"


def test_user_missing_values_and_ranges_become_missing_with_a_reason():
    ref = pd.read_csv(
        REFERENCE_SPSS / "sample_missing_user.csv", na_values=["#NULL!"], keep_default_na=False
    )
    got = read_survey(REFERENCE_SPSS / "sample_missing.sav").data
    # mynum: user-missing range 2000-3000 and discrete -1 (rows 6 and 7 of the reference)
    assert list(ref["mynum"].iloc[5:]) == [-1.0, 2500.0]
    assert got["mynum"].iloc[5:].isna().all()
    np.testing.assert_allclose(got["mynum"].iloc[:5].to_numpy(), ref["mynum"].iloc[:5].to_numpy())
    assert list(got["mynum__reason"].iloc[5:]) == ["system", "system"]
    # myord: -1 (label "missing") and -3 are user-missing; the first five answers keep their labels
    assert list(ref["myord"].iloc[5:]) == [-1.0, -3.0]
    assert (
        got["myord"].iloc[5:].isna().all() and list(got["myord__reason"].iloc[5:]) == ["system"] * 2
    )
    assert list(got["myord"].iloc[:5]) == [
        {1: "low", 2: "medium", 3: "high"}[v] for v in ref["myord"].iloc[:5]
    ]
    # mylabl: -1 "undetermined" is user-missing; a system-missing cell is missing too
    assert got["mylabl"].iloc[5:].isna().all()
    assert list(got["mylabl"].iloc[:5]) == [
        {1: "Male", 2: "Female"}[v] for v in ref["mylabl"].iloc[:5]
    ]


def test_simple_alltypes_ranges_labels_strings_and_multiple_response_sets():
    got = read_survey(REFERENCE_SPSS / "simple_alltypes.sav")
    raw, _ = pyreadstat.read_sav(str(REFERENCE_SPSS / "simple_alltypes.sav"), user_missing=True)
    data = got.data
    # z: user-missing range -999..0 plus 999 labelled "skipped"
    z = raw["z"]
    in_range = (z >= -999) & (z <= 0)
    assert data["z"][in_range.to_numpy()].isna().all() and in_range.sum() == 1
    assert (data["z__reason"] == "not_asked").sum() == (z == 999).sum() == 1
    assert data["z"].dropna().tolist() == z[(z > 0) & (z != 999)].tolist()
    # x: labels for 1-3 only, unlabelled 4 and 9 occur, 7/8/99 user-missing: stays numeric
    assert data["x"].dtype == np.float64
    assert data["x"].isna().sum() == raw["x"].isin([7, 8, 99]).sum() == 1
    assert got.variable("x")["value_labels"] == {1: "red", 2: "green", 3: "blue"}
    # strings with value labels become categories; a plain string stays text
    assert isinstance(data["ca_subvar_1"].dtype, pd.CategoricalDtype)
    assert data["str"].iloc[0] == "red"
    # multiple-response sets are kept in meta
    sets = got.meta["mr_sets"]
    assert sets["mymrset"] == {
        "label": "My multiple response set",
        "type": "dichotomy",
        "counted_value": 1,
        "variables": ["bool1", "bool2", "bool3"],
    }
    assert sets["categorical_array"]["variables"] == ["ca_subvar_1", "ca_subvar_2", "ca_subvar_3"]


def test_a_value_labelled_missing_and_declared_missing_is_missing():
    got = read_survey(REFERENCE_SPSS / "missing_test.sav").data
    assert got["var1"].isna().tolist() == [True, False]
    assert got["var1__reason"].iloc[0] == "system"


# -- the bundled example export ----------------------------------------------------------------
@pytest.fixture(scope="module")
def example():
    return read_survey(EXAMPLE / "parents.sav", INSTRUMENT)


def test_example_sav_reads_against_the_instrument(example):
    raw, _ = pyreadstat.read_sav(str(EXAMPLE / "parents.sav"), user_missing=True)
    data = example.data
    assert len(data) == len(raw)
    for ident in INSTRUMENT.identifiers:
        assert ident not in data.columns
    # the grid's -1 cells are by design, every respondent rates 12 of 24 cells
    items = INSTRUMENT.grids["acceptability"].variables
    by_design = sum((data[v + "__reason"] == "by_design").astype(int) for v in items)
    assert (by_design == 12).all()
    assert sum((raw[v] == -1).sum() for v in items) == int(by_design.sum())
    dk = sum((raw[v] == 8).sum() for v in items)
    assert sum((data[v + "__reason"] == "dont_know").sum() for v in items) == dk > 0


def test_example_qualtrics_export_gives_the_same_frame_as_the_sav(example):
    overlay = yaml.safe_load((ROOT / "config" / "example_qualtrics.yaml").read_text())["survey"]
    got = read_survey(
        EXAMPLE / "parents_qualtrics.csv",
        INSTRUMENT,
        rename=overlay["rename"],
        format=overlay["format"],
    )
    assert got.meta["source"]["format"] == "qualtrics"
    assert list(got.data.columns) == list(example.data.columns)
    pd.testing.assert_frame_equal(got.data, example.data)
    log = "\n".join(got.log)
    assert "IPAddress" in log and "RecipientEmail" in log
