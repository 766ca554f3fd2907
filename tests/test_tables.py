"""Publication tables: full-precision CSV, formatted HTML and Word, symbols, footnotes, same bytes.

Expected strings are hand-formatted from the numbers written in each test (percentages rounded
half away from zero, thousands separators, GSS symbols [c] and [u]).
"""

from __future__ import annotations

import io
import zipfile

import docx
import numpy as np
import pandas as pd
import pytest
from test_brief_data import (
    example_design,
    example_plan,
    example_respondents,
    grid_table,
    instrument,
)

from social_licence.errors import DisclosureError, OutputError
from social_licence.report.disclosure import Thresholds, suppress, suppress_comparisons
from social_licence.report.tables import (
    display_frame,
    format_p,
    format_percent,
    interaction_note,
    main_model,
    model_type,
    odds_ratio_display,
    reference_note,
    split_term,
    term_label,
    write_table,
)


def frame() -> pd.DataFrame:
    """Three groups by hand: a rounding case, a low-precision case and a base below 10."""
    rows = [
        ("White", 0.125, 0.010, 0.1054, 0.1446, 1234),
        ("Black", 0.5449, 0.09, 0.3685, 0.7213, 41),
        ("Other", 0.4, 0.2, 0.008, 0.792, 7),
        ("Mixed", 0.3, 0.05, 0.2, 0.4, 25),
    ]
    return pd.DataFrame(
        {
            "group_variable": "ethnicity",
            "group": [r[0] for r in rows],
            "variable": "acc_police__early_help",
            "level": "acceptable",
            "estimate": [r[1] for r in rows],
            "se": [r[2] for r in rows],
            "ci_low": [r[3] for r in rows],
            "ci_high": [r[4] for r in rows],
            "deff": 1.5,
            "n_unweighted": [r[5] for r in rows],
            "count_unweighted": [round(r[1] * r[5]) for r in rows],
            "n_weighted": [r[5] * 1000.5 for r in rows],
        }
    )


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.125, "13"), (0.135, "14"), (0.145, "15"), (0.5449, "54"), (0.0049, "0"), (0.995, "100"), (1.0, "100"), (np.nan, "")],
)
def test_percentages_round_half_away_from_zero(p, text):
    """Hand: 12.5% -> 13 (not banker's 12); 14.5% -> 15; 0.49% -> 0."""
    assert format_percent(p) == text


def test_p_values_and_term_labels():
    assert format_p(0.0004) == "<0.001" and format_p(0.0125) == "0.013" and format_p(0.5) == "0.500"
    inst = instrument()
    assert term_label("C(ethnicity)[T.Black]", inst) == "Ethnic group: Black"
    assert term_label("C(ethnicity, Treatment('White'))[T.Asian]", inst) == "Ethnic group: Asian"
    assert term_label("lone_parent[T.No]", inst) == "Lone parent: No"
    assert term_label("Intercept", inst) == "Intercept"


def test_formatted_table_rounds_marks_and_withholds(tmp_path):
    table = suppress(frame(), Thresholds(), partitions=["group"])
    shown = display_frame(table, instrument())
    by_group = shown.set_index("Group")
    assert list(shown.columns) == ["Group variable", "Group", "%", "95% CI", "Unweighted base"]
    assert by_group.loc["White"].tolist()[1:] == ["13", "11\u201314", "1,234"]
    assert by_group.loc["Black", "%"] == "54 [u]"  # CI 35 points wide: low precision
    assert by_group.loc["Other"].tolist()[1:] == ["[c]", "[c]", "[c]"]  # base 7 < 10
    assert by_group.loc["Mixed", "%"] == "[c]"  # 1-9 respondents gave the answer
    assert shown["Group variable"].unique().tolist() == ["Ethnic group"]


