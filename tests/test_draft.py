"""`social-licence init` drafts an analysis from an export's own metadata.

Each export is drafted through the real command line; the three files must validate against
`workflow/schemas/`, and the ingest stage (`stages.run_ingest`, as the workflow runs it) must read
the export with the drafted instrument. Numbers read through the drafted instrument (counts of a
category, missing values by reason) are checked against counts made by hand with pyreadstat or
pandas straight from the file. Exports: the bundled parents' .sav and its Qualtrics CSV, the
campus example (.sav and CSV, one row per rating), the third-party SPSS fixtures from the
pyreadstat test suite, and Stata and SPSS files written here with pyreadstat.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import pyreadstat
import pytest
import yaml
from conftest import DATA

from social_licence.cli import main
from social_licence.errors import InputError
from social_licence.ingest.draft import draft_analysis, missing_reason
from social_licence.ingest.formats import read_survey
from social_licence.ingest.interim import read_interim
from social_licence.stages import run_ingest
from social_licence.survey.instrument import load_instrument

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "workflow" / "schemas"
PARENTS = ROOT / "data" / "raw" / "example"
CAMPUS = ROOT / "data" / "raw" / "campus"
# Third-party SPSS fixtures (pyreadstat's test files), vendored with their credits
REFERENCE_SPSS = DATA / "reference" / "spss"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("SOCIAL_LICENCE_KEY", "draft-tests")


def _need_reference() -> None:
    assert REFERENCE_SPSS.is_dir(), f"the vendored SPSS fixtures are missing: {REFERENCE_SPSS}"


def _init(export: Path, out: Path, *flags: str) -> dict[str, dict]:
    """Run the command; validate the drafted files against the schemas; return them parsed."""
    assert main(["init", str(export), "--out", str(out), *flags]) == 0
    parsed = {}
    for name, schema in (("config", "config"), ("instrument", "instrument"), ("models", "models")):
        content = yaml.safe_load((out / f"{name}.yaml").read_text(encoding="utf-8"))
        jsonschema.validate(
            content, yaml.safe_load((SCHEMAS / f"{schema}.schema.yaml").read_text())
        )
        parsed[name] = content
    return parsed


def _ingest(export: Path, out: Path, drafted: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The workflow's ingest stage on the drafted analysis: the cleaned frame and the flow table."""
    cfg = drafted["config"]
    run_ingest(
        export,
        out / "instrument.yaml",
        None,
        cfg["survey"],
        cfg["cleaning"],
        out / "survey.parquet",
        out / "flow.csv",
    )
    return read_interim(out / "survey.parquet").data, pd.read_csv(out / "flow.csv")


def _read(export: Path, out: Path, drafted: dict):
    """The export read with the drafted instrument, before any cleaning rule."""
    rename = drafted["config"]["survey"]["rename"] or None
    return read_survey(export, load_instrument(out / "instrument.yaml"), rename=rename)


def _variables(drafted: dict) -> dict[str, dict]:
    return {v["name"]: v for v in drafted["instrument"]["variables"]}


def _analysis_names(drafted: dict) -> set[str]:
    """Every name the draft proposes for analysis: groups, model terms, grid items and roles."""
    inst = drafted["instrument"]
    names = set(drafted["config"]["estimation"]["groups"])
    for m in drafted["models"]["models"]:
        names |= set(m["formula"].replace("~", "+").replace("*", "+").replace(" ", "").split("+"))
    names |= {v["name"] for v in inst["variables"] if v.get("type") not in ("id", "identifier")}
    return names


def _review_lines(tmp: Path) -> list[str]:
    return [
        line
        for name in ("config.yaml", "instrument.yaml", "models.yaml")
        for line in (tmp / name).read_text(encoding="utf-8").splitlines()
        if "# review:" in line
    ]


