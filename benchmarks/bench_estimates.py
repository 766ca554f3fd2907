"""Speed of design-based estimation at survey scale; prints its figures (no pass/fail here).

1. Acceptability of the 24 grid items (6 data types x 4 purposes, split ballot) by each of 10
   grouping variables, N = 100,000 parents in 20 strata and 2,000 PSUs, Taylor linearisation
   (target: at most 3 s). Peer in the same run: the same domain x item proportions by a plain
   pandas groupby over the same long rows (weighted means only, no variance), to show what the
   SEs, intervals and design effects cost. Wall and CPU seconds are both printed: the
   development machine is shared, so wall time depends on its load.
2. 200 Rao-Wu bootstrap replicates re-raked to two margins, N = 100,000 (target: at most 30 s),
   with the project's raker (``social_licence.weighting.make_reweighter``) when it is present,
   else a stand-in iterative proportional fitting raker defined here (said in the output).
3. The table of 1 on the raked weights of 2, linearised with the calibration residuals
   (``social_licence.weighting.calibration``); the ratio to 1 is what the calibration costs.

Run: ``.venv/bin/python benchmarks/bench_estimates.py [--n 100000] [--replicates 200]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from social_licence.design.design import SurveyDesign
from social_licence.design.grids import acceptability
from social_licence.survey.instrument import load_instrument

ROOT = Path(__file__).resolve().parent.parent
GROUPS = [
    "sex",
    "age_band",
    "region",
    "ethnicity",
    "qualification",
    "occupation",
    "income_band",
    "lone_parent",
    "services_contact",
    "disability",
]


def analysis_frame(instrument, n: int, seed: int = 20240601) -> pd.DataFrame:
    """A synthetic analysis frame (labels as Categoricals, missing reasons) with a split ballot."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for g in GROUPS:
        v = instrument[g]
        labels = v.labels
        cols[g] = pd.Categorical.from_codes(
            rng.integers(0, len(labels), n), categories=labels, ordered=v.ordered
        )
    n_strata, n_psu = 20, 2000
    psu = rng.integers(0, n_psu, n)
    cols["stratum"] = psu % n_strata
    cols["psu"] = psu
    cols["weight"] = rng.gamma(4.0, 0.25, n)
    grid = instrument.grids["acceptability"]
    purposes = list(grid.columns)
    pairs = [(a, b) for i, a in enumerate(purposes) for b in purposes[i + 1 :]]
    ballot = rng.integers(0, len(pairs), n)
    scale = instrument.scales[grid.scale]
    labels = [scale["codes"][c] for c in sorted(scale["codes"])]
    for var, _row, col in grid.cells():
        asked = np.array([col in pairs[b] for b in range(len(pairs))])[ballot]
        codes = rng.integers(0, len(labels), n)
        dk = rng.random(n) < 0.05
        codes = np.where(asked & ~dk, codes, -1)
        cols[var] = pd.Categorical.from_codes(codes, categories=labels, ordered=True)
        reason = np.where(~asked, "by_design", np.where(dk, "dont_know", None))
        cols[var + "__reason"] = pd.Categorical(reason, categories=["dont_know", "refused", "not_asked", "by_design", "system"])
    frame = pd.DataFrame(cols, index=pd.Index([f"r{i:06d}" for i in range(n)], name="respondent"))
    return frame


