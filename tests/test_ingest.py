"""read_survey against the instrument: labels as Categoricals, missing codes with reasons, mapping.

Every expected number is a count of codes in the coded frame the test wrote itself
(``test_ingest_support.coded_export``, fixed seed), counted with plain pandas.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from test_ingest_support import BALLOTS, INSTRUMENT, coded_export, label_frame, write_sav

from social_licence.errors import InputError
from social_licence.ingest.formats import read_survey, reason_from_label


@pytest.fixture(scope="module")
def export() -> pd.DataFrame:
    return coded_export()


@pytest.fixture(scope="module")
def sav(export, tmp_path_factory):
    return write_sav(export, tmp_path_factory.mktemp("sav") / "parents.sav")


@pytest.fixture(scope="module")
def survey(sav):
    return read_survey(sav, INSTRUMENT)


def test_labelled_variables_are_categoricals_of_labels_in_code_order(survey):
    sex = survey.data["sex"]
    assert isinstance(sex.dtype, pd.CategoricalDtype)
    assert list(sex.cat.categories) == ["Female", "Male"] and not sex.cat.ordered
    acc = survey.data["acc_police__risk_scoring"]
    assert acc.cat.ordered
    assert list(acc.cat.categories) == [
        "Very unacceptable",
        "Somewhat unacceptable",
        "Neither acceptable nor unacceptable",
        "Somewhat acceptable",
        "Very acceptable",
    ]
    assert survey.data["duration_s"].dtype == np.float64


def test_every_answer_keeps_its_code_as_its_label(survey, export):
    for var in ["sex", "region", "income_band", "trust_private", "acc_health__early_help"]:
        labels = INSTRUMENT[var].codes
        expected = export[var].map(lambda c, lab=labels: lab.get(int(c))).value_counts()
        got = survey.data[var].value_counts()
        got = got[got > 0]
        assert got.sort_index().to_dict() == expected.sort_index().to_dict(), var


def test_missing_codes_become_nan_with_their_reason(survey, export):
    data = survey.data
    # income_band: 8 = dont_know, 9 = refused in the instrument
    assert (
        (data["income_band__reason"] == "dont_know").sum() == (export["income_band"] == 8).sum() > 0
    )
    assert (
        (data["income_band__reason"] == "refused").sum() == (export["income_band"] == 9).sum() > 0
    )
    assert data["income_band"].isna().sum() == export["income_band"].isin([8, 9]).sum()
    # region's refusal code is 99, and 9 is a substantive region (South West)
    assert (data["region__reason"] == "refused").sum() == (export["region"] == 99).sum()
    assert (data["region"] == "South West").sum() == (export["region"] == 9).sum()
    # answered rows carry no reason
    assert data.loc[data["income_band"].notna(), "income_band__reason"].isna().all()


def test_split_ballot_cells_never_asked_are_by_design(survey, export):
    data = survey.data
    for var in ["acc_health__early_help", "acc_housing__eligibility"]:
        column = var.split("__")[1]
        not_asked = ~export["ballot"].map(lambda b, c=column: c in BALLOTS[int(b)])
        assert (data[var + "__reason"] == "by_design").sum() == not_asked.sum() > 0
        assert data.loc[not_asked.to_numpy(), var].isna().all()
    # every respondent rates exactly 2 purposes x 6 data types = 12 cells; 12 are by design
    items = INSTRUMENT.grids["acceptability"].variables
    by_design = sum((data[v + "__reason"] == "by_design").astype(int) for v in items)
    assert (by_design == 12).all()


def test_blank_cells_not_asked_by_the_ballot_are_by_design_blank_asked_cells_are_system(
    export, tmp_path
):
    frame = export.copy()
    frame = frame.replace({c: {-1.0: np.nan} for c in INSTRUMENT.grids["acceptability"].variables})
    var = "acc_school__planning"
    asked = frame["ballot"].map(lambda b: "planning" in BALLOTS[int(b)]).to_numpy()
    first_asked = int(np.flatnonzero(asked)[0])
    frame.loc[first_asked, var] = np.nan
    survey = read_survey(write_sav(frame, tmp_path / "blank.sav", user_missing=False), INSTRUMENT)
    why = survey.data[var + "__reason"]
    assert (why == "by_design").sum() == (~asked).sum()
    assert why.iloc[first_asked] == "system"
    assert any("marked by_design" in line for line in survey.log)


def test_an_answer_where_the_ballot_says_not_asked_is_an_error(export, tmp_path):
    frame = export.copy()
    var = "acc_police__eligibility"
    row = int(
        np.flatnonzero(~frame["ballot"].map(lambda b: "eligibility" in BALLOTS[int(b)]).to_numpy())[
            0
        ]
    )
    frame.loc[row, var] = 4.0
    with pytest.raises(InputError) as err:
        read_survey(write_sav(frame, tmp_path / "bad_ballot.sav"), INSTRUMENT)
    assert err.value.variable == var and err.value.rows == [row + 1]
    assert "ballot" in str(err.value)


def test_identifiers_and_unknown_columns_are_dropped_and_named_in_the_log(export, tmp_path):
    frame = export.copy()
    frame["browser"] = "Firefox"
    survey = read_survey(write_sav(frame, tmp_path / "extra.sav"), INSTRUMENT)
    for ident in ["email", "postcode", "panel_id", "comment", "respondent_id"]:
        assert ident not in survey.data.columns
    log = "\n".join(survey.log)
    assert "dropped direct identifiers (never read): panel_id, email, postcode, comment" in log
    assert "browser" in log and "does not know" in log
    text = survey.data.astype(str).to_csv() + log
    assert "@example.org" not in text and "free text comment" not in text


def test_index_is_the_raw_respondent_id_until_cleaning_and_meta_describes_the_source(
    survey, sav, export
):
    assert survey.data.index.name == "respondent"
    assert list(survey.data.index) == list(export["respondent_id"])
    assert survey.meta["index"] == "raw_id"
    src = survey.meta["source"]
    assert src["sha256"] == hashlib.sha256(sav.read_bytes()).hexdigest()
    assert src["format"] == "sav" and src["n_rows"] == len(export) and src["name"] == "parents.sav"
    sex = survey.variable("sex")
    assert sex["label"] == "Parent sex" and sex["value_labels"] == {1: "Female", 2: "Male"}
    assert sex["missing"] == {9: "refused"} and sex["type"] == "categorical"
    assert survey.meta["variables"]["acc_health__planning"]["missing"] == {
        8: "dont_know",
        9: "refused",
        -1: "by_design",
    }


def test_a_value_outside_the_declared_codes_names_variable_value_count_and_rows(export, tmp_path):
    frame = export.copy()
    frame.loc[[3, 10, 11], "sex"] = 7.0
    with pytest.raises(InputError) as err:
        read_survey(write_sav(frame, tmp_path / "undeclared.sav"), INSTRUMENT)
    e = err.value
    assert e.variable == "sex" and e.value == 7 and e.rows == [4, 11, 12]
    assert "3 value(s) of sex" in str(e) and "undeclared.sav" in str(e) and "7 (3 rows)" in str(e)


def test_an_instrument_variable_absent_from_the_export_is_named(export, tmp_path):
    frame = export.drop(columns=["trust_police"])
    with pytest.raises(InputError) as err:
        read_survey(write_sav(frame, tmp_path / "short.sav"), INSTRUMENT)
    assert err.value.variable == "trust_police" and "short.sav" in str(err.value)


def test_rename_and_recode_map_a_new_wave_onto_the_instrument(export, tmp_path):
    wave2 = export.rename(columns={"sex": "gender", "trust_nhs": "q19a"})
    wave2["gender"] = wave2["gender"].map({1.0: 2.0, 2.0: 1.0, 9.0: 98.0})  # swapped, refusal 98
    path = tmp_path / "wave2.sav"
    pyreadstat.write_sav(wave2, str(path))
    survey = read_survey(
        path,
        INSTRUMENT,
        rename={"gender": "sex", "q19a": "trust_nhs"},
        recode={"sex": {1: 2, 2: 1, 98: 9}},
    )
    assert (survey.data["sex"] == "Female").sum() == (export["sex"] == 1).sum()
    assert (survey.data["sex__reason"] == "refused").sum() == (export["sex"] == 9).sum()
    assert (survey.data["trust_nhs"] == "A great deal").sum() == (export["trust_nhs"] == 4).sum()
    assert any("renamed columns: gender -> sex, q19a -> trust_nhs" in line for line in survey.log)


def test_two_columns_renamed_to_one_name_is_a_duplicate_column_error(export, tmp_path):
    path = tmp_path / "dup.sav"
    pyreadstat.write_sav(export.assign(sex2=export["sex"]), str(path))
    with pytest.raises(InputError, match="duplicate column name after renaming") as err:
        read_survey(path, INSTRUMENT, rename={"sex2": "sex"})
    assert err.value.variable == "sex"


def test_instrument_missing_codes_win_over_the_files_user_missing_and_the_file_fills_silence(
    export, tmp_path
):
    """The decision documented in ingest: the instrument wins where it speaks; where it is silent
    the file's own user-missing declaration makes the value missing, reason from its label."""
    frame = export.copy()
    frame.loc[[0, 1], "awareness"] = 3.0  # "Not sure": substantive in the instrument
    frame.loc[[2, 5], "lone_parent"] = 97.0  # unknown to the instrument; the file says missing
    frame.loc[[6], "lone_parent"] = 96.0  # declared missing by the file, no label
    labels = {
        "awareness": {1.0: "Yes", 2.0: "No", 3.0: "Not sure", 9.0: "Refused"},
        "lone_parent": {1.0: "Yes", 2.0: "No", 9.0: "Refused", 97.0: "Prefer not to say"},
    }
    path = tmp_path / "user_missing.sav"
    pyreadstat.write_sav(
        frame,
        str(path),
        variable_value_labels=labels,
        missing_ranges={"awareness": [3.0, 9.0], "lone_parent": [9.0, 97.0, 96.0]},
    )
    survey = read_survey(path, INSTRUMENT)
    data = survey.data
    assert (data["awareness"] == "Not sure").sum() == (frame["awareness"] == 3).sum()
    assert list(data["lone_parent__reason"].iloc[[2, 5, 6]]) == ["refused", "refused", "system"]
    assert survey.variable("lone_parent")["missing"] == {9: "refused", 97: "refused", 96: "system"}
    log = "\n".join(survey.log)
    assert "awareness code(s) 3" in log and "instrument's codes win" in log
    assert (
        "lone_parent 97 -> refused (2 rows)" in log and "lone_parent 96 -> system (1 rows)" in log
    )