# --------------------------------------------------------------------------------------------
# The parents' example
# --------------------------------------------------------------------------------------------
def test_parents_sav_drafts_the_questionnaire_its_file_describes(tmp_path):
    export = PARENTS / "parents.sav"
    d = _init(
        export,
        tmp_path,
        "--id",
        "respondent_id",
        "--weight",
        "design_weight",
        "--strata",
        "stratum",
        "--psu",
        "psu",
    )
    inst = d["instrument"]
    assert inst["id"] == "respondent_id"
    assert set(inst["identifiers"]) == {"panel_id", "email", "postcode", "comment"}
    assert not set(inst["identifiers"]) & _analysis_names(d)
    assert inst["design"] == {"weight": "design_weight", "strata": "stratum", "psu": "psu"}
    assert d["config"]["weighting"] == {"method": "supplied", "covariates": []}
    grids = inst["grids"]
    # the acceptability battery is two-way: 6 data types x 4 purposes, named acc_{row}__{column}
    assert grids["acc"]["variable"] == "acc_{row}__{column}"
    assert list(grids["acc"]["rows"]) == [
        "health",
        "school",
        "police",
        "social_care",
        "benefits_tax",
        "housing",
    ]
    assert list(grids["acc"]["columns"]) == [
        "early_help",
        "risk_scoring",
        "planning",
        "eligibility",
    ]
    # labels split into row and column parts; the hand-written instrument has the same purposes
    hand = yaml.safe_load((ROOT / "config" / "instrument.yaml").read_text(encoding="utf-8"))
    assert grids["acc"]["columns"] == hand["grids"]["acceptability"]["columns"]
    assert grids["acc"]["rows"]["social_care"] == "children's social care"
    _, meta = pyreadstat.read_sav(str(export), metadataonly=True)
    drafted = load_instrument(tmp_path / "instrument.yaml")
    for name, label in meta.column_names_to_labels.items():
        if name.startswith(("acc_", "trust_", "rights_")):
            assert drafted[name].label == label, name  # the template rebuilds every item label
    assert list(grids["trust"]["rows"]) == [
        "nhs",
        "schools",
        "council",
        "government",
        "police",
        "private",
    ]
    assert list(grids["rights"]["rows"]) == ["consent", "view", "opt_out"]
    trust = inst["scales"][grids["trust"]["scale"]]
    assert trust["ordered"] is True
    assert trust["codes"] == {
        1: "Not at all",
        2: "Not very much",
        3: "A fair amount",
        4: "A great deal",
    }
    assert trust["missing"] == {8: "dont_know", 9: "refused"}
    assert trust["positive"] == [3, 4]
    acc = inst["scales"][grids["acc"]["scale"]]
    # -1 "Not asked (split ballot)": missing by design, as config/instrument.yaml has it
    assert acc["missing"] == {-1: "by_design", 8: "dont_know", 9: "refused"}
    v = _variables(d)
    assert v["attention_check"]["pass"] == [2]  # 'Tend to disagree', read from the question
    assert v["region"]["type"] == "categorical"  # 12 named regions are not a scale
    assert v["income_band"]["type"] == "ordinal"  # ordinal measurement level in the file
    assert d["config"]["cleaning"]["straightliners"] == {
        "enabled": True,
        "grid": "acc",
        "min_items": 10,
    }
    assert d["config"]["survey"]["layout"] == "wide"


