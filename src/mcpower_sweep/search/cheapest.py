"""The cheapest design: the clusters x cluster size that reaches the target for least cost,
or the most power a budget buys, by simulation (what Optimal Design answers analytically).

A design of J clusters of n costs ``J * (cost_per_cluster + n * cost_per_observation)``.

- With a target power: for each candidate cluster size n, the adaptive search finds the
  required number of clusters J*(n) with its 95% interval
  (:func:`~mcpower_sweep.search.adaptive.search`), and the cost follows with its interval;
  the cheapest n is the one with the lowest estimated cost.
- With a budget: for each n, the most clusters the budget pays for and their power (one
  run of ``simulations``, Wilson interval); the best n has the highest power.

Each cluster size has its own master seed (:func:`batch_seed` of the seed and the size),
so the answer is reproducible like the searches'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..results import render as R
from ..results.power import PowerResult
from ..stats import wilson_interval
from .adaptive import batch_seed, search

__all__ = ["CheapestDesign", "Option", "cheapest_design"]


@dataclass(frozen=True)
class Option:
    """One cluster size: clusters (with their 95% interval), cost and power.

    With a target, ``clusters`` is the required number (None unless reached) and
    ``power`` the target; with a budget, ``clusters`` is what the budget buys and
    ``power`` / ``power_ci`` were simulated there.
    """

    cluster_size: int
    clusters: int | None
    clusters_ci: tuple[int | None, int | None]
    cost: float | None
    cost_ci: tuple[float | None, float | None]
    power: float
    power_ci: tuple[float, float]
    status: str
    simulations: int


@dataclass(frozen=True)
class CheapestDesign:
    """The options compared and the best one (``best``: None when none qualifies)."""

    options: tuple[Option, ...]
    test: str
    target_power: float
    budget: float | None
    cost_per_cluster: float
    cost_per_observation: float
    seed: int

    @property
    def best(self) -> Option | None:
        if self.budget is not None:
            ok = [o for o in self.options if o.clusters]
            return max(ok, key=lambda o: o.power) if ok else None
        ok = [o for o in self.options if o.cost is not None]
        return min(ok, key=lambda o: o.cost or 0.0) if ok else None

    def __str__(self) -> str:
        def money(v: float | None) -> str:
            return "—" if v is None else f"{v:,.0f}"

        spent = self.budget is not None
        header = (["cluster size", "clusters", "cost", "power", "95% CI"] if spent else
                  ["cluster size", "clusters", "95% CI", "cost", "95% CI"])
        rows = []
        for o in self.options:
            if spent:
                rows.append([str(o.cluster_size), money(o.clusters), money(o.cost),
                             R.pct(o.power), f"{R.pct(o.power_ci[0])}–{R.pct(o.power_ci[1])}"])
            else:
                lo, hi = o.clusters_ci
                rows.append([str(o.cluster_size), money(o.clusters), f"{money(lo)}–{money(hi)}",
                             money(o.cost), f"{money(o.cost_ci[0])}–{money(o.cost_ci[1])}"])
        table = R.text_table(header, rows, right=set(range(len(header))))
        b = self.best
        goal = (f"the most power for a budget of {self.budget:,.0f}" if spent
                else f"{R.pct(self.target_power, 0)} power for {self.test} at least cost")
        answer = ("no cluster size qualifies: widen the range" if b is None else
                  f"best: {b.clusters} clusters of {b.cluster_size} (N = "
                  f"{(b.clusters or 0) * b.cluster_size:,}), cost {money(b.cost)}, power "
                  f"{R.pct(b.power)}")
        close = [o.cluster_size for o in self.options if b is not None and o is not b and (
            (spent and o.power_ci[1] >= b.power_ci[0]) or (not spent and o.cost_ci[0] is not None
                                                           and b.cost_ci[1] is not None
                                                           and o.cost_ci[0] <= b.cost_ci[1]))]
        if close:
            answer += (f"; within the 95% uncertainty also cluster size "
                       f"{', '.join(map(str, close))}")
        return (f"Cheapest design for {goal} (cost {self.cost_per_cluster:g} per cluster + "
                f"{self.cost_per_observation:g} per observation)\n\n{table}\n\n{answer}\n"
                f"seed {self.seed}")


def cheapest_design(
    spec_power: Callable[[int, int, int, int], PowerResult],
    *,
    test: str,
    cluster_sizes: tuple[int, ...],
    cost_per_cluster: float,
    cost_per_observation: float,
    budget: float | None,
    low: int,
    high: int,
    target: float,
    precision: float | int,
    max_simulations: int,
    simulations: int,
    seed: int,
) -> CheapestDesign:
    """Compare ``cluster_sizes``; ``spec_power(clusters, size, seed, sims)`` simulates.

    ``max_simulations`` is the budget of each cluster size's search.
    """
    options = []
    for n in cluster_sizes:
        per_cluster = cost_per_cluster + n * cost_per_observation
        master = batch_seed(seed, n, -1.0)  # never a batch's (values are positive)
        if budget is not None:
            j = int(budget // per_cluster)
            if j < 2:
                options.append(Option(n, None, (None, None), None, (None, None), float("nan"),
                                      (float("nan"), float("nan")), "unaffordable", 0))
                continue
            r = spec_power(j, n, master, simulations)
            k, m = r.significant[test], r.n_success
            options.append(Option(n, j, (j, j), j * per_cluster, (j * per_cluster,) * 2,
                                  k / m, wilson_interval(k, m), "budget", r.n_simulations))
            continue

        def run(batch: int, value: float, sims: int, n: int = n, master: int = master
                ) -> PowerResult:
            return spec_power(int(value), n, batch_seed(master, batch, value), sims)

        found = search(run, test, low=low, high=high, target=target, precision=precision,
                       max_simulations=max_simulations)
        c = found.crossing
        sims = sum(s.result.n_simulations for s in found.steps)
        if found.status != "reached":
            options.append(Option(n, None, (None, None), None, (None, None), target,
                                  (target, target), found.status, sims))
            continue
        j = int(-(-round(c.estimate, 6) // 1))
        lo = None if c.low is None else int(c.low)
        hi = None if c.high is None else int(-(-round(c.high, 6) // 1))
        options.append(Option(n, j, (lo, hi), j * per_cluster,
                              (None if lo is None else lo * per_cluster,
                               None if hi is None else hi * per_cluster),
                              target, (target, target), "reached", sims))
    return CheapestDesign(tuple(options), test, target, budget, cost_per_cluster,
                          cost_per_observation, seed)
