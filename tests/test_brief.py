"""The policy brief: key messages from the numbers, methods box, withheld note, self-contained,
no row-level data, no recoverable withheld cell, and it renders in a real headless browser.

Expected numbers are computed here by hand from the example respondents (weighted shares,
Kish's design effect n * sum(w^2) / sum(w)^2), independently of the estimation used to build
the brief's inputs.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import find_program
from test_brief_data import example_inputs, example_plan
from test_disclosure import attack_relations, rank_attack
from test_figures import model_tables

from social_licence.errors import OutputError
from social_licence.report.brief import BRIEF_INPUTS, build_brief, write_brief
from social_licence.report.disclosure import Thresholds, check_publishable, protect
from social_licence.report.tables import format_percent, write_table

# The base rule alone (as these tests were written): the count rule of 10 has its own tests
# (tests/test_disclosure_linked.py, tests/test_disclosure_tiny.py)
TH = Thresholds(min_count=0, reason="tests of figures and the brief under the base rule")
CHROMIUM = find_program("chromium", "chromium-browser")
SMALL = ("acceptability_items", "qa_flow", "weight_summary")


def brief_inputs(raw: dict) -> dict:
    return {
        "acceptability_items": raw["grid"],
        "acceptability_by_data_type": raw["ratings_data_type"],
        "acceptability_by_purpose": raw["ratings_purpose"],
        "acceptability_groups": raw["grid_groups"],
        "trust_responses": raw["trust"],
        "rights_responses": raw["rights"],
        "models": raw["models"],
        "effects": raw["marginal_effects"],
        "qa_flow": raw["qa_flow"],
        "weight_summary": raw["weight_summary"],
        "margins": raw["margins"],
    }


@pytest.fixture(scope="module")
def raw():
    return example_inputs()


@pytest.fixture(scope="module")
def plan(raw):
    """The example config's plan (headline: police records for early help, Black parents)."""
    return example_plan(raw["instrument"])


@pytest.fixture(scope="module")
def brief(raw, plan, tmp_path_factory):
    path = tmp_path_factory.mktemp("brief") / "brief.html"
    text = write_brief(
        brief_inputs(raw),
        TH,
        path,
        plan=plan,
        title="Parents' social licence",
        subtitle="Example",
        options={"estimation": {"ci_level": 0.95, "variance": "linearisation", "dk": "exclude"}},
    )
    return path, text


def visible_text(text: str) -> str:
    """The page without embedded images, styles and tags, whitespace collapsed."""
    text = re.sub(r"data:[^\"']+", "", text)
    text = re.sub(r"<style.*?</style>", " ", text, flags=re.S)
    text = re.sub(r"</(p|li|h1|h2|h3|dt|dd|td|th|figcaption)>", " ", text)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"\s+", " ", text).replace("&#x27;", "'").replace("&amp;", "&")


def weighted_share(data: pd.DataFrame, item: str, mask=None) -> float:
    """Hand: sum of weights of 'acceptable' answers over the sum of weights of all answers."""
    x = data[item]
    ok = x.notna().to_numpy() & (np.ones(len(data), bool) if mask is None else mask)
    yes = ok & x.astype(object).isin(["Somewhat acceptable", "Very acceptable"]).to_numpy()
    w = data["weight"].to_numpy()
    return w[yes].sum() / w[ok].sum()


# -- content ---------------------------------------------------------------------------------------
def test_headline_is_written_from_the_numbers(raw, brief):
    data = raw["respondents"]
    item = "acc_police__early_help"
    overall = weighted_share(data, item)
    black = weighted_share(data, item, (data["ethnicity"] == "Black").to_numpy())
    text = visible_text(brief[1])
    expected = (
        f"{format_percent(overall)}% of parents find linking police records for identifying families for "
        f"early-help support acceptable; among Black parents, {format_percent(black)}%"
    )
    assert expected in text


