"""A design from pilot data: ``MCPower.from_fit(fit_lmm(formula, data))``.

The fitted fixed effects and variance components become the design (simr's workflow), in
the engine's units (residual variance 1): effects and random-slope variances are divided by
the residual SD (and variance), the ICC is tau0^2 / (tau0^2 + sigma^2).  A predictor whose
values are the same sequence in every cluster (sleepstudy's days 0..9) keeps those values
(row i of a cluster takes the i-th, cycling when clusters are longer); any other numeric
predictor is drawn: 0/1 ones as binary with the pilot's share of ones, the rest as normal
with the pilot's SD (its effect and slope variance per SD).  Sizes are then set or swept:
the cluster size is the pilot's, the number of clusters follows from the sample size.

Examples
--------
>>> import pandas as pd
>>> from pathlib import Path
>>> from mcpower_sweep import MCPower, fit_lmm
>>> data = pd.read_csv(Path("tests/data/sleepstudy.csv"))  # doctest: +SKIP
>>> fit = fit_lmm("Reaction ~ Days + (Days | Subject)", data)  # doctest: +SKIP
>>> model = MCPower.from_fit(fit)  # doctest: +SKIP
>>> model.find_power(18 * 10)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..design.predictors import Predictor
from ..params import PARAMS

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..design.spec import SimulationSpec
    from ..fit import LMMFit

DEFAULT_DRAWS = 1000  # bootstrap draws of the pilot's variances (uncertainty=True)


class Pilot:
    """``from_fit``, mixed into :class:`~mcpower_sweep.MCPower`."""

    @classmethod
    def from_fit(cls, fit: LMMFit, data: Any = None, *, uncertainty: bool | int = False,
                 seed: int = 1) -> Self:
        """The design of a fitted pilot model (``fit_lmm(formula, data)``).

        Parameters
        ----------
        fit
            The pilot's fit; its formula is the model's.
        data
            The data it was fitted to (a DataFrame or a mapping of columns): the predictors'
            values and the clusters (of equal size); default the columns the fit kept.
        uncertainty
            False (default): the fitted variances.  True (1,000 draws) or a number of draws:
            the variance components' sampling distribution by a parametric bootstrap of
            the pilot (new outcomes simulated from the fit at the pilot's own design and
            refitted, as lme4's ``bootMer``), one draw taken per simulation, so power is
            averaged over the pilot's uncertainty (:mod:`..design.variance_draws`).
        seed
            Seed of the bootstrap.
        """
        if data is None:
            data = fit.data
            if not data:
                raise ValueError("from_fit: the fit kept no data (several grouping factors): "
                                 "give the data it was fitted to, from_fit(fit, data)")
        model = cls(fit.formula)  # type: ignore[call-arg]
        parsed = model.parsed
        group = np.asarray(data[fit.grouping])
        _, first, sizes = np.unique(group, return_index=True, return_counts=True)
        if len(set(sizes.tolist())) != 1:
            raise ValueError(f"from_fit: the pilot's clusters of {fit.grouping!r} differ in "
                             f"size ({sizes.min()} to {sizes.max()} rows): equal sizes needed")
        order = group[np.sort(first)]
        sigma = math.sqrt(fit.sigma2)
        scale: dict[str, float] = {}
        for name in parsed.predictors:
            x = np.asarray(data[name], dtype=float)
            runs = [x[group == g] for g in order]
            if all(np.array_equal(r, runs[0]) for r in runs):
                model._types[name] = Predictor(name, values=tuple(map(float, runs[0])))
                scale[name] = 1.0
            elif set(np.unique(x).tolist()) <= {0.0, 1.0}:
                model._types[name] = Predictor(name, "binary", float(x.mean()))
                scale[name] = 1.0
            else:
                scale[name] = float(x.std())
        design = model._design()
        names = design.term_names
        def per_sd(term: str) -> float:
            return math.prod(scale[p] for p in term.split(":"))

        effects = {t: fit.coef[t] * per_sd(t) / sigma for t in names[1:]}
        model.set_effects(effects)
        g = np.asarray(fit.re_cov, dtype=float)
        re = list(fit.re_names)
        if not re or re[0] != "(Intercept)":
            raise ValueError("from_fit: the pilot's random part needs a random intercept")
        slopes = re[1:]
        if len(slopes) > 1 and np.any(g[1:, 1:] - np.diag(np.diag(g[1:, 1:]))):
            raise ValueError("from_fit: correlated random slopes are not simulated here (only "
                             "slope-intercept correlations)")
        tau0 = g[0, 0]
        variances = {s: g[k, k] * per_sd(s) ** 2 / fit.sigma2 for k, s in enumerate(slopes, 1)}
        corrs = {s: (g[0, k] / math.sqrt(tau0 * g[k, k]) if tau0 > 0 and g[k, k] > 0 else 0.0)
                 for k, s in enumerate(slopes, 1)}
        model.set_cluster(fit.grouping, ICC=tau0 / (tau0 + fit.sigma2),
                          cluster_size=int(sizes[0]), random_slopes=slopes or None,
                          slope_variance=variances or 0.0, slope_intercept_corr=corrs or 0.0)
        if uncertainty:
            draws = DEFAULT_DRAWS if uncertainty is True else PARAMS["simulations"].check(
                uncertainty, "uncertainty")
            model._variance_draws = bootstrap_components(
                model.to_spec(int(sizes[0]) * len(order), estimator=fit.estimator), draws,
                seed)
        return model


def bootstrap_components(spec: SimulationSpec, draws: int, seed: int
                         ) -> tuple[tuple[float, ...], ...]:
    """The variance components refitted to ``draws`` data sets simulated from ``spec``
    (the pilot's design and fit), failed fits left out."""
    from .. import engine

    chunk = engine.run_chunk(spec, seed, 0, draws)
    rows = chunk.components[chunk.converged]
    q = len(spec.random_columns)
    rows[:, 1 + q:] = np.clip(rows[:, 1 + q:], -1.0, 1.0)  # rounding at a boundary fit
    return tuple(tuple(map(float, row)) for row in rows)