def test_spss_user_missing_range_on_a_numeric_variable(export, tmp_path):
    frame = export.copy()
    frame.loc[[4, 8], "duration_s"] = -9.0
    path = tmp_path / "range.sav"
    pyreadstat.write_sav(
        frame, str(path), missing_ranges={"duration_s": [{"lo": -99.0, "hi": -1.0}]}
    )
    survey = read_survey(path, INSTRUMENT)
    assert survey.data["duration_s"].isna().sum() == 2
    assert list(survey.data["duration_s__reason"].iloc[[4, 8]]) == ["system", "system"]
    assert survey.variable("duration_s")["missing_ranges"] == [[-99, -1, "system"]]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("-0.5", "negative or infinite weight"),
        ("heavy", "non-numeric weight"),
        ("", "weight is missing"),
    ],
)
def test_a_non_numeric_negative_or_missing_weight_is_refused_with_its_rows(
    export, tmp_path, value, match
):
    frame = export.astype({"design_weight": object})
    frame.loc[[2, 9], "design_weight"] = value
    path = tmp_path / "weights.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=match) as err:
        read_survey(path, INSTRUMENT)
    assert err.value.variable == "design_weight" and err.value.rows == [3, 10]


def test_a_grid_with_no_answers_at_all_is_an_error(export, tmp_path):
    frame = export.copy()
    for var in INSTRUMENT.grids["rights"].variables:
        frame[var] = np.nan
    with pytest.raises(InputError, match="grid rights has no answers") as err:
        read_survey(write_sav(frame, tmp_path / "norights.sav"), INSTRUMENT)
    assert err.value.variable == "rights"


