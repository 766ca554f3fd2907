"""Counts published beside the estimates (codebook, raking margins) go through the one
suppression engine; expected cells worked out by hand from the rule in the docstring."""

from __future__ import annotations

from social_licence.report.disclosure import withhold_in_relation


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
