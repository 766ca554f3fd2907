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
from test_brief_data import example_inputs, example_plan

from social_licence.errors import DisclosureError, OutputError
from social_licence.report import figures as F
from social_licence.report.disclosure import (
    Thresholds,
    default_partitions,
    item_columns_of,
    protect,
    suppress,
)

# The base rule alone (as these tests were written): the count rule of 10 has its own tests
# (tests/test_disclosure_linked.py, tests/test_disclosure_tiny.py)
TH = Thresholds(min_count=0, reason="tests of figures and the brief under the base rule")


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


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
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
    plot = F.figure_heatmap(inputs["grid"], inputs["instrument"], grid="acceptability")
    sizes = [layer.geom.aes_params.get("size", layer.geom.DEFAULT_AES.get("size")) for layer in plot.layers if type(layer.geom).__name__ == "geom_text"]
    assert min(sizes) >= 6.5  # points: readable when printed at 16 cm wide


# -- content and order -----------------------------------------------------------------------------
def test_likert_bars_follow_instrument_order_and_diverge_at_zero(inputs):
    inst = inputs["instrument"]
    plot = F.figure_likert(inputs["ratings_data_type"], inst, grid="acceptability", by="data_type")
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
    plot = F.figure_heatmap(inputs["grid"], inst, grid="acceptability")
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
    plot = F.figure_heatmap(grid, inst, grid="acceptability")
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
    with pytest.raises(OutputError, match=r"needs column\(s\) \['region'\]"):
        F.figure_likert(inputs["ratings_data_type"], inst, by="region", grid="acceptability")
    bad = inputs["grid"].copy()
    bad["data_type"] = bad["data_type"].astype(object)
    bad.loc[0, "data_type"] = "dentist"
    with pytest.raises(OutputError, match=r"data_type 'dentist' does not exist"):
        F.figure_heatmap(bad, inst, grid="acceptability")
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
        F.figure_likert(ratings, inst, grid="acceptability", by="purpose")


def test_unsuppressed_or_row_level_frames_are_refused(inputs):
    raw = example_inputs()
    with pytest.raises(DisclosureError, match="has not been through disclosure.suppress"):
        F.figure_heatmap(raw["grid"], raw["instrument"], grid="acceptability")


# -- files -----------------------------------------------------------------------------------------
@pytest.mark.slow  # many seconds: left out of make test-fast
def test_png_and_svg_are_identical_across_runs_at_300_dpi(inputs, tmp_path):
    plot = F.figure_heatmap(inputs["grid"], inputs["instrument"], grid="acceptability")
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
        "likert": lambda: F.figure_likert(inputs["ratings_purpose"], inst, grid="acceptability", by="purpose"),
        "trust": lambda: F.figure_likert(inputs["trust"], inst, grid="trust", by="organisation"),
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
    plan = example_plan(inst, models=("acceptability_logit",))
    inputs = {
        "acceptability_items": raw["grid"],
        "acceptability_by_data_type": raw["ratings_data_type"],
        "acceptability_by_purpose": raw["ratings_purpose"],
        "acceptability_groups": raw["grid_groups"],
        "trust_responses": raw["trust"],
        "rights_responses": raw["rights"],
        "models": [raw["models"]],
        "effects": raw["marginal_effects"],
        "margins": raw["margins"],
    }
    drawn = [n for n in plan.figures() if n not in ("trust_groups", "rights_groups")]  # no such frames here
    for name in drawn:
        plot = F.figure_from_inputs(name, inputs, plan, TH)
        assert plot.labels.title.replace("\n", " ").startswith(F.figure_title(name, plan)[:20]), name
    group_plot = F.figure_from_inputs("acceptability_groups", inputs, plan, TH)
    assert "police records for identifying families" in group_plot.labels.title.replace("\n", " ")
    assert "Other" in set(layer_data(group_plot, "geom_text")[0]["group"].astype(str))
    tiny = raw["grid"].assign(n_unweighted=3)
    placeholder = F.figure_from_inputs("acceptability_heatmap", {"acceptability_items": tiny}, plan, TH)
    assert "[c] Withheld. every cell is withheld" in placeholder.data["label"].iloc[0].replace("\n", " ")
    with pytest.raises(OutputError, match="'pie_chart' is not one of"):
        F.figure_from_inputs("pie_chart", inputs, plan, TH)
    with pytest.raises(OutputError, match="input 'trust_responses' is missing"):
        F.figure_from_inputs("trust_responses", {}, plan, TH)


