"""Engine speed: microseconds per simulation (generate + fit + Satterthwaite tests), one
thread, side by side with MCPower 1.4.1's Rust engine in the same run, plus thread scaling.
"rows" times the engine with row-by-row data generation forced (the path designs with
binary predictors or interactions take).

Run: ``pip install ".[bench]" && python benchmarks/bench_engine.py``.  The two tools are
timed alternately (best of ``--repeats``) so that background load affects both alike.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # MCPower's Rust pool: one thread

from mcpower_sweep import _native, engine  # noqa: E402
from mcpower_sweep.api.model import MCPower as Ours  # noqa: E402

DESIGNS = [(15, 300), (30, 900), (50, 2000), (100, 5000)]


def our_spec(n_clusters: int, n: int, slope: bool):
    m = Ours("y ~ treatment + (1 + treatment|cluster)" if slope else "y ~ treatment + (1|cluster)")
    kw = dict(random_slopes=["treatment"], slope_variance=0.1) if slope else {}
    m.set_cluster("cluster", ICC=0.15, n_clusters=n_clusters, **kw)
    m.set_effects("treatment=0.15")
    return m.to_spec(n)


def time_ours(spec, sims: int, threads: int = 1, row_level: bool = False) -> float:
    """Engine time per simulation; ``row_level`` forces generating every row instead of
    drawing each cluster's cross-products from their exact distribution."""
    es = engine.native_spec(spec, row_level=row_level)
    _native.run_chunk(es, 1, 0, min(sims, 50), threads)  # warm up
    t = time.perf_counter()
    _native.run_chunk(es, 1, 0, sims, threads)
    return (time.perf_counter() - t) / sims * 1e6


def time_mcpower(n_clusters: int, n: int, slope: bool, sims: int) -> float:
    from mcpower import MCPower

    formula = "y ~ treatment + (1 + treatment|cluster)" if slope else "y ~ treatment + (1|cluster)"
    m = MCPower(formula, family="lme")
    kw = dict(random_slopes=["treatment"], slope_variance=0.1) if slope else {}
    m.set_cluster("cluster", ICC=0.15, n_clusters=n_clusters, **kw)
    m.set_effects("treatment=0.15")
    return time_mcpower_model(m, n, sims)


def time_mcpower_model(m, n: int, sims: int) -> float:
    """MCPower's time per simulation of ``find_power(n)`` after a warm-up (quietly)."""
    m.set_max_failed_simulations(0.5)
    m.set_seed(1)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        m.find_power(n, n_sims=min(sims, 50), verbose=False, progress_callback=False)
        t = time.perf_counter()
        m.find_power(n, n_sims=sims, verbose=False, progress_callback=False)
    return (time.perf_counter() - t) / sims * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sims", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-mcpower", action="store_true")
    args = ap.parse_args()
    try:
        import mcpower  # noqa: F401

        have_ref = not args.no_mcpower
    except ImportError:
        have_ref = False
        print("MCPower 1.4.1 not installed (pip install '.[bench]'): ours only")
    print(
        f"{'clusters':>8} {'N':>6} {'model':>9} {'ours us':>9} {'rows us':>8} "
        f"{'MCPower us':>11} {'ratio':>6} {'rows ratio':>10}"
    )
    for slope in (True, False):
        for j, n in DESIGNS:
            spec = our_spec(j, n, slope)
            ours, rows, ref = [], [], []
            for _ in range(args.repeats):
                ours.append(time_ours(spec, args.sims))
                rows.append(time_ours(spec, args.sims, row_level=True))
                if have_ref:
                    ref.append(time_mcpower(j, n, slope, args.sims))
            o, w = min(ours), min(rows)
            r = min(ref) if ref else float("nan")
            model = "slope" if slope else "intercept"
            print(
                f"{j:>8} {n:>6} {model:>9} {o:>9.1f} {w:>8.1f} {r:>11.1f} {o / r:>6.2f} "
                f"{w / r:>10.2f}"
            )
    spec = our_spec(30, 900, True)
    one = min(time_ours(spec, args.sims, 1) for _ in range(args.repeats))
    for threads in (1, 2):
        t = min(time_ours(spec, args.sims, threads) for _ in range(args.repeats))
        print(
            f"threads={threads}: {t:.1f} us/sim wall, speed-up {one / t:.2f}x "
            "(30 clusters, N=900, slope)"
        )


if __name__ == "__main__":
    main()
