"""Publication figures: instrument order, withheld cells drawn as withheld, clear errors, same bytes.

Expected orders come from ``config/instrument.yaml``; expected numbers are hand calculations
(odds ratio = exp(coefficient)); palette colours are the published Okabe-Ito and ColorBrewer
values, checked under simulated colour-vision deficiency with the Machado et al. (2009) matrices.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_brief_data import example_inputs

from social_licence import figures as F
from social_licence.disclosure import (
    Thresholds,
    default_partitions,
    item_columns_of,
    protect,
    suppress,
)
from social_licence.errors import DisclosureError, OutputError

TH = Thresholds()


@pytest.fixture(scope="module")
def inputs():
    raw = example_inputs()
    inst = raw["instrument"]
    items = item_columns_of(inst)
    out = dict(raw)
    for key in ("grid", "grid_groups", "groups", "ratings_data_type", "ratings_purpose", "trust"):
        out[key] = suppress(raw[key], TH, partitions=default_partitions(raw[key], items))
    for key in ("models", "marginal_effects"):
        out[key] = protect(raw[key], TH, inst)
    return out


def layer_data(plot, geom: str) -> list[pd.DataFrame]:
    """The data each layer of a kind draws (its own data, or the plot's)."""
    return [
        (layer._data if isinstance(layer._data, pd.DataFrame) else plot.data)
        for layer in plot.layers
        if type(layer.geom).__name__ == geom
    ]


# -- palettes and theme ----------------------------------------------------------------------------
def _linear(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(rgb_linear: np.ndarray) -> np.ndarray:
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ np.clip(rgb_linear, 0, 1) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


# Machado, Oliveira & Fernandes (2009), severity 1.0, applied to linear RGB.
CVD = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]),
}


def test_okabe_ito_palette_is_the_published_one():
    """Okabe & Ito (2008), Color Universal Design: the eight colours, hex as published."""
    assert set(F.OKABE_ITO) == {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}


@pytest.mark.parametrize("n", [4, 5])
@pytest.mark.parametrize("vision", sorted(CVD))
def test_diverging_palette_stays_readable_under_red_green_colour_blindness(n, vision):
    """Under simulated protanopia/deuteranopia each side still darkens towards its end (so the
    order reads by lightness) and the two sides stay apart on the blue-yellow axis, which
    red-green colour blindness keeps (negative side b* > 0, positive side b* < 0)."""
    colours = F.diverging_palette(n)
    lab = [_lab(CVD[vision] @ _linear(c)) for c in colours]
    half = n // 2
    light = [x[0] for x in lab]
    assert all(light[i] < light[i + 1] for i in range(half - 1))
    assert all(light[-1 - i] < light[-2 - i] for i in range(half - 1))
    assert all(x[2] > 0 for x in lab[:half]) and all(x[2] < 0 for x in lab[-half:])


def test_house_theme_is_half_a4_and_legible(inputs):
    theme = F.theme_social_licence()
    width, height = theme.getp("figure_size")
    assert (round(width * 2.54, 6), round(height * 2.54, 6)) == (16.0, 11.0)
    assert theme.getp("dpi") == 300
    plot = F.figure_heatmap(inputs["grid"], inputs["instrument"])
    sizes = [layer.geom.aes_params.get("size", layer.geom.DEFAULT_AES.get("size")) for layer in plot.layers if type(layer.geom).__name__ == "geom_text"]
    assert min(sizes) >= 6.5  # points: readable when printed at 16 cm wide


# -- content and order -----------------------------------------------------------------------------
def test_likert_bars_follow_instrument_order_and_diverge_at_zero(inputs):
    inst = inputs["instrument"]
    plot = F.figure_acceptability(inputs["ratings_data_type"], inst, by="data_type")
    rects = layer_data(plot, "geom_rect")[0]
    assert list(rects["level"].cat.categories) == inst["acc_health__early_help"].labels
    first = rects[rects["y"] == rects["y"].max()]  # the top bar is the instrument's first row: health
    ratings = inputs["ratings_data_type"]
    health = ratings[ratings["data_type"] == "health"].set_index("level")["estimate"]
    # hand: the bar starts at -(very + somewhat unacceptable + half of neither)
    expected_left = -(health["Very unacceptable"] + health["Somewhat unacceptable"] + health["Neither acceptable nor unacceptable"] / 2)
    assert first["xmin"].min() == pytest.approx(expected_left, abs=1e-12)
    assert first["xmax"].max() == pytest.approx(expected_left + health.sum(), abs=1e-12)
    labels = plot.scales.get_scales("y").labels
    assert labels[0] == "Health records" and labels[2] == "Police records"


def test_heatmap_cells_are_rounded_percentages_in_instrument_order(inputs):
    inst = inputs["instrument"]
    plot = F.figure_heatmap(inputs["grid"], inst)
    data = plot.data
    assert list(data["col"].cat.categories)[0].replace("\n", " ") == "Identifying families for early-help support"
    assert list(data["row"].cat.categories)[-1] == "Health records"  # first row drawn at the top
    grid = inputs["grid"]
    police = grid[(grid["data_type"] == "police") & (grid["purpose"] == "early_help")].iloc[0]
    label = data[(data["row"] == "Police records") & data["col"].astype(str).str.startswith("Identifying")]["label"].iloc[0]
    assert label.split("\n")[0] == f"{np.floor(police['estimate'] * 100 + 0.5):.0f}%"  # half up, by hand


