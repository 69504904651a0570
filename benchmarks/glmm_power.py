"""Power of our GLMM engine (glmer's Laplace fit, Wald z) on the designs of glmm_power.R.

    Rscript benchmarks/glmm_power.R 500 1 > r.txt       # glmer, the reference
    python benchmarks/glmm_power.py --simulations 2000 --r-output r.txt

Prints, per design and test, our power and its Monte Carlo SE and, given R's output,
glmer's and the difference in Monte Carlo SEs of the difference (independent runs:
sqrt(se_ours^2 + se_R^2)).  The designs (see glmm_power.R for the data-generating model):

- crt: ``passed ~ treatment + (1|school)``, 20 x 25, half the schools treated, baseline .3,
  ICC .1 (latent), log OR .75;
- multisite: ``passed ~ treatment + (1 + treatment|site)``, 20 x 30, half of each site
  treated, baseline .3, ICC .1, slope variance .1, log OR .45;
- poisson: ``falls ~ treatment + x + (1|home)``, 20 x 10, half the homes treated, rate
  1.5, tau^2 .2, log rate ratios .5 and .12.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from mcpower_sweep import MCPower

CRT_ICC = 0.1


def designs() -> dict[str, tuple[MCPower, int]]:
    """Each design's model and sample size, as glmm_power.R simulates it."""
    crt = (MCPower("passed ~ treatment + (1|school)", family="logit")
           .set_baseline_probability(0.3)
           .set_cluster("school", ICC=CRT_ICC, n_clusters=20, cluster_level_vars=["treatment"])
           .set_variable_type("treatment=binary(0.5, balanced)")
           .set_effects("treatment=0.75"))
    multisite = (MCPower("passed ~ treatment + (1 + treatment|site)", family="logit")
                 .set_baseline_probability(0.3)
                 .set_cluster("site", ICC=CRT_ICC, n_clusters=20, random_slopes=["treatment"],
                              slope_variance=0.1, slope_intercept_corr=0.0)
                 .set_variable_type("treatment=binary(0.5, balanced)")
                 .set_effects("treatment=0.45"))
    poisson = (MCPower("falls ~ treatment + x + (1|home)", family="poisson")
               .set_baseline_rate(1.5)
               .set_cluster("home", tau_squared=0.2, n_clusters=20,
                            cluster_level_vars=["treatment"])
               .set_variable_type("treatment=binary(0.5, balanced)")
               .set_effects("treatment=0.5, x=0.12"))
    return {"crt": (crt, 500), "multisite": (multisite, 600), "poisson": (poisson, 200)}


def read_r(path: Path) -> dict[tuple[str, str], tuple[float, float, str]]:
    """An R power script's lines (glmm_power.R, nested_power.R): (design, test) -> (power,
    se, the rest of the line)."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"(\w+) (\w+) power ([\d.]+) se ([\d.]+) (.*)", line)
        if m:
            out[m[1], m[2]] = float(m[3]), float(m[4]), m[5]
    return out


def compare(name: str, model: MCPower, n: int,
            ref: dict[tuple[str, str], tuple[float, float, str]], ref_name: str) -> None:
    """Our power of ``model`` at N = ``n`` per test, with its Monte Carlo SE, and where
    ``ref`` (:func:`read_r`) has the test, the reference's and the difference in Monte
    Carlo SEs of the difference (independent runs: sqrt(se_ours^2 + se_ref^2))."""
    ds = model.find_power(n, print_results=False).to_xarray()
    sims = int(ds["n_sims"].max())
    for test in ds["test"].values:
        cell = ds.sel(test=test)
        power = float(cell["power"])
        se = math.sqrt(power * (1 - power) / int(cell["n_success"]))
        line = (f"{name:<9} {test:<10} ours {power:.4f} (se {se:.4f}, "
                f"{int(cell['n_success'])}/{sims} fits, {int(cell['n_singular'])} singular)")
        if (name, str(test)) in ref:
            r_power, r_se, rest = ref[name, str(test)]
            z = (power - r_power) / math.hypot(se, r_se)
            line += (f"  {ref_name} {r_power:.4f} (se {r_se:.4f})  diff {z:+.2f} MC SEs"
                     f"  [{rest}]")
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--r-output", type=Path, help="glmm_power.R's output to compare with")
    args = parser.parse_args()
    ref = read_r(args.r_output) if args.r_output else {}
    for name, (model, n) in designs().items():
        model.set_simulations(args.simulations).set_seed(args.seed)
        compare(name, model, n, ref, "glmer")


if __name__ == "__main__":
    main()
