"""Interim Parquet: a Survey survives the round trip exactly, byte-stable, written atomically."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_ingest_support import INSTRUMENT, KEY, REFERENCE_SPSS, coded_export, write_sav

from social_licence.errors import InputError
from social_licence.ingest.cleaning import clean
from social_licence.ingest.formats import read_survey
from social_licence.ingest.interim import read_interim, write_interim
from social_licence.survey.missing import REASON_DTYPE
from social_licence.survey.survey import Survey


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    export = coded_export(n=50, seed=3)
    survey = read_survey(
        write_sav(export, tmp_path_factory.mktemp("i") / "parents.sav"), INSTRUMENT
    )
    return clean(survey, INSTRUMENT, {}, key=KEY)[0]


def _hand_made() -> Survey:
    """Categoricals whose order Parquet alone could lose: unused categories, odd order."""
    index = pd.Index(["a1", "b2", "c3", "d4"], name="respondent", dtype="str")
    data = pd.DataFrame(
        {
            "scale": pd.Categorical(
                ["High", None, "Low", "High"], categories=["Low", "Mid", "High"], ordered=True
            ),
            "unordered": pd.Categorical(["z", "a", None, "z"], categories=["z", "m", "a"]),
            "never_used": pd.Categorical([None] * 4, categories=["only"]),
            "num": [1.5, np.nan, 3.0, 4.0],
            "text": pd.array(["x", None, "y", "z"], dtype="str"),
        },
        index=index,
    )
    data["scale__reason"] = pd.Categorical([None, "dont_know", None, None], dtype=REASON_DTYPE)
    meta = {
        "index": "pseudonym",
        "source": {"file": "x.sav", "sha256": "0" * 64},
        "variables": {
            "scale": {
                "value_labels": {1: "Low", 2: "Mid", 3: "High"},
                "missing": {8: "dont_know", ".a": "refused"},
            },
            "num": {"value_labels": {1.5: "one and a half", "1": "text code one"}, "missing": {}},
        },
    }
    return Survey(data=data, meta=meta, log=["line one", "line two"], rows=np.array([2, 3, 5, 7]))


def test_round_trip_keeps_categories_order_reasons_meta_log_and_rows(tmp_path):
    survey = _hand_made()
    path = tmp_path / "interim" / "survey.parquet"
    write_interim(survey, path)
    back = read_interim(path)
    pd.testing.assert_frame_equal(back.data, survey.data)
    assert list(back.data["unordered"].cat.categories) == ["z", "m", "a"]
    assert (
        list(back.data["scale"].cat.categories) == ["Low", "Mid", "High"]
        and back.data["scale"].cat.ordered
    )
    assert back.data["scale__reason"].dtype == REASON_DTYPE
    assert back.meta == survey.meta  # int, float and text codes kept apart
    assert back.log == survey.log
    assert back.rows.tolist() == [2, 3, 5, 7]


def test_round_trip_of_a_cleaned_survey_and_pandas_reads_it_plainly(cleaned, tmp_path):
    path = tmp_path / "clean.parquet"
    write_interim(cleaned, path)
    back = read_interim(path)
    pd.testing.assert_frame_equal(back.data, cleaned.data)
    assert back.meta == cleaned.meta and back.log == cleaned.log
    plain = pd.read_parquet(path)
    assert list(plain.index) == list(cleaned.data.index) and plain.index.name == "respondent"
    assert list(plain["sex"].cat.categories) == ["Female", "Male"]
    # read_survey recognises its own interim files
    assert read_survey(path).data.equals(cleaned.data)


def test_same_survey_same_bytes(cleaned, tmp_path):
    write_interim(cleaned, tmp_path / "one.parquet")
    write_interim(cleaned, tmp_path / "two.parquet")
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "two.parquet").read_bytes()


def test_a_failed_write_leaves_no_partial_file(cleaned, tmp_path, monkeypatch):
    def broken(table, where, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_interim(cleaned, tmp_path / "out" / "clean.parquet")
    assert list((tmp_path / "out").iterdir()) == []


def test_damaged_or_foreign_parquet_is_refused(cleaned, tmp_path):
    path = tmp_path / "clean.parquet"
    write_interim(cleaned, path)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match="truncated or damaged"):
        read_interim(cut)
    foreign = tmp_path / "foreign.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(foreign)
    with pytest.raises(InputError, match="not an interim survey file"):
        read_interim(foreign)


@pytest.mark.parametrize("name", ["sample_missing.sav", "sample.zsav", "simple_alltypes.sav"])
def test_files_read_without_instrument_round_trip_dates_times_and_text(name, tmp_path):
    survey = read_survey(REFERENCE_SPSS / name)
    path = tmp_path / "x.parquet"
    write_interim(survey, path)
    back = read_interim(path)
    pd.testing.assert_frame_equal(back.data, survey.data)
    assert back.meta == survey.meta
