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
from .factors import check_balanced_factor, column_names, predictor_columns
from .predictors import (  # noqa: F401 - re-exported for the API
    ALLOCATIONS,
    LEVELS,
    Predictor,
    balanced_ones,
    correlation_matrix,
)


def check_slope_intercept_corr(r: float, n_slopes: int) -> None:
    """Refuse a common slope-intercept correlation that makes G not positive semi-definite.

    With ``k`` slopes sharing one correlation ``r`` with the intercept (and 0 between
    slopes), G is positive semi-definite exactly when ``k r^2 <= 1``.

    Examples
    --------
    >>> check_slope_intercept_corr(0.8, 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: slope_intercept_corr=0.8 with 2 random slopes ... <= 0.707
    """
    if n_slopes > 1 and r * r * n_slopes > 1.0:
        raise ValueError(
            f"slope_intercept_corr={r!r} with {n_slopes} random slopes gives a covariance "
            "that is not positive semi-definite: use "
            f"|slope_intercept_corr| <= {1 / math.sqrt(n_slopes):.3f}"
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
        """A copy with some parameters changed and checked (used by sweeps)."""
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
        }

    # -------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise ``ValueError`` naming the parameter, the value and what is allowed."""
        if not 0.0 <= self.icc < 1.0:
            raise ValueError(f"ICC={self.icc!r} is outside [0, 1): use a value 0 <= ICC < 1")
        if not (self.slope_variance >= 0.0 and math.isfinite(self.slope_variance)):
            raise ValueError(
                f"slope_variance={self.slope_variance!r} is not allowed: use a finite value >= 0"
            )
        r = self.slope_intercept_corr
        if not (-1.0 <= r <= 1.0):
            raise ValueError(f"slope_intercept_corr={r!r} is outside [-1, 1]")
        check_slope_intercept_corr(r, sum(1 for c in self.random_columns if c != 0))
        self._validate_per_slope()
        fam.check_family(self)
        if self.df_method == "kenward_roger" and self.estimator != "reml":
            raise ValueError(f"df_method='kenward_roger' needs estimator='reml' (pbkrtest's "
                             f"definition), not estimator={self.estimator!r}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator={self.estimator!r} is unknown: use one of {ESTIMATORS}")
        if self.df_method not in DF_METHODS:
            raise ValueError(f"df_method={self.df_method!r} is unknown: use one of {DF_METHODS}")
        if not (0.0 < self.alpha < 1.0):
            raise ValueError(f"alpha={self.alpha!r} is outside (0, 1)")
        if self.sample_size <= 0 or int(self.sample_size) != self.sample_size:
            raise ValueError(
                f"sample_size={self.sample_size!r} is not allowed: use a positive integer"
            )
        if self.sample_size > MAX_SAMPLE_SIZE:
            raise ValueError(
                f"sample_size={self.sample_size!r} is too large: at most {MAX_SAMPLE_SIZE:,} "
                "observations per simulated study"
            )
        for p in self.predictors:
            if p.kind == "binary" and not (0.0 < p.p < 1.0):
                raise ValueError(f"variable type of {p.name!r}: binary({p.p}) needs 0 < p < 1")
            if p.level not in LEVELS or p.allocation not in ALLOCATIONS:
                raise ValueError(f"predictor {p.name!r}: level={p.level!r}, allocation="
                                 f"{p.allocation!r}: use a level in {LEVELS} and an "
                                 f"allocation in {ALLOCATIONS}")
            if p.allocation == "balanced" and p.kind == "normal":
                raise ValueError(f"variable type of {p.name!r}: balanced allocation is for "
                                 "binary predictors and factors, e.g. binary(0.5, balanced)")
        if (self.n_clusters is None) == (self.cluster_size is None):
            raise ValueError("set exactly one of n_clusters and cluster_size")
        if self.n_clusters is not None and self.n_clusters < 2:
            raise ValueError(f"n_clusters={self.n_clusters!r} is too small: use at least 2")
        if self.cluster_size is not None and self.cluster_size < MIN_CLUSTER_SIZE:
            raise ValueError(
                f"cluster_size={self.cluster_size!r} is too small: use at least {MIN_CLUSTER_SIZE}"
            )
        self._validate_sizes()
        j = self.effective_n_clusters
        if j < 2:
            raise ValueError(
                f"sample_size={self.sample_size} with cluster_size={self.cluster_size} gives "
                f"{j} cluster(s): at least 2 are needed"
            )
        if self.sample_size < MIN_CLUSTER_SIZE * j:
            raise ValueError(
                f"sample_size={self.sample_size} over n_clusters={j} gives fewer than "
                f"{MIN_CLUSTER_SIZE} observations per cluster: use sample_size >= "
                f"{MIN_CLUSTER_SIZE * j} or fewer clusters"
            )
        self._validate_design()
        self._validate_correlations()
        n_fixed = len(self.term_names)
        if self.total_n <= n_fixed + 1:
            raise ValueError(
                f"sample_size={self.sample_size} is too small for {n_fixed} fixed effects"
            )

    def _validate_design(self) -> None:
        """Cluster-level predictors and balanced allocations that the sizes can carry."""
        between = set(self.cluster_level_vars)
        columns = predictor_columns(self.predictors)
        for col in self.random_columns:
            names = ({self.predictors[columns[v][0]].name for v in self.terms[col - 1]}
                     if col else set())
            if names and names <= between:
                raise ValueError(
                    f"cluster_level_vars={list(self.cluster_level_vars)!r}: "
                    f"{self.term_names[col]!r} has a random slope on {self.grouping!r}, but a "
                    "predictor constant within clusters has no slope that can vary between "
                    "them: remove it from random_slopes (and the formula's random part) or "
                    "from cluster_level_vars"
                )
        sizes = self.cluster_sizes().tolist()
        if self.cluster_size_cv:  # drawn sizes: from the floor to the largest possible
            sizes = [MIN_CLUSTER_SIZE, self.total_n - MIN_CLUSTER_SIZE * (len(sizes) - 1)]
        for p in self.predictors:
            if p.allocation != "balanced":
                continue
            units = [self.effective_n_clusters] if p.level == "cluster" else sorted(set(sizes))
            what = "clusters" if p.level == "cluster" else "observations in a cluster"
            if p.kind == "factor":
                check_balanced_factor(p, units, what)
                continue
            for n in units:
                ones = balanced_ones(p.p, n)
                if not 0 < ones < n:
                    raise ValueError(
                        f"set_variable_type: {p.name}={p.type_text()} gives round({p.p:g} x "
                        f"{n}) = {ones} of {n} {what} with {p.name}=1, so {p.name} does not "
                        f"vary there: use p with 1 <= round(p x {n}) <= {n - 1}, or larger "
                        "units"
                    )

    def _validate_sizes(self) -> None:
        """Explicit sizes that add up to N; a size CV the engine can draw."""
        PARAMS["cluster_size_cv"].check(self.cluster_size_cv)
        if not self.given_sizes:
            return
        sizes = list(self.given_sizes)
        if self.cluster_size_cv:
            raise ValueError(f"cluster_sizes={sizes!r} with cluster_size_cv="
                             f"{self.cluster_size_cv!r}: give one of them, not both")
        if min(sizes) < MIN_CLUSTER_SIZE:
            raise ValueError(f"cluster_sizes={sizes!r} has a cluster of {min(sizes)}: use at "
                             f"least {MIN_CLUSTER_SIZE} observations per cluster")
        if sum(sizes) != self.sample_size:
            raise ValueError(
                f"cluster_sizes={sizes!r} add up to {sum(sizes)}, not sample_size="
                f"{self.sample_size}: explicit sizes fix N, use sample_size={sum(sizes)}"
            )
        if self.n_clusters != len(sizes):
            raise ValueError(f"cluster_sizes={sizes!r} are {len(sizes)} clusters, not "
                             f"n_clusters={self.n_clusters}")

    def _validate_correlations(self) -> None:
        """Correlated predictors are normal and of one level."""
        kind = {p.name: p for p in self.predictors}
        for a, b, r in self.correlations:
            for name in (a, b):
                if name not in kind or kind[name].kind != "normal":
                    raise ValueError(
                        f"set_correlations: corr({a},{b})={r:g}: {name!r} is not a normal "
                        "predictor; correlations are for normal predictors"
                    )
            if kind[a].level != kind[b].level:
                raise ValueError(
                    f"set_correlations: corr({a},{b})={r:g}: {a!r} and {b!r} vary at different "
                    "levels (one is in cluster_level_vars); correlate predictors of one level"
                )


    def _slope_names(self) -> list[str]:
        return [self.term_names[c] for c in self.random_columns if c != 0]

    def _validate_per_slope(self) -> None:
        """Per-slope variances and correlations: one per slope, in range, G not indefinite."""
        names = self._slope_names()
        for given, common, label, low in (
                (self.slope_variances, self.slope_variance, "slope_variance", 0.0),
                (self.slope_intercept_corrs, self.slope_intercept_corr,
                 "slope_intercept_corr", -1.0)):
            if not given:
                continue
            shown = dict(zip(names, given, strict=False))
            if len(given) != len(names):
                raise ValueError(f"{label}={shown!r} needs one value per random slope "
                                 f"({', '.join(names)})")
            if common != 0.0:
                raise ValueError(f"{label}={common!r} and per-slope {label}={shown!r}: give "
                                 "one number for all slopes or a mapping, not both")
            for name, v in shown.items():
                if not (math.isfinite(v) and low <= v and (label == "slope_variance" or v <= 1)):
                    raise ValueError(f"{label}[{name!r}]={v!r} is not allowed: use "
                                     f"{PARAMS[label].allowed}")
        if self.slope_intercept_corrs:
            smallest = float(np.linalg.eigvalsh(self._re_corr()).min())
            if smallest < -1e-12:
                shown = dict(zip(names, self.slope_intercept_corrs, strict=True))
                raise ValueError(f"slope_intercept_corr={shown!r} gives a random-effect "
                                 "covariance that is not positive semi-definite (smallest "
                                 f"eigenvalue {smallest:.3g}): use smaller correlations")