# -- model figures as published: which models, which terms, which labels ---------------------------
def model_tables(inst) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coefficient and marginal-effect tables shaped as the models module writes them for the
    configured models: a logistic model with data type x purpose interactions, an ordinal model
    (with cut-points) and a linear model of an index. Coefficients are typed in here (-0.2 for
    every data type, -0.5 for every purpose, -0.3 for every group, 0.1 for every interaction)."""
    g = inst.grids["acceptability"]
    dims = [("data_type", code, -0.2) for code in list(g.rows)[1:]]
    dims += [("purpose", code, -0.5) for code in ("early_help", "risk_scoring", "eligibility")]
    people = [(v, lv, -0.3) for v in ("ethnicity", "lone_parent", "age_band", "income_band", "services_contact")
              for lv in inst[v].labels if lv not in ("White", "No", "30-39", "\u00a320,000-\u00a339,999")]
    inter = [f"data_type[T.{d}]:purpose[T.{p}]" for d in list(g.rows)[1:] for p in ("early_help", "risk_scoring", "eligibility")]

    def coef(model, terms, kinds=None):
        out = pd.DataFrame({"model": model, "term": terms, "kind": kinds or "coefficient"})
        out["estimate"] = [-0.2 if t.startswith("data_type[T.") and ":" not in t else -0.5 if t.startswith("purpose") else 0.1 if ":" in t else -0.3 for t in terms]
        out["se"], out["p_value"] = 0.1, 0.01
        out["ci_low"], out["ci_high"] = out["estimate"] - 0.196, out["estimate"] + 0.196
        out["n_unweighted"] = 1400
        return out

    main_terms = [f"{v}[T.{lv}]" for v, lv, _ in dims + people]
    logit = coef("acceptability_logit", ["Intercept", *main_terms, *inter])
    ordinal = coef("acceptability_ordinal", [*main_terms, "1|2", "2|3"], ["coefficient"] * len(main_terms) + ["threshold"] * 2)
    linear = coef("licence_index_linear", ["Intercept"] + [f"{v}[T.{lv}]" for v, lv, _ in people])
    for frame in (logit, ordinal):
        coefs = frame["kind"] == "coefficient"
        frame["odds_ratio"] = np.where(coefs, np.exp(frame["estimate"]), np.nan)
        frame["odds_ratio_low"] = np.where(coefs, np.exp(frame["ci_low"]), np.nan)
        frame["odds_ratio_high"] = np.where(coefs, np.exp(frame["ci_high"]), np.nan)
    models = pd.concat([logit, ordinal, linear], ignore_index=True)

    rows = []
    for model, level, scale in (("acceptability_logit", "acceptable", 0.01), ("licence_index_linear", "mean", 0.02)):
        for v, lv, d in dims + people:
            if level == "mean" and v in ("data_type", "purpose"):
                continue
            ref = {"data_type": "health", "purpose": "planning", "ethnicity": "White", "age_band": "30-39",
                   "income_band": "\u00a320,000-\u00a339,999"}.get(v, "No")
            est = d * scale * 10
            rows.append({"model": model, "group_variable": v, "group": lv, "variable": level, "level": level,
                         "statistic": "difference", "reference": ref, "estimate": est, "se": 0.02,
                         "ci_low": est - 0.04, "ci_high": est + 0.04, "p_value": 0.01, "n_unweighted": 1400, "count_unweighted": 50})
    return models, pd.DataFrame(rows)


def text_collisions(plot) -> list[str]:
    """Every pair of texts drawn on top of each other, and every text cut by the figure's edge,
    measured on the rendered figure (the check a reader's eye makes)."""
    import itertools

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plot.draw()
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]
    width, height = fig.bbox.width, fig.bbox.height
    bad = [f"cut: {a!r}" for a, b in boxes if b.x0 < -1 or b.y0 < -1 or b.x1 > width + 1 or b.y1 > height + 1]
    for (a, ba), (b, bb) in itertools.combinations(boxes, 2):
        if min(ba.x1, bb.x1) - max(ba.x0, bb.x0) > 1 and min(ba.y1, bb.y1) - max(ba.y0, bb.y0) > 1:
            bad.append(f"overlap: {a!r} / {b!r}")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return bad


