"""The tutorial's API: configure a multilevel design step by step, then ask for power.

Every setter checks its input where it enters, with a message that names the parameter,
the value and what is allowed, and returns the model so calls can be chained.  The
configuration becomes one validated :class:`~mcpower_sweep.spec.SimulationSpec`
(:meth:`MCPower.to_spec`), which the native engine simulates; power is counted over the
fits that succeeded.

Examples
--------
>>> from mcpower_sweep import MCPower
>>> model = MCPower("outcome ~ treatment + motivation + (1 + treatment|site)")
>>> _ = (model.set_simulations(400)
...      .set_cluster("site", ICC=0.2, n_clusters=30, random_slopes=["treatment"],
...                   slope_variance=0.1, slope_intercept_corr=0.3)
...      .set_effects("treatment=0.5, motivation=0.3")
...      .set_max_failed_simulations(0.30))
>>> result = model.find_power(sample_size=1500)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..design.analysis import with_analysis
from ..design.spec import SimulationSpec
from ..params import PARAMS, check_correction, draw_seed
from ..results.power import PowerResult
from ..results.sample_size import SampleSizeResult
from ..results.scenarios import ScenarioResult
from ..search.questions import check_search, size_search
from ..search.result import SizeSearchResult
from . import parse
from .calls import Progress, applied, call_options, grid_sizes, offset
from .configure import Configuration
from .pilot import Pilot
from .questions import DesignQuestions
from .robust import scenario_names
from .run import TooManyFailedFitsError, power_at, size_bounds
from .upload import UploadData

__all__ = ["MCPower", "TooManyFailedFitsError"]


class MCPower(DesignQuestions, Configuration, Pilot, UploadData):
    """Monte Carlo power analysis for a linear mixed model given as an lme4 formula.

    Configure the design with the setters (:class:`~mcpower_sweep.api.configure.Configuration`),
    then ask :meth:`find_power` or :meth:`find_sample_size` (or, from
    :class:`~mcpower_sweep.api.questions.DesignQuestions`, :meth:`find_effect_size` and
    :meth:`find_cheapest_design`).

    Parameters
    ----------
    formula
        For example ``"outcome ~ treatment + motivation + (1 + treatment|site)"``:
        fixed effects, then one random part with a grouping factor.
    family
        ``"lme"`` (the linear mixed model, default), ``"logit"`` or ``"probit"`` (a 0/1
        outcome, with :meth:`set_baseline_probability`) or ``"poisson"`` (a count, with
        :meth:`set_baseline_rate`): MCPower 1.4.1's spellings.  Effects of a GLMM are on the
        link scale (log odds ratios, log rate ratios); it is fitted as glmer does (Laplace)
        and tested by Wald z.

    Examples
    --------
    >>> model = MCPower("score ~ treatment + (1 + treatment|cluster)")
    >>> model.tests
    ('treatment',)
    """

    # ------------------------------------------------------------ running
    def _seed_now(self) -> tuple[int, bool]:
        """The seed of the next run and whether it was drawn (none set)."""
        return (self._seed, False) if self._seed is not None else (draw_seed(), True)

    def _run(self, spec: SimulationSpec, targets: tuple[str, ...], seed: int,
             drawn: bool, correction: str = "none", simulations: int | None = None,
             target_power: float | None = None, outcomes: list | None = None,
             progress: Progress | None = None) -> PowerResult:
        return power_at(spec, seed=seed, seed_drawn=drawn,
                        simulations=simulations or self._simulations,
                        n_threads=self.n_threads,
                        target_power=target_power or self._target_power,
                        targets=targets, max_failed=self._max_failed, correction=correction,
                        outcomes=outcomes, progress=progress)

    def find_power(
        self,
        sample_size: int,
        target_test: str | Sequence[str] = "all",
        *,
        correction: str | None = None,
        estimator: str | None = None,
        df_method: str | None = None,
        agq: int | None = None,
        test_formula: str | None = None,
        scenarios: bool | Sequence[str] = False,
        print_results: bool = True,
        n_sims: int | None = None,
        seed: int | None = None,
        verbose: bool | None = None,
        progress_callback: bool | Progress | None = False,
        wald_se: str | None = None,
    ) -> PowerResult | ScenarioResult:
        """Estimate the power of each fixed-effect test at a total sample size.

        Parameters
        ----------
        sample_size
            Total number of observations N, split over the clusters.
        target_test
            ``"all"`` (default), a test name, ``"a, b"`` or a list: the tests shown and
            compared with the target (all tests are always computed); they form the family
            of ``correction`` and of the power that all (at least k) are significant.
        correction
            ``None`` / ``"none"`` (default), ``"bonferroni"``, ``"holm"`` or ``"bh"``
            (Benjamini-Hochberg; also ``"fdr"``), any case: applied in every simulation to
            the target tests' p-values. The result keeps every correction
            (``.to_xarray()``: ``power_corrected``, ``power_at_least``, ``power_all``);
            this one is shown and compared with the target.
        estimator
            ``"reml"`` (default) or ``"ml"``; a GLMM is always ``"ml"`` (Laplace).
        df_method
            Reference distribution of the Wald t test: ``"satterthwaite"`` (default),
            ``"between_within"``, ``"residual"`` or ``"z"``; a GLMM is tested by Wald z
            (``"z"``, glmer's default; MCPower 1.4.1's ``"asymptotic"`` is read as ``"z"``)
            or by t on between-within df (``"between_within"``, for few clusters).
        agq
            A GLMM's fit: None or 1 (default) the Laplace approximation, an odd number
            3..25 adaptive Gauss-Hermite quadrature with that many nodes (a random
            intercept only), as glmer's ``nAGQ``.
        test_formula
            Fit this model instead of the model's formula (a misspecified analysis; the
            data still come from the formula): a sub-model with the same outcome and
            grouping, e.g. ``"y ~ x + (1|g)"`` when the truth has ``(1 + x|g)``; a
            fixed-effects formula (MCPower 1.4.1's ``"y ~ x"``) keeps the random part.
            The tests are then the analysis's terms (docs/misspecification.md).
        scenarios
            True (MCPower 1.4.1's optimistic, realistic and doomer sets and any custom
            ones) or a list of names: the same simulations under each scenario's
            perturbed assumptions, returned side by side as a :class:`ScenarioResult`
            (docs/robustness.md).
        print_results
            Print the result table (default True).
        n_sims, seed, verbose, progress_callback, wald_se
            MCPower 1.4.1's per-call keywords (:func:`~mcpower_sweep.api.calls.call_options`):
            this call's number of simulations and seed (the model's settings stay), whether
            to print (as ``print_results``), progress reports (True: a bar on stderr; a
            callable ``(done, total)``; returning False stops the run), and the GLMM's
            standard errors (``"hessian"``, glmer's ``vcov``).

        Returns
        -------
        PowerResult
            ``.power[test]`` (fraction), ``.ci[test]``, ``.n_failed``, ``.to_xarray()``.

        Raises
        ------
        TooManyFailedFitsError
            If the share of failed fits exceeds ``set_max_failed_simulations``.

        Examples
        --------
        >>> result = model.find_power(sample_size=1500)  # doctest: +SKIP
        >>> result.power["treatment"]  # doctest: +SKIP
        0.8725
        """
        correction = check_correction(correction)
        options = call_options(n_sims=n_sims, seed=seed, verbose=verbose,
                               print_results=print_results,
                               progress_callback=progress_callback, wald_se=wald_se,
                               family=self.family)
        spec = with_analysis(self._with_agq(self.to_spec(
            sample_size, estimator=estimator, df_method=df_method), agq), test_formula)
        targets = parse.targets(target_test, spec.tests)  # the analysis's tests
        self._sample_size = spec.sample_size
        self._warn_strict_reuse(spec.sample_size)
        with applied(self, options):
            drawn_seed = self._seed_now()
            names = scenario_names(scenarios, spec.scenario_configs) if scenarios else ()
            result = (self._run(spec, targets, *drawn_seed, correction,
                                progress=options.progress) if not scenarios else
                      ScenarioResult({s: self._run(spec.with_params(scenario=s), targets,
                                                   *drawn_seed, correction,
                                                   progress=options.progress)
                                      for s in names}))
        if options.show:
            print(result)
        return result

    def _observations_per(self, unit: str) -> int:
        """Observations per unit of ``find_sample_size``'s sizes (the design fixes the rest)."""
        if unit == "observations":
            return 1
        c = self._cluster
        if self._mixed is not None:  # the units of the first top-level grouping
            c = next((g for g in self._groupings.values() if g.parent is None), None)
        fixed, needed = (("cluster_size", c and c.cluster_size) if unit == "clusters"
                         else ("n_clusters", c and not getattr(c, "cluster_sizes", ())
                               and c.n_clusters))
        if not needed:
            raise ValueError(
                f"unit={unit!r} needs set_cluster(..., {fixed}=...): the {fixed} stays fixed "
                f"while the {'number of clusters' if unit == 'clusters' else 'cluster size'} "
                f"varies; this model sets {self._sizing(c)}")
        return int(needed)

    def _sizing(self, c: object = None) -> str:
        """How the (primary) grouping is sized, in words."""
        c = c if c is not None else self._cluster
        if c is None:
            return "no cluster (call set_cluster first)"
        return ("cluster_sizes" if getattr(c, "cluster_sizes", ()) else
                f"n_clusters={c.n_clusters}" if c.n_clusters is not None
                else f"cluster_size={c.cluster_size}")

    def find_sample_size(
        self,
        from_size: int = 30,
        to_size: int = 200,
        by: int | str | None = None,
        target_test: str | Sequence[str] = "all",
        *,
        unit: str = "observations",
        correction: str | None = None,
        estimator: str | None = None,
        df_method: str | None = None,
        agq: int | None = None,
        test_formula: str | None = None,
        scenarios: bool | Sequence[str] = False,
        precision: float | int = 0.05,
        max_simulations: int = 20_000,
        print_results: bool = True,
        mode: str = "linear",
        target_power: float | None = None,
        n_sims: int | None = None,
        seed: int | None = None,
        verbose: bool | None = None,
        progress_callback: bool | Progress | None = False,
        wald_se: str | None = None,
    ) -> SampleSizeResult | SizeSearchResult | ScenarioResult:
        """The size reaching the target power, by adaptive search or over a grid of sizes.

        Without ``by``, an adaptive search (:mod:`mcpower_sweep.search.adaptive`) places
        simulations in batches near the crossing until the 95% interval of the required
        size is within ``precision`` or ``max_simulations`` are spent.  With ``by``, power
        over the sizes ``from_size, from_size + by, ... <= to_size``, every size with the
        same seed and simulation indices (common random numbers, so the curve is smooth).

        Parameters
        ----------
        from_size, to_size
            First and last total sample size (``from_size <= to_size``; MCPower 1.4.1's
            defaults 30 and 200).
        by, mode
            Step between sizes of a grid (default: no grid, the adaptive search);
            ``by="auto"``: about a dozen sizes (MCPower 1.4.1's grid); with
            ``mode="log"``, ``by`` is the number of sizes, evenly spaced in log size.
        unit
            What the sizes count (MCPower 1.4.1's spelling): ``"observations"`` (N,
            default), ``"clusters"`` (the number of clusters, with ``set_cluster(...,
            cluster_size=...)`` fixing each cluster's size) or ``"cluster_size"``
            (observations per cluster, with ``n_clusters`` fixed).  Results give N and the
            unit (``.unit_sizes``, ``.required_units``).
        target_test, correction, estimator, df_method, agq, test_formula, scenarios, print_results
            As in :meth:`find_power`; the power curves and the required N are those after
            the correction.  The adaptive search needs one target test.
        precision
            Adaptive search: the 95% interval's half-width to reach, relative to the
            estimate when a fraction (0.05: ±5%), in the unit when a whole number.
        max_simulations
            Adaptive search: the budget of simulations (``set_simulations`` or ``n_sims``
            set the grid's simulations per size).
        target_power, n_sims, seed, verbose, progress_callback, wald_se
            MCPower 1.4.1's per-call keywords, as in :meth:`find_power`; ``target_power``
            replaces ``set_power``'s target for this call.

        Returns
        -------
        SizeSearchResult or SampleSizeResult
            ``.required_n[test]`` and ``.required_n_ci[test]`` (95%; None: not bounded),
            ``.required_units``, ``.status``; a grid's also ``.power``, ``.sizes``,
            ``.to_xarray()``.

        Examples
        --------
        >>> result = model.find_sample_size(500, 3000, by=250,
        ...                                 target_test="treatment")  # doctest: +SKIP
        >>> result.required_n["treatment"]  # doctest: +SKIP
        1000
        >>> schools = (MCPower("y ~ x + (1|school)").set_effects("x=0.2")
        ...            .set_cluster("school", ICC=0.1, cluster_size=20))
        >>> result = schools.find_sample_size(10, 40, by=10, unit="clusters")  # doctest: +SKIP
        >>> result.required_units["x"], result.required_n["x"]  # doctest: +SKIP
        (17, 340)
        """
        options = call_options(n_sims=n_sims, seed=seed, target_power=target_power,
                               verbose=verbose, print_results=print_results,
                               progress_callback=progress_callback, wald_se=wald_se,
                               family=self.family)
        per_unit = self._observations_per(PARAMS["unit"].check(unit))
        grid = grid_sizes(from_size, to_size, by, mode)
        sizes = grid if grid is not None else size_bounds(from_size, to_size)
        self._warn_strict_reuse(int(to_size) * per_unit)
        correction = check_correction(correction)

        def spec_at(n: int) -> SimulationSpec:
            return with_analysis(self._with_agq(self.to_spec(
                n * per_unit, estimator=estimator, df_method=df_method), agq), test_formula)

        with applied(self, options):
            if grid is None:
                found = self._search(spec_at, sizes, target_test, unit, per_unit, correction,
                                     scenarios, precision, max_simulations, options.progress)
            else:
                found = self._grid(spec_at, grid, target_test, unit, correction, scenarios,
                                   options.progress)
        if options.show:
            print(found)
        return found

    def _search(self, spec_at: Callable[[int], SimulationSpec], bounds: tuple[int, int],
                target_test: str | Sequence[str], unit: str, per_unit: int, correction: str,
                scenarios: bool | Sequence[str], precision: float | int,
                max_simulations: int, progress: Progress | None) -> SizeSearchResult:
        """find_sample_size without a grid: the adaptive search."""
        if scenarios:
            raise ValueError(
                f"scenarios={scenarios!r} compares scenario sets over a grid of sizes: give "
                "by= (the adaptive search, without by=, answers for one scenario)")
        first = spec_at(bounds[0])
        targets = parse.targets(target_test, first.tests)
        precision, budget, test = check_search(precision, max_simulations, targets,
                                               first.tests)
        seed, drawn = self._seed_now()
        return size_search(
            spec_at, lambda spec, s, m: self._run(spec, targets, s, drawn, correction, m,
                                                  progress=progress),
            test=test, low=bounds[0], high=bounds[1], target=self._target_power,
            precision=precision, max_simulations=budget, seed=seed, seed_drawn=drawn,
            unit=unit, per_unit=per_unit)

    def _grid(self, spec_at: Callable[[int], SimulationSpec], sizes: Sequence[int],
              target_test: str | Sequence[str], unit: str, correction: str,
              scenarios: bool | Sequence[str], progress: Progress | None
              ) -> SampleSizeResult | ScenarioResult:
        """find_sample_size over a grid of sizes (progress counts over the whole grid)."""
        specs = [spec_at(n) for n in sizes]
        targets = parse.targets(target_test, specs[0].tests)
        # One seed for every size: common random numbers make the curve smooth.
        seed, drawn = self._seed_now()
        per_size = self._simulations
        names = scenario_names(scenarios, specs[0].scenario_configs) if scenarios else ("",)
        total = per_size * len(specs) * len(names)

        def curve(scenario: str, before: int) -> SampleSizeResult:
            # Per-simulation outcomes: the required N's interval accounts for the pairing.
            blocks: list[list] = [[] for _ in specs]
            points = tuple(self._run(spec.with_params(scenario=scenario), targets, seed, drawn,
                                     correction, outcomes=b,
                                     progress=offset(progress, before + k * per_size, total))
                           for k, (spec, b) in enumerate(zip(specs, blocks, strict=True)))
            outcomes = np.stack([np.concatenate(b) for b in blocks])
            return SampleSizeResult(points, self._target_power, targets, unit=unit,
                                    outcomes=outcomes)

        if not scenarios:
            return curve("", 0)
        return ScenarioResult({s: curve(s, i * per_size * len(specs))
                               for i, s in enumerate(names)})