def test_parents_sav_drafted_ingest_counts_match_the_file_and_clean_like_the_hand_instrument(
    tmp_path,
):
    export = PARENTS / "parents.sav"
    d = _init(export, tmp_path, "--id", "respondent_id", "--weight", "design_weight")
    raw, _ = pyreadstat.read_sav(str(export), user_missing=True)
    survey = _read(export, tmp_path, d)
    assert int((survey.data["ethnicity"] == "Black").sum()) == int((raw["ethnicity"] == 4).sum())
    why = survey.data["trust_police__reason"]
    assert int((why == "dont_know").sum()) == int((raw["trust_police"] == 8).sum())
    assert int((why == "refused").sum()) == int((raw["trust_police"] == 9).sum())
    assert int((survey.data["region__reason"] == "refused").sum()) == int(
        (raw["region"] == 99).sum()
    )
    assert "email" not in survey.data.columns and "comment" not in survey.data.columns
    # the drafted rules remove exactly the respondents the hand-written instrument's rules remove
    frame, flow = _ingest(export, tmp_path, d)
    hand = tmp_path / "hand"
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    run_ingest(
        export,
        ROOT / "config" / "instrument.yaml",
        None,
        config["survey"],
        config["cleaning"],
        hand / "survey.parquet",
        hand / "flow.csv",
    )
    expected = pd.read_csv(hand / "flow.csv")
    assert flow[["rule", "excluded", "remaining"]].equals(
        expected[["rule", "excluded", "remaining"]]
    )
    assert len(frame) == expected["remaining"].iloc[-1]


def test_parents_qualtrics_csv_drops_every_identifier_and_maps_odd_names(tmp_path):
    export = PARENTS / "parents_qualtrics.csv"
    d = _init(export, tmp_path, "--id", "ExternalReference")
    inst = d["instrument"]
    for ident in (
        "IPAddress",
        "RecipientEmail",
        "RecipientFirstName",
        "RecipientLastName",
        "LocationLatitude",
        "LocationLongitude",
        "Q4",
        "Q22",
        "PanelID",
        "ResponseId",
        "StartDate",
    ):
        assert ident in inst["identifiers"], ident
    assert not set(inst["identifiers"]) & _analysis_names(d)
    assert d["config"]["survey"]["rename"] == {"Duration (in seconds)": "duration_s"}
    assert d["config"]["weighting"] == {"method": "none", "covariates": []}  # DesignWeight is not used unasked
    assert _variables(d)["DesignWeight"]["type"] == "numeric"
    for q in ("Q15", "Q16", "Q17", "Q18", "Q19", "Q21"):
        assert q in inst["grids"], q
    assert list(inst["grids"]["Q19"]["rows"].values())[0] == "the NHS"
    # without labels, codes outside the answers 1-5 are drafted missing for review
    assert inst["scales"][inst["grids"]["Q15"]["scale"]]["missing"] == {
        -1: "system",
        8: "system",
        9: "system",
    }
    raw = pd.read_csv(
        export, skiprows=[1, 2], encoding="utf-8-sig", keep_default_na=False, dtype=str
    )
    survey = _read(export, tmp_path, d)
    assert int((survey.data["Q5"] == "4").sum()) == int((raw["Q5"] == "4").sum())
    assert int((survey.data["Q15_3__reason"] == "system").sum()) == int(
        raw["Q15_3"].isin(["-1", "8", "9"]).sum()
    )
    assert float(survey.data["duration_s"].sum()) == float(
        raw["Duration (in seconds)"].astype(float).sum()
    )
    _, flow = _ingest(export, tmp_path, d)
    assert flow.loc[flow["rule"] == "received", "remaining"].item() == len(raw)
    assert flow.loc[flow["rule"] == "duplicates", "excluded"].item() == int(
        raw["ExternalReference"].duplicated().sum()
    )


