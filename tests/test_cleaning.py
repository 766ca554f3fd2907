"""Cleaning: withdrawals first, then duplicates, speeders, straight-liners, attention check.

The test export plants each problem in known rows (below), so every expected count in the flow
table is worked out by hand here; on the bundled example the planted cases are those the
generator lists in truth.json, and the counts are re-derived from the raw codes with pandas.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml
from test_ingest_support import BALLOTS, INSTRUMENT, KEY, ROOT, coded_export, write_sav

from social_licence.errors import ConfigError, InputError
from social_licence.ingest.cleaning import clean, read_withdrawals, resolve_rules
from social_licence.ingest.formats import read_survey
from social_licence.ingest.privacy import pseudonymise

ACC = INSTRUMENT.grids["acceptability"]


def planted() -> pd.DataFrame:
    """40 respondents plus 3 repeated rows, with every QA problem in known rows.

    - withdrawals: P10001, P10002, P10003 (row 2 also repeated at the end) and one unknown ID
    - duplicates: rows 5 and 6 repeated at the end (the repeat of row 6 says sex = Male)
    - speeders: everyone takes 1000 s except rows 10 (100 s) and 11 (290 s); median 1000 s,
      threshold 0.3 x 1000 = 300 s; row 12 takes 301 s and is kept
    - straight-liners: rows 15 and 16 answer 3 to all 12 items asked; row 17 answers 3 to 9 and
      "Don't know" to 3 (9 answers < 10); row 18 answers 3 to 11 items and 4 to one
    - attention: everyone answers 2 ('Tend to disagree') except rows 20, 21 (4) and 22 (9, refused)
    """
    frame = coded_export(n=40, seed=5)
    frame["duration_s"] = 1000.0
    frame.loc[[10, 11, 12], "duration_s"] = [100.0, 290.0, 301.0]
    frame["attention_check"] = 2.0
    frame.loc[[20, 21, 22], "attention_check"] = [4.0, 4.0, 9.0]
    for row in [15, 16, 17, 18]:
        asked = [v for v, _r, c in ACC.cells() if c in BALLOTS[int(frame.loc[row, "ballot"])]]
        frame.loc[row, asked] = 3.0
        if row == 17:
            frame.loc[row, asked[:3]] = 8.0
        if row == 18:
            frame.loc[row, asked[0]] = 4.0
    sex6 = frame.loc[6, "sex"]
    extra = frame.loc[[2, 5, 6]].copy()
    extra.loc[6, "sex"] = 2.0 if sex6 != 2.0 else 1.0
    return pd.concat([frame, extra], ignore_index=True)


@pytest.fixture(scope="module")
def frame():
    return planted()


@pytest.fixture(scope="module")
def survey(frame, tmp_path_factory):
    return read_survey(write_sav(frame, tmp_path_factory.mktemp("c") / "parents.sav"), INSTRUMENT)


WITHDRAWN = ["P10001", "P10002", "P10003", "P99999"]
# The planted export lists an unknown withdrawal ID and repeats row 6 with a different answer:
# these tests go on past both, whose own rules are tested below.
GO_ON = {"conflicting_duplicates": {"action": "keep"}}


def _clean(survey, rules=None, withdrawals=WITHDRAWN):
    return clean(
        survey, INSTRUMENT, {**GO_ON, **(rules or {})}, withdrawals, key=KEY, unmatched="continue"
    )


def test_flow_table_counts_every_rule_in_order(survey):
    cleaned, flow = _clean(survey)
    assert list(flow.columns) == ["step", "rule", "excluded", "remaining", "detail"]
    assert flow["rule"].tolist() == [
        "received",
        "withdrawals",
        "duplicates",
        "conflicting_duplicates",
        "zero_weights",
        "speeders",
        "straightliners",
        "attention_check",
        "analysed",
    ]
    assert flow["excluded"].tolist() == [0, 4, 1, 1, 0, 2, 2, 3, 0]
    assert flow["remaining"].tolist() == [43, 39, 38, 37, 37, 35, 33, 30, 30]
    assert flow["step"].tolist() == list(range(9))
    assert len(cleaned.data) == 30
    assert "median (1000)" in flow.loc[5, "detail"] and "below 300" in flow.loc[5, "detail"]
    assert "1 listed ID(s) matched no respondent" in flow.loc[1, "detail"]
    assert cleaned.meta["cleaning"]["flow"] == flow.to_dict("records")


def test_the_right_respondents_are_excluded(survey, frame):
    cleaned, _ = _clean(survey)
    ids = frame["respondent_id"]
    gone = {f"P{10001 + r}" for r in [0, 1, 2, 10, 11, 15, 16, 20, 21, 22]}
    expected = pseudonymise(pd.Series(sorted(set(ids) - gone)), KEY)
    assert sorted(cleaned.data.index) == sorted(expected)
    assert len(set(cleaned.data.index)) == len(cleaned.data)


def test_withdrawals_come_before_duplicates_and_the_log_says_how_many_never_who(survey):
    cleaned, flow = _clean(survey)
    # row 2 and its repeat are both withdrawals, not a duplicate; row 5's repeat is an exact
    # resubmission, row 6's repeat a conflicting one
    assert flow.loc[1, "excluded"] == 4
    assert flow.loc[2, "excluded"] == 1 and flow.loc[3, "excluded"] == 1
    line = next(x for x in cleaned.log if x.startswith("withdrawals:"))
    assert (
        "4 respondent row(s) removed" in line and "4 ID(s) listed, 1 matched no respondent" in line
    )
    assert not any(w in "\n".join(cleaned.log) for w in WITHDRAWN)


def test_duplicates_keep_first_or_last(survey, frame):
    first, _ = _clean(survey)
    last, _ = _clean(survey, {"duplicates": {"keep": "last"}})
    pid = pseudonymise(["P10007"], KEY)[0]  # row 6, repeated with the other sex
    labels = INSTRUMENT["sex"].codes
    assert first.data.loc[pid, "sex"] == labels[int(frame.loc[6, "sex"])]
    assert (
        last.data.loc[pid, "sex"] == labels[int(frame.loc[42, "sex"])] != first.data.loc[pid, "sex"]
    )


@pytest.mark.parametrize(
    ("rule", "step", "final"),
    [
        ("duplicates", 2, None),
        ("speeders", 5, 32),
        ("straightliners", 6, 32),
        ("attention_check", 7, 33),
    ],
)
def test_each_rule_can_be_switched_off(survey, rule, step, final):
    if rule == "duplicates":
        with pytest.raises(InputError, match="duplicates rule is disabled") as err:
            _clean(survey, {rule: {"enabled": False}})
        assert err.value.rows == [6, 7, 42, 43]  # 1-based rows of the two repeated IDs
        return
    cleaned, flow = _clean(survey, {rule: {"enabled": False}})
    assert flow.loc[step, "excluded"] == 0 and flow.loc[step, "detail"] == "rule disabled"
    assert len(cleaned.data) == final


def test_parameters_change_what_is_excluded(survey):
    # threshold 0.1 x 1000 = 100 s: 100 s is not below it, so nobody is a speeder
    _, flow = _clean(survey, {"speeders": {"share_of_median": 0.1}})
    assert flow.loc[5, "excluded"] == 0
    # 9 answered items are enough at min_items 9: row 17 joins rows 15 and 16
    _, flow = _clean(survey, {"straightliners": {"min_items": 9}})
    assert flow.loc[6, "excluded"] == 3
    # no answer passes when missing: pass
    _, flow = _clean(survey, {"attention_check": {"missing": "pass"}})
    assert flow.loc[7, "excluded"] == 2


def test_withdrawals_file(survey, tmp_path):
    path = tmp_path / "withdrawals.csv"
    path.write_text("respondent_id,date\nP10001,2026-01-02\n P10002 ,2026-01-03\n")
    assert read_withdrawals(path) == {"P10001", "P10002"}
    _, flow = _clean(survey, withdrawals=path)
    assert flow.loc[1, "excluded"] == 2
    empty = tmp_path / "none.csv"
    empty.write_text("respondent_id\n")
    assert read_withdrawals(empty) == set()
    with pytest.raises(InputError, match="does not exist"):
        clean(survey, INSTRUMENT, {}, tmp_path / "missing.csv", key=KEY)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id\nP10001\n")
    with pytest.raises(InputError, match="respondent_id"):
        read_withdrawals(wrong)


def test_unknown_rules_and_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="speedrs"):
        resolve_rules({"speedrs": {}})
    with pytest.raises(ConfigError, match="treshold"):
        resolve_rules({"speeders": {"treshold": 0.3}})
    with pytest.raises(ConfigError, match="share_of_median"):
        resolve_rules({"speeders": {"share_of_median": 1.5}})
    with pytest.raises(ConfigError, match="min_items"):
        resolve_rules({"straightliners": {"min_items": 1}})
    assert resolve_rules(None)["straightliners"] == {
        "enabled": True,
        "grid": "acceptability",
        "min_items": 10,
    }


# -- the bundled example ------------------------------------------------------------------------
EXAMPLE = ROOT / "data" / "raw" / "example"


def test_example_flow_matches_an_independent_count_and_removes_every_planted_case():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    survey = read_survey(EXAMPLE / "parents.sav", INSTRUMENT)
    cleaned, flow = clean(
        survey, INSTRUMENT, config["cleaning"], EXAMPLE / "withdrawals.csv", key=KEY
    )

    # the same rules on the raw codes, with pandas only
    raw, _ = pyreadstat.read_sav(str(EXAMPLE / "parents.sav"), user_missing=True)
    listed = set(pd.read_csv(EXAMPLE / "withdrawals.csv", dtype=str)["respondent_id"].str.strip())
    expected = [len(raw)]
    raw = raw[~raw["respondent_id"].isin(listed)]
    expected.append(len(raw))
    raw = raw[~raw["respondent_id"].duplicated()]
    expected += [len(raw)] * 3  # duplicates; no conflicting duplicate or zero weight planted
    raw = raw[~(raw["duration_s"] < 0.3 * raw["duration_s"].median())]
    expected.append(len(raw))
    items = raw[ACC.variables].where(raw[ACC.variables].isin([1, 2, 3, 4, 5]))
    straight = (items.notna().sum(axis=1) >= 10) & (items.nunique(axis=1) == 1)
    raw = raw[~straight]
    expected.append(len(raw))
    raw = raw[raw["attention_check"] == 2]
    expected.append(len(raw))
    assert flow["remaining"].tolist()[:-1] == expected

    # every planted speeder, straight-liner and attention failure is gone; a planted duplicate
    # keeps its first interview only
    truth = json.loads((EXAMPLE / "truth.json").read_text())["generated_with"]["qa"]
    planted_ids = (
        set(truth["speeder"]) | set(truth["straight_liner"]) | set(truth["attention_failed"])
    )
    kept = set(cleaned.data.index)
    assert not kept & set(pseudonymise(sorted(planted_ids), KEY))
    assert flow.loc[2, "excluded"] == len(truth["duplicate"])
    assert not cleaned.data.index.duplicated().any()
    assert not np.isin(raw["respondent_id"], sorted(planted_ids)).any()