def test_withheld_cells_are_drawn_as_withheld_never_as_zero(inputs):
    inst = inputs["instrument"]
    grid = inputs["grid"].copy()
    grid.loc[0, ["suppressed", "estimate", "n_unweighted"]] = [True, np.nan, pd.NA]
    plot = F.figure_heatmap(grid, inst)
    tiles = layer_data(plot, "geom_tile")
    coloured = tiles[0]
    assert not ((coloured["row"] == "Health records") & coloured["col"].astype(str).str.startswith("Identifying")).any()
    withheld = tiles[1]
    assert withheld["label"].tolist() == ["[c]"] and np.isnan(withheld["value"]).all()

    groups = inputs["groups"]
    plot = F.figure_groups(groups, inst, groups=["ethnicity"])
    drawn = layer_data(plot, "geom_point")[0]
    assert not drawn["group"].isin(["Other", "Mixed"]).any()  # withheld: no point at all
    text = layer_data(plot, "geom_text")[0]
    assert sorted(text["group"].astype(str)) == ["Mixed", "Other"]
    assert set(text["label"]) == {"[c] withheld"}
    assert "[c] withheld" in plot.labels.caption


def test_group_dot_plot_orders_groups_as_the_instrument_and_draws_overall(inputs):
    inst = inputs["instrument"]
    plot = F.figure_groups(inputs["groups"], inst, groups=["income_band", "ethnicity"])
    cats = list(plot.data["group"].cat.categories)[::-1]  # drawn top to bottom
    assert cats[:4] == inst["income_band"].labels
    assert cats[4:] == inst["ethnicity"].labels
    overall = inputs["groups"].query("group_variable == 'All'")["estimate"].iloc[0]
    (vline,) = layer_data(plot, "geom_vline")
    assert vline["xintercept"].tolist() == pytest.approx([overall * 100])
    assert "All" not in set(plot.data["group"].astype(str))


def test_forest_plots_odds_ratios_and_marginal_effects(inputs):
    inst = inputs["instrument"]
    models = inputs["models"].copy()
    cut = models.iloc[[0]].assign(term="1|2", kind="cut-point", odds_ratio=np.nan)
    plot = F.figure_forest(pd.concat([models, cut], ignore_index=True), inst)
    data = plot.data
    assert len(data) == 4  # intercept and cut-point left out
    black = data[data["term"] == "C(ethnicity)[T.Black]"].iloc[0]
    assert black["x"] == pytest.approx(np.exp(-0.62))  # hand: exp(coefficient)
    assert black["lo"] == pytest.approx(np.exp(-0.62 - 1.959963984540054 * 0.24))
    assert str(black["label"]).endswith("Ethnic group: Black")
    effects = pd.DataFrame(
        {"model": "m", "group_variable": "ethnicity", "group": ["White", "Black", "Black"],
         "statistic": ["predicted", "predicted", "difference"], "reference": [None, None, "White"],
         "estimate": [0.3, 0.2, -0.1], "ci_low": [0.25, 0.1, -0.2], "ci_high": [0.35, 0.3, 0.0]}
    )
    plot = F.figure_forest(effects, inst, kind="marginal_effect")
    assert plot.data["x"].tolist() == pytest.approx([-10.0])
    assert str(plot.data["label"].iloc[0]).endswith("Black vs White")
    # the example effects: 'Other' has 6 parents, so its difference is withheld, not drawn
    plot = F.figure_forest(inputs["marginal_effects"], inst, kind="marginal_effect")
    drawn = layer_data(plot, "geom_point")[0]
    assert not drawn["group"].eq("Other").any()
    assert layer_data(plot, "geom_text")[0]["group"].tolist() == ["Other"]
    bad = inputs["models"].assign(odds_ratio=inputs["models"]["estimate"])
    with pytest.raises(OutputError, match="not exp"):
        F.figure_forest(bad, inst)


def test_weighting_diagnostics_follow_instrument_order(inputs):
    plot = F.figure_weighting(inputs["margins"], inputs["instrument"])
    assert list(plot.data["category"].cat.categories)[::-1] == ["Female", "Male"]
    assert set(plot.data["series"]) == {"Sample (unweighted)", "Weighted", "Population target"}
    with pytest.raises(OutputError, match="after"):
        F.figure_weighting(inputs["margins"].drop(columns="after"), inputs["instrument"])