# --------------------------------------------------------------------------------------------
# The campus example: one row per rating
# --------------------------------------------------------------------------------------------
def test_campus_sav_is_drafted_long_with_the_scenario_as_item_column(tmp_path):
    export = CAMPUS / "campus.sav"
    d = _init(export, tmp_path, "--id", "student_id")
    cfg, inst = d["config"], d["instrument"]
    assert cfg["survey"]["layout"] == "long" and cfg["survey"]["item"] == "scenario"
    # the unit of a long export is (respondent, item): only a repeat of both is a duplicate
    assert cfg["cleaning"]["duplicates"] == {"enabled": True}
    assert cfg["cleaning"]["attention_check"] == {"enabled": True, "variable": "attention"}
    assert cfg["weighting"] == {"method": "none", "covariates": []}
    assert inst["design"]["weight"] is None
    assert set(inst["identifiers"]) == {"email", "comment"}
    v = _variables(d)
    assert v["scenario"]["role"] == "item"
    assert v["attention"]["pass"] == [2]
    for rating_level in ("framing", "position", "acceptable"):
        assert v[rating_level]["role"] == "rating", rating_level
    assert cfg["estimation"]["groups"] == [
        "year_of_study",
        "gender",
        "international",
        "field_of_study",
    ]
    grids = {tuple(g["rows"]): g for g in inst["grids"].values()}
    ten = grids[("comfort", "benefit", "fairness")]
    five = grids[("trust", "risk")]
    scale10 = inst["scales"][ten["scale"]]
    assert scale10["ordered"] is True
    assert list(scale10["codes"]) == list(range(11))  # end points labelled, 1-9 numbered
    assert scale10["codes"][0] == "Not at all" and scale10["codes"][10] == "Completely"
    assert scale10["missing"] == {98: "dont_know", 99: "refused"}
    assert inst["scales"][five["scale"]]["missing"] == {8: "dont_know"}
    lines = (tmp_path / "config.yaml").read_text().splitlines()
    assert any(line.startswith("  item: scenario  # review:") for line in lines)
    _, meta = pyreadstat.read_sav(str(export), metadataonly=True)
    drafted = load_instrument(tmp_path / "instrument.yaml")
    for name in ("comfort", "benefit", "fairness", "trust", "risk"):
        assert drafted[name].label == meta.column_names_to_labels[name], name


def test_campus_sav_drafted_ingest_keeps_every_rating_and_counts_match_the_file(tmp_path):
    export = CAMPUS / "campus.sav"
    d = _init(export, tmp_path, "--id", "student_id")
    raw, _ = pyreadstat.read_sav(str(export), user_missing=True)
    survey = _read(export, tmp_path, d)
    assert len(survey.data) == len(raw) == 1800
    assert int((survey.data["comfort__reason"] == "dont_know").sum()) == int(
        (raw["comfort"] == 98).sum()
    )
    assert int((survey.data["comfort__reason"] == "refused").sum()) == int(
        (raw["comfort"] == 99).sum()
    )
    assert int((survey.data["comfort"] == "7").sum()) == int((raw["comfort"] == 7).sum())
    assert int((survey.data["gender__reason"] == "refused").sum()) == int(
        (raw["gender"] == 9).sum()
    )
    assert int((survey.data["acceptable"] == "Yes").sum()) == int((raw["acceptable"] == 1).sum())
    # Cleaning knows the declared long layout: no rating is dropped as a duplicate, and every
    # exclusion is counted in rows and in respondents
    cleaned, flow = _ingest(export, tmp_path, d)
    flow = flow.set_index("rule")
    assert flow.loc["duplicates", "excluded"] == 0
    assert flow.loc["conflicting_duplicates", "excluded"] == 0
    steps = flow.drop(index=["received", "analysed"])
    assert len(cleaned) == 1800 - steps["excluded"].sum() == flow.loc["analysed", "remaining"]
    assert cleaned.index.nunique() == 600 - steps["respondents_excluded"].sum()


def test_campus_csv_without_labels_is_still_long_and_keeps_0_10_ratings_ordered(tmp_path):
    export = CAMPUS / "campus.csv"
    d = _init(export, tmp_path, "--id", "student_id")
    assert d["config"]["survey"]["layout"] == "long"
    assert d["config"]["survey"]["item"] == "scenario"
    v = _variables(d)
    assert v["comfort"]["type"] == "ordinal" and list(v["comfort"]["codes"]) == list(range(11))
    assert v["comfort"]["missing"] == {98: "system", 99: "system"}
    assert set(d["instrument"]["identifiers"]) == {"email", "comment"}
    raw = pd.read_csv(export)
    survey = _read(export, tmp_path, d)
    assert int(survey.data["comfort__reason"].notna().sum()) == int(
        raw["comfort"].isin([98, 99]).sum()
    )
    assert int((survey.data["scenario"] == "3").sum()) == int((raw["scenario"] == 3).sum())