def test_missing_respondent_id_names_rows_not_values(export, tmp_path):
    frame = export.copy()
    frame.loc[[5], "respondent_id"] = ""
    with pytest.raises(InputError, match="no respondent ID") as err:
        read_survey(write_sav(frame, tmp_path / "noid.sav"), INSTRUMENT)
    assert err.value.rows == [6] and err.value.value is None


# -- CSV flavours -----------------------------------------------------------------------------
def _assert_same_answers(a, b):
    cols = [c for c in a.data.columns]
    assert cols == list(b.data.columns)
    for c in cols:
        pd.testing.assert_series_equal(a.data[c], b.data[c], check_names=False, obj=c)


def test_plain_csv_of_codes_reads_as_the_sav_does(survey, export, tmp_path):
    path = tmp_path / "codes.csv"
    export.to_csv(path, index=False)
    _assert_same_answers(read_survey(path, INSTRUMENT), survey)


def test_label_text_csv_mixing_labels_and_numbers_reads_as_the_sav_does(survey, export, tmp_path):
    frame = label_frame(export)
    # half the rows of two columns keep their numeric codes, as mixed exports do
    for var in ["age_band", "trust_council"]:
        frame.loc[::2, var] = export.loc[::2, var].map(lambda v: str(int(v)))
    frame["acc_health__early_help"] = frame[
        "acc_health__early_help"
    ].str.upper()  # case is no matter
    path = tmp_path / "labels.csv"
    frame.to_csv(path, index=False)
    _assert_same_answers(read_survey(path, INSTRUMENT), survey)


