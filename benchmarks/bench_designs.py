"""Two-level designs as researchers plan them: microseconds per simulation (generate + fit +
Satterthwaite tests), one thread, side by side with MCPower 1.4.1 in the same run.

- CRT: ``y ~ treatment + x + (1|cluster)``, treatment assigned to whole clusters
  (``cluster_level_vars``; ours also with exactly half the clusters treated), a level-1
  covariate x.
- binary treatment: the tutorial's ``08_binary_treatment.py``,
  ``outcome ~ treatment + age + (1 + treatment|site)`` with a level-1 binary treatment.

"gauss" times the same formula and sizes with every predictor normal and per row (the
engine's fastest path), so "vs gauss" is what the design's features cost us.  MCPower
runs its default df method (between-within); ours runs Satterthwaite.

Run: ``pip install ".[bench]" && python benchmarks/bench_designs.py``.  The tools are
timed alternately (best of ``--repeats``) so that background load affects both alike.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # MCPower's Rust pool: one thread

from bench_engine import time_mcpower_model, time_ours  # noqa: E402

from mcpower_sweep import MCPower as Ours  # noqa: E402

CRT = "y ~ treatment + x + (1|cluster)"
BINARY = "outcome ~ treatment + age + (1 + treatment|site)"
# name, formula, n_clusters, N
DESIGNS = [
    ("CRT", CRT, 10, 300),
    ("CRT", CRT, 30, 900),
    ("CRT", CRT, 60, 1800),
    ("binary treatment", BINARY, 30, 1500),
]


def configure(model, formula: str, n_clusters: int, kind: str):
    """The design on either tool's API (the MCPower 1.4.1 spellings both accept).

    kind: "binary" (MCPower's cluster-level treatment: one Bernoulli per cluster),
    "balanced" (exactly half the clusters treated: ours only) or "gauss" (all normal).
    """
    crt = formula == CRT
    grouping = "cluster" if crt else "site"
    kw = {} if crt else dict(random_slopes=["treatment"], slope_variance=0.05,
                             slope_intercept_corr=0.0)
    if crt and kind != "gauss":
        kw["cluster_level_vars"] = ["treatment"]
    if kind == "binary":
        model.set_variable_type("treatment=binary")
    elif kind == "balanced":
        model.set_variable_type("treatment=binary(0.5, balanced)")
    model.set_cluster(grouping, ICC=0.15, n_clusters=n_clusters, **kw)
    model.set_effects("treatment=0.3, x=0.2" if crt else "treatment=0.5, age=0.2")
    return model


def our_time(formula: str, n_clusters: int, n: int, kind: str, sims: int) -> float:
    spec = configure(Ours(formula), formula, n_clusters, kind).to_spec(n)
    return time_ours(spec, sims)


def mcpower_time(formula: str, n_clusters: int, n: int, sims: int) -> float:
    from mcpower import MCPower

    m = configure(MCPower(formula, family="lme"), formula, n_clusters, "binary")
    return time_mcpower_model(m, n, sims)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{'design':>16} {'J':>3} {'N':>5} {'ours us':>8} {'balanced':>8} {'gauss':>7} "
          f"{'MCPower us':>10} {'ratio':>6} {'vs gauss':>8}")
    for name, formula, j, n in DESIGNS:
        ours, bal, gauss, ref = [], [], [], []
        for _ in range(args.repeats):
            ours.append(our_time(formula, j, n, "binary", args.sims))
            if formula == CRT:
                bal.append(our_time(formula, j, n, "balanced", args.sims))
            gauss.append(our_time(formula, j, n, "gauss", args.sims))
            ref.append(mcpower_time(formula, j, n, args.sims))
        o, g, r = min(ours), min(gauss), min(ref)
        b = f"{min(bal):8.1f}" if bal else f"{'-':>8}"
        print(f"{name:>16} {j:>3} {n:>5} {o:>8.1f} {b} {g:>7.1f} {r:>10.1f} {o / r:>6.2f} "
              f"{o / g:>8.2f}")


if __name__ == "__main__":
    main()