# --------------------------------------------------------------------------------------------
# Third-party and hand-made files
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["sample.zsav", "sample_missing.sav", "missing_test.sav", "simple_alltypes.sav"]
)
def test_third_party_spss_fixtures_draft_valid_files_that_ingest_reads(tmp_path, name):
    _need_reference()
    export = REFERENCE_SPSS / name
    d = _init(export, tmp_path)
    survey = _read(export, tmp_path, d)
    raw, _ = pyreadstat.read_sav(str(export), user_missing=True)
    assert len(survey.data) == len(raw)
    for ident in d["instrument"]["identifiers"]:
        assert ident not in survey.data.columns
    _ingest(export, tmp_path, d)


def test_sample_missing_user_missing_codes_keep_their_counts(tmp_path):
    _need_reference()
    export = REFERENCE_SPSS / "sample_missing.sav"
    d = _init(export, tmp_path)
    v = _variables(d)
    assert v["myord"]["type"] == "ordinal" and v["myord"]["codes"] == {
        1: "low",
        2: "medium",
        3: "high",
    }
    assert set(v["myord"]["missing"]) == {-1, -2, -3}
    assert v["mylabl"]["codes"] == {1: "Male", 2: "Female"}
    raw, _ = pyreadstat.read_sav(str(export), user_missing=True)
    survey = _read(export, tmp_path, d)
    assert int((survey.data["mylabl"] == "Male").sum()) == int((raw["mylabl"] == 1).sum())
    assert int(survey.data["myord"].isna().sum()) == int(
        (raw["myord"].isna() | (raw["myord"] < 0)).sum()
    )
    # the missing range 2000-3000 of mynum is applied from the file at ingest
    in_range = raw["mynum"].between(2000, 3000)
    assert in_range.any() and survey.data.loc[in_range.to_numpy(), "mynum"].isna().all()
    assert set(d["instrument"]["identifiers"]) >= {"mychar", "mydate", "dtime"}


def test_stata_extended_missing_and_labelled_dont_know_are_drafted(tmp_path):
    frame = pd.DataFrame(
        {
            "caseid": [f"C{i:03d}" for i in range(8)],
            "q1": [1, 2, 3, 4, 5, "a", "b", 2],
            "q2": [2, 2, 3, 97, 1, 4, 5, 1],
            "region": [1, 2, 3, 1, 2, 3, 1, 2],
        }
    )
    frame["q1"] = frame["q1"].astype(object)
    path = tmp_path / "archive.dta"
    agree = {1: "Strongly disagree", 2: "Disagree", 3: "Neither", 4: "Agree", 5: "Strongly agree"}
    pyreadstat.write_dta(
        frame,
        str(path),
        column_labels=[
            "Case",
            "Opinion: schools should share records",
            "Opinion: the NHS should share records",
            "Region",
        ],
        variable_value_labels={
            "q1": {**agree, "a": "Don't know", "b": "Refusal"},
            "q2": {**agree, 97: "Weiß nicht"},
            "region": {1: "North", 2: "Centre", 3: "South"},
        },
        missing_user_values={"q1": ["a", "b"]},
    )
    out = tmp_path / "draft"
    d = _init(path, out, "--id", "caseid")
    v = _variables(d)
    assert v["q2"]["missing"] == {97: "dont_know"}  # German "don't know", by its label
    assert v["q1"]["codes"] == agree and v["q1"]["type"] == "ordinal"  # Likert wording
    notes = (out / "instrument.yaml").read_text(encoding="utf-8")
    assert "Stata extended missing .a read as dont_know" in notes
    survey = _read(path, out, d)
    assert list(survey.data["q1__reason"].iloc[5:7]) == ["dont_know", "refused"]
    assert survey.data["q2__reason"].iloc[3] == "dont_know"
    assert int((survey.data["q1"] == "Disagree").sum()) == 2


