"""Figures for answer scales of any length from 2 to 11 codes, drawn from real estimates.

Each scale is a grid of a small instrument (written as YAML and read by the instrument loader)
over a generated survey; its estimates come from the estimation functions
(:func:`social_licence.design.grids.grid_responses` and :func:`~social_licence.design.grids.acceptability`
on :func:`social_licence.design.build.build_design`), pass disclosure control, and are rendered
to real PNG and SVG. Expected colours are ColorBrewer's PuOr as published at colorbrewer2.org
(typed in below, not taken from the library that draws) with the house grey for the midpoint,
and the published Okabe-Ito colours for unordered scales.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from test_figures import _lab as lab_of_linear
from test_figures import _linear as linear_rgb
from test_figures import text_collisions

from social_licence.design.build import build_design
from social_licence.design.grids import acceptability, grid_responses
from social_licence.errors import ConfigError, OutputError
from social_licence.report import figures as F
from social_licence.report.disclosure import Thresholds, protect
from social_licence.survey.instrument import load_instrument

# colorbrewer2.org, PuOr, n = 3 to 11 classes, orange end first (Brewer 2003)
PUOR = {
    3: "f1a340 f7f7f7 998ec3",
    4: "e66101 fdb863 b2abd2 5e3c99",
    5: "e66101 fdb863 f7f7f7 b2abd2 5e3c99",
    6: "b35806 f1a340 fee0b6 d8daeb 998ec3 542788",
    7: "b35806 f1a340 fee0b6 f7f7f7 d8daeb 998ec3 542788",
    8: "b35806 e08214 fdb863 fee0b6 d8daeb b2abd2 8073ac 542788",
    9: "b35806 e08214 fdb863 fee0b6 f7f7f7 d8daeb b2abd2 8073ac 542788",
    10: "7f3b08 b35806 e08214 fdb863 fee0b6 d8daeb b2abd2 8073ac 542788 2d004b",
    11: "7f3b08 b35806 e08214 fdb863 fee0b6 f7f7f7 d8daeb b2abd2 8073ac 542788 2d004b",
}
GREY = "#d9d9d9"  # the house midpoint: ColorBrewer's #f7f7f7 vanishes on white

# Scale length -> its codes, labelled as such scales are in real questionnaires.
SCALES = {
    2: {1: "Disagree", 2: "Agree"},
    3: {1: "Worse", 2: "About the same", 3: "Better"},
    4: {1: "Not at all", 2: "Not very much", 3: "A fair amount", 4: "A great deal"},
    5: {1: "Very unacceptable", 2: "Somewhat unacceptable", 3: "Neither", 4: "Somewhat acceptable", 5: "Very acceptable"},
    7: {i: f"{i}" for i in range(1, 8)} | {1: "1 Strongly disagree", 7: "7 Strongly agree"},
    10: {i: f"{i}" for i in range(1, 11)} | {1: "1 Not at all", 10: "10 Completely"},
    11: {i: f"{i}" for i in range(0, 11)} | {0: "0 Not at all acceptable", 10: "10 Completely acceptable"},
}
LENGTHS = sorted(SCALES)
ROWS = {"wifi": "Wi-Fi location data", "library": "Library loans", "grades": "Exam marks"}
COLUMNS = {"research": "Research", "security": "Campus security"}
TH = Thresholds()  # the shipped rules: 10 respondents a cell, secondary suppression on


def _instrument_yaml() -> dict:
    scales = {f"s{k}": {"ordered": True, "codes": codes, "positive": [max(codes)]} for k, codes in SCALES.items()}
    scales["yesno"] = {"ordered": False, "codes": {1: "Yes", 2: "No", 3: "Not sure"}}
    scales["s12"] = {"ordered": True, "codes": {i: str(i) for i in range(12)}}
    scales["shifted"] = {"ordered": True, "codes": {i: f"{i}" for i in range(1, 7)}, "midpoint": 2}
    grids = {
        name: {
            "label": "{row}: {column}",
            "variable": f"{name}_{{row}}_{{column}}",
            "scale": name,
            "row_name": "scenario",
            "column_name": "use",
            "rows": ROWS,
            "columns": COLUMNS,
        }
        for name in scales
    }
    return {
        "name": "campus scenarios",
        "id": "pid",
        "variables": [{"name": "pid", "type": "id"}, {"name": "weight", "type": "weight"}],
        "scales": scales,
        "grids": grids,
    }


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """The instrument (read from YAML) and a design over 1,500 generated respondents."""
    path = tmp_path_factory.mktemp("scales") / "instrument.yaml"
    path.write_text(yaml.safe_dump(_instrument_yaml(), sort_keys=False), encoding="utf-8")
    inst = load_instrument(path)
    rng = np.random.default_rng(20261202)
    n = 1500
    data = {"weight": rng.uniform(0.5, 2.0, n)}
    for grid in inst.grids.values():
        labels = [inst.scales[grid.scale]["codes"][c] for c in sorted(inst.scales[grid.scale]["codes"])]
        for var, _, _ in grid.cells():
            p = rng.dirichlet(np.full(len(labels), 8.0))  # every answer common enough to publish
            answers = rng.choice(len(labels), size=n, p=p)
            data[var] = pd.Categorical.from_codes(answers, categories=labels)
    frame = pd.DataFrame(data, index=pd.Index([f"r{i:05d}" for i in range(n)], name="pid"))
    design = build_design(frame, weights="weight", lonely_psu="fail")
    return inst, design


def _ratings(survey, grid: str) -> pd.DataFrame:
    inst, design = survey
    table = grid_responses(design, inst, grid, by=["scenario"])
    return protect(table, TH, inst, name=f"{grid}_by_scenario")


def _fills(plot) -> list[str]:
    """The bar colours of a drawn Likert figure, level by level in scale order."""
    scale = plot.scales.get_scales("fill")
    return [scale.palette(len(scale.breaks))[b].lower() for b in scale.breaks]


def _svg_fills(svg: bytes) -> set[str]:
    return {m.lower() for m in re.findall(r"fill: ?(#[0-9a-fA-F]{6})", svg.decode())}


def _lab(hex_colour: str) -> np.ndarray:
    """CIE L*a*b* (D65) of an sRGB colour, by the textbook formulas of test_figures."""
    return lab_of_linear(linear_rgb(hex_colour))


@pytest.mark.parametrize("k", LENGTHS)
def test_bars_of_every_scale_length_are_coloured_symmetrically_about_the_midpoint(survey, k):
    """Step i below the midpoint and step i above it take PuOr's colours i steps either side of
    its centre (same palette, mirrored), lightness falls outward on both sides, the negative
    side is orange (b* > 0) and the positive purple (b* < 0); grey only at an odd scale's middle."""
    inst, _ = survey
    plot = F.figure_likert(_ratings(survey, f"s{k}"), inst, grid=f"s{k}", by="scenario")
    fills = _fills(plot)
    assert len(fills) == k
    reference = ["#" + c for c in PUOR[max(k, 3)].split()]
    if k == 2:  # two answers: the two sides of the three-class palette
        reference = [reference[0], reference[2]]
    expected = [GREY if k % 2 and i == k // 2 else c for i, c in enumerate(reference)]
    assert fills == expected
    half = k // 2
    below, above = fills[:half][::-1], fills[k - half :]  # nearest the midpoint first
    assert (GREY in fills) == bool(k % 2)
    if k % 2:
        assert fills[half] == GREY and abs(_lab(GREY)[1]) < 1 and abs(_lab(GREY)[2]) < 1
    assert [_lab(c)[0] for c in below] == sorted((_lab(c)[0] for c in below), reverse=True)
    assert [_lab(c)[0] for c in above] == sorted((_lab(c)[0] for c in above), reverse=True)
    assert all(_lab(c)[2] > 0 for c in below) and all(_lab(c)[2] < 0 for c in above)
    assert len(set(fills)) == k


@pytest.mark.parametrize("k", LENGTHS)
def test_bars_diverge_at_the_midpoint_and_render_to_png_and_svg(survey, k):
    """Each bar crosses zero at the midpoint: the middle code of an odd scale is split in half
    across zero; an even scale's halves meet at zero between its middle codes. The SVG's bars
    are filled with the scale's colours, the PNG is 16 x 11 cm at 300 dpi."""
    inst, _ = survey
    ratings = _ratings(survey, f"s{k}")
    plot = F.figure_likert(ratings, inst, grid=f"s{k}", by="scenario")
    rects = plot.data  # the bars are the plot's own data
    labels = [SCALES[k][c] for c in sorted(SCALES[k])]
    for scenario, y in zip(ROWS, (3, 2, 1), strict=True):
        bar = rects[rects["y"] == y].set_index("level")
        est = ratings[ratings["scenario"] == scenario].set_index("level")["estimate"]
        assert bar["xmax"].iloc[-1] - bar["xmin"].iloc[0] == pytest.approx(est[labels].sum(), abs=1e-12)
        if k % 2:
            middle = bar.loc[labels[k // 2]]
            assert middle["xmin"] == pytest.approx(-middle["xmax"], abs=1e-12)
            assert middle["xmax"] == pytest.approx(est[labels[k // 2]] / 2, abs=1e-12)
        else:
            assert bar.loc[labels[k // 2 - 1], "xmax"] == pytest.approx(0.0, abs=1e-12)
            assert bar.loc[labels[k // 2], "xmin"] == pytest.approx(0.0, abs=1e-12)
    svg = F.render_figure(plot, "svg")
    assert set(_fills(plot)) <= _svg_fills(svg)
    assert (GREY in _svg_fills(svg)) == bool(k % 2)
    png = Image.open(io.BytesIO(F.render_figure(plot, "png")))
    assert png.size == (int(16 / 2.54 * 300), int(11 / 2.54 * 300))  # matplotlib truncates pixels


@pytest.mark.slow  # draws every figure at print size: several seconds
@pytest.mark.parametrize("k", [7, 10, 11])
def test_long_scales_draw_no_text_over_text(survey, k):
    inst, _ = survey
    plot = F.figure_likert(_ratings(survey, f"s{k}"), inst, grid=f"s{k}", by="scenario", title="Scenarios")
    assert text_collisions(plot) == []


def test_a_declared_midpoint_centres_the_bars_and_the_palette(survey):
    """``shifted``: six codes with midpoint 2 declared, one code below it and four above. The
    colours are the nine-class PuOr's (four steps a side) taken outward from its centre, so code
    1 is one step orange as code 3 is one step purple; the midpoint is split across zero."""
    inst, _ = survey
    assert inst.scales["shifted"]["midpoint"] == 2
    ratings = _ratings(survey, "shifted")
    plot = F.figure_likert(ratings, inst, grid="shifted", by="scenario")
    nine = ["#" + c for c in PUOR[9].split()]
    assert _fills(plot) == [nine[3], GREY, nine[5], nine[6], nine[7], nine[8]]
    rects = plot.data  # the bars are the plot's own data
    top = rects[rects["y"] == 3].set_index("level")
    assert top.loc["2", "xmin"] == pytest.approx(-top.loc["2", "xmax"], abs=1e-12)


def test_unordered_scales_get_qualitative_colours_stacked_from_zero(survey):
    inst, _ = survey
    ratings = _ratings(survey, "yesno")
    plot = F.figure_likert(ratings, inst, grid="yesno", by="scenario")
    assert _fills(plot) == [c.lower() for c in ("#0072B2", "#E69F00", "#009E73")]  # Okabe & Ito (2008)
    rects = plot.data  # the bars are the plot's own data
    assert rects.groupby("y")["xmin"].min().eq(0).all()
    assert not [layer for layer in plot.layers if type(layer.geom).__name__ == "geom_vline"]
    assert GREY not in _svg_fills(F.render_figure(plot, "svg"))


def test_figures_that_cannot_be_drawn_name_the_figure_grid_and_scale(survey):
    inst, design = survey
    with pytest.raises(OutputError, match=r"figure likert \(yesno by scenario\): scale 'yesno' of grid 'yesno' is not ordered"):
        F.figure_likert(_ratings(survey, "yesno"), inst, grid="yesno", by="scenario", diverging=True)
    twelve = protect(grid_responses(design, inst, "s12", by=["scenario"]), TH, inst)
    with pytest.raises(OutputError, match=r"figure likert \(s12 by scenario\): scale 's12' of grid 's12' has 12 codes.*2 to 11"):
        F.figure_likert(twelve, inst, grid="s12", by="scenario")


def test_heatmap_of_a_zero_to_ten_scale(survey):
    """The share answering 10 on the 0-10 scale, per scenario and use, drawn as a heatmap: each
    cell's label is the estimate rounded half up (by hand), in instrument order."""
    inst, design = survey
    table = protect(acceptability(design, inst, grid="s11", by=["scenario", "use"]), TH, inst, name="s11")
    plot = F.figure_heatmap(table, inst, grid="s11", title="Completely acceptable")
    data = plot.data
    assert list(data["row"].cat.categories) == list(ROWS.values())[::-1]
    cell = table[(table["scenario"] == "grades") & (table["use"] == "security")].iloc[0]
    label = data[(data["row"] == "Exam marks") & (data["col"] == "Campus security")]["label"].iloc[0]
    assert label.split("\n")[0] == f"{np.floor(cell['estimate'] * 100 + 0.5):.0f}%"
    assert F.render_figure(plot, "png").startswith(b"\x89PNG")


def test_instrument_midpoint_is_checked_and_defaults_to_the_middle_of_odd_scales(survey, tmp_path):
    inst, _ = survey
    assert inst.scales["s11"]["midpoint"] == 5 and inst.scales["s7"]["midpoint"] == 4
    assert inst.scales["s10"]["midpoint"] is None and inst.scales["s2"]["midpoint"] is None
    assert inst.scales["yesno"]["midpoint"] is None
    raw = _instrument_yaml()
    for scale, midpoint, message in (
        ("s5", 6, r"scale s5: midpoint 6 is not one of its codes \(1, 2, 3, 4, 5\)"),
        ("yesno", 3, r"scale yesno: midpoint 3 is given, but the scale is not ordered"),
    ):
        bad = {**raw, "scales": {**raw["scales"], scale: {**raw["scales"][scale], "midpoint": midpoint}}}
        path = tmp_path / f"{scale}.yaml"
        path.write_text(yaml.safe_dump(bad, sort_keys=False), encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_instrument(path)
    bad = {**raw, "scales": {**raw["scales"], "s5": {**raw["scales"]["s5"], "midpoint": "middle"}}}
    path = tmp_path / "text.yaml"
    path.write_text(yaml.safe_dump(bad, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match="midpoint"):
        load_instrument(path)


def test_palettes_refuse_what_they_cannot_draw():
    with pytest.raises(OutputError, match="2 to 11 colours, not 12"):
        F.diverging_palette(12)
    with pytest.raises(OutputError, match="at most 5 colours either side of its midpoint, not 1 below and 9 above"):
        F.diverging_palette(11, 1)
    with pytest.raises(OutputError, match="1 to 8 colours, not 9"):
        F.qualitative_palette(9)
