"""Make docs/exact-power.md: simulated power of balanced two-level trials against the exact
noncentral-t power of the PowerUp! / Optimal Design formulas.

Usage::

    python docs/exact_power.py [--simulations 2000] [--out docs/exact-power.md]

Both designs are balanced (``binary(0.5, balanced)``), so the REML fit with Satterthwaite
df reduces to the t test on cluster means (CRT) or on per-site differences (multisite)
whenever no variance is on its boundary, and the simulated power must agree with the
formula within Monte Carlo error.  ``tests/test_designs.py`` checks two of these rows.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

from mcpower_sweep import MCPower
from mcpower_sweep.stats import two_sided_power

ALPHA = 0.05
P_TREATED = 0.5
SEED = 20261127
J_GRID = (6, 8, 10, 15, 20, 30, 40, 60)


@dataclass(frozen=True)
class Row:
    """One design: exact and simulated power, the Monte Carlo SE of the simulated figure."""

    n_clusters: int
    exact: float
    simulated: float
    n_success: int
    seconds: float

    @property
    def mc_se(self) -> float:
        """SE of a simulated proportion whose true value is the exact power."""
        return math.sqrt(self.exact * (1.0 - self.exact) / self.n_success)

    @property
    def z(self) -> float:
        return (self.simulated - self.exact) / self.mc_se


def crt_exact(n_clusters: int, cluster_size: int, icc: float, beta: float) -> float:
    """Exact power of a balanced CRT in residual-SD units (sigma^2 = 1).

    Var(beta_hat) = (tau0^2 + 1/n) / (p (1 - p) J), df = J - 2.

    Examples
    --------
    >>> round(crt_exact(30, 30, 0.15, 0.30), 3)
    0.41
    """
    tau0 = icc / (1.0 - icc)
    var = (tau0 + 1.0 / cluster_size) / (P_TREATED * (1 - P_TREATED) * n_clusters)
    return two_sided_power(beta / math.sqrt(var), n_clusters - 2, ALPHA)


def multisite_exact(n_clusters: int, cluster_size: int, slope_variance: float,
                    beta: float) -> float:
    """Exact power of a balanced multisite trial with a random treatment effect.

    Var(beta_hat) = (tau1^2 + 1 / (p (1 - p) n)) / J, df = J - 1.

    Examples
    --------
    >>> round(multisite_exact(30, 30, 0.1, 0.15), 3)
    0.376
    """
    var = (slope_variance + 1.0 / (P_TREATED * (1 - P_TREATED) * cluster_size)) / n_clusters
    return two_sided_power(beta / math.sqrt(var), n_clusters - 1, ALPHA)


def _simulate(model: MCPower, n_clusters: int, cluster_size: int, exact: float) -> Row:
    start = time.perf_counter()
    res = model.set_seed(SEED).set_parallel(True).find_power(
        n_clusters * cluster_size, "treatment", df_method="satterthwaite",
        print_results=False)
    return Row(n_clusters, exact, res.power["treatment"], res.n_success,
               time.perf_counter() - start)


def crt_row(*, n_clusters: int, cluster_size: int, icc: float, delta_total: float,
            simulations: int) -> Row:
    """A CRT with effect ``delta_total`` in total-SD units (converted to residual units)."""
    beta = delta_total / math.sqrt(1.0 - icc)  # total variance tau0^2 + 1 = 1 / (1 - icc)
    model = (MCPower("y ~ treatment + (1|school)", family="lme")
             .set_variable_type(f"treatment=binary({P_TREATED}, balanced)")
             .set_cluster("school", ICC=icc, n_clusters=n_clusters,
                          cluster_level_vars=["treatment"])
             .set_effects({"treatment": beta}).set_simulations(simulations)
             .set_max_failed_simulations(0.01))
    return _simulate(model, n_clusters, cluster_size,
                     crt_exact(n_clusters, cluster_size, icc, beta))


def multisite_row(*, n_clusters: int, cluster_size: int, icc: float, slope_variance: float,
                  effect: float, simulations: int) -> Row:
    """A multisite trial: treatment balanced within each site, random treatment slope."""
    model = (MCPower("y ~ treatment + (1 + treatment|site)", family="lme")
             .set_variable_type(f"treatment=binary({P_TREATED}, balanced)")
             .set_cluster("site", ICC=icc, n_clusters=n_clusters,
                          slope_variance=slope_variance)
             .set_effects({"treatment": effect}).set_simulations(simulations)
             .set_max_failed_simulations(0.01))
    return _simulate(model, n_clusters, cluster_size,
                     multisite_exact(n_clusters, cluster_size, slope_variance, effect))


def _table(rows: list[Row]) -> list[str]:
    lines = ["| J | exact | simulated | MC SE | (sim - exact) / SE |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.n_clusters} | {r.exact:.3f} | {r.simulated:.3f} | {r.mc_se:.3f} | "
              f"{r.z:+.2f} |" for r in rows]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulations", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("exact-power.md"))
    args = ap.parse_args()
    sims = args.simulations
    crt = [crt_row(n_clusters=j, cluster_size=30, icc=0.15, delta_total=0.30,
                   simulations=sims) for j in J_GRID]
    msite = [multisite_row(n_clusters=j, cluster_size=30, icc=0.15, slope_variance=0.1,
                           effect=0.15, simulations=sims) for j in J_GRID]
    worst = max(abs(r.z) for r in crt + msite)
    text = [
        "# Power of balanced two-level trials: simulation against the exact answer",
        "",
        "Made by `python docs/exact_power.py --simulations "
        f"{sims}` (seed {SEED}; REML, Satterthwaite df, two-sided alpha = {ALPHA}).",
        "Exact power is the noncentral t of the PowerUp! / Optimal Design formulas; the",
        "Monte Carlo SE is that of a proportion whose true value is the exact power.",
        "",
        "## Cluster-randomised trial",
        "",
        "`y ~ treatment + (1|school)`, treatment `binary(0.5, balanced)` in",
        "`cluster_level_vars` (exactly J/2 schools treated), n = 30 per school, ICC = .15,",
        "delta = .30 in total-SD units (beta = delta / sqrt(1 - ICC) in the engine's",
        "residual-SD units). Exact: SE^2 = (ICC + (1 - ICC)/n) / (p(1 - p)J), df = J - 2.",
        "",
        *_table(crt),
        "",
        "## Multisite trial with a random treatment effect",
        "",
        "`y ~ treatment + (1 + treatment|site)`, treatment `binary(0.5, balanced)` (exactly",
        "15 of 30 rows treated in every site), ICC = .15, slope variance tau1^2 = .1,",
        "beta = .15 (residual-SD units). Exact: Var = (tau1^2 + 1/(p(1 - p)n)) / J,",
        "df = J - 1.",
        "",
        *_table(msite),
        "",
        f"Largest |simulated - exact| / SE over both tables: {worst:.2f}.",
        "",
    ]
    args.out.write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