def test_a_column_called_weight_is_not_a_weight_unless_asked(tmp_path):
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(6)],
            "weight": [61.5, 80.2, 72.0, 55.1, 90.3, 68.8],  # body weight in kg
            "sat": [1, 2, 3, 4, 5, 3],
        }
    )
    path = tmp_path / "clinic.sav"
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels=["ID", "Body weight (kg)", "Satisfaction"],
        variable_value_labels={
            "sat": {
                1: "Very dissatisfied",
                2: "Dissatisfied",
                3: "Neutral",
                4: "Satisfied",
                5: "Very satisfied",
            }
        },
    )
    plain = _init(path, tmp_path / "plain")
    assert plain["config"]["weighting"] == {"method": "none", "covariates": []}
    assert plain["instrument"]["design"]["weight"] is None
    # the analysis frame makes its own `weight` column, so the export's is read under another name
    assert plain["config"]["survey"]["rename"] == {"weight": "weight_var"}
    assert _variables(plain)["weight_var"]["type"] == "numeric"
    assert plain["instrument"]["id"] == "id"  # proposed: named like an ID, unique
    assert any(line.startswith("id: id  # review:") for line in _review_lines(tmp_path / "plain"))
    weighted = _init(path, tmp_path / "weighted", "--weight", "weight")
    assert weighted["config"]["weighting"] == {"method": "supplied", "covariates": []}
    assert weighted["instrument"]["design"]["weight"] == "weight_var"
    assert _variables(weighted)["weight_var"]["type"] == "weight"
    survey = _read(path, tmp_path / "weighted", weighted)
    assert survey.data["weight_var"].sum() == pytest.approx(frame["weight"].sum(), abs=1e-9)
    # a supplied weight must be positive: an error naming file, variable, value and rows
    frame.loc[[2, 4], "weight"] = [0.0, -1.0]
    bad = tmp_path / "bad.sav"
    pyreadstat.write_sav(frame, str(bad))
    with pytest.raises(
        InputError, match=r"no positive weight.*bad\.sav.*variable: weight.*value: 0\.0.*rows: 3, 5"
    ):
        draft_analysis(bad, tmp_path / "bad", weight="weight")


def test_identifiers_are_told_from_questions_that_mention_them(tmp_path):
    agree = {1: "Strongly disagree", 2: "Disagree", 3: "Neither", 4: "Agree", 5: "Strongly agree"}
    frame = pd.DataFrame(
        {
            "RecipientLastName": ["Smith", "Jones", "Brown", "Smith"],
            "IPAddress": ["192.0.2.1", "192.0.2.7", "192.0.2.9", "192.0.2.4"],
            "e_mail": ["a@x.example", "b@x.example", "c@x.example", "d@x.example"],
            "loc_use": [1.0, 2.0, 5.0, 4.0],
            "dob": [1990.0, 1985.0, 1979.0, 2001.0],
        }
    )
    path = tmp_path / "mentions.sav"
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels=[
            "Last name",
            "IP address",
            "Email",
            "How acceptable is it to use your location data for research?",
            "Year of birth",
        ],
        variable_value_labels={"loc_use": agree},
    )
    d = _init(path, tmp_path / "out")
    assert set(d["instrument"]["identifiers"]) == {
        "RecipientLastName",
        "IPAddress",
        "e_mail",
        "dob",
    }
    assert _variables(d)["loc_use"]["type"] == "ordinal"  # a question about location data


