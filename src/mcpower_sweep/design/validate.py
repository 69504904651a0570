"""The rules a :class:`~mcpower_sweep.design.spec.SimulationSpec` must satisfy.

Every rule raises ``ValueError`` naming the parameter, the value and what is allowed;
``SimulationSpec.validate`` applies them all, once, where a spec is built.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..params import DF_METHODS, ESTIMATORS, MAX_SAMPLE_SIZE, MIN_CLUSTER_SIZE, PARAMS
from . import family as fam
from .factors import check_balanced_factor, predictor_columns
from .predictors import ALLOCATIONS, LEVELS, VALUES_USES, balanced_ones
from .robust import check_robust
from .variance_draws import check_draws

if TYPE_CHECKING:
    from .spec import SimulationSpec


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



def _check_values(spec: SimulationSpec) -> None:
    """Given values (:class:`~.predictors.Predictor`): cycled ones for a normal predictor,
    empirical ones (uploaded) for one that varies within clusters; only the quantile ones
    may be correlated; bootstrapped columns are rows of one table."""
    correlated = {n for a, b, _ in spec.correlations for n in (a, b)}
    rows = set()
    for p in spec.predictors:
        if not p.values:
            continue
        if p.values_use not in VALUES_USES or not all(math.isfinite(v) for v in p.values):
            raise ValueError(f"{p.name}: values_use={p.values_use!r} with finite values is "
                             f"needed: use one of {VALUES_USES}")
        if p.values_use == "cycle" and (p.kind != "normal" or p.level != "observation"
                                        or p.name in correlated):
            raise ValueError(f"{p.name}: fixed values (from pilot data) are for a numeric "
                             "predictor that varies within clusters, is not correlated with "
                             "others by set_correlations and has finite values")
        if p.values_use != "cycle" and p.level != "observation":
            raise ValueError(f"{p.name}: uploaded data (upload_data) are drawn per "
                             "observation: an uploaded predictor cannot be in "
                             "cluster_level_vars")
        if p.values_use == "bootstrap" and p.name in correlated:
            raise ValueError(f"{p.name}: rows bootstrapped from uploaded data (mode='strict') "
                             "keep the data's correlations: set_correlations cannot change "
                             "them (use mode='partial')")
        if p.values_use == "bootstrap":
            rows.add(len(p.values))
        if p.values_use == "quantile" and (p.kind != "normal" or len(p.values) < 2
                                           or bool(np.any(np.diff(p.values) < 0))):
            raise ValueError(f"{p.name}: an empirical distribution needs a numeric predictor "
                             "and at least 2 sorted values")
    if len(rows) > 1:
        raise ValueError(f"bootstrapped predictors come from tables of {sorted(rows)} rows: "
                         "upload them together")


def validate_spec(spec: SimulationSpec) -> None:
    """Raise ``ValueError`` naming the parameter, the value and what is allowed."""
    if not 0.0 <= spec.icc < 1.0:
        raise ValueError(f"ICC={spec.icc!r} is outside [0, 1): use a value 0 <= ICC < 1")
    if not (spec.slope_variance >= 0.0 and math.isfinite(spec.slope_variance)):
        raise ValueError(
            f"slope_variance={spec.slope_variance!r} is not allowed: use a finite value >= 0"
        )
    r = spec.slope_intercept_corr
    if not (-1.0 <= r <= 1.0):
        raise ValueError(f"slope_intercept_corr={r!r} is outside [-1, 1]")
    check_slope_intercept_corr(r, sum(1 for c in spec.random_columns if c != 0))
    _check_per_slope(spec)
    fam.check_family(spec)
    check_robust(spec)
    _check_values(spec)
    if spec.variance_draws:
        q = len(spec.random_columns)
        if spec.family != "lme":
            raise ValueError(f"variance_draws (a pilot's uncertainty) are for family='lme', "
                             f"not {spec.family!r}")
        check_draws(spec.variance_draws, 1 + q + q * (q - 1) // 2, q)
    if spec.df_method == "kenward_roger" and spec.estimator != "reml":
        raise ValueError(f"df_method='kenward_roger' needs estimator='reml' (pbkrtest's "
                         f"definition), not estimator={spec.estimator!r}")
    if spec.estimator not in ESTIMATORS:
        raise ValueError(f"estimator={spec.estimator!r} is unknown: use one of {ESTIMATORS}")
    if spec.df_method not in DF_METHODS:
        raise ValueError(f"df_method={spec.df_method!r} is unknown: use one of {DF_METHODS}")
    if not (0.0 < spec.alpha < 1.0):
        raise ValueError(f"alpha={spec.alpha!r} is outside (0, 1)")
    if spec.sample_size <= 0 or int(spec.sample_size) != spec.sample_size:
        raise ValueError(
            f"sample_size={spec.sample_size!r} is not allowed: use a positive integer"
        )
    if spec.sample_size > MAX_SAMPLE_SIZE:
        raise ValueError(
            f"sample_size={spec.sample_size!r} is too large: at most {MAX_SAMPLE_SIZE:,} "
            "observations per simulated study"
        )
    for p in spec.predictors:
        if p.kind == "binary" and not (0.0 < p.p < 1.0):
            raise ValueError(f"variable type of {p.name!r}: binary({p.p}) needs 0 < p < 1")
        if p.level not in LEVELS or p.allocation not in ALLOCATIONS:
            raise ValueError(f"predictor {p.name!r}: level={p.level!r}, allocation="
                             f"{p.allocation!r}: use a level in {LEVELS} and an "
                             f"allocation in {ALLOCATIONS}")
        if p.allocation == "balanced" and p.kind == "normal":
            raise ValueError(f"variable type of {p.name!r}: balanced allocation is for "
                             "binary predictors and factors, e.g. binary(0.5, balanced)")
    if (spec.n_clusters is None) == (spec.cluster_size is None):
        raise ValueError("set exactly one of n_clusters and cluster_size")
    if spec.n_clusters is not None and spec.n_clusters < 2:
        raise ValueError(f"n_clusters={spec.n_clusters!r} is too small: use at least 2")
    if spec.cluster_size is not None and spec.cluster_size < MIN_CLUSTER_SIZE:
        raise ValueError(
            f"cluster_size={spec.cluster_size!r} is too small: use at least {MIN_CLUSTER_SIZE}"
        )
    _check_sizes(spec)
    j = spec.effective_n_clusters
    if j < 2:
        raise ValueError(
            f"sample_size={spec.sample_size} with cluster_size={spec.cluster_size} gives "
            f"{j} cluster(s): at least 2 are needed"
        )
    if spec.sample_size < MIN_CLUSTER_SIZE * j:
        raise ValueError(
            f"sample_size={spec.sample_size} over n_clusters={j} gives fewer than "
            f"{MIN_CLUSTER_SIZE} observations per cluster: use sample_size >= "
            f"{MIN_CLUSTER_SIZE * j} or fewer clusters"
        )
    _check_design(spec)
    _check_correlations(spec)
    n_fixed = len(spec.term_names)
    if spec.total_n <= n_fixed + 1:
        raise ValueError(
            f"sample_size={spec.sample_size} is too small for {n_fixed} fixed effects"
        )

def _check_design(spec: SimulationSpec) -> None:
    """Cluster-level predictors and balanced allocations that the sizes can carry."""
    between = set(spec.cluster_level_vars)
    columns = predictor_columns(spec.predictors)
    for col in spec.random_columns:
        names = ({spec.predictors[columns[v][0]].name for v in spec.terms[col - 1]}
                 if col else set())
        if names and names <= between:
            raise ValueError(
                f"cluster_level_vars={list(spec.cluster_level_vars)!r}: "
                f"{spec.term_names[col]!r} has a random slope on {spec.grouping!r}, but a "
                "predictor constant within clusters has no slope that can vary between "
                "them: remove it from random_slopes (and the formula's random part) or "
                "from cluster_level_vars"
            )
    sizes = spec.cluster_sizes().tolist()
    if spec.cluster_size_cv:  # drawn sizes: from the floor to the largest possible
        sizes = [MIN_CLUSTER_SIZE, spec.total_n - MIN_CLUSTER_SIZE * (len(sizes) - 1)]
    for p in spec.predictors:
        if p.allocation != "balanced":
            continue
        units = [spec.effective_n_clusters] if p.level == "cluster" else sorted(set(sizes))
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

def _check_sizes(spec: SimulationSpec) -> None:
    """Explicit sizes that add up to N; a size CV the engine can draw."""
    PARAMS["cluster_size_cv"].check(spec.cluster_size_cv)
    if not spec.given_sizes:
        return
    sizes = list(spec.given_sizes)
    if spec.cluster_size_cv:
        raise ValueError(f"cluster_sizes={sizes!r} with cluster_size_cv="
                         f"{spec.cluster_size_cv!r}: give one of them, not both")
    if min(sizes) < MIN_CLUSTER_SIZE:
        raise ValueError(f"cluster_sizes={sizes!r} has a cluster of {min(sizes)}: use at "
                         f"least {MIN_CLUSTER_SIZE} observations per cluster")
    if sum(sizes) != spec.sample_size:
        raise ValueError(
            f"cluster_sizes={sizes!r} add up to {sum(sizes)}, not sample_size="
            f"{spec.sample_size}: explicit sizes fix N, use sample_size={sum(sizes)}"
        )
    if spec.n_clusters != len(sizes):
        raise ValueError(f"cluster_sizes={sizes!r} are {len(sizes)} clusters, not "
                         f"n_clusters={spec.n_clusters}")

def _check_correlations(spec: SimulationSpec) -> None:
    """Correlated predictors are normal and of one level."""
    kind = {p.name: p for p in spec.predictors}
    for a, b, r in spec.correlations:
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


def _check_per_slope(spec: SimulationSpec) -> None:
    """Per-slope variances and correlations: one per slope, in range, G not indefinite."""
    names = spec._slope_names()
    for given, common, label, low in (
            (spec.slope_variances, spec.slope_variance, "slope_variance", 0.0),
            (spec.slope_intercept_corrs, spec.slope_intercept_corr,
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
    if spec.slope_intercept_corrs:
        smallest = float(np.linalg.eigvalsh(spec._re_corr()).min())
        if smallest < -1e-12:
            shown = dict(zip(names, spec.slope_intercept_corrs, strict=True))
            raise ValueError(f"slope_intercept_corr={shown!r} gives a random-effect "
                             "covariance that is not positive semi-definite (smallest "
                             f"eigenvalue {smallest:.3g}): use smaller correlations")