def test_other_key_messages_quote_published_figures(raw, brief):
    data = raw["respondents"]
    text = visible_text(brief[1])
    shares = {
        (dt, pu): weighted_share(data, f"acc_{dt}__{pu}")
        for dt in raw["instrument"].grids["acceptability"].rows
        for pu in raw["instrument"].grids["acceptability"].columns
    }
    (hi_dt, hi_pu), hi = max(shares.items(), key=lambda kv: kv[1])
    hi_phrase = f"{format_percent(hi)}% of parents find linking {raw['instrument'].grids['acceptability'].rows[hi_dt]} for"
    assert hi_phrase in text and "acceptable, but only" in text
    # trust: share trusting the NHS a fair amount or a great deal, by hand
    w = data["weight"].to_numpy()
    nhs = data["trust_nhs"]
    ok = nhs.notna().to_numpy()
    trusted = ok & nhs.astype(object).isin(["A fair amount", "A great deal"]).to_numpy()
    assert f"{format_percent(w[trusted].sum() / w[ok].sum())}% of parents trust the NHS at least a fair amount" in text
    # the model message quotes the largest significant published difference (hand inputs: Black -14 points)
    assert "Black parents are 14 percentage points less likely than White parents" in text


def test_methods_box_reports_sample_exclusions_weighting_and_rules(raw, brief):
    text = visible_text(brief[1])
    w = raw["respondents"]["weight"].to_numpy()
    kish = len(w) * (w**2).sum() / w.sum() ** 2
    assert "600 parents were analysed, of 626 responses received" in text
    assert "failed the attention check: 14" in text and "withdrew consent: 3" in text
    assert f"Kish's design effect from the weights is {kish:.2f}" in text
    assert f"as much information as {len(w) / kish:,.0f} from a simple random sample" in text
    assert "95% confidence interval computed from the survey design" in text
    assert "'Don't know' answers are left out of the base" in text
    assert TH.rule_text() in text


def test_withheld_note_says_what_and_why(brief):
    text = visible_text(brief[1])
    assert "What was withheld, and why" in text
    assert "Acceptability of linking records, by group: Ethnic group: Other (24 estimates): fewer than 10 parents answered" in text
    assert "Marginal effects: Ethnic group: Other (2 estimates): fewer than 10 parents answered" in text


def test_brief_is_self_contained_and_print_ready(brief):
    text = brief[1]
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", text), "every resource must be inline"
    assert "@media print" in text and "size: A4" in text
    assert len(re.findall(r"<img ", text)) == 9  # heatmap, 2 likert, groups, forest, effects, rights, trust, weights
    assert "<script" not in text


def test_same_inputs_give_the_same_bytes(raw, plan):
    """Reviewers reproduce to the byte: no timestamps, fixed figure bytes, stable table ids."""
    small = {k: brief_inputs(raw)[k] for k in SMALL}
    first = build_brief(small, TH, plan)
    assert build_brief(small, TH, plan) == first
    assert "Nothing was withheld" in first


# -- disclosure ------------------------------------------------------------------------------------
def test_no_withheld_cell_can_be_recovered_from_the_brief(raw, brief):
    """Read the group table back out of the page as an intruder would and attack its relations."""
    tables = pd.read_html(StringIO(brief[1]))
    group_table = next(t for t in tables if any("by group" in str(c) for c in t.columns.get_level_values(0)))
    group_table.columns = group_table.columns.get_level_values(-1)
    rows = group_table[group_table["Group"].isin(["White", "Mixed", "Asian", "Black", "Other"])]
    hidden = rows["%"].eq("[c]").to_numpy()
    assert rows.loc[rows["%"] == "[c]", "Group"].tolist() == ["Mixed", "Other"]
    assert rows.loc[rows["%"] == "[c]", ["95% CI", "Unweighted base"]].eq("[c]").all().all()
    frame = rows.assign(variable="acc", level="acceptable").rename(columns={"Group": "group"}).reset_index(drop=True)
    assert rank_attack(hidden, attack_relations(frame, ["group"], [])) == []


