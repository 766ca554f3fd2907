"""Raking speed: 1,000,000 rows x 5 margins (40 categories) to tol 1e-8, against named peers.

Prints, for social_licence.weighting.rake and for the peers ``weightipy`` and ``balance`` raking
the same data to the same margins in the same run: seconds (best of the timed runs, on one core),
the ratio to ours, iterations and the largest margin error each achieved (share of the total).
Also: 200 re-rakes of bootstrap replicate weights at N = 100,000 through make_reweighter (the
estimation stage's need), and the bounded (0.3x-3x) rake of the 1M rows.

The peers live in their own environment, ``benchmarks/.venv-peers`` (git-ignored), which this
script creates with pinned versions when it is missing; they are never project dependencies. If
that environment cannot be built, the script says why and still reports our own figures.

    .venv/bin/python benchmarks/bench_rake.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, for every library alike

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PEER_ENV = HERE / ".venv-peers"
PEERS = {"weightipy": "0.4.2", "balance": "0.23.0"}
SIZES = (12, 10, 8, 6, 4)  # 40 categories over 5 margins
TOL = 1e-8
SEED = 20261122


def make_data(n: int, seed: int = SEED) -> tuple[np.ndarray, list[np.ndarray]]:
    """Integer codes (n, 5) of five variables correlated through a latent trait, and targets.

    The sample over-represents high values of the trait (as a panel over-represents some
    parents), so every margin is off and the margins interact: raking needs several sweeps.
    """
    rng = np.random.default_rng(seed)
    latent = rng.normal(0.5, 1.0, n)
    codes = np.empty((n, len(SIZES)), dtype=np.int8)
    targets = []
    for m, k in enumerate(SIZES):
        noisy = latent + rng.normal(0, 1.0, n)
        cuts = np.quantile(rng.normal(0, 1.4, 200_000), np.linspace(0, 1, k + 1)[1:-1])
        codes[:, m] = np.searchsorted(cuts, noisy)
        targets.append(np.full(k, 1.0 / k) * 0.7 + rng.dirichlet(np.ones(k)) * 0.3)
    return codes, targets


def labels(m: int, k: int) -> list[str]:
    return [f"v{m}_c{j}" for j in range(k)]


def max_margin_error(codes: np.ndarray, w: np.ndarray, targets: list[np.ndarray]) -> float:
    err = 0.0
    for m, t in enumerate(targets):
        got = np.bincount(codes[:, m], weights=w, minlength=len(t)) / w.sum()
        err = max(err, float(np.abs(got - t).max()))
    return err


# -- peers (run inside benchmarks/.venv-peers) ----------------------------------------------------
def peer_main(name: str, data_path: str, repeat: int) -> None:
    import pandas as pd

    z = np.load(data_path)
    codes = z["codes"]
    targets = [z[f"t{m}"] for m in range(len(SIZES))]
    frame = pd.DataFrame(
        {
            f"v{m}": pd.Categorical.from_codes(codes[:, m].astype(np.int64), labels(m, k))
            for m, k in enumerate(SIZES)
        }
    )
    margins = {
        f"v{m}": dict(zip(labels(m, k), t.tolist(), strict=True))
        for m, (k, t) in enumerate(zip(SIZES, targets, strict=True))
    }

    if name == "weightipy":
        import weightipy as wp

        version = wp.version if isinstance(getattr(wp, "version", None), str) else PEERS[name]

        def run(df):
            # convcrit: stop when an iteration no longer cuts the weight change by this fraction;
            # 1e-6 lets it run until the margins are met to about 1e-8 or better.
            scheme = wp.scheme_from_dict(
                {k: {c: 100 * v for c, v in t.items()} for k, t in margins.items()},
                rim_params={"convcrit": 1e-6, "max_iterations": 1000},
            )
            out = wp.weight_dataframe(df.copy(), scheme, weight_column="weights")
            return out["weights"].to_numpy(float), None
    elif name == "balance":
        import logging

        logging.getLogger("balance").setLevel(logging.ERROR)
        import balance
        from balance.weighting_methods.rake import rake as balance_rake

        version = balance.__version__

        # The margins as an exact target frame: every combination of categories, weighted by
        # the product of its shares (balance's own target_margins rounds them to a frame of
        # at most target_margins_max_length rows, which misses tol 1e-8).
        grid = np.array(np.meshgrid(*[np.arange(k) for k in SIZES], indexing="ij"))
        grid = grid.reshape(len(SIZES), -1).T
        target_df = pd.DataFrame(
            {
                f"v{m}": pd.Categorical.from_codes(grid[:, m], labels(m, k))
                for m, k in enumerate(SIZES)
            }
        )
        target_w = pd.Series(np.prod([targets[m][grid[:, m]] for m in range(len(SIZES))], axis=0))

        def run(df):
            res = balance_rake(
                df,
                pd.Series(np.ones(len(df))),
                target_df,
                target_w,
                transformations=None,
                convergence_rate=TOL,
                rate_tolerance=1e-15,
                max_iteration=1000,
            )
            return res["weight"].to_numpy(float), None
    else:
        raise SystemExit(f"unknown peer {name}")

    run(frame.iloc[:10_000])  # warm-up: imports and first-call costs
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        w, _ = run(frame)
        times.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "name": name,
                "version": version,
                "seconds": min(times),
                "error": max_margin_error(codes, w, targets),
            }
        )
    )


def ensure_peer_env() -> tuple[Path | None, str]:
    """The peers' interpreter, creating the environment if needed; or None and the reason."""
    python = PEER_ENV / "bin" / "python"
    if python.exists():
        return python, ""
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(PEER_ENV)],
            check=True,
            capture_output=True,
            text=True,
        )
        subprocess.run(
            [str(python), "-m", "ensurepip", "--upgrade"],
            check=True,
            capture_output=True,
            text=True,
        )
        pins = [f"{k}=={v}" for k, v in PEERS.items()]
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        reason = (exc.stderr or exc.stdout or str(exc)).strip().splitlines()
        return None, reason[-1] if reason else str(exc)
    return python, ""


