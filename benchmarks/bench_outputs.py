"""Speed of the publication stage; prints its figures (no pass/fail here).

1. Disclosure control of the largest table the workflow publishes: acceptability of the 24 grid
   items by 10 grouping variables (about 1,100 cells, the smallest groups below the threshold),
   and a stress case: a 40 x 40 two-way breakdown of the 24 items (38,400 cells, 5% of them
   small). Peers in the same run: one pandas groupby-transform over the same table (the floor
   of any pass over it) and one dense SVD of the whole relation matrix (the exact check
   without splitting it into connected blocks of withheld cells).
2. Figures: building and saving each figure as 300 dpi PNG and SVG. Peer: the same heatmap
   drawn directly with matplotlib (imshow and text) and saved at 300 dpi.
3. The brief, all sections, on tidy frames of the contract's layout; peer: rendering the same
   eight figures alone, so the difference is the brief's own cost.

Wall and CPU seconds are both printed: the development machine is shared.
Run: ``.venv/bin/python benchmarks/bench_outputs.py``
"""

from __future__ import annotations

import io
import itertools
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from social_licence.report import figures as F  # noqa: E402
from social_licence.report.brief import build_brief  # noqa: E402
from social_licence.report.disclosure import (  # noqa: E402
    Thresholds,
    derivable_cells,
    linear_relations,
    suppress,
)
from social_licence.survey.instrument import load_instrument  # noqa: E402
from social_licence.survey.plan import build_plan  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GROUPS = ["sex", "age_band", "region", "ethnicity", "qualification", "occupation", "income_band", "lone_parent", "services_contact", "disability"]
TH = Thresholds()


def timed(fn, repeat: int = 3):
    """Best of ``repeat`` (wall, cpu) seconds, and the last result."""
    best_wall, best_cpu, out = np.inf, np.inf, None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu, out


def row(label: str, wall: float, cpu: float, extra: str = "") -> None:
    print(f"  {label:<58} wall {wall:8.3f} s  cpu {cpu:8.3f} s  {extra}")


def tidy(rng, keys: dict, bases: np.ndarray) -> pd.DataFrame:
    """A tidy estimate frame with the contract's columns for every combination of ``keys``."""
    combos = list(itertools.product(*keys.values()))
    frame = pd.DataFrame(combos, columns=list(keys))
    p = rng.uniform(0.05, 0.95, len(frame))
    se = np.sqrt(p * (1 - p) / np.maximum(bases, 1)) * 1.2
    frame["variable"] = "acceptability"
    frame["level"] = "acceptable"
    frame["estimate"] = p
    frame["se"] = se
    frame["ci_low"], frame["ci_high"] = p - 1.96 * se, p + 1.96 * se
    frame["deff"] = 1.4
    frame["n_unweighted"] = bases
    frame["count_unweighted"] = np.round(p * bases).astype(int)
    frame["n_weighted"] = bases * 1.01
    return frame


def grid_by_groups(instrument, rng) -> pd.DataFrame:
    grid = instrument.grids["acceptability"]
    pieces = []
    for g in GROUPS:
        labels = instrument[g].labels
        share = rng.dirichlet(np.ones(len(labels)) * 2)
        share[-1] = 0.005  # the last group is tiny: about 5 parents per item, below 10
        share = share / share.sum()
        keys = {"data_type": list(grid.rows), "purpose": list(grid.columns), "group": labels}
        bases = np.tile(np.round(share * 1000).astype(int), len(grid.rows) * len(grid.columns))
        t = tidy(rng, keys, bases)
        t.insert(2, "group_variable", g)
        pieces.append(t)
    return pd.concat(pieces, ignore_index=True)


def two_way(rng, size: int = 40) -> pd.DataFrame:
    keys = {"item": [f"i{k}" for k in range(24)], "a": [f"a{k}" for k in range(size)], "b": [f"b{k}" for k in range(size)]}
    n = 24 * size * size
    bases = np.where(rng.random(n) < 0.05, rng.integers(1, 10, n), rng.integers(10, 200, n))
    return tidy(rng, keys, bases)


