"""Counts published beside the estimates (codebook, raking margins) go through the one
suppression engine; expected cells worked out by hand from the rule in the docstring."""

from __future__ import annotations

import pandas as pd

from social_licence.report.disclosure import withhold_in_relation, withhold_margin_counts


def test_a_lone_small_count_takes_the_smallest_other_with_it():
    # a (3) is below 10; b (0) is the smallest other count, so a = total - c - d - b is protected
    assert withhold_in_relation({"a": 3, "b": 0, "c": 20, "d": 50}, 10) == {"a", "b"}


def test_two_small_counts_protect_each_other():
    assert withhold_in_relation({"a": 3, "b": 4, "c": 20}, 10) == {"a", "b"}


def test_empty_and_large_counts_are_published():
    assert withhold_in_relation({"a": 0, "b": 20, "c": 11}, 10) == set()
    assert withhold_in_relation({"a": 5}, 10) == {"a"}


def test_ties_go_to_the_first_key_in_text_order():
    counts = {"missing_refused": 0, "missing_dont_know": 4, "missing_by_design": 0}
    assert withhold_in_relation(counts, 10) == {"missing_dont_know", "missing_by_design"}


def test_a_withheld_margin_count_takes_the_sample_share_before_raking_with_it():
    """By hand: counts 3, 40, 57 of one margin (n = 100): 3 is below 10, and 40, the smallest
    other, goes too so 100 - 57 no longer reveals it; their before-raking shares (3/100, 40/100
    with equal design weights) would give the counts back, so they are withheld as well; the
    targets and raked shares (the population's) stay."""
    margins = pd.DataFrame(
        {
            "margin": ["m"] * 3,
            "category": ["a", "b", "c"],
            "target": [0.1, 0.3, 0.6],
            "before": [0.03, 0.40, 0.57],
            "after": [0.1, 0.3, 0.6],
            "abs_diff_before": [0.07, 0.10, 0.03],
            "abs_diff_after": [0.0, 0.0, 0.0],
            "count_unweighted": [3, 40, 57],
        }
    )
    out = withhold_margin_counts(margins, 10)
    hidden = out["count_unweighted"].isna().to_numpy()
    assert hidden.tolist() == [True, True, False]
    assert out.loc[hidden, ["before", "abs_diff_before"]].isna().all().all()
    assert out.loc[~hidden, "before"].tolist() == [0.57]
    assert out["target"].tolist() == [0.1, 0.3, 0.6] and out["after"].tolist() == [0.1, 0.3, 0.6]