def test_no_published_output_holds_row_level_data(raw, brief, tmp_path):
    respondents = raw["respondents"]
    ids = set(respondents.index)
    page = visible_text(brief[1])
    assert not ids & set(re.findall(r"P\d{4}", page))
    inst = raw["instrument"]
    for key, frame in brief_inputs(raw).items():
        if key == "instrument":
            continue
        published = protect(frame, TH, inst, name=key)
        check_publishable(published, key, respondent_level=respondents.reset_index())
        csv = tmp_path / f"{key}.csv"
        write_table(published, csv, None, None, title=key, thresholds=TH, instrument=inst)
        assert not ids & set(re.findall(r"P\d{4}", csv.read_text(encoding="utf-8")))


# -- bad input -------------------------------------------------------------------------------------
def test_missing_or_unknown_inputs_are_named(raw, plan):
    inputs = brief_inputs(raw)
    with pytest.raises(OutputError, match=r"needs input\(s\) \['qa_flow'\]"):
        build_brief({k: v for k, v in inputs.items() if k != "qa_flow"}, TH, plan)
    with pytest.raises(OutputError, match=r"does not know input\(s\) \['acceptability_by_region'\]"):
        build_brief({**inputs, "acceptability_by_region": inputs["trust_responses"]}, TH, plan)
    with pytest.raises(OutputError, match="headline group 'Martian'"):
        build_brief(inputs, TH, example_plan(raw["instrument"], headline={"group": "Martian"}))
    assert set(BRIEF_INPUTS) | set(plan.estimates()) >= set(inputs)


def test_a_group_with_every_cell_withheld_is_stated_not_drawn_empty(raw):
    inputs = {k: brief_inputs(raw)[k] for k in SMALL}
    groups = raw["groups"].copy()
    groups.loc[groups["group_variable"] != "All", "n_unweighted"] = 4
    inputs["acceptability_groups"] = groups
    names = ["ethnicity", "income_band", "lone_parent", "services_contact", "age_band"]
    text = visible_text(build_brief(inputs, TH, example_plan(raw["instrument"], groups=names)))
    assert 'The figure "Percentage of parents who find it acceptable, by group" is withheld' in text
    assert "every group of ethnicity, income_band, lone_parent, services_contact, age_band is withheld" in text
    assert "Acceptability of linking records, by group: Ethnic group: Black (1 estimate): fewer than 10 parents answered" in text


# -- a real browser --------------------------------------------------------------------------------
@pytest.mark.slow  # starts a browser: left out of make test-fast
@pytest.mark.needs_program("chromium", "chromium-browser")
def test_brief_renders_in_headless_chromium(brief, tmp_path):
    from playwright.sync_api import sync_playwright

    path, _ = brief
    messages: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            page.on("console", lambda m: messages.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
            page.goto(path.as_uri(), wait_until="load")
            images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
            assert len(images) == 9
            assert all(done and width > 0 for _, done, width in images), images
            assert page.locator("h1").inner_text() == "Parents' social licence"
            assert page.locator(".key-messages li").count() >= 5
            shot = tmp_path / "brief.png"
            page.screenshot(path=str(shot), full_page=True)
            pdf = page.pdf(format="A4", print_background=True)
        finally:
            browser.close()
    assert messages == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf[:5] == b"%PDF-"
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 3
    artefacts = os.environ.get("SOCIAL_LICENCE_ARTEFACTS")
    if artefacts:
        Path(artefacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artefacts) / "brief.png")
        (Path(artefacts) / "brief.pdf").write_bytes(pdf)
    assert base64.b64encode(shot.read_bytes()[:3])  # the screenshot is a real file, kept above


# -- messages about rights, adjusted differences and multiple comparisons -------------------------


