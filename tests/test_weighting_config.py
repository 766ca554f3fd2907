"""Target sets in config/targets.yaml: schema, checks of load_targets, and the bundled example.

The example_truth set must equal the synthetic population's margins in
data/raw/example/truth.json (the generator's known truth); the illustrative UK set's shares are
re-derived here by hand from the published counts and percentages its comments quote (Census 2021
TS003 for England and Wales, and Gingerbread's summary figures), written out in this file.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from itertools import product
from pathlib import Path

import numpy as np
import pytest
import yaml

from social_licence.errors import ConfigError, WeightingError
from social_licence.survey.instrument import load_instrument
from social_licence.weighting.targets import load_targets, rake_from_config

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "config" / "targets.yaml"
SCHEMA = ROOT / "workflow" / "schemas" / "targets.schema.yaml"
TRUTH = ROOT / "data" / "raw" / "example" / "truth.json"


@pytest.fixture(scope="module")
def instrument():
    return load_instrument(ROOT / "config" / "instrument.yaml")


@pytest.fixture(scope="module")
def example(instrument):
    from social_licence.ingest.formats import read_survey

    return read_survey(ROOT / "data" / "raw" / "example" / "parents.sav", instrument).data


def _write(tmp_path: Path, sets: dict) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"sets": sets}, sort_keys=False), encoding="utf-8")
    return path


def _margin(**extra):
    return {"variable": "sex", "source": "test", "date": "2026", **extra}


def test_targets_file_validates_against_its_schema():
    import jsonschema

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    targets = yaml.safe_load(TARGETS.read_text(encoding="utf-8"))
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(targets)]
    assert not errors, f"{TARGETS.name} does not validate: {errors}"


def test_schema_gives_every_key_a_description_and_a_default():
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))

    def walk(node, where):
        for key, sub in (node.get("properties") or {}).items():
            assert "description" in sub and "default" in sub, f"{where}.{key}"
            walk(sub, f"{where}.{key}")
        for key in ("additionalProperties", "items"):
            if isinstance(node.get(key), dict) and "properties" in node[key]:
                walk(node[key], f"{where}.{key}")

    walk(schema, "targets")
    for name, sub in schema["$defs"].items():
        walk(sub, name)


@pytest.mark.parametrize(
    ("margin", "message"),
    [
        (_margin(shares={"Female": 0.5, "Male": 0.5}, totals={"Female": 1, "Male": 1}), "shares"),
        ({"variable": "sex", "date": "2026", "shares": {"Female": 1.0}}, "source"),
        (_margin(shares={"Female": -0.1, "Male": 1.1}), "minimum"),
    ],
)
def test_schema_rejects_bad_margins(tmp_path, margin, message):
    import jsonschema

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"sets": {"s": {"margins": [margin]}}}, schema)
    with pytest.raises(ConfigError, match=message if message != "minimum" else "must be >= 0"):
        load_targets(_write(tmp_path, {"s": {"margins": [margin]}}), "s")


def test_example_truth_equals_the_synthetic_population_truth(instrument):
    truth = json.loads(TRUTH.read_text(encoding="utf-8"))["population"]
    ts = load_targets(TARGETS, "example_truth", instrument=instrument)
    by_name = {m.name: m for m in ts.margins}
    assert by_name["sex x age_band"].targets == truth["joint_shares"]["sex|age_band"]
    for var in ("region", "ethnicity", "income_band", "lone_parent"):
        assert by_name[var].targets == truth["shares"][var], var
    weighted = {"sex", "age_band", "region", "ethnicity", "income_band", "lone_parent"}
    assert {v for m in ts.margins for v in m.variables} == weighted
    assert set(truth["weighting_variables"]) == weighted
    for ref in ts.reference:
        assert ref.targets == truth["shares"][ref.variables[0]]


# The illustrative UK set, by hand. Census 2021 TS003 Household composition, England and Wales
# (Nomis NM_2023_1), single-family households with dependent children, as the comments of
# config/targets.yaml quote them:
TS003_MARRIED = 3_535_421  # married or civil partnership couple: dependent children
TS003_COHABITING = 1_120_941  # cohabiting couple family: with dependent children
TS003_LONE = 1_719_350  # lone parent family: with dependent children
# Gingerbread, "Single parents: facts and figures": 89% of single-parent families are single
# mothers; ethnic group of single and couple parents (per cent), "Other" the remainder (3).
LONE_MOTHERS = Fraction(89, 100)
GROUP_OF_LONE = {"White": 80, "Mixed": 3, "Asian": 5, "Black": 9, "Other": 3}
GROUP_OF_COUPLE = {"White": 80, "Mixed": 1, "Asian": 12, "Black": 4, "Other": 3}
# ONS mid-2025 population estimates, children aged 0-9 and 10-19 by region and nation (the
# region margin's proxy for parents), as the comments of config/targets.yaml quote them.
CHILDREN_0_9_10_19 = {
    "North East": (285_165, 326_306),
    "North West": (865_892, 952_864),
    "Yorkshire and the Humber": (626_938, 696_780),
    "East Midlands": (543_004, 615_630),
    "West Midlands": (718_837, 785_062),
    "East of England": (744_698, 785_091),
    "London": (1_054_493, 1_068_691),
    "South East": (1_059_434, 1_183_235),
    "South West": (575_506, 677_228),
    "Wales": (321_552, 374_851),
    "Scotland": (527_989, 612_935),
    "Northern Ireland": (229_505, 252_764),
}
ILLUSTRATIVE = "uk_parents_illustrative"


def _illustrative_shares() -> dict[str, dict[str, Fraction]]:
    """Each cell's exact share of parents: a couple household holds two parents, a lone one."""
    couples = TS003_MARRIED + TS003_COHABITING
    parents = 2 * couples + TS003_LONE
    assert couples == 4_656_362 and parents == 11_032_074  # as the note writes them
    lone = Fraction(TS003_LONE, parents)
    sex = {
        "Female|Yes": LONE_MOTHERS * lone,
        "Male|Yes": (1 - LONE_MOTHERS) * lone,
        "Female|No": Fraction(couples, parents),
        "Male|No": Fraction(couples, parents),
    }
    ethnic = {f"Yes|{g}": lone * Fraction(pc, 100) for g, pc in GROUP_OF_LONE.items()}
    ethnic |= {f"No|{g}": (1 - lone) * Fraction(pc, 100) for g, pc in GROUP_OF_COUPLE.items()}
    children = {r: a + b for r, (a, b) in CHILDREN_0_9_10_19.items()}
    total = sum(children.values())
    assert total == 15_884_450  # as the note writes it
    region = {r: Fraction(c, total) for r, c in children.items()}
    return {"sex x lone_parent": sex, "lone_parent x ethnicity": ethnic, "region": region}