# --------------------------------------------------------------------------------------------
# Review comments, the command, missing-value wording
# --------------------------------------------------------------------------------------------
def test_every_drafted_decision_carries_a_review_comment(tmp_path):
    d = _init(CAMPUS / "campus.sav", tmp_path, "--id", "student_id")
    lines = (tmp_path / "instrument.yaml").read_text(encoding="utf-8").splitlines()
    grid_lines = lines[lines.index("grids:") :]
    for grid in d["instrument"]["grids"]:
        header = next(line for line in grid_lines if line.startswith(f"  {grid}:"))
        assert "# review:" in header
    assert all("# review:" in line for line in lines if line.strip().startswith("ordered:"))
    assert all("# review:" in line for line in lines if "type: identifier" in line)
    config = (tmp_path / "config.yaml").read_text(encoding="utf-8").splitlines()
    for key in ("layout:", "item:", "method:", "groups:", "duplicates:", "attention_check:"):
        assert "# review:" in next(line for line in config if line.strip().startswith(key)), key


def test_the_command_refuses_to_overwrite_and_names_an_unknown_column(tmp_path, capsys):
    export = CAMPUS / "campus.sav"
    _init(export, tmp_path, "--id", "student_id")
    before = (tmp_path / "instrument.yaml").read_bytes()
    assert main(["init", str(export), "--out", str(tmp_path), "--id", "student_id"]) == 2
    assert "already exist" in capsys.readouterr().err
    assert (tmp_path / "instrument.yaml").read_bytes() == before
    assert main(["init", str(export), "--out", str(tmp_path / "x"), "--id", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--id" in err and "nope" in err and "campus.sav" in err
    assert not (tmp_path / "x").exists()


def test_the_installed_command_drafts_an_analysis(tmp_path):
    """The console script declared in pyproject.toml, run as a user runs it."""
    script = Path(sys.executable).parent / "social-licence"
    done = subprocess.run(
        [
            str(script),
            "init",
            str(CAMPUS / "campus.sav"),
            "--out",
            str(tmp_path),
            "--id",
            "student_id",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "long form (one row per rating; item column scenario)" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.yaml",
        "instrument.yaml",
        "models.yaml",
    ]


def test_drafting_is_deterministic(tmp_path):
    a = _init(CAMPUS / "campus.sav", tmp_path / "a", "--id", "student_id")
    b = _init(CAMPUS / "campus.sav", tmp_path / "b", "--id", "student_id")
    assert json.dumps(a["instrument"]) == json.dumps(b["instrument"])


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("Don't know", "dont_know"),
        ("Ne sait pas", "dont_know"),
        ("NSP", "dont_know"),
        ("Weiß nicht", "dont_know"),
        ("No sabe", "dont_know"),
        ("Weet niet", "dont_know"),
        ("Non so", "dont_know"),
        ("Prefer not to say", "refused"),
        ("Refus", "refused"),
        ("Keine Angabe", "refused"),
        ("No contesta", "refused"),
        ("Préfère ne pas répondre", "refused"),
        ("Sans objet", "not_asked"),
        ("Not asked (split ballot)", "by_design"),
        ("Not asked", "not_asked"),
        ("Trifft nicht zu", "not_asked"),
        ("No aplica", "not_asked"),
        ("Niet van toepassing", "not_asked"),
        ("Sans réponse", "system"),
        ("Très satisfait", None),
        ("Sehr gut", None),
        ("No", None),
        ("No service used", None),
        ("Nein", None),
    ],
)
def test_missing_codes_are_recognised_by_their_label_in_six_languages(label, reason):
    assert missing_reason(label) == reason


def test_existing_example_configs_still_validate_against_the_extended_schema():
    schema = yaml.safe_load((SCHEMAS / "config.schema.yaml").read_text())
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    jsonschema.validate(config, schema)
    no_targets = {**config, "weighting": {"bounds": [0.3, 3.0]}}
    with pytest.raises(jsonschema.ValidationError, match="targets_file"):
        jsonschema.validate(no_targets, schema)  # raking (the default method) needs targets
    jsonschema.validate({**config, "weighting": {"method": "none"}}, schema)
