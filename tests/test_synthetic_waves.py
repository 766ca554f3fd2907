"""The second wave of the synthetic parents' survey (synthetic/waves.py, data/raw/example_wave2/)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from social_licence.design.change import check_harmonised
from social_licence.errors import InputError
from social_licence.ingest.formats import read_survey
from social_licence.synthetic.parents import SEED, census_table, generate
from social_licence.synthetic.waves import CHANGE, OVERLAP, generate_waves, write_wave2

ROOT = Path(__file__).resolve().parents[1]
WAVE1 = ROOT / "data" / "raw" / "example"
WAVE2 = ROOT / "data" / "raw" / "example_wave2"
HARMONISED = ("lone_parent", "ethnicity", "acc_health__risk_scoring", "trust_nhs", "rights_consent")


def test_wave2_files_regenerate_byte_for_byte(tmp_path):
    paths = write_wave2(tmp_path, instrument=ROOT / "config" / "instrument.yaml")
    for path in paths:
        assert path.read_bytes() == (WAVE2 / path.name).read_bytes(), path.name


def test_wave1_of_the_pair_is_the_bundled_wave1():
    wave1, _ = generate_waves(200, 50, qa=False)
    pd.testing.assert_frame_equal(wave1, generate(200, SEED, qa=False))


def test_wave2_truth_states_the_change_and_the_overlap():
    truth = json.loads((WAVE2 / "truth.json").read_text())
    change = truth["change"]["quantities"]
    assert change["acceptable_by_group_and_purpose"]["lone_parent"]["Yes"]["risk_scoring"] == CHANGE
    for purpose in ("early_help", "planning", "eligibility"):
        assert change["acceptable_by_group_and_purpose"]["lone_parent"]["Yes"][purpose] == 0
    assert all(
        v == 0 for v in change["acceptable_by_group_and_purpose"]["lone_parent"]["No"].values()
    )
    # Independent check of the wave-1 level from the census table: share acceptable among
    # substantive answers of lone parents to risk-scoring items, population-weighted.
    table = census_table()
    cell = ((table["lone_parent"] == "Yes") & (table["purpose"] == "risk_scoring")).to_numpy()
    w = (table["population_share"] * table["p_answer"]).to_numpy()[cell]
    level = float(np.sum(table["p_acceptable"].to_numpy()[cell] * w) / w.sum())
    wave1 = truth["change"]["wave1"]["acceptable_by_group_and_purpose"]["lone_parent"]["Yes"]
    assert wave1["risk_scoring"] == pytest.approx(level, abs=1e-6)
    assert truth["census"]["acceptable_by_group_and_purpose"]["lone_parent"]["Yes"][
        "risk_scoring"
    ] == pytest.approx(level + CHANGE, abs=2e-6)
    assert truth["generated_with"]["panel_overlap"] == OVERLAP


def test_panel_members_share_their_respondent_id_and_no_one_else_does():
    one, _ = pyreadstat.read_sav(WAVE1 / "parents.sav", usecols=["respondent_id", "panel_id"])
    two, _ = pyreadstat.read_sav(WAVE2 / "parents_wave2.sav", usecols=["respondent_id", "panel_id"])
    panel = set(pd.read_csv(WAVE2 / "panel.csv")["respondent_id"])
    assert len(panel) == OVERLAP
    assert set(one["respondent_id"]) & set(two["respondent_id"]) == panel
    shared_panel_ids = set(one["panel_id"]) & set(two["panel_id"])
    assert len(shared_panel_ids) == OVERLAP


def test_the_two_exports_are_harmonised():
    surveys = {
        "wave1": read_survey(WAVE1 / "parents.sav"),
        "wave2": read_survey(WAVE2 / "parents_wave2.sav"),
    }
    # the same codes and labels in both waves for every harmonised variable: no error
    for name in HARMONISED:
        first, second = (surveys[w].meta["variables"][name] for w in ("wave1", "wave2"))
        assert first["value_labels"] == second["value_labels"], name
    assert check_harmonised(surveys, HARMONISED) is None


def test_a_relabelled_code_in_wave2_stops_with_wave_file_variable_and_value(tmp_path):
    frame, meta = pyreadstat.read_sav(
        WAVE2 / "parents_wave2.sav", usecols=list(HARMONISED), user_missing=True
    )
    labels = dict(meta.variable_value_labels)
    labels["lone_parent"] = {1.0: "Lone parent", 2.0: "No"}
    changed = tmp_path / "wave2_relabelled.sav"
    pyreadstat.write_sav(frame, changed, variable_value_labels=labels)
    surveys = {"wave1": read_survey(WAVE1 / "parents.sav"), "wave2": read_survey(changed)}
    with pytest.raises(InputError) as err:
        check_harmonised(surveys, HARMONISED)
    message = str(err.value)
    for part in ("wave 'wave2'", f"file: {changed}", "variable: lone_parent", "'Lone parent'"):
        assert part in message