def stand_in_reweighter(data: pd.DataFrame, margins: dict[str, np.ndarray]):
    """Iterative proportional fitting to population shares (used only if no project raker)."""
    codes = {v: data[v].cat.codes.to_numpy() for v in margins}

    def rake(w: np.ndarray) -> np.ndarray:
        w = w.copy()
        total = w.sum()
        for _ in range(100):
            change = 0.0
            for v, shares in margins.items():
                cur = np.bincount(codes[v], weights=w, minlength=len(shares))
                factor = np.where(cur > 0, shares * total / np.where(cur > 0, cur, 1), 0.0)
                change = max(change, float(np.abs(factor - 1).max()))
                w = w * factor[codes[v]]
            if change < 1e-10:
                break
        return w

    return rake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--replicates", type=int, default=200)
    args = parser.parse_args()
    instrument = load_instrument(ROOT / "config" / "instrument.yaml")
    t0 = time.perf_counter()
    data = analysis_frame(instrument, args.n)
    print(f"synthetic analysis frame: {args.n:,} parents, {time.perf_counter() - t0:.2f} s to build")

    design = SurveyDesign(data, weights="weight", strata="stratum", psu="psu")
    t0, c0 = time.perf_counter(), time.process_time()
    table = acceptability(design, instrument, by=["data_type", "purpose"], groups=GROUPS, overall=True)
    ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"[1] acceptability, 24 items x {len(GROUPS)} grouping variables (+ overall), N={args.n:,}, "
        f"{design.n_strata} strata, {design.n_psu} PSUs: {len(table):,} estimates with SE/CI/deff "
        f"in {ours:.2f} s wall, {ours_cpu:.2f} s CPU (target <= 3 s)"
    )

    from social_licence.survey.grid import grid_rows, long_format

    t0, c0 = time.perf_counter(), time.process_time()
    long, _ = grid_rows(data, instrument, "acceptability", keep=[*GROUPS, "weight"])
    wa = long["weight"] * long["acceptable"]
    long = long.assign(wa=wa)
    for g in GROUPS:
        s = long.groupby(["data_type", "purpose", g], observed=True)[["wa", "weight"]].sum()
        _ = s["wa"] / s["weight"]
    peer, peer_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"    peer: the same long rows + pandas groupby weighted means (no SE, CI or deff): "
        f"{peer:.2f} s wall, {peer_cpu:.2f} s CPU; ratio ours/peer (CPU) = {ours_cpu / peer_cpu:.2f}"
    )
    t0 = time.perf_counter()
    long_format(data, instrument, "acceptability", keep=GROUPS)
    print(
        f"    for reference: grid.long_format with the 10 grouping columns kept takes "
        f"{time.perf_counter() - t0:.2f} s alone (the helpers use estimates.grid_rows instead)"
    )

    margins = {
        "sex": np.array([0.52, 0.48]),
        "age_band": np.array([0.15, 0.35, 0.35, 0.15]),
    }
    try:
        from social_licence.weighting.solver import make_reweighter

        raker_name = "social_licence.weighting.make_reweighter"
        targets = {
            v: dict(zip(instrument[v].labels, shares.tolist(), strict=True)) for v, shares in margins.items()
        }
        reweighter = make_reweighter(data, targets, base_weight="weight")
    except ImportError:
        raker_name = "stand-in IPF raker (social_licence.weighting not present yet)"
        reweighter = stand_in_reweighter(data, margins)
    base = data["weight"].to_numpy()
    raked = reweighter(base)
    rdesign = SurveyDesign(data, weights=raked, strata="stratum", psu="psu")
    t0, c0 = time.perf_counter(), time.process_time()
    rep = rdesign.with_replicates("bootstrap", args.replicates, seed=1, reweighter=reweighter)
    build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    est = rep.proportion(["lone_parent", "disability"], by="sex")
    use = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(args.replicates):
        reweighter(base)
    rake_only = time.perf_counter() - t1
    print(
        f"[2] {args.replicates} Rao-Wu bootstrap replicates re-raked ({raker_name}), N={args.n:,}: "
        f"{build:.2f} s wall, {build_cpu:.2f} s CPU to build (target <= 30 s); {len(est)} proportions from them in {use:.2f} s"
    )
    print(
        f"    peer: the raker alone, {args.replicates} calls: {rake_only:.2f} s; "
        f"ratio build/raker = {build / rake_only:.2f}"
    )
    if raker_name.startswith("social_licence"):
        from social_licence.weighting.solver import calibration

        data = data.assign(raked=raked)
        cal = calibration(data, targets, base_weight="weight")
        cdesign = SurveyDesign(data, weights="raked", strata="stratum", psu="psu", calibration=cal)
        t0, c0 = time.perf_counter(), time.process_time()
        ctable = acceptability(
            cdesign, instrument, by=["data_type", "purpose"], groups=GROUPS, overall=True
        )
        cal_wall, cal_cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"[3] the table of [1] on the raked weights, linearised with the raking margins' "
            f"residuals (calibration): {len(ctable):,} estimates in {cal_wall:.2f} s wall, "
            f"{cal_cpu:.2f} s CPU; ratio to [1] (CPU) = {cal_cpu / ours_cpu:.2f}"
        )


if __name__ == "__main__":
    main()