def dense_check(table: pd.DataFrame, partitions, suppressed: np.ndarray) -> int:
    """Peer: the exact check with one SVD of the whole relation matrix (no block splitting)."""
    rel = linear_relations(table, partitions)
    cols = np.flatnonzero(suppressed)
    index = {c: j for j, c in enumerate(cols)}
    a = np.zeros((len(rel), len(cols)))
    for i, r in enumerate(rel):
        for m in r.members:
            if m in index:
                a[i, index[m]] = 1
    _, s, vt = np.linalg.svd(a)
    rank = int((s > 1e-9 * s[0]).sum())
    return int((np.abs(vt[rank:]).max(axis=0) < 1e-9).sum()) if rank < len(cols) else len(cols)


def bench_disclosure(instrument) -> None:
    rng = np.random.default_rng(20240603)
    print("1. Disclosure control")
    table = grid_by_groups(instrument, rng)
    wall, cpu, out = timed(lambda: suppress(table, TH, partitions=["group"]))
    primary = int(out["reason"].str.startswith("primary").sum())
    row(f"suppress: 24 items x 10 group variables ({len(table):,} cells)", wall, cpu,
        f"{int(out['suppressed'].sum())} withheld ({primary} primary)")
    pw, pc, _ = timed(lambda: table.groupby(["data_type", "purpose", "group_variable"], observed=True)["n_unweighted"].transform("min"))
    row("peer: one pandas groupby-transform over the same table", pw, pc, f"ratio {wall / pw:,.0f}x")
    held = out["suppressed"].to_numpy()
    rel = linear_relations(table, ["group"])
    bw, bc, found = timed(lambda: derivable_cells(held, rel))
    row("exact recoverability check (blocks of withheld cells)", bw, bc, f"{len(found)} derivable")
    dw, dc, _ = timed(lambda: dense_check(table, ["group"], held), repeat=1)
    row("peer: one dense SVD of the whole relation matrix", dw, dc, f"ratio {dw / bw:,.1f}x slower")

    big = two_way(rng)
    wall, cpu, out = timed(lambda: suppress(big, TH, partitions=["a", "b"]), repeat=1)
    row(f"suppress: 24 items x 40 x 40 two-way table ({len(big):,} cells)", wall, cpu,
        f"{int(out['suppressed'].sum()):,} withheld ({int(out['reason'].str.startswith('primary').sum()):,} primary)")
    pw, pc, _ = timed(lambda: big.groupby(["item", "a"])["n_unweighted"].transform("min"))
    row("peer: one pandas groupby-transform over the same table", pw, pc, f"ratio {wall / pw:,.0f}x")