def run_peer(python: Path, name: str, data_path: Path, repeat: int) -> dict:
    proc = subprocess.run(
        [str(python), __file__, "--peer", name, "--data", str(data_path), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=1800,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        return {"name": name, "failed": tail[-1] if tail else f"exit {proc.returncode}"}
    return json.loads(lines[-1])


# -- ours -----------------------------------------------------------------------------------------
def ours(codes: np.ndarray, targets: list[np.ndarray], repeat: int) -> dict:
    import pandas as pd

    from social_licence.weighting.solver import rake

    frame = pd.DataFrame(
        {
            f"v{m}": pd.Categorical.from_codes(codes[:, m].astype(np.int64), labels(m, k))
            for m, k in enumerate(SIZES)
        }
    )
    margins = {
        f"v{m}": dict(zip(labels(m, k), t.tolist(), strict=True))
        for m, (k, t) in enumerate(zip(SIZES, targets, strict=True))
    }
    rake(frame.iloc[:10_000], margins, tol=TOL)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        w_fit = rake(frame, margins, tol=TOL)
        w = w_fit.weights
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    wb_fit = rake(frame, margins, tol=TOL, bounds=(0.3, 3.0))
    wb = wb_fit.weights
    bounded = time.perf_counter() - t0
    return {
        "seconds": min(times),
        "iterations": w_fit.iterations,
        "cells": w_fit.n_cells,
        "method": w_fit.method,
        "error": max_margin_error(codes, w.to_numpy(), targets),
        "bounded_seconds": bounded,
        "bounded_iterations": wb_fit.iterations,
        "bounded_error": max_margin_error(codes, wb.to_numpy(), targets),
    }


def replicates(
    codes: np.ndarray, targets: list[np.ndarray], n: int = 100_000, reps: int = 200
) -> dict:
    import pandas as pd

    from social_licence.weighting.solver import make_reweighter

    sub = codes[:n]
    frame = pd.DataFrame(
        {
            f"v{m}": pd.Categorical.from_codes(sub[:, m].astype(np.int64), labels(m, k))
            for m, k in enumerate(SIZES)
        }
    )
    margins = {
        f"v{m}": dict(zip(labels(m, k), t.tolist(), strict=True))
        for m, (k, t) in enumerate(zip(SIZES, targets, strict=True))
    }
    rng = np.random.default_rng(SEED + 1)
    multipliers = rng.poisson(1.0, size=(n, reps)).astype(float)  # bootstrap-like replicates
    t0 = time.perf_counter()
    reweighter = make_reweighter(frame, margins, base_weight=None, tol=1e-10)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    for r in range(reps):
        reweighter(multipliers[:, r])
    return {"build": build, "seconds": time.perf_counter() - t0, "reps": reps, "n": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer")
    parser.add_argument("--data")
    args = parser.parse_args()
    if args.peer:
        peer_main(args.peer, args.data, args.repeat)
        return

    OUT.mkdir(exist_ok=True)
    codes, targets = make_data(args.rows)
    data_path = OUT / "rake_data.npz"
    np.savez(data_path, codes=codes, **{f"t{m}": t for m, t in enumerate(targets)})
    print(
        f"rake: {args.rows:,} rows x {len(SIZES)} margins ({sum(SIZES)} categories), "
        f"tol {TOL:g}, one core, best of {args.repeat}"
    )
    me = ours(codes, targets, args.repeat)
    print(
        f"  social_licence.rake   {me['seconds']:8.3f} s  1.00x   {me['iterations']} "
        f"{me['method']} iterations on {me['cells']:,} cells, max margin error {me['error']:.1e}"
    )
    python, reason = ensure_peer_env()
    if python is None:
        print(f"  peers not run: benchmarks/.venv-peers could not be built: {reason}")
    else:
        for name in PEERS:
            res = run_peer(python, name, data_path, max(1, args.repeat - 1))
            if "failed" in res:
                print(f"  {name:<20} failed: {res['failed']}")
                continue
            print(
                f"  {name + ' ' + res['version']:<20} {res['seconds']:8.3f} s "
                f"{res['seconds'] / me['seconds']:6.1f}x   max margin error {res['error']:.1e}"
            )
    print(
        "  (weightipy has no margin tolerance: it stops when an iteration no longer improves;\n"
        "   balance stops at convergence_rate = tol, the largest share difference)"
    )
    print(
        f"  bounded (0.3x-3x)     {me['bounded_seconds']:8.3f} s          "
        f"{me['bounded_iterations']} iterations, max margin error {me['bounded_error']:.1e}"
    )
    rep = replicates(codes, targets)
    print(
        f"re-rake {rep['reps']} bootstrap replicates at N = {rep['n']:,}: "
        f"{rep['seconds']:.2f} s ({1000 * rep['seconds'] / rep['reps']:.1f} ms each; "
        f"reweighter built in {rep['build']:.2f} s)"
    )
    target = 1.0
    verdict = "meets" if me["seconds"] <= target else "MISSES"
    print(f"target: at most {target:g} s for the 1M-row rake: {verdict} ({me['seconds']:.3f} s)")


if __name__ == "__main__":
    main()
