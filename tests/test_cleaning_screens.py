"""Cleaning rules that must never resolve silently: withdrawals that match nobody, IDs written
differently in the withdrawals list, repeated IDs with conflicting answers, zero design weights
and items nobody answered. Every expected count is planted by hand in the export below; every
error message is checked to name no respondent ID and no pseudonym.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_ingest_support import INSTRUMENT, KEY, coded_export, write_sav

from social_licence.errors import InputError
from social_licence.ingest.cleaning import clean
from social_licence.ingest.formats import read_survey
from social_licence.ingest.privacy import pseudonymise
from social_licence.ingest.withdrawals import match_withdrawals, normalise_id


def _survey(frame: pd.DataFrame, tmp_path, name="parents.sav"):
    if name.endswith(".csv"):
        path = tmp_path / name
        frame.to_csv(path, index=False)
        return read_survey(path, INSTRUMENT)
    return read_survey(write_sav(frame, tmp_path / name), INSTRUMENT)


# The other QA rules are switched off so that every count below is the rule's own.
QA_OFF = {rule: {"enabled": False} for rule in ("speeders", "straightliners", "attention_check")}


def _clean(survey, rules=None, withdrawals=None, **kwargs):
    return clean(survey, INSTRUMENT, {**QA_OFF, **(rules or {})}, withdrawals, key=KEY, **kwargs)


def _no_ids_in(message: str, ids) -> None:
    """Neither a raw ID nor its pseudonym appears in a message."""
    ids = [str(i) for i in ids]
    for text in [*ids, *pseudonymise(ids, KEY)]:
        assert text not in message, f"{text!r} printed in: {message}"


@pytest.fixture
def frame():
    return coded_export(n=30, seed=11)


# -- withdrawals --------------------------------------------------------------------------------
def test_an_unmatched_withdrawal_stops_the_run_with_a_count_never_the_id(frame, tmp_path):
    survey = _survey(frame, tmp_path)
    listed = ["P10001", "P10002", "X-UNKNOWN-1", "X-UNKNOWN-2"]
    with pytest.raises(
        InputError, match=r"2 of the 4 ID\(s\) in the withdrawals list match no"
    ) as e:
        _clean(survey, {}, listed)
    _no_ids_in(str(e.value), listed + list(frame["respondent_id"]))
    assert "survey.unmatched_withdrawals: continue" in str(e.value)


def test_continue_counts_unmatched_withdrawals_in_the_flow(frame, tmp_path):
    survey = _survey(frame, tmp_path)
    listed = ["P10001", "X-UNKNOWN-1", "X-UNKNOWN-2"]
    cleaned, flow = _clean(survey, {}, listed, unmatched="continue")
    row = flow.set_index("rule").loc["withdrawals"]
    assert row["excluded"] == 1 and row["remaining"] == 29
    assert "2 listed ID(s) matched no respondent" in row["detail"]
    _no_ids_in(flow.to_csv() + "\n".join(cleaned.log), listed)


def test_ids_match_after_case_and_whitespace_by_default_and_exactly_when_asked(frame, tmp_path):
    survey = _survey(frame, tmp_path)
    listed = ["p10001", "  P10002\t", "P10003"]
    _, flow = _clean(survey, {}, listed)
    assert flow.set_index("rule").loc["withdrawals", "excluded"] == 3
    # exact text: the first two no longer match
    with pytest.raises(InputError, match=r"1 of the 3 ID\(s\)"):
        # the list's own surrounding spaces are always stripped when it is read: one unmatched
        _clean(survey, {}, listed, id_match=[])
    _, flow = _clean(survey, {}, listed, id_match=[], unmatched="continue")
    assert flow.set_index("rule").loc["withdrawals", "excluded"] == 2


def test_numeric_ids_match_without_their_leading_zeros_in_a_csv_export(tmp_path):
    frame = coded_export(n=20, seed=3)
    frame["respondent_id"] = [str(1000 + 7 * i) for i in range(20)]  # 1000, 1007, ...
    survey = _survey(frame, tmp_path, "parents.csv")
    listed = ["0001000", "01007", "1014"]
    cleaned, flow = _clean(survey, {}, listed)
    assert flow.set_index("rule").loc["withdrawals", "excluded"] == 3
    assert len(cleaned.data) == 17
    with pytest.raises(InputError, match=r"2 of the 3 ID\(s\)"):
        _clean(survey, {}, listed, id_match=["whitespace", "case"])


def test_normalisation_by_hand():
    assert normalise_id(" AbC ") == "abc"
    assert normalise_id("000123") == "123" and normalise_id("000") == "0"
    assert normalise_id("P0012") == "p0012"  # not all digits: zeros kept
    assert normalise_id(42.0) == "42"
    assert normalise_id(" AbC ", ["case"]) == " abc "


def test_a_listed_id_matching_two_respondents_is_an_error_naming_rows_not_ids():
    ids = pd.Index(["A1", "a1", "B2"])
    with pytest.raises(InputError, match=r"1 withdrawn ID\(s\) each match more than one") as e:
        match_withdrawals(ids, ["a1"], rows=[2, 3, 4], export="x.csv")
    assert e.value.rows == [2, 3]
    _no_ids_in(str(e.value), ["A1", "a1"])
    # exact matching keeps them apart
    got = match_withdrawals(ids, ["a1"], id_match=[])
    assert got.withdrawn.tolist() == [False, True, False]


# -- repeated IDs -------------------------------------------------------------------------------
def _with_repeats(frame: pd.DataFrame) -> pd.DataFrame:
    """Row 3 resubmitted exactly (its duration differs: paradata), row 7 resubmitted with
    another sex, row 8 resubmitted with another acceptability answer: 1 exact, 2 conflicting."""
    extra = frame.loc[[3, 7, 8]].copy()
    extra.loc[3, "duration_s"] += 60
    extra.loc[7, "sex"] = 2.0 if frame.loc[7, "sex"] != 2.0 else 1.0
    item = next(c for c in frame.columns if c.startswith("acc_") and frame.loc[8, c] in (1, 2, 3))
    extra.loc[8, item] = 5.0
    return pd.concat([frame, extra], ignore_index=True)


def test_conflicting_duplicates_are_an_error_by_default_naming_rows_and_variables(frame, tmp_path):
    survey = _survey(_with_repeats(frame), tmp_path)
    with pytest.raises(InputError, match=r"2 respondent ID\(s\) appear more than once with") as e:
        _clean(survey, {}, None)
    assert e.value.rows == [8, 9, 32, 33]  # 1-based data rows of both copies of rows 7 and 8
    assert "sex" in str(e.value) and "duration_s" not in str(e.value)
    _no_ids_in(str(e.value), frame["respondent_id"])


@pytest.mark.parametrize(("action", "conflicting", "left"), [("keep", 2, 30), ("drop", 4, 28)])
def test_conflicting_duplicates_are_a_separate_counted_rule(
    frame, tmp_path, action, conflicting, left
):
    survey = _survey(_with_repeats(frame), tmp_path)
    rules = {"conflicting_duplicates": {"action": action}}
    cleaned, flow = _clean(survey, rules, None)
    by_rule = flow.set_index("rule")["excluded"]
    assert by_rule["duplicates"] == 1  # the exact resubmission of row 3
    assert by_rule["conflicting_duplicates"] == conflicting
    assert len(cleaned.data) == left
    assert not cleaned.data.index.duplicated().any()


# -- zero weights -------------------------------------------------------------------------------
def test_zero_weights_are_an_error_unless_excluded_and_counted(frame, tmp_path):
    frame = frame.copy()
    frame.loc[[4, 9], "design_weight"] = 0.0
    survey = _survey(frame, tmp_path)
    with pytest.raises(InputError, match=r"2 respondent row\(s\) have a design weight of 0") as e:
        _clean(survey, {}, None)
    assert e.value.rows == [5, 10] and e.value.variable == "design_weight"
    _no_ids_in(str(e.value), frame["respondent_id"])
    cleaned, flow = _clean(survey, {"zero_weights": {"action": "exclude"}}, None)
    assert flow.set_index("rule").loc["zero_weights", "excluded"] == 2
    assert len(cleaned.data) == 28 and (cleaned.data["design_weight"] > 0).all()


# -- items nobody answered ----------------------------------------------------------------------
def test_an_item_nobody_answered_is_named_at_ingest_with_what_to_do(frame, tmp_path):
    frame = frame.copy()
    frame["trust_police"] = 9.0  # everybody refused
    survey = _survey(frame, tmp_path)
    with pytest.raises(InputError, match=r"1 item\(s\) have no valid answer") as e:
        _clean(survey, {}, None)
    assert "trust_police (refused 30)" in str(e.value)
    assert "remove it from the instrument" in str(e.value)


def test_a_grid_cell_asked_in_no_ballot_is_named(tmp_path):
    frame = coded_export(n=40, seed=2)
    cell = "acc_police__early_help"
    frame[cell] = -1.0  # empty by design in every ballot
    survey = _survey(frame, tmp_path)
    with pytest.raises(InputError, match=rf"{cell} \(by_design 40\)"):
        _clean(survey, {}, None)


def test_the_key_creation_line_is_not_kept_in_the_survey_log(frame, tmp_path, monkeypatch):
    """The survey's log is stored in the interim files: where the key came from must not be."""
    survey = _survey(frame, tmp_path)
    monkeypatch.delenv("SOCIAL_LICENCE_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    first, _ = clean(survey, INSTRUMENT, {}, None)  # creates .pseudonym_key
    second, _ = clean(survey, INSTRUMENT, {}, None)  # reads it
    assert (tmp_path / ".pseudonym_key").exists()
    assert first.log == second.log
    assert not any("pseudonymisation key" in line for line in first.log)
    assert np.array_equal(first.data.index, second.data.index)


def test_design_and_weighting_messages_give_rows_never_pseudonyms():
    from social_licence.design.design import SurveyDesign
    from social_licence.errors import EstimationError, WeightingError
    from social_licence.weighting.solver import rake

    ids = [f"P{i:05d}" for i in range(12)]
    pseudo = pseudonymise(ids, KEY)
    data = pd.DataFrame(
        {
            "sex": pd.Categorical(["Female", "Male"] * 6),
            "stratum": [1.0, 2.0] * 6,
            "w": 1.0,
        },
        index=pd.Index(pseudo.to_numpy(), name="respondent"),
    )
    data.iloc[[2, 7], data.columns.get_loc("stratum")] = np.nan
    data.iloc[[4], data.columns.get_loc("sex")] = None
    with pytest.raises(EstimationError, match=r"missing values in rows 3, 8") as e:
        SurveyDesign(data, weights="w", strata="stratum")
    _no_ids_in(str(e.value), ids)
    with pytest.raises(WeightingError, match=r"missing for 1 respondents \(rows 5\)") as e:
        rake(data, {"sex": {"Female": 0.5, "Male": 0.5}}, "w")
    _no_ids_in(str(e.value), ids)