def frames(instrument, rng) -> dict:
    grid = instrument.grids["acceptability"]
    acc = tidy(rng, {"data_type": list(grid.rows), "purpose": list(grid.columns)}, np.full(24, 700))
    by_group = grid_by_groups(instrument, rng)
    overall = acc.assign(group_variable="All", group="All")
    by_group = pd.concat([overall, by_group], ignore_index=True)

    def distribution(keys, scale):
        labels = [instrument.scales[scale]["codes"][c] for c in sorted(instrument.scales[scale]["codes"])]
        pieces = []
        for combo in itertools.product(*keys.values()):
            p = rng.dirichlet(np.ones(len(labels)) * 3)
            t = tidy(rng, {**{k: [v] for k, v in zip(keys, combo, strict=True)}, "level": labels}, np.full(len(labels), 2800))
            t["estimate"] = p
            pieces.append(t.drop(columns="level").assign(level=labels))
        return pd.concat(pieces, ignore_index=True)

    models = pd.DataFrame({"model": "m", "term": ["Intercept", "C(ethnicity)[T.Black]", "C(lone_parent)[T.No]"], "kind": "coefficient",
                           "estimate": [0.1, -0.5, 0.2], "se": [0.1, 0.2, 0.1], "p_value": [0.3, 0.01, 0.05], "n_unweighted": 1500})
    models["ci_low"], models["ci_high"] = models["estimate"] - 0.3, models["estimate"] + 0.3
    models["odds_ratio"] = np.exp(models["estimate"])
    effects = pd.DataFrame({"model": "m", "group_variable": "ethnicity", "group": ["White", "Black", "Black"], "variable": "y",
                            "level": "acceptable", "statistic": ["predicted", "predicted", "difference"], "reference": [None, None, "White"],
                            "estimate": [0.4, 0.3, -0.1], "ci_low": [0.35, 0.2, -0.2], "ci_high": [0.45, 0.4, 0.0],
                            "p_value": [np.nan, np.nan, 0.04], "n_unweighted": 1500, "count_unweighted": [1000, 150, 150]})
    return {
        "acceptability_items": acc,
        "acceptability_by_data_type": distribution({"data_type": list(grid.rows)}, grid.scale),
        "acceptability_by_purpose": distribution({"purpose": list(grid.columns)}, grid.scale),
        "acceptability_groups": by_group,
        "trust_responses": distribution({"organisation": list(instrument.grids["trust"].rows)}, "trust4"),
        "rights_responses": distribution({"right": list(instrument.grids["rights"].rows)}, "agree5"),
        "models": models,
        "effects": effects,
        "qa_flow": pd.DataFrame({"step": [0, 1, 2], "rule": ["received", "speeders", "analysed"], "excluded": [0, 20, 0], "remaining": [1520, 1500, 1500]}),
        "weight_summary": pd.DataFrame({"weights": ["final"], "n": [1500], "deff_kish": [1.3], "n_effective": [1153.8]}),
        "margins": pd.DataFrame({"margin": "sex", "category": ["Female", "Male"], "before": [0.55, 0.45], "after": [0.52, 0.48], "target": [0.52, 0.48]}),
    }


def example_plan(instrument):
    """The bundled example's analysis plan (config/config.yaml), with the groups drawn here."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["estimation"]["groups"] = ["ethnicity", "lone_parent"]
    return build_plan(config, instrument, models=["m"])


def bench_figures_and_brief(instrument) -> None:
    rng = np.random.default_rng(20240604)
    inputs = frames(instrument, rng)
    plan = example_plan(instrument)
    print("2. Figures (PNG 300 dpi + SVG, 16 x 11 cm)")
    total = 0.0
    drawn = [n for n in plan.figures() if n not in ("trust_groups", "rights_groups")]  # frames made here
    for name in drawn:
        def make(name=name):
            plot = F.figure_from_inputs(name, inputs, plan, TH)
            return len(F.render_figure(plot, "png")) + len(F.render_figure(plot, "svg"))
        wall, cpu, size = timed(make, repeat=1)
        total += wall
        row(f"{name}", wall, cpu, f"{size / 1e3:,.0f} kB")
    grid = inputs["acceptability_items"]

    def matplotlib_heatmap() -> int:
        values = grid.pivot(index="data_type", columns="purpose", values="estimate").to_numpy() * 100
        fig, ax = plt.subplots(figsize=(16 / 2.54, 11 / 2.54))
        ax.imshow(values, cmap="viridis", vmin=0, vmax=100)
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, f"{v:.0f}%", ha="center", va="center", color="white", fontsize=7.5)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=300)
        plt.close(fig)
        return len(buf.getvalue())

    pw, pc, _ = timed(matplotlib_heatmap)
    hw, hc, _ = timed(lambda: F.render_figure(F.figure_from_inputs("acceptability_heatmap", inputs, plan, TH), "png"))
    row("heatmap, PNG only (house figure)", hw, hc)
    row("peer: the same heatmap drawn directly with matplotlib, PNG", pw, pc, f"ratio {hw / pw:,.1f}x")

    print("3. The brief (all sections, 8 figures embedded as SVG)")
    wall, cpu, text = timed(lambda: build_brief(inputs, TH, plan), repeat=1)
    row("build_brief", wall, cpu, f"{len(text) / 1e6:.2f} MB of HTML")
    row("peer: the eight figures rendered alone (PNG + SVG, above)", total, float("nan"), f"brief / figures {wall / total:.2f}")


if __name__ == "__main__":
    instrument = load_instrument(ROOT / "config" / "instrument.yaml")
    bench_disclosure(instrument)
    bench_figures_and_brief(instrument)
