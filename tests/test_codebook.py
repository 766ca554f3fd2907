"""Codebook: frequencies, weighted frequencies and missing counts by reason, as CSV and HTML.

The survey is a 20-respondent export whose sex, weights, durations and one grid item are set by
hand below; every expected number is worked out in the comments.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from test_ingest_support import BALLOTS, INSTRUMENT, REFERENCE_SPSS, coded_export, write_sav

from social_licence.errors import InputError
from social_licence.ingest.codebook import CODEBOOK_COLUMNS, codebook_table, write_codebook
from social_licence.ingest.formats import read_survey
from social_licence.survey.survey import Survey


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    frame = coded_export(n=20, seed=9)
    frame["sex"] = [1.0] * 8 + [2.0] * 10 + [9.0] * 2  # 8 Female, 10 Male, 2 refused
    frame["design_weight"] = [1.0] * 10 + [2.0] * 10  # rows 1-10 weigh 1, rows 11-20 weigh 2
    frame["duration_s"] = np.arange(1, 21) * 100.0  # 100, 200, ..., 2000
    frame["ballot"] = [1.0] * 12 + [6.0] * 8  # early_help asked of the first 12 only
    for var, _row, column in INSTRUMENT.grids["acceptability"].cells():
        asked = frame["ballot"].map(lambda b, c=column: c in BALLOTS[int(b)])
        frame[var] = np.where(asked, 3.0, -1.0)
    frame["acc_health__early_help"] = [4.0] * 5 + [5.0] * 4 + [8.0] * 2 + [9.0] + [-1.0] * 8
    return read_survey(write_sav(frame, tmp_path_factory.mktemp("cb") / "parents.sav"), INSTRUMENT)


@pytest.fixture(scope="module")
def table(survey):
    return codebook_table(survey, INSTRUMENT)


def test_frequencies_weighted_frequencies_and_missing_by_reason(table):
    sex = table[table["variable"] == "sex"].set_index("level")
    assert sex["code"].tolist() == [1, 2]
    assert sex["count_unweighted"].tolist() == [8, 10]
    assert (sex["n_unweighted"] == 18).all() and (sex["missing_refused"] == 2).all()
    assert sex["share_unweighted"].tolist() == pytest.approx([8 / 18, 10 / 18])
    # Female: rows 1-8, weight 1 each = 8; Male: rows 9-10 (weight 1) + rows 11-18 (weight 2) = 18
    assert sex["count_weighted"].tolist() == pytest.approx([8.0, 18.0])
    assert sex["n_weighted"].iloc[0] == pytest.approx(26.0)
    assert sex["share_weighted"].tolist() == pytest.approx([8 / 26, 18 / 26])
    assert (sex["weighted_by"] == "design_weight").all()


def test_grid_item_counts_and_by_design_cells_apart(table):
    item = table[table["variable"] == "acc_health__early_help"].set_index("level")
    assert len(item) == 5 and item["count_unweighted"].tolist() == [0, 0, 0, 5, 4]
    first = item.iloc[0]
    assert (first["n_unweighted"], first["missing_dont_know"], first["missing_refused"]) == (
        9,
        2,
        1,
    )
    assert (first["missing_by_design"], first["missing_system"], first["missing_not_asked"]) == (
        8,
        0,
        0,
    )
    # weighted: all 9 answers are in rows 1-9 (weight 1)
    assert item["count_weighted"].tolist() == pytest.approx([0, 0, 0, 5, 4])


def test_numeric_variables_get_mean_sd_median_not_extremes(table):
    row = table[table["variable"] == "duration_s"].iloc[0]
    # 100..2000 by 100: mean 1050, median 1050, sd = 100 * sd(1..20) = 100 * sqrt(35)
    assert row["mean"] == pytest.approx(1050.0) and row["median"] == pytest.approx(1050.0)
    assert row["sd"] == pytest.approx(100 * np.sqrt(35.0))
    # weighted mean: (sum 100..1000 + 2 * sum 1100..2000) / 30 = (5500 + 31000) / 30
    assert row["weighted_mean"] == pytest.approx(36500 / 30)
    assert pd.isna(row["level"])
    assert "min" not in table.columns and "max" not in table.columns


def test_every_instrument_variable_is_listed_once_in_instrument_order(survey, table):
    assert list(dict.fromkeys(table["variable"])) == list(INSTRUMENT.variables)
    assert list(table.columns) == CODEBOOK_COLUMNS
    assert set(survey.variables) < set(table["variable"])


def test_id_and_identifiers_say_how_they_were_handled_and_carry_no_numbers(table):
    handled = table.set_index("variable").loc[["respondent_id", "email", "postcode"]]
    assert handled.loc["email", "note"] == "direct identifier: dropped at ingest, never read"
    assert "index" in handled.loc["respondent_id", "note"]
    assert handled[["count_unweighted", "n_unweighted", "missing_system"]].isna().all().all()
    assert handled["level"].isna().all()


def test_weights_can_be_named_and_must_be_valid(survey):
    data = survey.data.assign(weight=np.where(survey.data["sex"] == "Male", 3.0, 1.0))
    other = Survey(data=data, meta=survey.meta, log=[], rows=survey.rows)
    sex = codebook_table(other, INSTRUMENT, weights="weight")
    sex = sex[sex["variable"] == "sex"].set_index("level")
    assert sex["count_weighted"].tolist() == pytest.approx([8.0, 30.0])
    unweighted = codebook_table(other, None, weights=None)
    assert unweighted["count_weighted"].isna().all()
    bad = other.data["weight"].to_numpy().copy()
    bad[4] = -1
    with pytest.raises(InputError, match="non-negative") as err:
        codebook_table(other, INSTRUMENT, weights=bad)
    assert err.value.rows == [5]


def test_csv_and_html_files(table, tmp_path):
    csv_path, html_path = (
        tmp_path / "codebook" / "codebook.csv",
        tmp_path / "codebook" / "codebook.html",
    )
    write_codebook(table, csv_path, html_path)
    back = pd.read_csv(csv_path)
    assert list(back.columns) == CODEBOOK_COLUMNS and len(back) == len(table)
    html = html_path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script|<link|src=|https?://", html), "the page must be self-contained"
    assert "Parent sex" in html and "44.4%" in html  # Female 8 of 18
    assert "refused 2" in html and "by design 8" in html
    # same table, same bytes
    write_codebook(table, tmp_path / "again.csv", tmp_path / "again.html")
    assert (tmp_path / "again.csv").read_bytes() == csv_path.read_bytes()
    assert (tmp_path / "again.html").read_bytes() == html_path.read_bytes()


def test_labels_are_escaped_in_html(table, tmp_path):
    odd = table.copy()
    odd.loc[odd["variable"] == "sex", "label"] = "<b>Sex</b> & gender"
    write_codebook(odd, tmp_path / "c.csv", tmp_path / "c.html")
    html = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;Sex&lt;/b&gt; &amp; gender" in html and "<b>Sex</b>" not in html


def test_codebook_tables_come_from_the_one_html_table_renderer(table, tmp_path):
    """Each variable's answers (or statistics) are a table of :func:`social_licence.html.html_table`,
    the renderer of the published tables: its classes, counts and shares right-aligned, answer
    labels escaped; sex's Female row reads code 1, 8 answers, 44.4% (8 of 18, by hand)."""
    odd = table.copy()
    odd.loc[(odd["variable"] == "sex") & (odd["level"] == "Male"), "level"] = "<i>Male</i>"
    write_codebook(odd, tmp_path / "c.csv", tmp_path / "c.html")
    html = (tmp_path / "c.html").read_text(encoding="utf-8")
    described = [v for v, b in odd.groupby("variable", sort=False) if b["level"].notna().any() or b["mean"].notna().any()]
    assert html.count('<table class="gt_table"') == len(described)
    sex = list(dict.fromkeys(odd["variable"])).index("sex")
    block = html[html.index(f'<section id="v{sex}">') :]
    block = block[: block.index("</section>")]
    cells = re.findall(r'<td headers="v\d+-answers-[^"]+" class="gt_row gt_(left|right)">([^<]*)</td>', block)
    assert cells[0][1] == "1" and cells[1:4] == [("left", "Female"), ("right", "8"), ("right", "44.4%")]
    assert "&lt;i&gt;Male&lt;/i&gt;" in block and "<i>Male</i>" not in block


def test_a_bad_table_writes_nothing(table, tmp_path):
    with pytest.raises(InputError, match="not a codebook table"):
        write_codebook(table.drop(columns=["level"]), tmp_path / "x.csv", tmp_path / "x.html")
    assert list(tmp_path.iterdir()) == []


def test_codebook_of_a_file_read_without_instrument():
    """sample_missing.sav: mylabl is 1 Male / 2 Female, rows 1-5 read 1,2,1,2,1 (sample.csv),
    row 6 is user-missing -1 and row 7 system-missing."""
    survey = read_survey(REFERENCE_SPSS / "sample_missing.sav")
    table = codebook_table(survey)
    mylabl = table[table["variable"] == "mylabl"].set_index("level")
    assert mylabl["count_unweighted"].to_dict() == {"Male": 3, "Female": 2}
    assert mylabl["code"].tolist() == [1, 2]
    assert mylabl["missing_system"].iloc[0] == 2
    text = table[table["variable"] == "mychar"].iloc[0]
    assert text["count_unweighted"] == 6 and text["missing_system"] == 1
