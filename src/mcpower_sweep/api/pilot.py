"""A design from pilot data: ``MCPower.from_fit(fit_lmm(formula, data))``.

The fitted fixed effects and variance components become the design (simr's workflow), in
the engine's units (residual variance 1): effects and random-slope variances are divided by
the residual SD (and variance), the ICC is tau0^2 / (tau0^2 + sigma^2).  A predictor whose
values are the same sequence in every cluster (sleepstudy's days 0..9) keeps those values
(row i of a cluster takes the i-th, cycling when clusters are longer); any other numeric
predictor is drawn: 0/1 ones as binary with the pilot's share of ones, the rest as normal
with the pilot's SD (its effect and slope variance per SD); a predictor constant within
every cluster (a cluster-randomised treatment) is drawn once per cluster
(``cluster_level_vars``).  Sizes are then set or swept:
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

from ..design.family import intercept_baseline
from ..design.predictors import Predictor
from ..params import PARAMS

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..design.spec import SimulationSpec
    from ..fit import LMMFit
    from ..glmm import GLMMFit

DEFAULT_DRAWS = 1000  # bootstrap draws of the pilot's variances (uncertainty=True)


class Pilot:
    """``from_fit``, mixed into :class:`~mcpower_sweep.MCPower`."""

    @classmethod
    def from_fit(cls, fit: LMMFit | GLMMFit, data: Any = None, *,
                 uncertainty: bool | int = False, seed: int = 1) -> Self:
        """The design of a fitted pilot model (``fit_lmm`` or ``fit_glmm``).

        Parameters
        ----------
        fit
            The pilot's fit; its formula is the model's.  A GLMM (``fit_glmm``) keeps its
            family and link (``binomial`` logit / probit, ``poisson``): the effects and
            variances stay on the link scale, the baseline probability or rate is the
            intercept's at the simulated predictors' means.
        data
            The data it was fitted to (a DataFrame or a mapping of columns): the predictors'
            values and the clusters (of equal size); default the columns the fit kept.
        uncertainty
            False (default): the fitted variances.  True (1,000 draws) or a number of draws
            (linear mixed models): the variance components' sampling distribution by a
            parametric bootstrap of the pilot (new outcomes simulated from the fit at the
            pilot's own design and refitted, as lme4's ``bootMer``), one draw taken per
            simulation, so power is averaged over the pilot's uncertainty
            (:mod:`..design.variance_draws`).
        seed
            Seed of the bootstrap.
        """
        if data is None:
            data = fit.data
            if not data:
                raise ValueError("from_fit: the fit kept no data (several grouping factors): "
                                 "give the data it was fitted to, from_fit(fit, data)")
        family = _family(fit)
        if uncertainty and family != "lme":
            raise ValueError(f"from_fit(uncertainty={uncertainty!r}): the variances' "
                             "bootstrap is for linear mixed models; a GLMM pilot's variances "
                             "are used as fitted (uncertainty=False)")
        model = cls(fit.formula, family=family)  # type: ignore[call-arg]
        group = np.asarray(data[fit.grouping])
        _, first, sizes = np.unique(group, return_index=True, return_counts=True)
        if len(set(sizes.tolist())) != 1:
            raise ValueError(f"from_fit: the pilot's clusters of {fit.grouping!r} differ in "
                             f"size ({sizes.min()} to {sizes.max()} rows): equal sizes needed")
        scale, shift, cluster_level = _predictors(model, data, group, group[np.sort(first)])
        names = model._design().term_names
        for term in names[1:]:
            if ":" in term and any(p in shift for p in term.split(":")):
                raise ValueError(
                    f"from_fit: the interaction {term!r} involves a continuous predictor "
                    "whose pilot mean is not 0; the simulated one has mean 0, which changes "
                    "what the main effects mean: centre it in the data, refit, then from_fit")

        def per_sd(term: str) -> float:
            return math.prod(scale[p] for p in term.split(":"))

        # Engine units: a linear model's residual variance is 1; a GLMM's link scale is its own.
        var_unit = fit.sigma2 if family == "lme" else 1.0
        model.set_effects({t: fit.coef[t] * per_sd(t) / math.sqrt(var_unit)
                           for t in names[1:]})
        if family != "lme":
            eta = fit.coef["(Intercept)"] + sum(fit.coef[p] * m for p, m in shift.items())
            baseline = intercept_baseline(family, eta)
            if family == "poisson":
                model.set_baseline_rate(baseline)
            else:
                model.set_baseline_probability(baseline)
        g = np.asarray(fit.re_cov, dtype=float)
        re = list(fit.re_names)
        if not re or re[0] != "(Intercept)":
            raise ValueError("from_fit: the pilot's random part needs a random intercept")
        slopes = re[1:]
        if len(slopes) > 1 and np.any(g[1:, 1:] - np.diag(np.diag(g[1:, 1:]))):
            raise ValueError("from_fit: correlated random slopes are not simulated here (only "
                             "slope-intercept correlations)")
        tau0 = g[0, 0]
        variances = {s: g[k, k] * per_sd(s) ** 2 / var_unit for k, s in enumerate(slopes, 1)}
        corrs = {s: (g[0, k] / math.sqrt(tau0 * g[k, k]) if tau0 > 0 and g[k, k] > 0 else 0.0)
                 for k, s in enumerate(slopes, 1)}
        intercept = ({"ICC": tau0 / (tau0 + fit.sigma2)} if family == "lme"
                     else {"tau_squared": tau0})
        model.set_cluster(fit.grouping, **intercept, cluster_size=int(sizes[0]),
                          random_slopes=slopes or None, slope_variance=variances or 0.0,
                          slope_intercept_corr=corrs or 0.0,
                          cluster_level_vars=cluster_level or None)
        if uncertainty:
            draws = DEFAULT_DRAWS if uncertainty is True else PARAMS["simulations"].check(
                uncertainty, "uncertainty")
            model._variance_draws = bootstrap_components(
                model.to_spec(int(sizes[0]) * len(sizes), estimator=fit.estimator), draws,
                seed)
        return model


def _family(fit: LMMFit | GLMMFit) -> str:
    """MCPower's family of a fit: ``"lme"``, or a GLMM's ``"logit"``, ``"probit"``,
    ``"poisson"``."""
    if not hasattr(fit, "link"):
        return "lme"
    return "poisson" if fit.family == "poisson" else fit.link


def _predictors(model: Any, data: Any, group: np.ndarray, order: np.ndarray
                ) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """Each predictor's simulated type from the pilot (set on ``model``), its scale (the
    SD of a predictor drawn as normal, else 1), for those the pilot's mean if not 0, and
    the predictors constant within every cluster (drawn once per cluster)."""
    scale: dict[str, float] = {}
    shift: dict[str, float] = {}
    cluster_level: list[str] = []
    for name in model.parsed.predictors:
        x = np.asarray(data[name], dtype=float)
        runs = [x[group == g] for g in order]
        if len(runs) > 1 and all(np.all(r == r[0]) for r in runs) and len(
                {r[0] for r in runs}) > 1:
            cluster_level.append(name)
        if all(np.array_equal(r, runs[0]) for r in runs):
            model._types[name] = Predictor(name, values=tuple(map(float, runs[0])))
            scale[name] = 1.0
        elif set(np.unique(x).tolist()) <= {0.0, 1.0}:
            model._types[name] = Predictor(name, "binary", float(x.mean()))
            scale[name] = 1.0
        else:
            scale[name] = float(x.std())
            if abs(x.mean()) > 1e-8 * scale[name]:  # not centred
                shift[name] = float(x.mean())
    return scale, shift, cluster_level


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
