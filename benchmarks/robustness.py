"""Heavy-tailed random effects change power as an lme4 + lmerTest simulation says they do.

Two designs (``robustness.R`` describes them): a small cluster-randomised trial (test of the
cluster-level treatment) and a random-slope design (test of the slope's fixed effect), each
with normal random effects and with t(3) random effects of the same variances.  The engine
runs ``n_engine`` simulations per cell; R runs ``n_r`` (``Rscript robustness.R``); the table
gives both powers with their SEs and the change t(3) - normal in each, with its SE.

Usage: ``python benchmarks/robustness.py [n_engine] [n_r]`` (defaults 4000 and 500; R takes
about three minutes of CPU at 500; needs Rscript with lme4 and lmerTest).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

from mcpower_sweep import MCPower

HERE = Path(__file__).resolve().parent
SEED = 16
DESIGNS = {
    "crt": (MCPower("y ~ treat + (1|g)").set_effects("treat=0.8")
            .set_variable_type("treat=binary(0.5, balanced)")
            .set_cluster("g", ICC=0.3, n_clusters=10, cluster_level_vars=["treat"]), 100, "treat"),
    "slope": (MCPower("y ~ x + (1 + x|g)").set_effects("x=0.35")
              .set_cluster("g", ICC=0.2, n_clusters=12, random_slopes=["x"],
                           slope_variance=0.3), 240, "x"),
}
RE_DISTS = ("normal", "t(3)")


def engine_power(n_sims: int) -> dict[tuple[str, str], tuple[float, int]]:
    """(power, successful fits) per (design, random-effect distribution)."""
    out = {}
    for name, (model, n, test) in DESIGNS.items():
        for dist in RE_DISTS:
            r = (model.set_random_effect_distribution(dist).set_seed(SEED)
                 .set_simulations(n_sims).set_parallel(False).find_power(n, print_results=False))
            out[name, dist] = (r.power[test], r.n_success)
    return out


def r_power(n_sims: int) -> dict[tuple[str, str], tuple[float, int]]:
    text = subprocess.run(["Rscript", str(HERE / "robustness.R"), str(n_sims), str(SEED)],
                          check=True, capture_output=True, text=True).stdout
    out = {}
    for line in text.splitlines():
        design, dist, sims, power, *_ = line.split()
        out[design, dist] = (float(power), int(sims))
    return out


def _se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def table(ours: dict, lme4: dict) -> str:
    rows = ["| design | random effects | engine | lme4 + lmerTest | difference (SE) |",
            "|:--|:--|--:|--:|--:|"]
    for name in DESIGNS:
        for dist in RE_DISTS:
            (p, n), (q, m) = ours[name, dist], lme4[name, dist]
            se = math.hypot(_se(p, n), _se(q, m))
            rows.append(f"| {name} | {dist} | {p:.1%} ± {_se(p, n):.1%} | "
                        f"{q:.1%} ± {_se(q, m):.1%} | {p - q:+.1%} ({se:.1%}) |")
        (p0, n0), (p1, n1) = ours[name, "normal"], ours[name, "t(3)"]
        (q0, m0), (q1, m1) = lme4[name, "normal"], lme4[name, "t(3)"]
        # common random numbers make the engine's change more precise than this bound
        d_ours, d_r = p1 - p0, q1 - q0
        rows.append(f"| {name} | change t(3) - normal | {d_ours:+.1%} ± "
                    f"{math.hypot(_se(p0, n0), _se(p1, n1)):.1%} | {d_r:+.1%} ± "
                    f"{math.hypot(_se(q0, m0), _se(q1, m1)):.1%} | |")
    return "\n".join(rows)


def main(n_engine: int = 4000, n_r: int = 500) -> None:
    print(table(engine_power(n_engine), r_power(n_r)))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