def test_rights_message_quotes_the_share_agreeing_with_each_statement(raw, brief):
    """Hand: weighted share answering 'Tend to agree' or 'Strongly agree' among those who
    answered each rights statement (Don't know out of the base)."""
    data = raw["respondents"]
    w = data["weight"].to_numpy()
    share = {}
    for right in ("consent", "view", "opt_out"):
        x = data[f"rights_{right}"]
        ok = x.notna().to_numpy()
        agree = ok & x.astype(object).isin(["Tend to agree", "Strongly agree"]).to_numpy()
        share[right] = w[agree].sum() / w[ok].sum()
    text = visible_text(brief[1])
    hi, lo = max(share, key=share.get), min(share, key=share.get)
    rows = raw["instrument"].grids["rights"].rows
    assert (
        f"{format_percent(share[hi])}% of parents agree that {rows[hi][0].lower() + rows[hi][1:]}, but only "
        f"{format_percent(share[lo])}% agree that {rows[lo][0].lower() + rows[lo][1:]}."
    ) in text
    assert "Consent, access and opting out" in text and 'alt="Consent, access and opting out: answers' in brief[1]


def effects_frame() -> pd.DataFrame:
    """Marginal effects typed in here: a logistic model (purpose, data type and ethnicity) and a
    linear model of a 1-4 trust index whose differences are larger numbers on another scale."""
    rows = [
        ("acceptability_logit", "acceptable", "purpose", "risk_scoring", "planning", -0.26, -0.30, -0.22),
        ("acceptability_logit", "acceptable", "purpose", "early_help", "planning", -0.12, -0.16, -0.08),
        ("acceptability_logit", "acceptable", "data_type", "police", "health", -0.10, -0.13, -0.07),
        ("acceptability_logit", "acceptable", "ethnicity", "Black", "White", -0.16, -0.27, -0.05),
        ("acceptability_logit", "acceptable", "ethnicity", "Asian", "White", 0.30, -0.10, 0.70),  # interval spans 0
        ("acceptability_logit", "acceptable", "lone_parent", "Yes", "No", -0.08, -0.13, -0.03),
        ("trust_index_linear", "mean", "ethnicity", "Other", "White", 0.45, 0.20, 0.70),
    ]
    frame = pd.DataFrame(rows, columns=["model", "level", "group_variable", "group", "reference", "estimate", "ci_low", "ci_high"])
    frame.insert(1, "variable", frame["level"])
    frame.insert(4, "statistic", "difference")
    frame["count_unweighted"] = 60
    frame["n_unweighted"] = 1400
    return frame


def test_adjusted_differences_are_phrased_about_uses_and_about_parents(raw, plan):
    inputs = {k: brief_inputs(raw)[k] for k in SMALL}
    inputs["effects"] = effects_frame()
    text = visible_text(build_brief(inputs, TH, plan))
    assert (
        "Other things equal, answers for predictive risk scoring to flag children at risk are 26 percentage points "
        "less likely to give a positive answer than for service planning and research with de-identified data "
        "(95% CI 22 to 30 points), and Black parents are 16 percentage points less likely than White parents to give a "
        "positive answer (95% CI 5 to 27 points)."
    ) in text
    assert "45 percentage points" not in text and "30 percentage points" not in text  # other scale; interval spanning 0
    assert "group purpose" not in text and "risk_scoring" not in text


def test_adjusted_difference_for_a_yes_no_group_names_the_question(raw, plan):
    """Hand phrasing for the lone-parent row of effects_frame() (8 points, CI 3 to 13)."""
    inputs = {k: brief_inputs(raw)[k] for k in SMALL}
    effects = effects_frame()
    inputs["effects"] = effects[effects["group_variable"] == "lone_parent"]
    text = visible_text(build_brief(inputs, TH, plan))
    assert (
        "Other things equal, parents answering Yes to “Lone parent” are 8 percentage points less likely than those answering "
        "No to give a positive answer (95% CI 3 to 13 points)."
    ) in text


