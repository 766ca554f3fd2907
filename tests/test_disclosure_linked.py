"""Disclosure control as one linked system: small hand-made tables, expectations worked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from social_licence.errors import DisclosureError
from social_licence.report.disclosure import (
    Thresholds,
    audit,
    load_thresholds,
    protect,
    protect_linked,
    suppress,
    withhold_flow,
    withhold_statistics,
)


def row(group_variable, group, base, count, item="x", **extra):
    return {
        "item": item,
        "group_variable": group_variable,
        "group": group,
        "variable": "acc",
        "level": "acceptable",
        "estimate": count / base,
        "se": 0.01,
        "n_unweighted": base,
        "count_unweighted": count,
        **extra,
    }


def by_group(no_base: int) -> pd.DataFrame:
    """All of 100 (50 acceptable); Yes 60 (30) and No ``no_base`` (20): the rest did not answer."""
    return pd.DataFrame(
        [row("All", "All", 100, 50), row("lone", "Yes", 60, 30), row("lone", "No", no_base, 20)]
    )


@pytest.mark.parametrize(
    ("no_base", "withheld", "why"),
    [(35, {"No"}, "secondary"), (40, set(), ""), (25, {"No"}, "primary suppression: the base minus")],
)
def test_all_minus_the_groups_counts_the_people_who_did_not_answer(no_base, withheld, why):
    """100 - 60 - 35 = 5 did not answer: the smaller group goes, so the 5 stay hidden; with
    100 - 60 - 40 = 0 nothing is hidden; with No at 25, the 15 non-answerers are enough on their
    own, but 25 - 20 = 5 of No answered otherwise: No goes for that (hand)."""
    out = suppress(by_group(no_base), Thresholds(), partitions=["group"])
    assert set(out.loc[out["suppressed"], "group"]) == withheld
    if withheld:
        assert out.loc[out["group"] == "No", "reason"].str.startswith(why).all()
    audit(out, ["group"], thresholds=Thresholds())


def test_audit_names_a_recoverable_remainder():
    published = by_group(35).assign(suppressed=False, low_precision=False, reason="")
    with pytest.raises(DisclosureError, match="did not answer a grouping question"):
        audit(published, ["group"], thresholds=Thresholds())


def test_a_pooled_cell_counts_respondents_not_ratings():
    """30 ratings from 6 parents: below 10 people, withheld whatever the ratings say."""
    table = pd.DataFrame(
        [
            {"item": "a", "variable": "acc", "level": "yes", "estimate": 0.5, "n_unweighted": 30,
             "count_unweighted": 15, "n_respondents": 6, "count_respondents": 5},
            {"item": "b", "variable": "acc", "level": "yes", "estimate": 0.5, "n_unweighted": 300,
             "count_unweighted": 150, "n_respondents": 100, "count_respondents": 60},
        ]
    )
    out = suppress(table, Thresholds(), partitions=[])
    assert out["suppressed"].tolist() == [True, False]
    assert out.loc[0, "reason"] == "primary suppression: unweighted base below 10"


def test_lowering_a_threshold_needs_a_reason(tmp_path):
    with pytest.raises(DisclosureError, match="disclosure.reason"):
        Thresholds(min_count=5)
    assert Thresholds(min_count=5, reason="agreed with the output checker").min_count == 5
    path = tmp_path / "thresholds.yaml"
    path.write_text("disclosure:\n  min_base: 5\n")
    with pytest.raises(DisclosureError, match="min_base 5 is below the default of 10"):
        load_thresholds(path)
    path.write_text("disclosure:\n  min_base: 5\n  reason: agreed with the output checker\n")
    assert load_thresholds(path).min_base == 5


def cell(t, p, base, count, **keys):
    return {"data_type": t, "purpose": p, **keys, "variable": "acc", "level": "acceptable",
            "estimate": count / base, "n_unweighted": base, "count_unweighted": count}


class Grid:
    """An instrument with one grid of data_type x purpose (what item_columns_of reads)."""

    class _G:
        row_name, column_name = "data_type", "purpose"

    grids = {"acc": _G()}


def test_tables_published_together_are_protected_as_one_system():
    """A 2 x 2 grid with its pooled margins: (h, e) has a base of 8. Its row (h) and column (e)
    are published pooled, so one cell in its row and one in its column go too; the same cell
    in the group table's All rows is withheld there as well."""
    grid = pd.DataFrame(
        [cell("h", "e", 8, 4), cell("h", "r", 50, 20), cell("s", "e", 60, 30), cell("s", "r", 70, 30)]
    )
    by_type = pd.DataFrame(
        [{"data_type": t, "variable": "acc", "level": lv, "estimate": 0.5, "n_unweighted": n,
          "count_unweighted": n // 2, "n_respondents": n, "count_respondents": n // 2}
         for t, n in (("h", 58), ("s", 130)) for lv in ("yes", "no")]
    )
    by_purpose = pd.DataFrame(
        [{"purpose": p, "variable": "acc", "level": lv, "estimate": 0.5, "n_unweighted": n,
          "count_unweighted": n // 2, "n_respondents": n, "count_respondents": n // 2}
         for p, n in (("e", 68), ("r", 120)) for lv in ("yes", "no")]
    )
    groups = pd.DataFrame(
        [cell(t, p, b, c, group_variable="All", group="All") for t, p, b, c in
         (("h", "e", 8, 4), ("h", "r", 50, 20), ("s", "e", 60, 30), ("s", "r", 70, 30))]
    )
    frames = {"grid": grid, "by_type": by_type, "by_purpose": by_purpose, "groups": groups}
    alone = suppress(grid, Thresholds(), partitions=[])
    assert alone["suppressed"].sum() == 1  # on its own, nothing adds up to a published total
    out = protect_linked(frames, Thresholds(), Grid())
    held = out["grid"].loc[out["grid"]["suppressed"], ["data_type", "purpose"]]
    assert set(map(tuple, held.to_numpy())) == {("h", "e"), ("h", "r"), ("s", "e"), ("s", "r")}
    assert out["groups"]["suppressed"].tolist() == out["grid"]["suppressed"].tolist()
    assert not out["by_type"]["suppressed"].any()


def test_a_frame_protected_as_one_system_is_not_protected_again():
    """Tables, figures and the brief protect what they are given; a frame protect_linked returned
    passes as it is (the same object), while a copy of it, the same frame under other thresholds
    or a raw frame is protected (the (h, e) cell of base 8 is withheld, by hand: 8 < 10)."""
    grid = pd.DataFrame(
        [cell("h", "e", 8, 4), cell("h", "r", 50, 20), cell("s", "e", 60, 30), cell("s", "r", 70, 30)]
    )
    out = protect_linked({"grid": grid, "other": grid.head(1)}, Thresholds(), Grid(), published=["grid"])
    assert protect(out["grid"], Thresholds(), Grid(), name="grid") is out["grid"]
    assert protect(out["other"], Thresholds(), Grid()) is not out["other"]  # not published: not linked
    again = protect(out["grid"].copy(), Thresholds(), Grid(), name="grid")
    assert again is not out["grid"]
    assert again["suppressed"].tolist() == out["grid"]["suppressed"].tolist()
    stricter = protect(out["grid"], Thresholds(min_base=55), Grid(), name="grid")
    assert stricter["suppressed"].sum() > out["grid"]["suppressed"].sum()
    raw = protect(grid, Thresholds(), Grid(), name="grid")
    assert raw.loc[(raw["data_type"] == "h") & (raw["purpose"] == "e"), "suppressed"].all()


def test_flow_exclusions_of_1_to_9_are_withheld_with_a_partner():
    flow = pd.DataFrame(
        {
            "rule": ["received", "withdrawals", "duplicates", "speeders", "analysed"],
            "excluded": [0, 4, 0, 30, 0],
            "remaining": [500, 496, 496, 466, 466],
        }
    )
    out = withhold_flow(flow, Thresholds())
    # 4 withdrew; the duplicates step (0) is the smallest other: its number and the 496 before
    # it go, so 500 - 496 no longer gives the 4 away
    assert out["excluded"].isna().tolist() == [False, True, True, False, False]
    assert out["remaining"].isna().tolist() == [False, True, False, False, False]


def test_statistics_of_fewer_than_10_people_are_withheld():
    summary = pd.DataFrame({"weights": ["final", "other"], "n": [7, 40], "median": [1.1, 1.0]})
    out = withhold_statistics(summary, "n", ["median"], Thresholds())
    assert out["n"].isna().tolist() == [True, False]
    assert out["median"].isna().tolist() == [True, False]