def test_all_three_files_are_written_and_agree(tmp_path):
    table = suppress(frame(), Thresholds(), partitions=["group"])
    paths = [tmp_path / "t.csv", tmp_path / "t.html", tmp_path / "t.docx"]
    write_table(table, *paths, title="Acceptability by ethnic group", thresholds=Thresholds(), instrument=instrument())
    back = pd.read_csv(paths[0])
    # CSV keeps full precision: every float round-trips exactly
    assert back["estimate"].tolist()[:2] == [0.125, 0.5449]
    assert back["n_weighted"].tolist()[:2] == [1234 * 1000.5, 41 * 1000.5]
    assert back["suppressed"].tolist() == [False, False, True, True]
    assert back.loc[2, ["estimate", "se", "n_unweighted", "count_unweighted"]].isna().all()
    html = paths[1].read_text(encoding="utf-8")
    for text in ("Acceptability by ethnic group", ">13<", "11\u201314", "1,234", "54 [u]", "[c]", "Ethnic group"):
        assert text in html, text
    assert "fewer than 10 respondents" in html
    # Other has a base of 7; Mixed a count of 1-9 respondents (the count rule of 10, on by default)
    assert "2 estimates are withheld (2 for a small base)" in html
    document = docx.Document(str(paths[2]))
    cells = [[c.text for c in row.cells] for row in document.tables[0].rows]
    assert cells[0] == ["Group", "%", "95% CI", "Unweighted base"]
    assert cells[1] == ["Ethnic group"] * 4  # the row-group heading, merged across
    assert ["White", "13", "11\u201314", "1,234"] in cells
    assert ["Other", "[c]", "[c]", "[c]"] in cells
    notes = "\n".join(p.text for p in document.paragraphs)
    assert "fewer than 10 respondents" in notes and "confidence intervals" in notes


