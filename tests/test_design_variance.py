"""Design variance and bases on small frames computed by hand, and the errors bad input gets.

Each expected number is worked out in the test from the formulas of R ``survey``'s
``onestrat`` (with-replacement ultimate-cluster variance) on a handful of rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from social_licence.design.design import SurveyDesign
from social_licence.errors import ConfigError, EstimationError


@pytest.fixture
def lonely_frame() -> pd.DataFrame:
    """Strata A (PSUs 1, 2), B (PSU 3 alone) and C (PSUs 4, 5). PSU totals of w*y:
    t1 = 1*2 + 2*1 = 4, t2 = 5, t3 = 6, t4 = 4, t5 = 3*1 + 1*2 = 5; grand total 24."""
    return pd.DataFrame(
        {
            "stratum": ["A", "A", "A", "B", "C", "C", "C"],
            "psu": [1, 1, 2, 3, 4, 5, 5],
            "w": [1.0, 2, 1, 2, 1, 3, 1],
            "y": [2.0, 1, 5, 3, 4, 1, 2],
        }
    )


@pytest.mark.parametrize(
    ("option", "variance"),
    [
        # A and C: 2/(2-1) * ((4-4.5)^2 + (5-4.5)^2) = 1 each; B contributes 0
        ("remove", 2.0),
        ("certainty", 2.0),
        # adjust: B's PSU is centred on the mean PSU total of the sample, 24/5: (6 - 4.8)^2
        ("adjust", 2.0 + 1.44),
        # average: the mean of the other strata's variances stands in for B: 2 * 3/2
        ("average", 3.0),
    ],
)
def test_lonely_psu_options_follow_r_onestrat(lonely_frame, option, variance):
    d = SurveyDesign(lonely_frame, weights="w", strata="stratum", psu="psu", lonely_psu=option)
    t = d.total("y").iloc[0]
    assert t["estimate"] == pytest.approx(24.0)
    assert t["se"] ** 2 == pytest.approx(variance, rel=1e-12)


def test_lonely_psu_fail_names_the_stratum(lonely_frame):
    d = SurveyDesign(lonely_frame, weights="w", strata="stratum", psu="psu")
    with pytest.raises(EstimationError, match="stratum 'B' has only one PSU"):
        d.total("y")


def test_fpc_scales_each_stratum_by_one_minus_the_sampling_fraction(lonely_frame):
    """FPC as population PSUs per stratum: A 4 (f = 1 - 2/4), C 20 (f = 0.9); B removed.
    V = 0.5 * 1 + 0.9 * 1."""
    frame = lonely_frame.assign(pop=[4, 4, 4, 1, 20, 20, 20])
    d = SurveyDesign(frame, weights="w", strata="stratum", psu="psu", fpc="pop", lonely_psu="remove")
    assert d.total("y").iloc[0]["se"] ** 2 == pytest.approx(1.4, rel=1e-12)


@pytest.fixture
def answers() -> pd.DataFrame:
    """Six parents, each their own PSU: Yes, No, Don't know, not asked (by design), refused, Yes."""
    labels = ["Yes", "No"]
    return pd.DataFrame(
        {
            "v": pd.Categorical(["Yes", "No", None, None, None, "Yes"], categories=labels),
            "v__reason": pd.Categorical(
                [None, None, "dont_know", "by_design", "refused", None],
                categories=["dont_know", "refused", "not_asked", "by_design", "system"],
            ),
            "w": [1.0, 2, 3, 4, 5, 6],
        },
        index=pd.Index([f"p{i}" for i in range(6)], name="respondent"),
    )


def _srs_se(w, in_base, y, p):
    """SE of a ratio p = sum(w b y)/sum(w b) with every row its own PSU: influence
    b (y - p) / W, variance n/(n-1) * sum of squared deviations of w z from their mean."""
    big_w = (w * in_base).sum()
    t = w * in_base * (y - p) / big_w
    n = len(w)
    return np.sqrt(n / (n - 1) * ((t - t.mean()) ** 2).sum())


def test_dont_know_is_out_of_the_base_or_its_own_level(answers):
    d = SurveyDesign(answers, weights="w")
    w = answers["w"].to_numpy()
    ex = d.proportion("v").set_index("level")
    # exclude: base rows 0, 1, 5 (weights 1 + 2 + 6); by-design and refused never count
    assert ex.loc["Yes", "estimate"] == pytest.approx(7 / 9)
    assert ex["n_unweighted"].tolist() == [3, 3]
    assert ex.loc["Yes", "count_unweighted"] == 2
    assert ex.loc["Yes", "n_weighted"] == pytest.approx(9)
    base = np.array([1, 1, 0, 0, 0, 1.0])
    yes = np.array([1, 0, 0, 0, 0, 1.0])
    assert ex.loc["Yes", "se"] == pytest.approx(_srs_se(w, base, yes, 7 / 9), rel=1e-12)

    inc = d.proportion("v", dk="include").set_index("level")
    assert list(inc.index) == ["Yes", "No", "Don't know"]
    assert inc["estimate"].tolist() == pytest.approx([7 / 12, 2 / 12, 3 / 12])
    assert inc["n_unweighted"].tolist() == [4, 4, 4]
    base = np.array([1, 1, 1, 0, 0, 1.0])
    dk = np.array([0, 0, 1, 0, 0, 0.0])
    assert inc.loc["Don't know", "se"] == pytest.approx(_srs_se(w, base, dk, 3 / 12), rel=1e-12)


