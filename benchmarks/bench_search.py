"""Simulations the adaptive search needs for a ±5% required-N interval, against a grid.

A balanced cluster-randomised trial (``y ~ treatment + (1|school)``, J/2 schools treated,
10 pupils per school, ICC .15, effect .4 residual SD) needs about 56 schools for 80% power
(exact noncentral t, docs/exact_power.py).  Both methods search 10..100 (or ``--to``) schools:

- adaptive: ``find_sample_size(10, 100, unit="clusters", precision=0.05)`` (no ``by``);
- grid: ``by=10`` (10 sizes), ``m`` simulations per size, with either interval of
  :func:`mcpower_sweep.crossing.required_n`: the Wilson band of the isotonic curve (counts
  only: MCPower 1.4.1's method, and a sweep's) or the joint probit fit of the sizes
  around the crossing (``find_sample_size(by=...)`` now).  The half-width falls like
  1/sqrt(m), so ``m`` for ±5% is extrapolated from a run at ``--grid-sims``, twice
  (from the first guess again), and checked.

Usage::

    python benchmarks/bench_search.py [--seeds 20] [--grid-sims 400] [--to 100]

Prints the mean simulations of each and their ratio (target: adaptive <= 1/5 of the grid).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import numpy as np

from mcpower_sweep import MCPower

LOW, PRECISION, N_SIZES = 10, 0.05, 10


def model(seed: int) -> MCPower:
    return (MCPower("y ~ treatment + (1|school)")
            .set_variable_type("treatment=binary(0.5, balanced)")
            .set_cluster("school", ICC=0.15, cluster_size=10, cluster_level_vars=["treatment"])
            .set_effects({"treatment": 0.4}).set_seed(seed).set_max_failed_simulations(0.2))


def half_width(low: float, high: float, estimate: float) -> float:
    """Relative half-width of an interval (what ``precision`` asks for)."""
    return (high - low) / 2 / estimate


def adaptive(seed: int, high: int) -> tuple[int, float]:
    r = model(seed).find_sample_size(LOW, high, target_test="treatment", unit="clusters",
                                     precision=PRECISION, max_simulations=200_000,
                                     print_results=False)
    c = r.found.crossing
    return r.n_simulations, half_width(c.low, c.high, c.estimate)


def grid(seed: int, per_size: int, joint: bool, high: int) -> float:
    r = model(seed).set_simulations(per_size).find_sample_size(
        LOW, high, by=(high - LOW) // (N_SIZES - 1), target_test="treatment", unit="clusters",
        print_results=False)
    if not joint:
        r = dataclasses.replace(r, outcomes=None)
    c = r.curve("treatment", in_unit=True)
    return half_width(c.low, c.high, c.estimate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--grid-sims", type=int, default=400)
    ap.add_argument("--to", type=int, default=100, help="largest number of schools searched")
    args = ap.parse_args()
    seeds = range(1, args.seeds + 1)
    n_sizes, high = N_SIZES, args.to
    print(f"schools {LOW}..{high}; {args.seeds} seeds")

    start = time.perf_counter()
    runs = [adaptive(s, high) for s in seeds]
    sims = np.array([r[0] for r in runs])
    widths = np.array([r[1] for r in runs])
    print(f"adaptive: {sims.mean():,.0f} simulations on average (min {sims.min():,}, max "
          f"{sims.max():,}); half-width {widths.mean():.1%} (max {widths.max():.1%}) "
          f"[{time.perf_counter() - start:.0f} s]")

    for joint, name in ((False, "Wilson band"), (True, "joint probit")):
        start = time.perf_counter()
        base = np.array([grid(s, args.grid_sims, joint, high) for s in seeds])
        per_size = math.ceil(args.grid_sims * (base.mean() / PRECISION) ** 2)
        check = np.array([grid(s, per_size, joint, high) for s in seeds])
        # once more from there: a grid's width is not exactly 1/sqrt(m)
        per_size = math.ceil(per_size * (check.mean() / PRECISION) ** 2)
        check = np.array([grid(s, per_size, joint, high) for s in seeds])
        total = per_size * n_sizes
        print(f"grid of {n_sizes} sizes, {name} interval: half-width {base.mean():.1%} at "
              f"{args.grid_sims} per size; {per_size:,} per size ({total:,} simulations) for "
              f"±5%, which gives {check.mean():.1%} [{time.perf_counter() - start:.0f} s]")
        print(f"  ratio adaptive / grid: {sims.mean() / total:.3f} (1/{total / sims.mean():.1f})")


if __name__ == "__main__":
    main()
