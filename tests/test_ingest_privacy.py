"""Privacy at ingest: keyed pseudonyms, where the key comes from, and no identifier left behind."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_ingest_support import INSTRUMENT, KEY, coded_export, write_sav

from social_licence.errors import ConfigError, DisclosureError, InputError
from social_licence.ingest.cleaning import clean
from social_licence.ingest.formats import read_survey
from social_licence.ingest.interim import write_interim
from social_licence.ingest.privacy import (
    assert_no_identifiers,
    load_key,
    pseudonymise,
    pseudonymise_survey,
)


@pytest.fixture(scope="module")
def export():
    return coded_export(n=40, seed=11)


@pytest.fixture(scope="module")
def survey(export, tmp_path_factory):
    return read_survey(write_sav(export, tmp_path_factory.mktemp("p") / "parents.sav"), INSTRUMENT)


def test_pseudonym_is_hmac_sha256_truncated_rfc4231_vector():
    # RFC 4231 test case 1: key 0x0b * 20, data "Hi There" ->
    # b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7
    got = pseudonymise(["Hi There"], b"\x0b" * 20)
    assert got.tolist() == ["b0344c61d8db3853"]
    assert pseudonymise(["Hi There"], b"\x0b" * 20, length=64).tolist() == [
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    ]


def test_pseudonyms_depend_on_the_key_are_stable_and_strip_spaces():
    ids = pd.Series(["P1", "P2", " P1 ", "00123", "123"], index=[10, 11, 12, 13, 14])
    a = pseudonymise(ids, b"key-one")
    assert list(a.index) == [10, 11, 12, 13, 14]
    assert a[10] == a[12] and a[10] != a[11] and a[13] != a[14]
    assert pseudonymise(ids, b"key-one").equals(a)
    assert not (pseudonymise(ids, b"key-two") == a).any()


def test_key_from_environment_first_then_file_then_created(tmp_path, monkeypatch):
    path = tmp_path / "keys" / ".pseudonym_key"
    monkeypatch.setenv("SL_TEST_KEY", "from-env")
    assert load_key(env="SL_TEST_KEY", path=path) == b"from-env"
    assert not path.exists()
    monkeypatch.delenv("SL_TEST_KEY")
    log: list[str] = []
    created = load_key(env="SL_TEST_KEY", path=path, log=log)
    assert path.exists() and len(created) == 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "created a new random key" in log[0] and created.decode() not in log[0]
    assert load_key(env="SL_TEST_KEY", path=path) == created


def test_key_file_is_never_under_results(tmp_path, monkeypatch):
    monkeypatch.delenv("SL_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="results"):
        load_key(env="SL_TEST_KEY", path=tmp_path / "results" / "interim" / ".pseudonym_key")
    assert not (tmp_path / "results").exists()


def test_cleaned_survey_index_holds_pseudonyms_not_raw_ids(survey, export):
    cleaned, _ = clean(survey, INSTRUMENT, {"straightliners": {"enabled": False}}, key=KEY)
    assert cleaned.meta["index"] == "pseudonym"
    raw = set(export["respondent_id"])
    assert not set(cleaned.data.index) & raw
    expected = set(pseudonymise(export["respondent_id"], KEY))
    assert set(cleaned.data.index) <= expected
    assert_no_identifiers(cleaned.data, INSTRUMENT, raw_ids=raw, values=export["email"])


def test_raw_ids_are_never_written_to_interim(survey, tmp_path):
    with pytest.raises(DisclosureError, match="raw respondent IDs"):
        write_interim(survey, tmp_path / "interim.parquet")
    assert not (tmp_path / "interim.parquet").exists()


def test_assert_no_identifiers_catches_columns_raw_ids_and_values(survey, export):
    with pytest.raises(DisclosureError, match="email"):
        assert_no_identifiers(pd.DataFrame({"email": ["a"]}), INSTRUMENT)
    with pytest.raises(DisclosureError, match="respondent_id"):
        assert_no_identifiers(
            pd.DataFrame({"x": [1]}, index=pd.Index(["a"], name="respondent_id")), INSTRUMENT
        )
    with pytest.raises(DisclosureError, match="index holds raw respondent IDs"):
        assert_no_identifiers(survey.data, INSTRUMENT, raw_ids=export["respondent_id"])
    leaky = pd.DataFrame(
        {"note": ["contact parent3@example.org please"]},
        index=pd.Index(["ab12"], name="respondent"),
    )
    with pytest.raises(DisclosureError, match="note") as err:
        assert_no_identifiers(leaky, INSTRUMENT, values=export["email"])
    assert "@" not in str(err.value)


def test_pseudonymise_survey_refuses_a_survey_without_raw_ids(survey):
    once = pseudonymise_survey(survey, KEY)
    with pytest.raises(InputError, match="nothing to pseudonymise"):
        pseudonymise_survey(once, KEY)


def test_no_log_line_or_error_names_a_raw_id_or_identifier(survey, export, tmp_path):
    withdrawn = list(export["respondent_id"].iloc[:3])
    cleaned, flow = clean(survey, INSTRUMENT, {}, withdrawn, key=KEY)
    text = "\n".join(cleaned.log) + flow.to_csv()
    for value in list(export["respondent_id"]) + list(export["email"]) + list(export["postcode"]):
        assert value not in text
    frame = export.copy()
    frame.loc[[1, 2], "respondent_id"] = ""
    with pytest.raises(InputError) as err:
        read_survey(write_sav(frame, tmp_path / "noid.sav"), INSTRUMENT)
    assert not any(v in str(err.value) for v in export["respondent_id"])


def test_interim_file_holds_no_identifier_or_raw_id_anywhere(survey, export, tmp_path):
    """Every cell, the index, and the schema metadata (meta and log) of the written file."""
    cleaned, _ = clean(survey, INSTRUMENT, {}, list(export["respondent_id"].iloc[:2]), key=KEY)
    path = tmp_path / "clean.parquet"
    write_interim(cleaned, path)
    table = pq.read_table(path)
    text = str(table.schema.metadata) + table.to_pandas().reset_index().astype(str).to_csv()
    text += path.read_bytes().decode("latin-1")
    for col in ["respondent_id", "email", "postcode", "comment"]:
        for value in export[col].astype(str):
            assert value not in text, col
    assert not any(p in text for p in export["panel_id"].astype(int).astype(str))