def test_word_rows_are_the_xml_python_docx_writes_for_them():
    """Word rows are copied from one row python-docx made; every text, including those it writes
    specially (tab, line break, spaces at the ends, empty, a number), must give the XML that
    python-docx's add_row and cell.text give (built here with python-docx alone)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    from social_licence.html import GROUP_COLUMN, looks_numeric
    from social_licence.report.tables import docx_bytes

    display = pd.DataFrame(
        {
            GROUP_COLUMN: ["Age", "Age", "Sex", "Sex", "Sex"],
            "Group": ["16\u201324", " lead space", "a\tb", "line\nbreak", ""],
            "%": ["13", "[c]", "54 [u]", "", "7"],
            "n": [1, 22, 333, 4444, 5],
        }
    )
    made = docx.Document(io.BytesIO(docx_bytes(display, title="T")))
    ours = made.tables[0]._tbl
    cols = ["Group", "%", "n"]
    # the same document with no rows (page and column widths as ours), rows added by python-docx
    reference = docx.Document(io.BytesIO(docx_bytes(display.iloc[:0], title="T"))).tables[0]
    numeric = {c for c in cols if looks_numeric(display[c])}
    current = None
    for _, row in display.iterrows():
        if row[GROUP_COLUMN] != current:
            current = row[GROUP_COLUMN]
            grow = reference.add_row()
            merged = grow.cells[0].merge(grow.cells[-1])
            merged.text = ""
            merged.paragraphs[0].add_run(str(current)).bold = True
        for cell, c in zip(reference.add_row().cells, cols, strict=True):
            cell.text = str(row[c])
            if c in numeric:
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    from lxml import etree

    def body(tbl):
        return [etree.tostring(tr) for tr in tbl.tr_lst[1:]]

    assert len(body(ours)) == 2 + 5
    assert body(ours) == body(reference._tbl)


def test_outputs_are_byte_identical_across_runs(tmp_path):
    """Reviewers reproduce to the byte: the same frame gives the same CSV, HTML and docx bytes."""
    table = suppress(frame(), Thresholds(), partitions=["group"])
    out = []
    for run in ("a", "b"):
        paths = [tmp_path / f"{run}.csv", tmp_path / f"{run}.html", tmp_path / f"{run}.docx"]
        write_table(table, *paths, title="Same", thresholds=Thresholds())
        out.append([p.read_bytes() for p in paths])
    assert out[0] == out[1]
    with zipfile.ZipFile(io.BytesIO(out[0][2])) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    assert "2000-01-01T00:00:00Z" in core


def test_grid_table_in_wide_layout():
    """Data type down, purpose across, in instrument order; cells are rounded percentages."""
    data = example_respondents()
    inst = instrument()
    grid = suppress(grid_table(data, example_design(data), inst), Thresholds(), partitions=[])
    wide = display_frame(grid, inst, wide=("data_type", "purpose"))
    assert wide.columns[0] == "Data type"
    assert wide["Data type"].tolist()[:3] == ["Health records", "School records", "Police records"]
    assert wide.columns[1] == "Identifying families for early-help support"
    row = grid[(grid["data_type"] == "police") & (grid["purpose"] == "early_help")].iloc[0]
    assert wide.loc[2, wide.columns[1]].split(" ")[0] == format_percent(row["estimate"])
    with pytest.raises(OutputError, match="region"):
        display_frame(grid, inst, wide=("region", "purpose"))


def test_model_and_comparison_tables():
    """Odds ratios and CIs are exp() of the log-odds columns (hand: exp(-0.62) = 0.54)."""
    model = pd.DataFrame(
        {"term": ["Intercept", "C(ethnicity)[T.Black]"], "estimate": [0.1, -0.62], "se": [0.1, 0.24],
         "ci_low": [-0.096, -1.0904], "ci_high": [0.296, -0.1496], "p_value": [0.3, 0.0004]}
    )
    model["odds_ratio"] = np.exp(model["estimate"])
    shown = display_frame(model, instrument())
    assert list(shown.columns) == ["Term", "Coefficient", "95% CI", "Odds ratio", "95% CI (odds ratio)", "p"]
    assert shown.loc[1].tolist() == ["Ethnic group: Black", "-0.620", "-1.090 to -0.150", "0.54", "0.34 to 0.86", "<0.001"]
    comp = pd.DataFrame(
        {"variable": "acc", "level": "acceptable", "group_variable": "ethnicity", "group_a": ["Black", "Other"],
         "group_b": ["White", "White"], "difference": [-0.125, 0.2], "ci_low": [-0.2, 0.0], "ci_high": [-0.05, 0.4],
         "p_adjusted": [0.012, 0.2], "n_unweighted_a": [60, 6], "n_unweighted_b": [420, 420]}
    )
    comp = suppress_comparisons(comp, Thresholds())
    shown = display_frame(comp, instrument())
    assert shown.loc[0, ["Comparison", "Difference (points)", "95% CI", "p (adjusted)", "Bases"]].tolist() == [
        "Black vs White", "-13", "-20 to -5", "0.012", "60 / 420"
    ]
    assert shown.loc[1, "Difference (points)"] == "[c]"


def test_qa_flow_table_is_plain_counts(tmp_path):
    flow = pd.DataFrame({"step": [0, 1], "rule": ["Received", "Speeders"], "excluded": [0, 12], "remaining": [1512, 1500]})
    shown = write_table(flow, tmp_path / "f.csv", tmp_path / "f.html", None, title="QA flow")
    assert shown.loc[1].tolist() == ["1", "Speeders", "12", "1,500"]


def test_bad_tables_are_refused_with_a_clear_message(tmp_path):
    with pytest.raises(DisclosureError, match="has not been through disclosure.suppress"):
        write_table(frame(), tmp_path / "x.csv", title="Raw")
    data = example_respondents()
    with pytest.raises(DisclosureError, match="respondent"):
        write_table(data, tmp_path / "x.csv", title="Row level")
    with pytest.raises(OutputError, match="title"):
        write_table(suppress(frame(), Thresholds()), tmp_path / "x.csv", title="")
    assert not (tmp_path / "x.csv").exists()


def test_publishes_the_estimation_modules_own_frames(tmp_path):
    """The estimation module's frames (not hand-built ones) go through protect() and out as
    tables; a comparison with a group withheld in the estimates is withheld whole."""
    from social_licence.design import grids as E
    from social_licence.report.tables import publish_table

    data = example_respondents()
    inst = instrument()
    plan = example_plan(inst)
    design = example_design(data)
    frames = {
        "acceptability_groups": E.acceptability(design, inst, by=["data_type", "purpose"], groups=["ethnicity"], grid="acceptability"),
        "acceptability_comparisons": E.grid_comparisons(design, inst, ["ethnicity"], by=["data_type", "purpose"], grid="acceptability"),
        "trust_responses": E.grid_responses(design, inst, "trust"),
    }
    thresholds = Thresholds(min_count=0, reason="the base rule alone, as the expectations below")
    by_group = publish_table("acceptability_groups", frames, plan, thresholds, tmp_path / "g.csv", tmp_path / "g.html", tmp_path / "g.docx")
    assert by_group.columns[0] == "Group variable" and "Data type" in by_group.columns
    published = pd.read_csv(tmp_path / "g.csv")
    held = published[published["suppressed"]]
    assert set(held["group"]) == {"Other", "Mixed"} and held["estimate"].isna().all()
    publish_table("acceptability_comparisons", frames, plan, thresholds, tmp_path / "c.csv", tmp_path / "c.html", None)
    comp = pd.read_csv(tmp_path / "c.csv")
    involves = comp["group_a"].isin(["Other", "Mixed"]) | comp["group_b"].isin(["Other", "Mixed"])
    withheld_cells = set(map(tuple, held[["data_type", "purpose", "group"]].to_numpy()))
    for _, row in comp[involves].iterrows():
        cells = {(row["data_type"], row["purpose"], row["group_a"]), (row["data_type"], row["purpose"], row["group_b"])}
        assert row["suppressed"] == bool(cells & withheld_cells)
        if row["suppressed"]:
            assert np.isnan(row[["estimate_a", "estimate_b", "difference", "p_value", "p_adjusted"]].astype(float)).all()
    assert not comp.loc[~involves, "suppressed"].any()
    trust = publish_table("trust_responses", frames, plan, thresholds, tmp_path / "t.csv", None, None)
    assert trust["Organisation"].iloc[0] == "The NHS" and "Answer" in trust.columns
    with pytest.raises(OutputError, match="'rights_responses' is not among the estimates"):
        publish_table("rights_responses", frames, plan, thresholds, tmp_path / "r.csv")


# -- model tables --------------------------------------------------------------------------------
def model_frame() -> pd.DataFrame:
    """A logistic model with data type x purpose interactions, typed in here; odds ratios are
    exp() of the coefficients."""
    terms = ["Intercept", "data_type[T.police]", "data_type[T.school]", "data_type[T.social_care]",
             "data_type[T.benefits_tax]", "data_type[T.housing]", "purpose[T.risk_scoring]", "purpose[T.early_help]",
             "purpose[T.eligibility]", "ethnicity[T.Black]", "ethnicity[T.Asian]", "ethnicity[T.Mixed]", "ethnicity[T.Other]",
             "data_type[T.police]:purpose[T.risk_scoring]"]
    est = np.array([0.5, -0.5, 0.1, -0.4, -0.4, -0.3, -1.2, -0.7, -0.6, -0.7, 0.1, -0.1, 0.2, 0.3])
    p = [0.5, 0.0004, 0.3, 0.01, 0.01, 0.02, 1e-9, 1e-6, 1e-5, 0.008, 0.47, 0.64, 0.38, 0.04]
    out = pd.DataFrame({"model": "m", "term": terms, "kind": "coefficient", "estimate": est, "se": 0.1,
                        "ci_low": est - 0.2, "ci_high": est + 0.2, "p_value": p})
    out["odds_ratio"], out["odds_ratio_low"], out["odds_ratio_high"] = np.exp(est), np.exp(est - 0.2), np.exp(est + 0.2)
    out["n_unweighted"] = 1400
    return out


def test_terms_of_grid_dimensions_and_interactions_read_as_labels():
    """Labels from config/instrument.yaml, typed out by hand."""
    inst = instrument()
    assert term_label("data_type[T.police]", inst) == "Data type: Police records"
    assert term_label("purpose[T.risk_scoring]", inst) == "Purpose: Predictive risk scoring to flag children at risk"
    assert term_label("data_type[T.school]:purpose[T.early_help]", inst) == (
        "Data type \u00d7 purpose: School records \u00d7 Identifying families for early-help support"
    )
    assert term_label("income_band[T.\u00a360,000 or more]", inst) == "Household income band (gross per year): \u00a360,000 or more"
    assert split_term("a[T.10:30]:b[T.x]") == [("a", "10:30"), ("b", "x")]  # a colon inside a level does not split


def test_model_kinds_and_the_main_model():
    logit = model_frame()
    ordinal = logit.iloc[1:].assign(model="o")
    ordinal = pd.concat([ordinal, ordinal.iloc[[0]].assign(term="1|2", kind="threshold", odds_ratio=np.nan)], ignore_index=True)
    linear = logit.drop(columns=["odds_ratio", "odds_ratio_low", "odds_ratio_high"]).assign(model="lin")
    assert (model_type(logit), model_type(ordinal), model_type(linear)) == ("logistic", "ordinal", "other")
    stacked = pd.concat([linear, ordinal, logit], ignore_index=True)
    assert main_model(stacked) == "m"  # the first logistic model, wherever it is
    assert main_model(pd.concat([linear, ordinal], ignore_index=True)) == "o"
    assert main_model(stacked, preferred="lin") == "lin"
    with pytest.raises(OutputError, match="model 'probit' is not among the models"):
        main_model(stacked, preferred="probit")
    effects = pd.DataFrame({"model": ["lin", "m"], "level": ["mean", "acceptable"]})
    assert main_model(None, effects) == "m"  # without coefficients: the first on the probability scale


def test_odds_ratio_table_groups_main_effects_in_instrument_order_and_names_references():
    inst = instrument()
    table = suppress_model_table_for_test(model_frame())
    shown = odds_ratio_display(table, inst)
    assert shown["Group variable"].tolist() == ["Data type"] * 5 + ["Purpose"] * 3 + ["Ethnic group"] * 4
    # instrument order, whatever the table's: school before police; Mixed, Asian, Black, Other
    assert shown["Category"].tolist() == [
        "School records", "Police records", "Children's social care records", "Benefits and tax records", "Housing records",
        "Identifying families for early-help support", "Predictive risk scoring to flag children at risk",
        "Checking eligibility for services", "Mixed", "Asian", "Black", "Other",
    ]
    police = shown.set_index("Category").loc["Police records"]
    assert police["Odds ratio"] == "0.61"  # exp(-0.5) = 0.6065
    assert police["95% CI"] == "0.50 to 0.74"  # exp(-0.7) = 0.4966, exp(-0.3) = 0.7408
    assert police["p"] == "<0.001"
    assert reference_note(table, inst) == (
        "Reference categories \u2013 data type: health records; purpose: service planning and research with de-identified data; "
        "ethnic group: White."
    )
    assert interaction_note(table, inst) == (
        "The model also includes data type \u00d7 purpose interaction terms, not shown, so the data type odds ratios apply to "
        "service planning and research with de-identified data and the purpose odds ratios to health records."
    )
    assert interaction_note(table[~table["term"].str.contains(":")], inst) is None
    # with two data types left out the reference is not one level: nothing is guessed
    partial = table[~table["term"].isin(["data_type[T.housing]", "data_type[T.benefits_tax]"])]
    assert reference_note(partial, inst).startswith("Reference categories \u2013 purpose: service planning")


def suppress_model_table_for_test(frame: pd.DataFrame) -> pd.DataFrame:
    from social_licence.report.disclosure import protect

    return protect(frame, Thresholds(), instrument())
