"""Disclosure control: primary and secondary suppression, precision flags, and no recoverable cell.

Expected values are hand calculations written out in each test, or come from an intruder's
attack implemented here independently of ``social_licence.disclosure`` (differencing every
linear relation a published table carries, and an exact rank test on those relations).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_brief_data import (
    example_design,
    example_respondents,
    grid_table,
    headline_by_group,
    instrument,
)

from social_licence.errors import DisclosureError
from social_licence.report.disclosure import (
    Thresholds,
    audit,
    check_publishable,
    derivable_cells,
    linear_relations,
    load_thresholds,
    suppress,
    suppress_comparisons,
    suppress_effects,
    suppress_model_table,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "thresholds.yaml"
SCHEMA = ROOT / "workflow" / "schemas" / "thresholds.schema.yaml"
NUMBERS = ["estimate", "se", "ci_low", "ci_high", "deff", "n_unweighted", "count_unweighted", "n_weighted"]


#: The base rule on its own (the count rule of 10 respondents switched off, as a user may with a reason).
BASE_RULE = {"min_count": 0, "reason": "a test of the base rule on its own"}


def cell(group, base, est=0.5, count=None, level="acceptable", variable="acc", se=0.05, group_variable="ethnicity"):
    """One row of a stacked tidy estimate frame, as the contract names its columns."""
    if count is None:
        count = round(est * base) if np.isfinite(base) else np.nan
    return {
        "group_variable": group_variable,
        "group": group,
        "variable": variable,
        "level": level,
        "estimate": est,
        "se": se,
        "ci_low": est - 1.96 * se,
        "ci_high": est + 1.96 * se,
        "deff": 1.2,
        "n_unweighted": base,
        "count_unweighted": count,
        "n_weighted": base * 1000.0,
    }


# -- primary suppression ---------------------------------------------------------------------------
def test_cell_below_min_base_is_withheld_and_keeps_no_number():
    """Hand case: bases 200, 40, 9 with min_base 10: only the base-9 cell is primary-suppressed."""
    table = pd.DataFrame([cell("White", 200, 0.61), cell("Black", 40, 0.42), cell("Other", 9, 0.33)])
    out = suppress(table, Thresholds(secondary=False))
    assert out["suppressed"].tolist() == [False, False, True]
    other = out.iloc[2]
    for c in NUMBERS:
        assert pd.isna(other[c]), c
    assert other["reason"] == "primary suppression: unweighted base below 10"
    assert "9" not in other["reason"]  # the reason must not disclose the base itself
    assert out.loc[0, "estimate"] == 0.61 and out.loc[0, "reason"] == ""


def test_base_equal_to_threshold_is_published():
    """Rule is 'below' the threshold: a base of exactly 10 is published (hand)."""
    table = pd.DataFrame([cell("White", 10), cell("Black", 11)])
    out = suppress(table, Thresholds(min_base=10, **BASE_RULE))
    assert not out["suppressed"].any()
    out = suppress(table, Thresholds(min_base=11, **BASE_RULE))
    assert out["suppressed"].tolist() == [True, True]  # the second by secondary suppression


@pytest.mark.parametrize("bad", [0, -3])
def test_threshold_below_one_is_refused_with_a_clear_message(bad, tmp_path):
    with pytest.raises(DisclosureError, match=r"min_base.*below 1"):
        Thresholds(min_base=bad)
    path = tmp_path / "thresholds.yaml"
    path.write_text(f"disclosure: {{min_base: {bad}}}\n", encoding="utf-8")
    with pytest.raises(DisclosureError, match=rf"min_base in {path}.*{bad}"):
        load_thresholds(path)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("disclosure: {min_base: 2.5}", "whole number"),
        ("disclosure: {secondary: 'yes'}", "true or false"),
        ("precision: {max_rse: 0}", "positive number"),
        ("precision: {max_cv: 0.2}", "unknown key"),
        ("suppression: {}", "unknown section"),
        ("- 1\n- 2", "mapping"),
    ],
)
def test_invalid_thresholds_file_names_the_key(text, pattern, tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(DisclosureError, match=pattern):
        load_thresholds(path)


def test_missing_thresholds_file_is_named(tmp_path):
    with pytest.raises(DisclosureError, match="does not exist"):
        load_thresholds(tmp_path / "nope.yaml")


def test_config_file_is_valid_and_its_defaults_are_the_code_defaults():
    """The shipped config validates against its schema; every key has a description and a default."""
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    raw = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    jsonschema.validate(raw, schema)
    jsonschema.Draft202012Validator.check_schema(schema)

    def walk(node, path="root"):
        assert "description" in node and "default" in node, path
        for key, sub in (node.get("properties") or {}).items():
            walk(sub, f"{path}.{key}")

    walk(schema)
    defaults = Thresholds()
    props = schema["properties"]
    assert props["disclosure"]["properties"]["min_base"]["default"] == defaults.min_base == 10
    assert props["disclosure"]["properties"]["min_count"]["default"] == defaults.min_count
    assert props["disclosure"]["properties"]["secondary"]["default"] is defaults.secondary
    assert props["precision"]["properties"]["max_rse"]["default"] == defaults.max_rse
    assert props["precision"]["properties"]["max_ci_width"]["default"] == defaults.max_ci_width
    assert load_thresholds(CONFIG) == defaults
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"disclosure": {"min_base": 0}}, schema)


# -- secondary suppression -------------------------------------------------------------------------
def test_a_lone_withheld_group_takes_the_next_smallest_with_it():
    """Groups add up to the published whole: with 'Other' (base 6) withheld, the overall figure
    minus the others would reveal it, so the next-smallest group (Mixed, 24) goes too (hand)."""
    table = pd.DataFrame(
        [cell("White", 420), cell("Asian", 90), cell("Black", 60), cell("Mixed", 24), cell("Other", 6)]
    )
    out = suppress(table, Thresholds())
    assert out.set_index("group")["suppressed"].to_dict() == {
        "White": False, "Asian": False, "Black": False, "Mixed": True, "Other": True,
    }
    assert out.loc[3, "reason"].startswith("secondary suppression")
    # without secondary suppression only the small cell goes
    assert suppress(table, Thresholds(secondary=False))["suppressed"].sum() == 1


def test_complement_within_a_domain_is_withheld_with_a_small_count():
    """With min_count 5, 'acceptable' (3 parents) and its complement 'not acceptable' add up to
    the domain: withholding one alone reveals it as 100% minus the other (hand), so the
    complement goes too: its base minus its count is those 3 parents."""
    rows = [
        cell("White", 50, 0.06, count=3, level="acceptable"),
        cell("White", 50, 0.94, count=47, level="not acceptable"),
    ]
    out = suppress(pd.DataFrame(rows), Thresholds(min_count=5, reason="a test of a lowered count rule"))
    assert out["suppressed"].tolist() == [True, True]
    assert out.loc[0, "reason"] == "primary suppression: unweighted count below 5"
    assert out.loc[1, "reason"].startswith("primary suppression: the base minus the count")


def test_whole_domain_is_withheld_across_levels_and_partner_group_consistently():
    """A small group's every level goes, and the same partner group is withheld at every level,
    so a reader sees whole groups withheld rather than a patchwork (hand: Mixed is smallest)."""
    rows = []
    for level, share in (("Yes", 0.3), ("No", 0.6), ("Not sure", 0.1)):
        for group, base in (("White", 300), ("Black", 60), ("Mixed", 20), ("Other", 5)):
            rows.append(cell(group, base, share, level=level, variable="awareness"))
    out = suppress(pd.DataFrame(rows), Thresholds(**BASE_RULE))
    held = out[out["suppressed"]]
    assert sorted(set(held["group"])) == ["Mixed", "Other"]
    assert len(held) == 6


def test_stacked_overall_row_is_not_a_group():
    """The 'All' row of a stacked breakdown is the known total, not a member of a partition."""
    table = pd.DataFrame(
        [cell("All", 500, group_variable="All")]
        + [cell("Yes", 8, group_variable="lone_parent"), cell("No", 492, group_variable="lone_parent")]
    )
    out = suppress(table, Thresholds())
    assert out["suppressed"].tolist() == [False, True, True]


# -- an intruder's attack, written independently of the module ---------------------------------------
def attack_relations(table: pd.DataFrame, partitions, others) -> list[list[int]]:
    """Relations an intruder knows: groups of each partition add up to the published total
    (within the other keys), and levels of a variable add up to the domain."""
    rel = []
    t = table.reset_index(drop=True)
    for p in partitions:
        keys = [c for c in others + partitions if c != p] + ["variable", "level"]
        for _, sub in t.groupby(keys, dropna=False, sort=False):
            if len(sub) > 1:
                rel.append(list(sub.index))
    keys = others + partitions + ["variable"]
    for _, sub in t.groupby(keys, dropna=False, sort=False):
        if len(sub) > 1:
            rel.append(list(sub.index))
    return rel


def rank_attack(hidden: np.ndarray, relations: list[list[int]]) -> list[int]:
    """Hidden cells fixed by the relations: e_j lies in the row space of A restricted to hidden."""
    cols = np.flatnonzero(hidden)
    if cols.size == 0:
        return []
    a = np.array([[1.0 if c in r else 0.0 for c in cols] for r in relations if any(hidden[m] for m in r)])
    if a.size == 0:
        return []
    rank = np.linalg.matrix_rank(a)
    found = []
    for j, c in enumerate(cols):
        e = np.zeros((1, cols.size))
        e[0, j] = 1
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
            found.append(int(c))
    return found


def differencing_attack(published: pd.DataFrame, truth: pd.DataFrame, relations) -> dict[int, float]:
    """Peel relations one at a time: a relation with one unknown cell gives it by subtraction.

    The intruder is given the worst case: every group's weighted size (n_weighted, e.g. from a
    profile table) and every relation's total (the whole-sample figure, always published).
    """
    known = {i: float(v) for i, v in published["estimate"].items() if np.isfinite(v)}
    size = truth["n_weighted"].astype(float)
    found: dict[int, float] = {}
    changed = True
    while changed:
        changed = False
        for r in relations:
            unknown = [m for m in r if m not in known]
            if len(unknown) != 1:
                continue
            total = sum(size[m] * truth["estimate"][m] for m in r)  # the published total
            rest = sum(size[m] * known[m] for m in r if m in known)
            j = unknown[0]
            known[j] = found[j] = (total - rest) / size[j]
            changed = True
    return found


@pytest.fixture(scope="module")
def grid_by_ethnicity():
    inst = instrument()
    data = example_respondents()
    table = grid_table(data, example_design(data), inst, group_variables=("ethnicity", "lone_parent"))
    return table[table["group_variable"] != "All"].reset_index(drop=True)


def test_differencing_recovers_an_unprotected_cell_so_the_attack_is_real(grid_by_ethnicity):
    """Primary suppression alone leaks: the attack gets the withheld 'Other' figures back exactly."""
    truth = grid_by_ethnicity
    published = suppress(truth, Thresholds(secondary=False), partitions=["group"])
    assert published["suppressed"].any()
    rel = attack_relations(truth, ["group"], ["data_type", "purpose", "group_variable"])
    found = differencing_attack(published, truth, rel)
    assert found, "the attack should recover primary-suppressed cells when nothing protects them"
    for j, value in found.items():
        assert value == pytest.approx(truth.loc[j, "estimate"], abs=1e-9)


def test_no_withheld_cell_can_be_recovered_from_a_published_grid_by_group(grid_by_ethnicity):
    truth = grid_by_ethnicity
    published = suppress(truth, Thresholds(), partitions=["group"])
    hidden = published["suppressed"].to_numpy()
    primary = published["reason"].str.startswith("primary").to_numpy()
    assert primary.sum() >= 24  # 'Other' (6 parents) is below 10 on every item
    rel = attack_relations(truth, ["group"], ["data_type", "purpose", "group_variable"])
    assert differencing_attack(published, truth, rel) == {}
    assert rank_attack(hidden, rel) == []
    # the published CSV is what an intruder reads: round-trip it and attack again
    again = pd.read_csv(pd.io.common.StringIO(published.to_csv(index=False)))
    assert again["estimate"].isna().to_numpy().tolist() == hidden.tolist()
    audit(published, partitions=["group"])


def test_bridge_between_two_withheld_blocks_is_caught_by_the_exact_check():
    """A 4x4 table with both margins published. Withheld cells forming two 2x2 blocks joined by
    one cell leave every row and column with two or more withheld cells, so differencing one
    relation at a time finds nothing, yet the joining cell is row 2 + row 1 - column 1 - column 2
    (hand algebra). The rank attack proves that pattern leaks; suppress() must withhold more."""
    small = {(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (1, 2)}
    rows = []
    for r, c in itertools.product(range(4), range(4)):
        base = 5 if (r, c) in small else 50 + 10 * r + c
        rows.append({"age": f"a{r}", "income": f"i{c}", "variable": "acc", "level": "acceptable",
                     "estimate": 0.5, "se": 0.05, "n_unweighted": base, "n_weighted": base * 100.0})
    table = pd.DataFrame(rows)
    rel = attack_relations(table, ["age", "income"], [])
    pattern = np.array([(r, c) in small for r, c in itertools.product(range(4), range(4))])
    assert rank_attack(pattern, rel) == [1 * 4 + 2]  # the bridge (row 1, column 2) leaks
    assert derivable_cells(pattern, linear_relations(table, ["age", "income"])) == [6]
    out = suppress(table, Thresholds(), partitions=["age", "income"])
    hidden = out["suppressed"].to_numpy()
    assert hidden[pattern].all() and hidden.sum() > pattern.sum()
    assert rank_attack(hidden, rel) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.tuples(st.integers(2, 5), st.integers(1, 4), st.integers(1, 3)),
    bases=st.lists(st.integers(1, 60), min_size=60, max_size=60),
    min_base=st.integers(1, 30),
)
def test_property_no_withheld_cell_is_ever_derivable(shape, bases, min_base):
    """Any table (groups x second partition x levels, random bases): every cell below the
    threshold is withheld and the rank attack recovers none (hypothesis-generated tables)."""
    g, h, k = shape
    rows = []
    for i, (a, b, lv) in enumerate(itertools.product(range(g), range(h), range(k))):
        rows.append({"sex": f"s{b}", "group": f"g{a}", "variable": "v", "level": f"l{lv}",
                     "estimate": 1 / k, "n_unweighted": bases[i % len(bases)], "count_unweighted": 1})
    table = pd.DataFrame(rows)
    # the domain base is shared by a domain's levels
    table["n_unweighted"] = table.groupby(["sex", "group"])["n_unweighted"].transform("first")
    parts = ["group", "sex"] if h > 1 else ["group"]
    out = suppress(table, Thresholds(min_base=min_base, **BASE_RULE), partitions=parts)
    hidden = out["suppressed"].to_numpy()
    assert hidden[(table["n_unweighted"] < min_base).to_numpy()].all()
    rel = attack_relations(table, parts, [])
    assert rank_attack(hidden, rel) == []


def test_suppression_is_idempotent(grid_by_ethnicity):
    once = suppress(grid_by_ethnicity, Thresholds(), partitions=["group"])
    twice = suppress(once, Thresholds(), partitions=["group"])
    pd.testing.assert_frame_equal(once, twice)


# -- precision flags -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("est", "se", "lo", "hi", "flag"),
    [
        (0.20, 0.070, 0.16, 0.24, True),  # RSE 35% > 30%
        (0.20, 0.050, 0.16, 0.24, False),  # RSE 25%, CI 8 points
        (0.50, 0.040, 0.39, 0.61, True),  # RSE 8% but CI 22 points > 20
        (0.50, 0.040, 0.40, 0.60, False),  # CI exactly 20 points: not wider
        (0.00, 0.000, 0.00, 0.00, True),  # nobody gave the answer: SE 0, no honest interval
        (1.00, 0.000, 1.00, 1.00, True),  # everybody did
        (0.30, 0.000, 0.30, 0.30, False),  # SE 0 inside (0, 1): e.g. a stratum share fixed by design
    ],
)
def test_low_precision_flags_follow_rse_and_ci_width(est, se, lo, hi, flag):
    """Hand: RSE = se / estimate against 0.3; CI width = ci_high - ci_low against 0.2; a
    proportion of exactly 0 or 1 with SE 0 has no estimable interval."""
    row = cell("White", 100, est, se=se)
    row.update(ci_low=lo, ci_high=hi)
    out = suppress(pd.DataFrame([row]), Thresholds())
    assert bool(out.loc[0, "low_precision"]) is flag
    assert not out.loc[0, "suppressed"] and out.loc[0, "estimate"] == est
    off = suppress(pd.DataFrame([row]), Thresholds(max_rse=None, max_ci_width=None))
    assert not off.loc[0, "low_precision"]


def test_ci_width_rule_applies_to_proportions_only():
    """A mean (level missing) with a CI of 3 units is not 'wider than 20 points'."""
    row = cell("White", 100, 3.2, se=0.5, level=None)
    row.update(ci_low=1.7, ci_high=4.7)
    out = suppress(pd.DataFrame([row]), Thresholds(max_rse=None))
    assert not out.loc[0, "low_precision"]


# -- bad input -------------------------------------------------------------------------------------
def test_duplicate_cells_and_missing_bases_are_named_by_row():
    table = pd.DataFrame([cell("White", 100), cell("White", 100)])
    with pytest.raises(DisclosureError, match="more than one row.*rows 1, 2"):
        suppress(table, Thresholds())
    table = pd.DataFrame([cell("White", 100), cell("Black", np.nan)])
    with pytest.raises(DisclosureError, match="n_unweighted is missing.*rows 2"):
        suppress(table, Thresholds())
    with pytest.raises(DisclosureError, match="lacks column"):
        suppress(pd.DataFrame({"estimate": [0.5]}), Thresholds())
    with pytest.raises(DisclosureError, match="partition column"):
        suppress(pd.DataFrame([cell("White", 5), cell("Black", 50)]), Thresholds(), partitions=["region"])


# -- other published frames -------------------------------------------------------------------------
def test_comparisons_with_a_withheld_group_are_withheld_whole():
    """Black is published (base 25) but withheld in the estimates by secondary suppression, so
    its difference from White would reveal it; Other has a base of 6 (hand)."""
    data = example_respondents()
    inst = instrument()
    est = suppress(headline_by_group(data, example_design(data), inst, "acc_police__early_help", ("ethnicity",)),
                   Thresholds(**BASE_RULE), partitions=["group"])
    held = set(est.loc[est["suppressed"], "group"])
    assert held == {"Other", "Mixed"}
    comp = pd.DataFrame(
        {
            "variable": "acc_police__early_help",
            "level": "acceptable",
            "group_variable": "ethnicity",
            "group_a": ["Asian", "Mixed", "Other", "Black"],
            "group_b": ["White"] * 4,
            "estimate_a": [0.25, 0.30, 0.1, 0.24],
            "estimate_b": [0.21] * 4,
            "difference": [0.04, 0.09, -0.11, 0.03],
            "p_value": [0.5, 0.4, 0.3, 0.6],
            "df": 39.0,
            "n_unweighted_a": [49, 12, 3, 25],
            "n_unweighted_b": [193] * 4,
        }
    )
    out = suppress_comparisons(comp, Thresholds(), estimates=est)
    assert out["suppressed"].tolist() == [False, True, True, False]
    assert out.loc[1, ["estimate_a", "difference", "p_value", "n_unweighted_a"]].isna().all()
    assert out.loc[1, "df"] == 39.0
    assert out.loc[2, "reason"].startswith("primary")


def test_model_terms_with_a_small_base_are_withheld():
    table = pd.DataFrame({"term": ["Intercept", "C(ethnicity)[T.Other]"], "estimate": [0.1, 0.9],
                          "se": [0.1, 0.8], "n_unweighted": [600, 6]})
    out = suppress_model_table(table, Thresholds())
    assert out["suppressed"].tolist() == [False, True]
    assert np.isnan(out.loc[1, "estimate"])
    assert not suppress_model_table(table.drop(columns="n_unweighted"), Thresholds())["suppressed"].any()


def test_row_level_frames_are_refused():
    data = example_respondents()
    with pytest.raises(DisclosureError, match="respondent"):
        check_publishable(data, "respondents")
    with pytest.raises(DisclosureError, match="weight"):
        check_publishable(data.reset_index(drop=True)[["sex", "weight"]], "x")
    agg = data.groupby("sex", observed=True).size().rename("n").reset_index()
    check_publishable(agg, "profile", respondent_level=data)
    leak = data.reset_index(drop=True)[["sex"]].rename(columns={"sex": "s"})
    with pytest.raises(DisclosureError, match="rows"):
        check_publishable(leak, "leak", respondent_level=data)
    with pytest.raises(DisclosureError, match="has not been through"):
        check_publishable(pd.DataFrame([cell("White", 100)]), "raw estimates")


def test_marginal_effects_of_a_small_group_or_reference_are_withheld():
    """Hand: 'Other' has 6 parents, so its prediction and its gap go; with a small reference
    group every gap from it goes too. Within-domain panels are kept apart."""
    rows = []
    for within, ref_count in (("Female", 150), ("Male", 8)):
        rows.append({"model": "m", "group_variable": "ethnicity", "group": "White", "sex": within, "variable": "y",
                     "level": "yes", "statistic": "predicted", "reference": None, "estimate": 0.4, "count_unweighted": ref_count})
        for group, count in (("Black", 60), ("Other", 6)):
            for stat, ref in (("predicted", None), ("difference", "White")):
                rows.append({"model": "m", "group_variable": "ethnicity", "group": group, "sex": within, "variable": "y",
                             "level": "yes", "statistic": stat, "reference": ref, "estimate": 0.1, "count_unweighted": count})
    out = suppress_effects(pd.DataFrame(rows), Thresholds())
    held = out.loc[out["suppressed"], ["sex", "group", "statistic"]].apply(tuple, axis=1).tolist()
    assert held == [
        ("Female", "Other", "predicted"), ("Female", "Other", "difference"),
        ("Male", "White", "predicted"), ("Male", "Black", "difference"),
        ("Male", "Other", "predicted"), ("Male", "Other", "difference"),
    ]
    assert out.loc[out["suppressed"], "estimate"].isna().all()