def comparisons_frame() -> pd.DataFrame:
    """Pairwise group differences typed in here, as the estimation module lays them out: a
    family of 4 Holm-adjusted comparisons; 'Other' has 5 parents, so its comparison is withheld
    even though its adjusted p is the smallest."""
    rows = [
        ("police", "risk_scoring", "lone_parent", "Yes", "No", -0.22, 1e-4, 75, 596),
        ("police", "risk_scoring", "ethnicity", "White", "Other", -0.39, 1e-9, 584, 5),
        ("health", "planning", "ethnicity", "White", "Black", 0.09, 0.51, 584, 16),
        ("health", "early_help", "services_contact", "Yes", "No", -0.23, 0.09, 83, 572),
    ]
    frame = pd.DataFrame(rows, columns=["data_type", "purpose", "group_variable", "group_a", "group_b", "difference", "p_adjusted",
                                        "n_unweighted_a", "n_unweighted_b"])
    frame["variable"], frame["level"] = "acceptability", "acceptable"
    frame["ci_low"], frame["ci_high"] = frame["difference"] - 0.1, frame["difference"] + 0.1
    frame["p_value"] = frame["p_adjusted"] / 4
    frame["adjust_method"], frame["family"], frame["family_size"] = "Holm", "all", 4
    return frame


def test_multiple_comparison_message_counts_only_published_gaps_and_states_the_family(raw, plan):
    inputs = {k: brief_inputs(raw)[k] for k in SMALL}
    inputs["acceptability_comparisons"] = comparisons_frame()
    text = visible_text(build_brief(inputs, TH, plan))
    assert (
        "Allowing for multiple comparisons (Holm adjustment over all 4 pairwise comparisons between groups of parents, for 3 "
        "characteristics and 3 items), one published difference remains significant at the 5% level: parents answering Yes to "
        "“Lone parent” are 22 percentage points less likely than those answering No to find linking police records for "
        "predictive risk scoring to flag children at risk acceptable."
    ) in text
    assert "39 percentage points" not in text  # the comparison with 5 'Other' parents is withheld
    none = comparisons_frame().assign(p_adjusted=0.2)
    inputs["acceptability_comparisons"] = none
    assert "no published difference between groups of parents remains significant at the 5% level" in visible_text(build_brief(inputs, TH, plan))
    inputs["acceptability_comparisons"] = none.assign(adjust_method="none")
    assert "Allowing for multiple comparisons" not in visible_text(build_brief(inputs, TH, plan))


def test_model_section_shows_the_main_models_odds_ratios_without_interactions(raw, brief, plan):
    tables = pd.read_html(StringIO(brief[1]))
    odds = next(t for t in tables if any("Odds ratios from the model" in str(c) for c in t.columns.get_level_values(0)))
    odds.columns = odds.columns.get_level_values(-1)
    black = odds[odds["Category"] == "Black"].iloc[0]
    assert black["Odds ratio"] == "0.54"  # hand: exp(-0.62) = 0.5379
    # models the size of the configured ones: a logistic model with interactions, an ordinal and a linear one
    inputs = {k: brief_inputs(raw)[k] for k in SMALL}
    inputs["models"], inputs["effects"] = model_tables(raw["instrument"])
    page = build_brief(inputs, TH, plan)
    tables = pd.read_html(StringIO(page))
    odds = next(t for t in tables if any("Odds ratios from the model" in str(c) for c in t.columns.get_level_values(0)))
    odds.columns = odds.columns.get_level_values(-1)
    shown = odds[odds["Odds ratio"].astype(str).str.match(r"^[\d.]+$")]
    assert len(shown) == 20 and "Odds ratios from the model 'acceptability_logit'" in visible_text(page)  # the logit's main effects
    assert "Police records" in set(shown["Category"]) and not shown["Category"].str.contains("\u00d7|:").any()
    text = visible_text(page)
    assert "The model also includes data type \u00d7 purpose interaction terms, not shown" in text
    assert "licence_index_linear" not in text and "acceptability_ordinal" not in text