def test_label_text_that_is_no_label_is_an_undeclared_value(export, tmp_path):
    frame = label_frame(export)
    frame.loc[7, "sex"] = "Femal"
    path = tmp_path / "typo.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        read_survey(path, INSTRUMENT)
    assert err.value.variable == "sex" and err.value.value == "Femal" and err.value.rows == [8]


def test_windows_1252_csv_labels_with_pound_signs_read_correctly(survey, export, tmp_path):
    frame = label_frame(export)
    path = tmp_path / "cp1252.csv"
    path.write_bytes(frame.to_csv(index=False).encode("cp1252"))
    assert b"\xa320,000" in path.read_bytes()  # the pound sign as one windows-1252 byte
    got = read_survey(path, INSTRUMENT)
    _assert_same_answers(got, survey)
    assert (got.data["income_band"] == "£20,000-£39,999").sum() == (
        export["income_band"] == 2
    ).sum()
    assert any("not UTF-8" in line and "windows-1252" in line for line in got.log)
    assert got.meta["source"]["encoding"] == "windows-1252"


def test_qualtrics_three_header_export_with_rename(survey, export, tmp_path):
    rename = {f"Q{i}": name for i, name in enumerate(export.columns)}
    frame = export.rename(columns={v: k for k, v in rename.items()})
    frame.insert(0, "IPAddress", "192.0.2.1")
    frame.insert(1, "Duration (in seconds)", export["duration_s"])
    frame = frame.drop(columns=[k for k, v in rename.items() if v == "duration_s"])
    rename = {k: v for k, v in rename.items() if v != "duration_s"} | {
        "Duration (in seconds)": "duration_s"
    }
    names = list(frame.columns)
    text = [",".join(names), ",".join(f'"Question text of {n}"' for n in names)]
    text.append(",".join('"{""ImportId"":""' + n + '""}"' for n in names))
    body = frame.to_csv(index=False, header=False)
    path = tmp_path / "qualtrics.csv"
    path.write_text("\n".join(text) + "\n" + body, encoding="utf-8-sig")
    got = read_survey(path, INSTRUMENT, rename=rename)
    _assert_same_answers(got, survey)
    assert got.meta["source"]["format"] == "qualtrics" and got.meta["source"]["header_rows"] == 3
    assert (
        got.variable("sex")["import_id"]
        == '{"ImportId":"Q' + str(list(export.columns).index("sex")) + '"}'
    )
    assert any("IPAddress" in line and "does not know" in line for line in got.log)


