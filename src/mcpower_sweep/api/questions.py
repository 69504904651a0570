"""The design questions beyond power and sample size: the minimum detectable effect and
the cheapest design.

:class:`DesignQuestions` is a mixin of :class:`~mcpower_sweep.MCPower`: it uses the model's
configuration and its ``_run``, ``_seed_now`` and ``_sizing``, and hands the search itself to
:mod:`mcpower_sweep.search`.

Examples
--------
>>> from mcpower_sweep import MCPower
>>> model = (MCPower("y ~ treatment + (1|school)").set_effects("treatment=0.4")
...          .set_cluster("school", ICC=0.15, cluster_size=10))
>>> result = model.find_effect_size("treatment", sample_size=300)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..design.analysis import with_analysis
from ..params import PARAMS, check_correction, effect_param
from ..results.power import PowerResult
from ..search.cheapest import CheapestDesign, cheapest_design
from ..search.questions import check_cost, check_search, effect_search
from ..search.result import EffectSearchResult
from . import parse

__all__ = ["DesignQuestions"]


class DesignQuestions:
    """``find_effect_size`` and ``find_cheapest_design`` of :class:`~mcpower_sweep.MCPower`."""

    def find_effect_size(
        self,
        effect: str,
        sample_size: int,
        from_effect: float = 0.05,
        to_effect: float = 1.0,
        *,
        target_power: float | None = None,
        precision: float | int = 0.05,
        max_simulations: int = 20_000,
        correction: str | None = None,
        estimator: str | None = None,
        df_method: str | None = None,
        agq: int | None = None,
        test_formula: str | None = None,
        print_results: bool = True,
    ) -> EffectSearchResult:
        """The minimum detectable effect: the smallest ``effect`` reaching the target power.

        The adaptive search of :meth:`find_sample_size` over the effect's size instead of
        the sample size, with the other effects as set; the answer has a 95% interval.

        Parameters
        ----------
        effect
            The fixed effect (and test) whose size is searched, e.g. ``"treatment"``.
        sample_size
            Total number of observations N, as in :meth:`find_power`.
        from_effect, to_effect
            The range searched, on the effect's scale (residual-SD units; link scale for a
            GLMM); both negative to search negative effects.
        target_power
            Power to reach (default: the model's, ``set_power``), a fraction.
        precision, max_simulations
            As in :meth:`find_sample_size` (an absolute ``precision`` is in effect units:
            pass a float >= 1 only for effects that large).
        correction, estimator, df_method, agq, test_formula, print_results
            As in :meth:`find_power`.

        Returns
        -------
        EffectSearchResult
            ``.mde[effect]``, ``.mde_ci[effect]`` (95%), ``.status``, ``.n_simulations``.

        Examples
        --------
        >>> result = model.find_effect_size("treatment", sample_size=600)  # doctest: +SKIP
        >>> result.mde["treatment"], result.mde_ci["treatment"]  # doctest: +SKIP
        (0.412, (0.398, 0.427))
        """
        correction = check_correction(correction)
        target = (self._target_power if target_power is None
                  else PARAMS["target_power"].check(target_power))
        spec = with_analysis(self._with_agq(self.to_spec(
            sample_size, estimator=estimator, df_method=df_method), agq), test_formula)
        targets = parse.targets(effect, spec.tests)
        precision, budget, test = check_search(precision, max_simulations, targets, spec.tests)
        if test not in spec.term_names:
            raise ValueError(f"effect={effect!r} is a joint test: name one fixed effect of "
                             f"{', '.join(spec.term_names[1:])}")
        low, high = (float(effect_param(test).check(v, name))
                     for v, name in ((from_effect, "from_effect"), (to_effect, "to_effect")))
        seed, drawn = self._seed_now()
        found = effect_search(
            spec, lambda sp, s, m: self._run(sp, targets, s, drawn, correction, m, target),
            effect=test, low=low, high=high, target=target, precision=precision,
            max_simulations=budget, seed=seed, seed_drawn=drawn)
        if print_results:
            print(found)
        return found

    def find_cheapest_design(
        self,
        cost_per_cluster: float,
        cost_per_observation: float,
        *,
        budget: float | None = None,
        cluster_sizes: Sequence[int] = (5, 10, 20, 40),
        from_clusters: int = 4,
        to_clusters: int = 200,
        target_test: str | Sequence[str] = "all",
        precision: float | int = 0.05,
        max_simulations: int = 20_000,
        print_results: bool = True,
    ) -> CheapestDesign:
        """The clusters x cluster size reaching the target power for least cost, or (with
        ``budget``) the most power a budget buys; a design of J clusters of n costs
        ``J * (cost_per_cluster + n * cost_per_observation)``.

        Per cluster size, the adaptive search of :meth:`find_sample_size` finds the
        clusters needed (``precision`` and ``max_simulations`` per size; ``from_clusters``
        ..``to_clusters``); with a budget, one run of ``set_simulations`` at the clusters
        it pays for.  See :mod:`mcpower_sweep.search.cheapest`.

        Examples
        --------
        >>> best = model.find_cheapest_design(500, 20).best  # doctest: +SKIP
        >>> best.clusters, best.cluster_size, best.cost  # doctest: +SKIP
        (36, 10, 25200.0)
        """
        if self._mixed is not None:
            raise ValueError("find_cheapest_design prices J clusters of n observations: it "
                             "needs one grouping factor; with several, sweep their sizes "
                             "(n_clusters[<grouping>], n_per_parent[<grouping>]) instead")
        c = self._cluster
        if c is None or not (c.cluster_size or c.n_clusters):
            raise ValueError(f"find_cheapest_design needs set_cluster(..., cluster_size=...) "
                             f"or n_clusters=...; this model sets {self._sizing()}")
        costs = [check_cost(v, name) for v, name in ((cost_per_cluster, "cost_per_cluster"),
                                                (cost_per_observation, "cost_per_observation"))]
        if budget is not None:
            budget = check_cost(budget, "budget")
        sizes = tuple(int(PARAMS["cluster_size"].check(n, "cluster_sizes")) for n in cluster_sizes)
        low = int(PARAMS["n_clusters"].check(from_clusters, "from_clusters"))
        high = int(PARAMS["n_clusters"].check(to_clusters, "to_clusters"))
        base = self.to_spec((c.cluster_size or 5) * (c.n_clusters or 10))
        targets = parse.targets(target_test, base.tests)
        precision, budget_sims, test = check_search(precision, max_simulations, targets,
                                                    base.tests)
        seed, drawn = self._seed_now()

        def simulate(j: int, n: int, s: int, sims: int) -> PowerResult:
            spec = dataclasses.replace(base, n_clusters=None, cluster_size=n, sample_size=j * n)
            return self._run(spec, targets, s, drawn, simulations=sims)

        result = cheapest_design(simulate, test=test, cluster_sizes=sizes,
                                 cost_per_cluster=costs[0], cost_per_observation=costs[1],
                                 budget=budget, low=low, high=high, target=self._target_power,
                                 precision=precision, max_simulations=budget_sims,
                                 simulations=self._simulations, seed=seed)
        if print_results:
            print(result)
        return result

