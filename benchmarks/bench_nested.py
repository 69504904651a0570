"""Several grouping factors (issue 12): milliseconds per simulation (generate + REML fit +
Satterthwaite tests), one thread, side by side with MCPower 1.4.1 in the same run.

- nested: ``score ~ treatment + (1|school/class)``, 20 schools x 4 classes x 15 pupils,
  the treatment given to classes (``cluster_level_vars`` on ``school:class``; ours with 2
  of the 4 classes of every school treated, MCPower one Bernoulli draw per unit).
- crossed: ``rt ~ condition + (1 + condition|subject) + (1|item)``, 30 subjects x 20 items,
  a by-subject random slope on a binary condition.

MCPower runs its default test (between-within df); ours runs Satterthwaite.  The tools are
timed alternately (best of ``--repeats``) so that background load affects both alike.
Run: ``pip install ".[bench]" && python benchmarks/bench_nested.py``.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # MCPower's Rust pool: one thread
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # NumPy's BLAS pool: one thread, no spinning

import time  # noqa: E402

from bench_engine import time_mcpower_model  # noqa: E402

from mcpower_sweep import MCPower as Ours  # noqa: E402
from mcpower_sweep.engine import run_chunk  # noqa: E402

NESTED = "score ~ treatment + (1|school/class)"
CROSSED = "rt ~ condition + (1 + condition|subject) + (1|item)"
DESIGNS = [("nested 20x4x15", NESTED, 1200), ("crossed 30x20", CROSSED, 600)]


def configure(model, formula: str, balanced: bool):
    """The design on either tool's API (the MCPower 1.4.1 spellings both accept)."""
    var = "treatment" if formula == NESTED else "condition"
    model.set_variable_type(f"{var}=binary(0.5, balanced)" if balanced else f"{var}=binary")
    model.set_effects(f"{var}=0.3")
    if formula == NESTED:
        model.set_cluster("school", ICC=0.15, n_clusters=20)
        model.set_cluster("school:class", ICC=0.1, n_per_parent=4,
                          cluster_level_vars=["treatment"])
    else:
        model.set_cluster("subject", ICC=0.2, n_clusters=30, random_slopes=["condition"],
                          slope_variance=0.1, slope_intercept_corr=0.2)
        model.set_cluster("item", ICC=0.1, n_clusters=20)
    return model


def our_time(formula: str, n: int, sims: int) -> float:
    """Milliseconds per simulation of the engine, one thread."""
    spec = configure(Ours(formula), formula, balanced=True).to_spec(n)
    run_chunk(spec, 1, 0, min(sims, 5))  # warm up
    t = time.perf_counter()
    run_chunk(spec, 1, 0, sims, 1)
    return (time.perf_counter() - t) / sims * 1e3


def mcpower_time(formula: str, n: int, sims: int) -> float | None:
    try:
        from mcpower import MCPower
    except ImportError:
        return None
    model = configure(MCPower(formula, family="lme"), formula, balanced=False)
    return time_mcpower_model(model, n, sims) / 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=100)
    ap.add_argument("--mcpower-sims", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    print(f"{'design':>16} {'N':>5} {'ours ms':>8} {'MCPower ms':>10} {'ratio':>6}")
    for name, formula, n in DESIGNS:
        ours, ref = [], []
        for _ in range(args.repeats):
            ours.append(our_time(formula, n, args.sims))
            ref.append(mcpower_time(formula, n, args.mcpower_sims))
        o = min(ours)
        r = None if None in ref else min(x for x in ref if x is not None)
        shown = f"{r:>10.3f} {o / r:>6.2f}" if r else f"{'-':>10} {'-':>6}"
        print(f"{name:>16} {n:>5} {o:>8.3f} {shown}")


if __name__ == "__main__":
    main()