def test_illustrative_uk_set_loads_and_cites_every_margin(instrument):
    ts = load_targets(TARGETS, ILLUSTRATIVE, instrument=instrument)
    assert [m.name for m in ts.margins] == ["sex x lone_parent", "lone_parent x ethnicity", "region"]
    assert ts.description and "England and Wales" in ts.description
    for m in ts.margins:
        assert m.kind == "shares"
        assert m.source and m.source.strip(), m.name
        assert m.date and m.date.strip(), m.name
        assert m.note and m.note.strip(), m.name  # the derivation is written out
        # Every combination of the instrument's labels has a target: nothing left unweighted.
        cells = {"|".join(c) for c in product(*(instrument[v].labels for v in m.variables))}
        assert set(m.targets) == cells, m.name


def test_illustrative_uk_shares_rederive_from_the_counts_in_its_comments():
    text = TARGETS.read_text(encoding="utf-8")
    counts = [TS003_MARRIED, TS003_COHABITING, TS003_LONE]
    counts += [n for pair in CHILDREN_0_9_10_19.values() for n in pair]
    for count in counts:
        assert f"{count:,}" in text  # the file quotes the counts this test derives from
    # Lone parents' share of parents: 1,719,350 / (2 x 4,656,362 + 1,719,350) = 0.15585011486.
    assert float(Fraction(TS003_LONE, 11_032_074)) == pytest.approx(0.15585011486, abs=1e-11)
    ts = load_targets(TARGETS, ILLUSTRATIVE)
    expected = _illustrative_shares()
    for m in ts.margins:
        assert set(m.targets) == set(expected[m.name]), m.name
        for cell, share in expected[m.name].items():
            # Written to 9 decimals; two cells are rounded the other way (see the notes).
            # London, by hand: (1,054,493 + 1,068,691) / 15,884,450 = 0.133664307.
            assert m.targets[cell] == pytest.approx(float(share), abs=1e-9), (m.name, cell)
    assert ts.margins[0].targets["Female|No"] == ts.margins[0].targets["Male|No"]
    # Hand check of one cell each: 0.09 x 1,719,350 / 11,032,074 and 0.12 x 9,312,724 / 11,032,074.
    by_name = {m.name: m for m in ts.margins}
    assert by_name["lone_parent x ethnicity"].targets["Yes|Black"] == 0.014026510
    assert by_name["lone_parent x ethnicity"].targets["No|Asian"] == 0.101297986
    assert by_name["region"].targets["London"] == 0.133664307


