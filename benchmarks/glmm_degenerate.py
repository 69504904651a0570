"""Degenerate GLMM designs: never a crash, never a NaN in results, failures counted.

    python benchmarks/glmm_degenerate.py                 # 10^5 simulations in all
    python benchmarks/glmm_degenerate.py --per-design 300

Each design is run through the engine (``engine.run_chunk``, one thread) with Wald z and
with between-within t; per design and test the script prints the simulations, failed fits
(flagged: ``converged`` False, every entry NaN), singular fits, and the number of NaN or
infinite values in the converged simulations' estimates, SEs, df and p-values (must be 0;
df is +inf for z by definition and is checked to be finite for between-within).  A crash
would be an exception.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mcpower_sweep import MCPower, engine


def _binary(formula: str, baseline: float, n_clusters: int, effects: str,
            cluster_level: bool = True, family: str = "logit") -> MCPower:
    model = (MCPower(formula, family=family)
             .set_cluster("g", ICC=0.2, n_clusters=n_clusters,
                          cluster_level_vars=["treatment"] if cluster_level else None)
             .set_variable_type("treatment=binary(0.5, balanced)")
             .set_effects(effects))
    return model.set_baseline_probability(baseline)


def designs() -> dict[str, tuple[MCPower, int]]:
    """name -> (model, sample size): the issue's degenerate GLMM designs."""
    poisson = (MCPower("y ~ treatment + (1 | g)", family="poisson")
               .set_baseline_rate(0.05)
               .set_cluster("g", tau_squared=0.5, n_clusters=10)
               .set_variable_type("treatment=binary(0.5, balanced)")
               .set_effects("treatment=0.7"))
    return {
        "logit, baseline .01, 10 x 20": (
            _binary("y ~ treatment + (1 | g)", 0.01, 10, "treatment=0.5"), 200),
        "logit, 3 clusters x 10": (
            _binary("y ~ treatment + x + (1 | g)", 0.3, 3, "treatment=0.5, x=0.3",
                    cluster_level=False), 30),
        "logit, separation (log OR 12), 6 x 10": (
            _binary("y ~ treatment + (1 | g)", 0.2, 6, "treatment=12", cluster_level=False), 60),
        "probit, baseline .01, 3 clusters x 15": (
            _binary("y ~ treatment + (1 | g)", 0.01, 3, "treatment=1.0", family="probit"), 45),
        "poisson, rate .05, 10 x 5": (poisson, 50),
    }


def check(model: MCPower, n: int, df_method: str, count: int, seed: int) -> dict[str, int]:
    """Run ``count`` simulations; the counts the script prints."""
    r = engine.run_chunk(model.to_spec(n, df_method=df_method), seed, 0, count, n_threads=1)
    ok = r.converged
    finite_df = r.df[ok] if df_method == "between_within" else np.zeros(0)
    values = [r.estimate[ok], r.se[ok], r.pvalue[ok], finite_df, r.joint_pvalue[ok]]
    bad = sum(int((~np.isfinite(v)).sum()) for v in values) + int(np.isnan(r.df[ok]).sum())
    leaked = int((~np.isnan(r.pvalue[~ok])).sum())  # a failure must not look like a result
    return {"sims": count, "failed": int((~ok).sum()), "singular": int(r.singular[ok].sum()),
            "nan_in_results": bad, "failed_with_values": leaked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-design", type=int, default=10_000,
                        help="simulations per design and df method (default: 10^5 in all)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    total = {"sims": 0, "failed": 0, "nan_in_results": 0, "failed_with_values": 0}
    t0 = time.perf_counter()
    for name, (model, n) in designs().items():
        for df_method in ("z", "between_within"):
            c = check(model, n, df_method, args.per_design, args.seed)
            for k in total:
                total[k] += c[k]
            print(f"{name:<40} {df_method:<15} {c['sims']:>6} sims  {c['failed']:>6} failed  "
                  f"{c['singular']:>6} singular  {c['nan_in_results']} NaN/inf in results  "
                  f"{c['failed_with_values']} failures with values", flush=True)
    print(f"total: {total['sims']} simulations, {total['failed']} failed, "
          f"{total['nan_in_results']} NaN/inf in results, {total['failed_with_values']} failures "
          f"with values, no crash; {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
