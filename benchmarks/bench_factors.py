"""Speed of factor designs against a binary design of the same sizes: microseconds per
simulation (generate + fit + Satterthwaite t tests, and the joint F test of the factor),
one thread, best of ``--repeats``.

Run: ``python benchmarks/bench_factors.py [--sims 2000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import time

from mcpower_sweep import MCPower, _native, engine

DESIGNS = [(20, 400), (50, 2000)]


def model(kind: str, interaction: bool = False) -> MCPower:
    rhs = "group*x" if interaction else "group + x"
    return (MCPower(f"y ~ {rhs} + (1|cluster)")
            .set_variable_type(f"group={kind}")
            .set_effects("x=0.2"))


CASES = {
    "binary(0.5)": lambda: model("binary(0.5)"),
    "factor(3)": lambda: model("factor(3)"),
    "factor(3, balanced)": lambda: model("factor(0.34, 0.33, 0.33, balanced)"),
    "factor(5)": lambda: model("factor(5)"),
    "factor(3), cluster level": lambda: model("factor(3)"),
    "factor(3) x x (rows)": lambda: model("factor(3)", interaction=True),
}


def per_sim_us(m: MCPower, n_clusters: int, n: int, sims: int, repeats: int,
               cluster_level: bool) -> float:
    m.set_cluster("cluster", ICC=0.15, n_clusters=n_clusters,
                  cluster_level_vars=["group"] if cluster_level else None)
    es = engine.native_spec(m.to_spec(n))
    _native.run_chunk(es, 1, 0, 50, 1)  # warm up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        _native.run_chunk(es, 1, 0, sims, 1)
        best = min(best, time.perf_counter() - t)
    return 1e6 * best / sims


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sims", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{'design':<28}" + "".join(f"{f'J={j}, N={n}':>16}" for j, n in DESIGNS))
    for name, make in CASES.items():
        cells = [per_sim_us(make(), j, n, args.sims, args.repeats, "cluster level" in name)
                 for j, n in DESIGNS]
        print(f"{name:<28}" + "".join(f"{c:>13.1f} us" for c in cells))


if __name__ == "__main__":
    main()