def test_illustrative_uk_margins_sum_to_one_and_agree_on_lone_parents():
    # Read as written (decimal), so that the check is of the file, not of float arithmetic.
    raw = yaml.safe_load(TARGETS.read_text(encoding="utf-8"))["sets"][ILLUSTRATIVE]["margins"]
    lone = set()
    for margin in raw:
        shares = {cell: Decimal(str(v)) for cell, v in margin["shares"].items()}
        assert sum(shares.values()) == Decimal(1), margin.get("variables", margin.get("variable"))
        if "lone_parent" not in margin.get("variables", []):
            continue
        at = margin["variables"].index("lone_parent")
        lone.add(sum(v for cell, v in shares.items() if cell.split("|")[at] == "Yes"))
    assert lone == {Decimal("0.155850114")}  # one lone-parent share, 1,719,350 / 11,032,074


def test_shares_not_summing_to_one_are_an_error_naming_file_set_and_margin(tmp_path):
    path = _write(tmp_path, {"s": {"margins": [_margin(shares={"Female": 0.5, "Male": 0.4})]}})
    with pytest.raises(ConfigError, match=r"targets.yaml: set s, margin 1 \(sex\).*sum to 0.9"):
        load_targets(path, "s")


def test_totals_that_disagree_across_margins_are_an_error(tmp_path):
    margins = [
        _margin(totals={"Female": 60, "Male": 40}),
        {"variable": "lone_parent", "source": "t", "date": "d", "totals": {"Yes": 1, "No": 2}},
    ]
    with pytest.raises(ConfigError, match="disagree on the population total"):
        load_targets(_write(tmp_path, {"s": {"margins": margins}}), "s")


def test_unknown_set_and_category_not_in_instrument_are_errors(tmp_path, instrument):
    path = _write(tmp_path, {"s": {"margins": [_margin(shares={"Female": 0.5, "Man": 0.5})]}})
    with pytest.raises(ConfigError, match="set 'other' is not there"):
        load_targets(path, "other")
    with pytest.raises(ConfigError, match="category 'Man' is not a label of sex"):
        load_targets(path, "s", instrument=instrument)


def test_category_with_no_respondents_is_an_error_naming_margin_and_category(tmp_path, example):
    data = example[example["ethnicity"] != "Black"]
    with pytest.raises(
        WeightingError, match="margin ethnicity: category 'Black' has no respondents"
    ):
        load_targets(TARGETS, "example_truth", data=data)


def test_example_rakes_to_the_truth_within_bounds(example):
    ts = load_targets(TARGETS, "example_truth", data=example)
    options = {"bounds": [0.3, 3.0], "covariates": ["qualification", "disability"]}
    w, diag = rake_from_config(example, ts, options)
    assert diag["margins"]["abs_diff_after"].max() <= 1e-10
    assert diag["margins"]["abs_diff_before"].max() > 0.05  # the panel is unbalanced
    adjustment = diag["summary"].set_index("weights").loc["adjustment"]
    assert adjustment["min"] >= 0.3 - 1e-12 and adjustment["max"] <= 3.0 + 1e-12
    balance = diag["balance"]
    assert balance["reference"].notna().all()  # the set's reference shares were used
    truth = json.loads(TRUTH.read_text(encoding="utf-8"))["population"]["shares"]
    row = balance.set_index(["covariate", "level"]).loc[("disability", "Yes")]
    assert row["reference"] == truth["disability"]["Yes"]
    assert np.isclose(w.sum(), len(example))