def test_mean_leaves_missing_values_out_of_the_domain():
    frame = pd.DataFrame({"y": [1.0, np.nan, 4, 6], "w": [1.0, 1, 2, 1]})
    m = SurveyDesign(frame, weights="w").mean("y").iloc[0]
    assert m["estimate"] == pytest.approx((1 + 8 + 6) / 4)
    assert m["n_unweighted"] == 3
    base = np.array([1, 0, 1, 1.0])
    y = np.nan_to_num(frame["y"].to_numpy())
    assert m["se"] == pytest.approx(_srs_se(frame["w"].to_numpy(), base, y, 15 / 4), rel=1e-12)


def test_empty_domains_are_dropped_and_missing_by_values_are_no_domain():
    frame = pd.DataFrame(
        {
            "g": pd.Categorical(["a", "a", "c", None], categories=["a", "b", "c"]),
            "y": [1.0, 3, 5, 7],
        }
    )
    t = SurveyDesign(frame).mean("y", by="g")
    assert t["g"].tolist() == ["a", "c"]
    assert t["estimate"].tolist() == [2.0, 5.0]


def test_long_frame_rows_are_clustered_on_their_respondent():
    """A frame with every respondent twice: the total doubles and so does its SE, because
    both rows of a respondent fall in the same PSU (the respondent, when there are no PSUs)."""
    frame = pd.DataFrame({"y": [1.0, 2, 4, 8]}, index=pd.Index(list("abcd"), name="respondent"))
    d = SurveyDesign(frame)
    long = pd.DataFrame({"respondent": list("abcdabcd"), "y": [1.0, 2, 4, 8] * 2})
    one, two = d.total("y").iloc[0], d.long(long).total("y").iloc[0]
    assert two["estimate"] == pytest.approx(2 * one["estimate"])
    assert two["se"] == pytest.approx(2 * one["se"], rel=1e-12)
    assert d.long(long).df == d.df


def test_bad_design_input_names_the_column_and_rows():
    frame = pd.DataFrame({"w": [1.0, -2, 3], "s": ["a", None, "b"]}, index=pd.Index(["x", "y", "z"], name="respondent"))
    with pytest.raises(EstimationError, match="'nope'"):
        SurveyDesign(frame, weights="nope")
    # a respondent index is never printed: rows are given by position (the second row)
    with pytest.raises(EstimationError, match=r"'w'.*rows 2 "):
        SurveyDesign(frame, weights="w")
    with pytest.raises(EstimationError, match="strata have missing values in rows 2$"):
        SurveyDesign(frame, strata="s")
    with pytest.raises(EstimationError, match="fpc varies within stratum"):
        SurveyDesign(frame.assign(s="a"), strata="s", fpc=[10, 20, 10])
    with pytest.raises(EstimationError, match="lonely_psu"):
        SurveyDesign(frame, lonely_psu="ignore")


def test_bad_estimation_requests_get_clear_errors(answers):
    d = SurveyDesign(answers, weights="w")
    with pytest.raises(EstimationError, match="'nothing' is not a column"):
        d.proportion("nothing")
    with pytest.raises(EstimationError, match="by variable 'region'"):
        d.proportion("v", by="region")
    with pytest.raises(EstimationError, match="use proportion"):
        d.mean("v")
    with pytest.raises(ConfigError, match="dk must be"):
        d.proportion("v", dk="maybe")
    with pytest.raises(ConfigError, match="ci must be"):
        d.proportion("v", ci="z")
    with pytest.raises(ConfigError, match="ci_level"):
        d.proportion("v", ci_level=95)
    with pytest.raises(EstimationError, match="v2__reason"):
        SurveyDesign(answers.assign(v2=answers["v"])).proportion("v2", dk="include")
    with pytest.raises(EstimationError, match="at least two observed levels"):
        SurveyDesign(answers.assign(c="x"), weights="w").chisq("v", "c")
    with pytest.raises(EstimationError, match="not in the design data: zz"):
        d.long(pd.DataFrame({"respondent": ["p0", "zz"]}))


@pytest.mark.parametrize(
    ("option", "variance"),
    [
        # a lonely stratum gets no replicate; for a total JKn is exact in A and C: 1 + 1
        ("remove", 2.0),
        ("certainty", 2.0),
        # R's jknweights: 'average' multiplies scale by PSUs / replicates = 5/4
        ("average", 2.5),
        # 'adjust': one more replicate, B's PSU weight 0 and all others H/(H-1) = 3/2, rscale
        # (H-1)/H = 2/3. Replicate totals: A 24 - 9 + 2*5 = 25 and 23, C 25 and 23 (rscales
        # 1/2), B 1.5 * (24 - 6) = 27; centred on their mean 24.6:
        # 0.5 * (0.4^2 + 1.6^2 + 0.4^2 + 1.6^2) + 2/3 * 2.4^2 = 2.72 + 3.84
        ("adjust", 6.56),
    ],
)
def test_jkn_lonely_psu_options_follow_r_jknweights(lonely_frame, option, variance):
    d = SurveyDesign(lonely_frame, weights="w", strata="stratum", psu="psu", lonely_psu=option)
    rep = d.with_replicates("jkn")
    t = rep.total("y").iloc[0]
    assert t["estimate"] == pytest.approx(24.0)
    assert t["se"] ** 2 == pytest.approx(variance, rel=1e-12)


def test_jkn_lonely_psu_fail_names_the_stratum(lonely_frame):
    d = SurveyDesign(lonely_frame, weights="w", strata="stratum", psu="psu")
    with pytest.raises(EstimationError, match="stratum 'B' has only one PSU"):
        d.with_replicates("jkn")
