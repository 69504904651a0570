"""The one immutable description of a simulated study.

A :class:`SimulationSpec` is built and validated by the API (``model.py``), the
scenario loader or the sweep grid, and consumed by the engine (``engine.py``).
Everything the engine needs to generate and fit one simulated data set is here;
nothing downstream parses strings or re-validates.

A sweep varies a spec with :func:`dataclasses.replace` (through
:meth:`SimulationSpec.with_params`), so a sweep point and a ``find_power`` call with
the same parameters and seed run exactly the same simulations.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..engine import MAX_FIXED_EFFECTS, MAX_RANDOM_EFFECTS  # noqa: F401 - re-exported
from ..params import (  # noqa: F401 - re-exported for the engine and the API
    DF_METHODS,
    ESTIMATORS,
    MAX_SAMPLE_SIZE,
    MAX_SIMULATIONS,
    MIN_CLUSTER_SIZE,
    PARAMS,
)
from . import family as fam
from .analysis import Analysis
from .factors import column_names
from .groupings import Grouping
from .predictors import (  # noqa: F401 - re-exported for the API
    ALLOCATIONS,
    LEVELS,
    Predictor,
    balanced_ones,
    correlation_matrix,
)


@dataclass(frozen=True)
class SimulationSpec:
    """A fully specified design: data-generating model, fitted model, sizes and test.

    Parameters
    ----------
    formula
        The lme4-style formula as the user wrote it (kept for provenance).
    outcome
        Name of the response.
    predictors
        The simulated predictors, in order of first appearance in the formula.
    terms
        The fixed-effect columns after the intercept: each is a tuple of predictor-column
        indices whose product forms the column (one index for a main effect; a predictor
        is one column, a factor its dummies: :func:`.factors.predictor_columns`).
    term_names
        Names of all fixed-effect columns, ``"(Intercept)"`` first (as in lme4).
    effects
        True fixed effects, one per entry of ``term_names`` (intercept 0).
    grouping
        Name of the grouping factor.
    random_columns
        Indices into ``term_names`` of the columns with a random effect
        (0 = random intercept).
    icc, slope_variance, slope_intercept_corr
        Random-effect covariance: intercept variance ``icc / (1 - icc)``, each random
        slope's variance, the correlation of each slope with the intercept.
    n_clusters, cluster_size
        Exactly one is set; with ``cluster_size`` the number of clusters is
        ``sample_size // cluster_size``.
    sample_size
        Total number of observations N.
    cluster_size_cv
        0: sizes as even as possible; > 0: each simulation draws its sizes with this
        coefficient of variation around N/J (at least ``MIN_CLUSTER_SIZE``, total N).
    given_sizes
        Explicit cluster sizes (``set_cluster(cluster_sizes=...)``); they fix J and N.
    correlations
        ``(a, b, r)``: normal predictors ``a`` and ``b`` (of one level) correlate with ``r``.
    slope_variances, slope_intercept_corrs
        Per random slope (in the order of ``random_columns``), instead of the common
        ``slope_variance`` / ``slope_intercept_corr`` (which must then be 0).
    joint_tests
        ``(name, fixed columns)``: the F tests of several columns at once (a factor term).
    estimator, df_method, alpha
        How each simulated data set is fitted and tested.
    family, baseline_probability, baseline_rate, tau_squared, nagq
        The outcome (:mod:`.family`): ``"lme"`` (default) or a GLMM (``"logit"``,
        ``"probit"`` with ``baseline_probability``, ``"poisson"`` with ``baseline_rate``;
        ``df_method="z"``); ``tau_squared`` is the random-intercept variance on the link
        scale instead of ``icc``; ``nagq`` glmer's quadrature nodes (1: Laplace).
    analysis
        None: the true model is fitted; else the misspecified analysis
        (``test_formula``, :mod:`.analysis`), whose terms are the tests.
    residual_dist, random_effect_dist, heteroskedasticity, heteroskedasticity_driver
        Shapes of the residuals and random effects (same variances), the residual variance
        ratio and what drives it (:mod:`.robust`; defaults: the textbook model).
    groupings
        Several grouping factors (nested or crossed, :mod:`.groupings`); empty (default):
        the one grouping above.  With groupings, ``grouping`` and ``n_clusters`` are the
        first top-level grouping's and ``random_columns`` is empty.
    scenario, scenario_configs
        A named scenario set (MCPower 1.4.1's optimistic / realistic / doomer, or custom
        ones given as ``(name, ((key, value), ...))``); ``""``: none.
    variance_draws
        A pilot's uncertainty: draws of the variance components, one taken per simulation
        (:mod:`.variance_draws`); empty: the variances above.
    """

    formula: str
    outcome: str
    predictors: tuple[Predictor, ...]
    terms: tuple[tuple[int, ...], ...]
    term_names: tuple[str, ...]
    effects: tuple[float, ...]
    grouping: str
    random_columns: tuple[int, ...]
    icc: float = 0.0
    slope_variance: float = 0.0
    slope_intercept_corr: float = 0.0
    n_clusters: int | None = None
    cluster_size: int | None = None
    sample_size: int = 0
    cluster_size_cv: float = 0.0
    given_sizes: tuple[int, ...] = ()
    correlations: tuple[tuple[str, str, float], ...] = ()
    slope_variances: tuple[float, ...] = ()
    slope_intercept_corrs: tuple[float, ...] = ()
    joint_tests: tuple[tuple[str, tuple[int, ...]], ...] = ()
    estimator: str = "reml"
    df_method: str = "satterthwaite"
    alpha: float = 0.05
    family: str = "lme"
    baseline_probability: float | None = None
    baseline_rate: float | None = None
    tau_squared: float | None = None
    nagq: int = 1
    analysis: Analysis | None = None
    residual_dist: str = "normal"
    random_effect_dist: str = "normal"
    heteroskedasticity: float = 1.0
    heteroskedasticity_driver: str | None = None
    scenario: str = ""
    scenario_configs: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    groupings: tuple[Grouping, ...] = ()
    variance_draws: tuple[tuple[float, ...], ...] = field(default=(), repr=False)
    extra: tuple[tuple[str, Any], ...] = field(default=(), compare=False, repr=False)

    # ----------------------------------------------------------------- derived
    @property
    def tests(self) -> tuple[str, ...]:
        """The tests: each fixed effect but the intercept, then the joint (factor) tests
        (of the analysis, when it is not the true model)."""
        return self.fit_term_names[1:] + tuple(name for name, _ in self.fit_joint_tests)

    @property
    def fit_term_names(self) -> tuple[str, ...]:
        """The fitted model's fixed effects (``term_names`` unless ``analysis`` drops some)."""
        a = self.analysis
        return self.term_names if a is None else tuple(self.term_names[c] for c in a.columns)

    @property
    def fit_effects(self) -> tuple[float, ...]:
        """The true value of each of the fitted model's fixed effects."""
        a = self.analysis
        return self.effects if a is None else tuple(self.effects[c] for c in a.columns)

    @property
    def fit_joint_tests(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """The fitted model's joint tests, as columns of the fitted model."""
        return self.joint_tests if self.analysis is None else self.analysis.joint_tests

    @property
    def intercept(self) -> float:
        """The fixed intercept on the link scale (a GLMM's from its baseline)."""
        if not fam.is_glmm(self.family):
            return self.effects[0]
        return fam.baseline_intercept(self.family, self.baseline_probability
                                      if self.baseline_rate is None else self.baseline_rate)

    @property
    def intercept_variance(self) -> float:
        """The random intercept's variance on the link scale (``tau_squared`` or the ICC's)."""
        if self.tau_squared is not None:
            return self.tau_squared
        return fam.intercept_variance(self.family, self.icc) if self.icc else 0.0

    @property
    def effective_n_clusters(self) -> int:
        if self.cluster_size is not None:
            return self.sample_size // self.cluster_size
        assert self.n_clusters is not None
        return self.n_clusters

    def cluster_sizes(self) -> np.ndarray:
        """Cluster sizes: given, all ``cluster_size``, or as even as possible (differing by at
        most 1; with ``cluster_size_cv`` the engine draws each simulation's around them)."""
        j = self.effective_n_clusters
        if self.given_sizes:
            return np.array(self.given_sizes, dtype=np.int64)
        if self.cluster_size is not None:
            return np.full(j, self.cluster_size, dtype=np.int64)
        base, extra = divmod(self.sample_size, j)
        sizes = np.full(j, base, dtype=np.int64)
        sizes[:extra] += 1
        return sizes

    @property
    def cluster_level_vars(self) -> tuple[str, ...]:
        """The predictors that are constant within clusters."""
        return tuple(p.name for p in self.predictors if p.level == "cluster")

    @property
    def total_n(self) -> int:
        return int(self.cluster_sizes().sum())

    def re_cov(self) -> np.ndarray:
        """Random-effect covariance G (variance units, residual variance 1)."""
        q = len(self.random_columns)
        own = dict(zip([c for c in self.random_columns if c], self.slope_variances,
                       strict=False))
        sd = np.empty(q)
        for k, col in enumerate(self.random_columns):
            sd[k] = math.sqrt(self.intercept_variance) if col == 0 else math.sqrt(
                own.get(col, self.slope_variance)
            )
        return self._re_corr() * np.outer(sd, sd)

    def _re_corr(self) -> np.ndarray:
        q = len(self.random_columns)
        corr = np.eye(q)
        if self.random_columns and self.random_columns[0] == 0:
            corr[0, 1:] = corr[1:, 0] = (np.array(self.slope_intercept_corrs)
                                         if self.slope_intercept_corrs
                                         else self.slope_intercept_corr)
        return corr

    def predictor_mix(self) -> np.ndarray | None:
        """Lower Cholesky factor of the predictors' correlation matrix (None: independent).

        The engine draws independent normals z and uses ``mix @ z``.
        """
        if not self.correlations:
            return None
        return np.linalg.cholesky(correlation_matrix(column_names(self.predictors),
                                                     self.correlations))

    def with_params(self, **params: Any) -> SimulationSpec:
        """A copy with some parameters changed and checked (used by sweeps); per-grouping
        axes (``icc[school:class]``) and ``n_per_parent`` change ``groupings``."""
        if self.groupings or any("[" in k or k == "n_per_parent" for k in params):
            from .groupings_axes import with_grouping_params

            params = with_grouping_params(self, params)
        new = replace(self, **params)
        new.validate()
        return new

    def params(self) -> dict[str, Any]:
        """Plain parameters for provenance (JSON-friendly)."""
        return {
            "formula": self.formula,
            "effects": dict(zip(self.term_names[1:], self.effects[1:], strict=True)),
            "variable_types": {p.name: p.type_text() for p in self.predictors},
            "grouping": self.grouping,
            "random_effects": [self.term_names[c] for c in self.random_columns],
            "icc": self.icc,
            "slope_variance": (dict(zip(self._slope_names(), self.slope_variances, strict=True))
                               if self.slope_variances else self.slope_variance),
            "slope_intercept_corr": (
                dict(zip(self._slope_names(), self.slope_intercept_corrs, strict=True))
                if self.slope_intercept_corrs else self.slope_intercept_corr),
            "n_clusters": self.n_clusters,
            "cluster_size": self.cluster_size,
            "sample_size": self.sample_size,
            "estimator": self.estimator,
            "df_method": self.df_method,
            "alpha": self.alpha,
            # Only when used, so existing designs keep their provenance (and design hash).
            **({"cluster_level_vars": list(self.cluster_level_vars)}
               if self.cluster_level_vars else {}),
            **({"cluster_size_cv": self.cluster_size_cv} if self.cluster_size_cv else {}),
            **({"cluster_sizes": list(self.given_sizes)} if self.given_sizes else {}),
            **({"correlations": {f"corr({a},{b})": r for a, b, r in self.correlations}}
               if self.correlations else {}),
            **fam.family_params(self),
            **({"test_formula": self.analysis.formula} if self.analysis else {}),
            **{k: v for k, v in (
                ("residual_dist", self.residual_dist),
                ("random_effect_dist", self.random_effect_dist),
                ("heteroskedasticity", self.heteroskedasticity),
                ("heteroskedasticity_driver", self.heteroskedasticity_driver),
                ("scenario", self.scenario)) if v not in ("normal", 1.0, None, "")},
            **({"scenario_configs": {n: dict(c) for n, c in self.scenario_configs}}
               if self.scenario_configs else {}),
            **({"groupings": [g.params(self.term_names) for g in self.groupings]}
               if self.groupings else {}),
            **({"variance_draws": {"draws": len(self.variance_draws), "sha256": hashlib.sha256(
                np.asarray(self.variance_draws).tobytes()).hexdigest()[:16]}}
               if self.variance_draws else {}),
        }

    def _slope_names(self) -> list[str]:
        return [self.term_names[c] for c in self.random_columns if c != 0]

    # -------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise ``ValueError`` naming the parameter, the value and what is allowed
        (the rules: :mod:`mcpower_sweep.design.validate`)."""
        if self.groupings:
            from .groupings_rules import validate_groupings

            validate_groupings(self)
            return
        from .validate import validate_spec

        validate_spec(self)