# -- bad input -------------------------------------------------------------------------------------
def test_unknown_variable_group_or_value_gives_a_clear_message(inputs):
    inst = inputs["instrument"]
    with pytest.raises(OutputError, match=r"group variable 'religion' does not exist.*ethnicity"):
        F.figure_groups(inputs["groups"], inst, groups=["religion"])
    with pytest.raises(OutputError, match=r"'region' is not a dimension of grid acceptability"):
        F.figure_likert(inputs["ratings_data_type"], inst, by="region")
    bad = inputs["grid"].copy()
    bad["data_type"] = bad["data_type"].astype(object)
    bad.loc[0, "data_type"] = "dentist"
    with pytest.raises(OutputError, match=r"data_type 'dentist' does not exist"):
        F.figure_heatmap(bad, inst)
    with pytest.raises(OutputError, match="grid 'wellbeing' is not in the instrument"):
        F.figure_likert(inputs["trust"], inst, grid="wellbeing", by="organisation")
    with pytest.raises(OutputError, match=r"needs column\(s\) \['group'\]"):
        F.figure_groups(inputs["groups"].drop(columns="group"), inst)
    with pytest.raises(OutputError, match="level 'agree'"):
        F.figure_groups(inputs["groups"], inst, level="agree")


def test_figure_with_every_cell_withheld_says_so(inputs):
    inst = inputs["instrument"]
    groups = inputs["groups"].copy()
    tiny = groups.assign(n_unweighted=5).drop(columns=["suppressed", "low_precision", "reason"])
    tiny = suppress(tiny, TH, partitions=["group"])
    with pytest.raises(DisclosureError, match="every group of ethnicity is withheld"):
        F.figure_groups(tiny, inst, groups=["ethnicity"])
    ratings = inputs["ratings_purpose"].assign(suppressed=True, estimate=np.nan)
    with pytest.raises(DisclosureError, match="every bar is withheld"):
        F.figure_acceptability(ratings, inst, by="purpose")


def test_unsuppressed_or_row_level_frames_are_refused(inputs):
    raw = example_inputs()
    with pytest.raises(DisclosureError, match="has not been through disclosure.suppress"):
        F.figure_heatmap(raw["grid"], raw["instrument"])


# -- files -----------------------------------------------------------------------------------------
def test_png_and_svg_are_identical_across_runs_at_300_dpi(inputs, tmp_path):
    plot = F.figure_heatmap(inputs["grid"], inputs["instrument"])
    F.save_figure(plot, tmp_path / "a.png", tmp_path / "a.svg")
    F.save_figure(plot, tmp_path / "b.png", tmp_path / "b.svg")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    image = Image.open(tmp_path / "a.png")
    assert image.size == (int(16 / 2.54 * 300), int(11 / 2.54 * 300))  # matplotlib truncates
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    svg = (tmp_path / "a.svg").read_text(encoding="utf-8")
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg


@pytest.mark.parametrize(
    "key",
    ["likert", "trust", "groups", "effects", "weights"],
)
def test_every_figure_renders(inputs, key):
    inst = inputs["instrument"]
    plot = {
        "likert": lambda: F.figure_acceptability(inputs["ratings_purpose"], inst, by="purpose"),
        "trust": lambda: F.figure_trust(inputs["trust"], inst),
        "groups": lambda: F.figure_groups(inputs["groups"], inst),
        "effects": lambda: F.figure_forest(inputs["marginal_effects"], inst, kind="marginal_effect"),
        "weights": lambda: F.figure_weighting(inputs["margins"], inst),
    }[key]()
    png = F.render_figure(plot, "png", dpi=40)
    assert Image.open(io.BytesIO(png)).size[0] > 100


def test_workflow_figures_by_name_protect_their_inputs_first():
    """Each named figure is built from raw (unsuppressed) inputs: protect() runs inside, and a
    figure with every cell withheld becomes a placeholder that says so."""
    raw = example_inputs()
    inst = raw["instrument"]
    inputs = {
        "acceptability_type_purpose": raw["grid"],
        "acceptability_by_type": raw["ratings_data_type"],
        "acceptability_by_purpose": raw["ratings_purpose"],
        "acceptability_by_group": raw["grid_groups"],
        "trust": raw["trust"],
        "models": [raw["models"]],
        "effects": raw["marginal_effects"],
        "margins": raw["margins"],
    }
    for name in F.FIGURE_TITLES:
        plot = F.figure_from_inputs(name, inputs, inst, TH, {"headline": {"data_type": "police", "purpose": "early_help"}})
        assert plot.labels.title.replace("\n", " ").startswith(F.FIGURE_TITLES[name].split(",")[0][:20]), name
    group_plot = F.figure_from_inputs("acceptability_by_group", inputs, inst, TH, {"headline": {"data_type": "police", "purpose": "early_help"}})
    assert "police records for identifying families" in group_plot.labels.title.replace("\n", " ")
    assert "Other" in set(layer_data(group_plot, "geom_text")[0]["group"].astype(str))
    tiny = raw["grid"].assign(n_unweighted=3)
    placeholder = F.figure_from_inputs("acceptability_heatmap", {"acceptability_type_purpose": tiny}, inst, TH)
    assert "[c] Withheld. every cell is withheld" in placeholder.data["label"].iloc[0].replace("\n", " ")
    with pytest.raises(OutputError, match="'pie_chart' is not one of"):
        F.figure_from_inputs("pie_chart", inputs, inst, TH)
    with pytest.raises(OutputError, match="input 'trust' is missing"):
        F.figure_from_inputs("trust", {}, inst, TH)