def _flat(text) -> str:
    return str(text).replace("\n", " ")


def test_odds_ratio_plot_shows_the_logistic_models_main_effects_with_instrument_labels():
    """Expected labels and references are the instrument's (config/instrument.yaml), written out
    by hand; odds ratios are exp(coefficient) of the coefficients typed into model_tables()."""
    inst = example_inputs()["instrument"]
    models, _ = model_tables(inst)
    logit = models[models["model"] == "acceptability_logit"]
    plot = F.figure_forest(protect(logit, TH, inst), inst)
    data = plot.data
    assert len(data) == 5 + 3 + 4 + 1 + 3 + 3 + 1  # main effects only: no intercept, no interaction
    assert not data["term"].str.contains(":").any()
    police = data[data["term"] == "data_type[T.police]"].iloc[0]
    assert police["x"] == pytest.approx(np.exp(-0.2))
    assert police["label"] == "Data type: Police records"
    ticks = [_flat(t) for t in plot.scales.get_scales("y").labels]
    assert ticks[:5] == ["School records", "Police records", "Children's social care records", "Benefits and tax records", "Housing records"]
    assert ticks[5:8] == ["Identifying families for early-help support", "Predictive risk scoring to flag children at risk", "Checking eligibility for services"]
    assert ticks[8:12] == ["Mixed", "Asian", "Black", "Other"]
    headings = [_flat(h) for h in layer_data(plot, "geom_label")[0]["label"]]
    assert headings == ["Data type", "Purpose", "Ethnic group", "Lone parent", "Parent age band", "Household income band (gross per year)",
                        "Contact with family support or children's services in the last five years"]
    caption = _flat(plot.labels.caption)
    assert ("Reference categories \u2013 data type: health records; purpose: service planning and research with de-identified data; "
            "ethnic group: White; lone parent: No; parent age band: 30-39;") in caption
    assert ("The model also includes data type \u00d7 purpose interaction terms, not shown, so the data type odds ratios apply to "
            "service planning and research with de-identified data and the purpose odds ratios to health records.") in caption


def test_odds_ratio_plot_never_draws_a_linear_model():
    inst = example_inputs()["instrument"]
    models, _ = model_tables(inst)
    published = protect(models, TH, inst)
    plot = F.figure_forest(published, inst)  # by default: the models that have odds ratios
    assert set(plot.data["model"]) == {"acceptability_logit", "acceptability_ordinal"}
    assert set(plot.data["series"].astype(str)) == {"Logistic model (acceptability_logit)", "Proportional-odds model (acceptability_ordinal)"}
    black = plot.data[plot.data["term"] == "ethnicity[T.Black]"]
    assert black["y"].nunique() == 2  # the two models' estimates side by side, not on top of each other
    with pytest.raises(OutputError, match="'licence_index_linear' has no odds ratios"):
        F.figure_forest(published, inst, models=["licence_index_linear"])
    with pytest.raises(OutputError, match="no model in the table has odds ratios"):
        F.figure_forest(published[published["model"] == "licence_index_linear"].assign(odds_ratio=np.nan), inst)


def test_marginal_effects_keep_to_one_scale_and_label_uses_from_the_instrument():
    """Differences typed into model_tables(): every purpose -5 points, every data type -2."""
    inst = example_inputs()["instrument"]
    _, effects = model_tables(inst)
    published = protect(effects, TH, inst)
    with pytest.raises(OutputError, match="different scales"):
        F.figure_forest(published, inst, kind="marginal_effect")
    plot = F.figure_forest(published, inst, kind="marginal_effect", models=["acceptability_logit"])
    data = plot.data
    assert set(data["model"]) == {"acceptability_logit"}
    risk = data[(data["group_variable"] == "purpose") & (data["group"] == "risk_scoring")].iloc[0]
    assert risk["x"] == pytest.approx(-5.0) and risk["label"] == "Predictive risk scoring to flag children at risk vs Service planning and research with de-identified data"
    headings = [_flat(h) for h in layer_data(plot, "geom_label")[0]["label"]]
    assert headings[:3] == ["Data type", "Purpose", "Ethnic group"]  # uses lead, then the parents
    assert plot.labels.x == "Difference in percentage points, 95% CI"
    assert "data type: health records; purpose: service planning" in _flat(plot.labels.caption)
    linear = F.figure_forest(published, inst, kind="marginal_effect", models=["licence_index_linear"])
    assert linear.data["x"].tolist() == pytest.approx((linear.data["estimate"]).tolist())  # its own units, not x100
    assert "percentage points" not in linear.labels.x