def test_csv_with_duplicate_column_names_is_refused(export, tmp_path):
    path = tmp_path / "dupcols.csv"
    header = ",".join(list(export.columns) + ["sex"])
    path.write_text(header + "\n" + export.assign(extra=1).to_csv(index=False, header=False))
    with pytest.raises(InputError, match="duplicate column name") as err:
        read_survey(path, INSTRUMENT)
    assert err.value.variable == "sex" and "dupcols.csv" in str(err.value)


def test_truncated_csv_row_is_refused_with_its_row(export, tmp_path):
    path = tmp_path / "cut.csv"
    text = export.to_csv(index=False)
    path.write_text(text[: len(text) - 40])
    with pytest.raises(InputError, match="different number of fields") as err:
        read_survey(path, INSTRUMENT)
    assert err.value.rows == [len(export)]


# -- other formats -----------------------------------------------------------------------------
def test_zsav_and_parquet_exports_read_as_the_sav_does(survey, export, tmp_path):
    zsav = write_sav(export, tmp_path / "parents.zsav", compress=True)
    assert zsav.read_bytes()[:4] == b"$FL3"
    _assert_same_answers(read_survey(zsav, INSTRUMENT), survey)
    labelled = label_frame(export)
    for var in ["sex", "trust_nhs"]:  # a Parquet export may carry Categoricals of labels
        labelled[var] = pd.Categorical(labelled[var])
    path = tmp_path / "parents.parquet"
    text = {c: str for c in labelled.columns if labelled[c].dtype == object}
    labelled.astype(text).to_parquet(path)
    _assert_same_answers(read_survey(path, INSTRUMENT), survey)
    # the respondent ID as the frame's index is found too
    indexed = tmp_path / "indexed.parquet"
    labelled.astype(text).set_index("respondent_id").to_parquet(indexed)
    _assert_same_answers(read_survey(indexed, INSTRUMENT), survey)


def test_stata_extended_missing_keep_their_reason_from_the_label(export, tmp_path):
    frame = export.copy()
    frame["trust_police"] = frame["trust_police"].astype(object)
    frame.loc[[0, 4], "trust_police"] = "c"
    frame.loc[[1], "trust_police"] = "b"
    frame.loc[[2], "trust_police"] = "z"
    path = tmp_path / "archive.dta"
    pyreadstat.write_dta(
        frame.drop(columns=["comment"]),
        str(path),
        variable_value_labels={
            "trust_police": {
                1: "Not at all",
                2: "Not very much",
                3: "A fair amount",
                4: "A great deal",
                "b": "Refusal",
                "c": "Don't know",
            }
        },
        missing_user_values={"trust_police": ["b", "c", "z"]},
    )
    got = read_survey(path, INSTRUMENT)
    why = got.data["trust_police__reason"]
    assert list(why.iloc[[0, 1, 2, 4]]) == ["dont_know", "refused", "system", "dont_know"]
    assert got.variable("trust_police")["missing"][".c"] == "dont_know"
    plain = read_survey(path)  # without an instrument too
    assert list(plain.data["trust_police__reason"].iloc[[0, 1, 2]]) == [
        "dont_know",
        "refused",
        "system",
    ]


def test_spss_portable_file_reads_with_its_labels(tmp_path):
    frame = pd.DataFrame({"Q1": [1.0, 2.0, 8.0, 1.0], "AGE": [31.0, 45.0, 52.0, np.nan]})
    path = tmp_path / "old.por"
    pyreadstat.write_por(frame, str(path), column_labels=["First question", "Age"])
    got = read_survey(path)
    assert list(got.data["AGE"].iloc[:3]) == [31.0, 45.0, 52.0]
    assert got.data["AGE__reason"].iloc[3] == "system"
    assert got.variable("Q1")["label"] == "First question"