def test_the_illustrative_set_rakes_the_example_within_bounds_by_its_collapse_rules(example):
    # The example holds 10 male lone parents and 2-5 lone parents of each minority group
    # (fewer than the rules' 30): merged as declared, every cell is reachable within 0.3-3.
    ts = load_targets(TARGETS, ILLUSTRATIVE, data=example)
    w, diag = rake_from_config(example, ts, {"bounds": [0.3, 3.0]})
    collapsed = diag["collapsed"]
    assert set(collapsed.loc[collapsed["margin"] == "sex x lone_parent", "category"]) == {
        "Female|Yes",
        "Male|Yes",
    }
    merged = collapsed.loc[collapsed["margin"] == "lone_parent x ethnicity"]
    lone = "Yes|White + Yes|Mixed + Yes|Asian + Yes|Black + Yes|Other"
    assert set(merged["collapsed_into"]) == {lone, "No|Mixed + No|Other"}
    margins = diag["margins"].set_index(["margin", "category"])
    assert margins["abs_diff_after"].max() <= 1e-10
    # The merged cell's target is the sum of its members': the lone-parent share, 0.155850114.
    assert margins.loc[("lone_parent x ethnicity", lone), "target"] == pytest.approx(0.155850114)
    adjustment = diag["summary"].set_index("weights").loc["adjustment"]
    assert adjustment["min"] >= 0.3 - 1e-12 and adjustment["max"] <= 3.0 + 1e-12
    assert np.isclose(w.sum(), len(example))


def test_the_illustrative_set_without_its_collapse_rules_says_which_category_cannot_be_reached(
    example,
):
    # The example holds few lone parents, and their design weight is about half a couple parent's:
    # lone-parent cells need more than three times their base weight. By hand: a category needs
    # target share / design-weighted sample share on average (the default base weight is
    # design_weight); the error names the first category, in the file's order, beyond 3.
    ts = load_targets(TARGETS, ILLUSTRATIVE, data=example)
    bare = [replace(m, collapse=None) for m in ts.margins]
    weight = example["design_weight"] / example["design_weight"].sum()
    needs = []
    for m in bare:
        cell = example[list(m.variables)].astype(str).agg("|".join, axis=1)
        sample = weight.groupby(cell).sum()
        needs += [(m.name, c, t / sample[c]) for c, t in m.targets.items()]
    beyond = [(name, c, need) for name, c, need in needs if need > 3]
    assert len(beyond) >= 2  # lone fathers and lone parents of minority ethnic groups
    name, category, need = beyond[0]
    message = (
        rf"margin {name} category '{re.escape(category)}' needs its weights multiplied by "
        rf"{need:.4g} on average, beyond the upper bound 3"
    )
    with pytest.raises(WeightingError, match=message):
        rake_from_config(example, bare, {"bounds": [0.3, 3.0]})


def test_missing_values_are_left_to_the_missing_option(tmp_path, example):
    data = example.copy()
    data.loc[data.index[:3], "sex"] = None
    shares = {"Female": 0.5, "Male": 0.45, "Missing": 0.05}
    path = _write(tmp_path, {"s": {"margins": [_margin(shares=shares)]}})
    ts = load_targets(path, "s", data=data)  # no error: three respondents have no sex
    with pytest.raises(WeightingError, match="'sex' is missing for 3 respondents"):
        rake_from_config(data, ts, {})
    w, diag = rake_from_config(data, ts, {"missing": "category", "bounds": None})
    margins = diag["margins"].set_index("category")
    assert margins.loc["Missing", "after"] == pytest.approx(0.05, abs=1e-10)
    assert margins.loc["Missing", "count_unweighted"] == 3