def test_weighting_margins_read_as_labels_not_keys(inputs):
    margins = pd.DataFrame(
        {"margin": "sex x age_band", "category": ["Female|18-29", "Male|18-29"], "before": [0.5, 0.5], "after": [0.52, 0.48], "target": [0.52, 0.48]}
    )
    plot = F.figure_weighting(margins, inputs["instrument"])
    assert [_flat(h) for h in layer_data(plot, "geom_label")[0]["label"]] == ["Parent sex \u00d7 parent age band"]
    assert plot.scales.get_scales("y").labels == ["Female, 18-29", "Male, 18-29"]


def test_rights_figure_has_one_bar_per_statement_in_agreement_order(inputs):
    inst = inputs["instrument"]
    rights = suppress(example_inputs()["rights"], TH, partitions=["right"])
    plot = F.figure_likert(rights, inst, grid="rights", by="right")
    rects = layer_data(plot, "geom_rect")[0]
    assert list(rects["level"].cat.categories) == ["Strongly disagree", "Tend to disagree", "Neither agree nor disagree", "Tend to agree", "Strongly agree"]
    labels = [_flat(v) for v in plot.scales.get_scales("y").labels]
    assert labels == ["Parents should be asked for explicit consent before records are linked",
                      "Parents should have a right to view the data held about their family",
                      "Parents should have a right to opt out of data linkage"]


@pytest.mark.slow  # many seconds: left out of make test-fast
def test_no_figure_draws_text_over_text_or_off_the_page():
    """Every workflow figure at its printed size, from the example survey and from model tables
    the size of the configured models (35 logistic terms; effects for seven variables)."""
    raw = example_inputs()
    inst = raw["instrument"]
    models, effects = model_tables(inst)
    plan = example_plan(inst, models=("acceptability_logit",))
    inputs = {
        "acceptability_items": raw["grid"],
        "acceptability_by_data_type": raw["ratings_data_type"],
        "acceptability_by_purpose": raw["ratings_purpose"],
        "acceptability_groups": raw["grid_groups"],
        "trust_responses": raw["trust"],
        "rights_responses": raw["rights"],
        "models": models,
        "effects": effects,
        "margins": raw["margins"],
    }
    problems = {}
    for name in plan.figures():
        if name in ("trust_groups", "rights_groups"):
            continue  # no such frames here
        plot = F.figure_from_inputs(name, inputs, plan, TH)
        problems[name] = text_collisions(plot)
    groups = F.figure_groups(protect(raw["groups"], TH, inst), inst)
    problems["groups, five variables"] = text_collisions(groups)
    two = F.figure_forest(protect(models, TH, inst), inst, models=["acceptability_logit", "acceptability_ordinal"])
    problems["two models"] = text_collisions(two)
    assert {k: v for k, v in problems.items() if v} == {}


def test_workflow_model_figures_show_the_main_logistic_model():
    raw = example_inputs()
    inst = raw["instrument"]
    models, effects = model_tables(inst)
    inputs = {"models": models, "effects": effects}
    plan = example_plan(inst, models=("acceptability_logit", "acceptability_ordinal"))
    forest = F.figure_from_inputs("model_forest", inputs, plan, TH)
    assert set(forest.data["model"]) == {"acceptability_logit"}
    both = F.figure_from_inputs("model_forest", inputs, plan, TH, {"forest_models": ["acceptability_logit", "acceptability_ordinal"]})
    assert set(both.data["model"]) == {"acceptability_logit", "acceptability_ordinal"}
    effect_plot = F.figure_from_inputs("model_effects", inputs, plan, TH)
    assert set(effect_plot.data["model"]) == {"acceptability_logit"}
    chosen = F.figure_from_inputs("model_effects", inputs, plan, TH, {"model": "licence_index_linear"})
    assert set(chosen.data["model"]) == {"licence_index_linear"}
    # a single model's table, without a model column, is drawn as it is
    single = models[models["model"] == "acceptability_logit"].drop(columns="model")
    plot = F.figure_from_inputs("model_forest", {"models": single}, plan, TH)
    assert len(plot.data) == 20