def test_non_utf8_spss_labels_read_correctly(tmp_path):
    """A .sav declaring a Latin-1 character set (made by patching pyreadstat's UTF-8 encoding
    record to 'CP819', an iconv name of ISO-8859-1, and storing the pound sign as byte 0xA3)."""
    frame = pd.DataFrame({"income_band": [1.0, 2.0, 2.0]})
    path = tmp_path / "template.sav"
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels=["Household income (#)"],
        variable_value_labels={"income_band": {1.0: "Under #20,000", 2.0: "#20,000-#39,999"}},
    )
    raw = path.read_bytes()
    latin1 = tmp_path / "latin1.sav"
    latin1.write_bytes(raw.replace(b"#", b"\xa3").replace(b"UTF-8", b"CP819"))
    got = read_survey(latin1)
    assert list(got.data["income_band"]) == ["Under £20,000", "£20,000-£39,999", "£20,000-£39,999"]
    assert got.variable("income_band")["label"] == "Household income (£)"
    # the same bytes in a file that claims UTF-8: a clear error, and encoding= fixes it
    lying = tmp_path / "lying.sav"
    lying.write_bytes(raw.replace(b"#", b"\xa3"))
    with pytest.raises(InputError, match="encoding="):
        read_survey(lying)
    assert read_survey(lying, encoding="latin1").data["income_band"].iloc[0] == "Under £20,000"


# -- damaged and wrong files -------------------------------------------------------------------
def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.sav"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty") as err:
        read_survey(path, INSTRUMENT)
    assert err.value.file == str(path)


def test_truncated_sav_is_refused(sav, tmp_path):
    cut = tmp_path / "cut.sav"
    cut.write_bytes(sav.read_bytes()[: int(sav.stat().st_size * 0.7)])
    with pytest.raises(InputError, match="truncated or damaged") as err:
        read_survey(cut, INSTRUMENT)
    assert "cut.sav" in str(err.value)


def test_corrupt_and_wrongly_named_files_are_refused(sav, tmp_path, export):
    junk = tmp_path / "junk.sav"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError, match="does not match its format"):
        read_survey(junk, INSTRUMENT)
    csv_named_sav = tmp_path / "really_csv.sav"
    export.to_csv(csv_named_sav, index=False)
    with pytest.raises(InputError, match="looks like CSV"):
        read_survey(csv_named_sav, INSTRUMENT)
    sav_named_dta = tmp_path / "really_sav.dta"
    sav_named_dta.write_bytes(sav.read_bytes())
    with pytest.raises(InputError, match="looks like SPSS"):
        read_survey(sav_named_dta, INSTRUMENT)
    odd = tmp_path / "export.xlsx"
    odd.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(InputError, match="unknown file extension"):
        read_survey(odd, INSTRUMENT)
    # format= overrides an odd extension when the content agrees
    renamed = tmp_path / "export.dat"
    renamed.write_bytes(sav.read_bytes())
    assert len(read_survey(renamed, INSTRUMENT, format="sav").data) == len(export)


def test_header_only_csv_is_refused(export, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text(",".join(export.columns) + "\n")
    with pytest.raises(InputError, match="no data rows"):
        read_survey(path, INSTRUMENT)


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("Don't know", "dont_know"),
        ("Don\u2019t Know", "dont_know"),
        ("DK", "dont_know"),
        ("Can't choose", "dont_know"),
        ("Don't know/Refused (VOL.)", "dont_know"),
        ("Refused", "refused"),
        ("Prefer not to say", "refused"),
        ("Not applicable", "not_asked"),
        ("skipped", "not_asked"),
        ("Not in this ballot", "by_design"),
        ("No answer", "system"),
        ("Not sure", None),
        ("No", None),
        ("Knowledge of services", None),
    ],
)
def test_reason_from_label_text(label, reason):
    assert reason_from_label(label) == reason
