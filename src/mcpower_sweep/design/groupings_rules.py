"""The rules a spec with several grouping factors (:mod:`.groupings`) must satisfy.

Each rule raises ``ValueError`` naming the parameter, the value and what is allowed.
What the engine does not simulate with several groupings yet is refused by name.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..params import ESTIMATORS, PARAMS
from .factors import check_balanced_factor, predictor_columns
from .family import is_glmm
from .groupings import MIN_ROWS_PER_UNIT, Grouping, ancestors, total_rows, unit_counts
from .latin_square import check_latin_square
from .predictors import balanced_ones

if TYPE_CHECKING:
    from .spec import SimulationSpec

# df methods of the general fit (between-within is defined for one grouping factor).
GROUPINGS_DF_METHODS = ("satterthwaite", "kenward_roger", "residual", "z")


def _unsupported(spec: SimulationSpec) -> None:
    """Features of the one-grouping engine not simulated with several groupings yet."""
    checks = (
        (is_glmm(spec.family) and spec.nagq != 1, f"agq={spec.nagq!r}",
         "agq=1 (the Laplace approximation; glmer refuses nAGQ > 1 there too)"),
        (spec.analysis is not None, "test_formula", "the true model's analysis"),
        (any(p.values for p in spec.predictors), "fixed predictor values (from_fit)",
         "drawn predictors"),
        (spec.cluster_size_cv != 0.0 or bool(spec.given_sizes),
         "cluster_size_cv / cluster_sizes", "the layout of n_clusters and n_per_parent"),
        (spec.residual_dist != "normal" or spec.random_effect_dist != "normal"
         or spec.heteroskedasticity != 1.0 or bool(spec.scenario),
         "residual_dist / random_effect_dist / heteroskedasticity / scenarios",
         "normal residuals and random effects"),
    )
    for bad, what, allowed in checks:
        if bad:
            raise ValueError(f"{what} is not supported yet with several grouping factors "
                             f"({', '.join(g.name for g in spec.groupings)}): use {allowed}")


def _structure(groupings: tuple[Grouping, ...]) -> None:
    """One nested chain (a top grouping and its descendants) or crossed top-level groupings."""
    names = [g.name for g in groupings]
    if len(set(names)) != len(names):
        raise ValueError(f"groupings {names!r}: each grouping factor is set once")
    children: dict[str, str] = {}
    for g in groupings:
        if g.parent is None:
            if g.n_per_parent is not None:
                raise ValueError(f"set_cluster({g.name!r}, n_per_parent={g.n_per_parent!r}): "
                                 f"{g.name!r} is a top-level grouping, not nested in another: "
                                 "give n_clusters (n_per_parent is for a nested child such as "
                                 "'school:class')")
            if (g.n_clusters is None) == (g.cluster_size is None):
                raise ValueError(f"set_cluster({g.name!r}, n_clusters={g.n_clusters!r}, "
                                 f"cluster_size={g.cluster_size!r}): give exactly one, the "
                                 f"number of {g.name} units (>= 2) or the observations in each")
            if g.n_clusters is not None:
                PARAMS["n_clusters"].check(g.n_clusters)
            else:
                PARAMS["cluster_size"].check(g.cluster_size)
            continue
        if g.parent not in names:
            raise ValueError(f"grouping {g.name!r} is nested in {g.parent!r}, which is not a "
                             f"grouping of the design ({', '.join(names)}): add (1 | "
                             f"{g.parent}) to the formula and set_cluster({g.parent!r}, ...)")
        if g.parent in children:
            raise ValueError(f"groupings {children[g.parent]!r} and {g.name!r} are both nested "
                             f"in {g.parent!r}: one nested chain is simulated (e.g. "
                             "school/class)")
        children[g.parent] = g.name
        if g.n_clusters is not None or g.cluster_size is not None or g.n_per_parent is None:
            raise ValueError(f"set_cluster({g.name!r}, n_clusters={g.n_clusters!r}, "
                             f"n_per_parent={g.n_per_parent!r}): a nested child is sized by "
                             f"n_per_parent, its units per {g.parent} unit (a whole number "
                             ">= 2), not n_clusters")
        PARAMS["n_per_parent"].check(g.n_per_parent)
    tops = [g.name for g in groupings if g.parent is None]
    if children and len(tops) > 1:
        raise ValueError(f"groupings {names!r} mix crossed ({', '.join(tops)}) and nested "
                         "groupings: simulations take one nested chain or crossed groupings")


def _variances(g: Grouping) -> None:
    if g.tau_squared is None:
        PARAMS["icc"].check(g.icc, f"set_cluster({g.name!r}): ICC")
    else:
        PARAMS["tau_squared"].check(g.tau_squared, f"set_cluster({g.name!r}): tau_squared")
    if len(g.slope_variances) != len(g.slopes) or len(g.slope_intercept_corrs) != len(
            g.slopes):
        raise ValueError(f"set_cluster({g.name!r}): one slope_variance and one "
                         "slope_intercept_corr per random slope are needed")
    for v in g.slope_variances:
        PARAMS["slope_variance"].check(v, f"set_cluster({g.name!r}): slope_variance")
    for r in g.slope_intercept_corrs:
        PARAMS["slope_intercept_corr"].check(r, f"set_cluster({g.name!r}): "
                                                "slope_intercept_corr")
    smallest = float(np.linalg.eigvalsh(g.re_cov()).min()) if g.columns else 0.0
    if smallest < -1e-12:
        raise ValueError(f"set_cluster({g.name!r}): slope_intercept_corr="
                         f"{list(g.slope_intercept_corrs)!r} gives a random-effect covariance "
                         "that is not positive semi-definite: use smaller correlations")


def _sizes(spec: SimulationSpec) -> None:
    gs = spec.groupings
    if sum(1 for g in gs if g.cluster_size) > 1:
        raise ValueError(f"cluster_size is set on {[g.name for g in gs if g.cluster_size]}: "
                         "size one grouping by cluster_size and the others by n_clusters")
    counts = unit_counts(gs, spec.sample_size)
    n = total_rows(gs, spec.sample_size)
    for g, c in zip(gs, counts, strict=True):
        if g.cluster_size and c < 2:
            raise ValueError(f"sample_size={spec.sample_size} with set_cluster({g.name!r}, "
                             f"cluster_size="
                             f"{g.cluster_size}) gives {c} {g.name} unit(s): at least 2 are "
                             f"needed, use sample_size >= {2 * g.cluster_size}")
    if any(g.parent for g in gs):
        inner = max(counts)
        if n < MIN_ROWS_PER_UNIT * inner:
            sizes = " x ".join(f"{g.name} {c}" for g, c in zip(gs, counts, strict=True))
            raise ValueError(f"sample_size={n} over {inner} innermost units ({sizes}) gives "
                             f"fewer than {MIN_ROWS_PER_UNIT} observations per unit: use "
                             f"sample_size >= {MIN_ROWS_PER_UNIT * inner}")
        return
    cells = math.prod(counts)
    if n % cells:
        sizes = " x ".join(f"{g.name} ({c})" for g, c in zip(gs, counts, strict=True))
        raise ValueError(f"sample_size={n} does not fit the crossed groupings {sizes} = "
                         f"{cells} combinations: a fully crossed design needs a multiple of "
                         f"{cells} (each combination seen sample_size / {cells} times), e.g. "
                         f"sample_size={cells * max(1, round(n / cells))}")


def _levels(spec: SimulationSpec) -> None:
    """Cluster-level predictors: each on one grouping, none with a slope there."""
    gs = spec.groupings
    where: dict[str, int] = {}
    for k, g in enumerate(gs):
        for name in g.cluster_level_vars:
            if name in where:
                raise ValueError(f"cluster_level_vars: {name!r} is set on both "
                                 f"{gs[where[name]].name!r} and {g.name!r}: give it on the "
                                 "grouping whose units it is constant within")
            where[name] = k
    for p in spec.predictors:
        if (p.level == "cluster") != (p.name in where):
            raise ValueError(f"predictor {p.name!r}: level={p.level!r} but it is "
                             f"{'' if p.name in where else 'not '}in a grouping's "
                             "cluster_level_vars")
    # per predictor column (a factor's dummies each), as spec.terms index them
    unit = [where.get(spec.predictors[i].name, -1) for i, _ in predictor_columns(spec.predictors)]
    for k, g in enumerate(gs):
        above = ancestors(gs, k)
        for c in g.slopes:
            preds = spec.terms[c - 1]
            if all(unit[v] in above for v in preds):
                name = spec.term_names[c]
                holder = gs[unit[preds[0]]].name
                raise ValueError(f"set_cluster({g.name!r}, random_slopes=[{name!r}]): "
                                 f"{name!r} is constant within {g.name} units (it is in "
                                 f"cluster_level_vars of {holder!r}), so it has no slope that "
                                 f"can vary between them: remove the slope from {g.name}'s "
                                 "random part")


def _correlations(spec: SimulationSpec) -> None:
    """Correlated predictors are normal and drawn on the same units (rows, or the units of
    the one grouping whose cluster_level_vars hold both); the matrix is positive definite."""
    if not spec.correlations:
        return
    kind = {p.name: p.kind for p in spec.predictors}
    where = {name: g.name for g in spec.groupings for name in g.cluster_level_vars}
    for a, b, r in spec.correlations:
        for name in (a, b):
            if kind.get(name) != "normal":
                raise ValueError(f"set_correlations: corr({a},{b})={r:g}: {name!r} is not a "
                                 "normal predictor; correlations are for normal predictors")
        if where.get(a) != where.get(b):
            units = [f"{n!r} {'per ' + where[n] + ' unit' if n in where else 'per observation'}"
                     for n in (a, b)]
            raise ValueError(f"set_correlations: corr({a},{b})={r:g}: {units[0]} and "
                             f"{units[1]} are drawn on different units; correlate predictors "
                             "drawn on the same units (the same grouping's cluster_level_vars, "
                             "or neither in any)")
    spec.predictor_mix()  # its own error when the matrix is not positive definite


def _balanced(spec: SimulationSpec) -> None:
    gs = spec.groupings
    counts = unit_counts(gs, spec.sample_size)
    where = {name: k for k, g in enumerate(gs) for name in g.cluster_level_vars}
    for p in spec.predictors:
        if p.allocation != "balanced":
            continue
        if p.name in where:
            g = gs[where[p.name]]
            n, what = ((g.n_per_parent, f"{g.name} units in each {g.parent} unit") if g.parent
                       else (counts[where[p.name]], f"{g.name} units"))
            sizes = [int(n)]
        else:
            rows = total_rows(gs, spec.sample_size)
            blocks = max(counts) if any(g.parent for g in gs) else counts[0]
            n = rows // blocks
            sizes = sorted({n, -(-rows // blocks)})  # blocks of rows differ by one at most
            what = "observations in each block"
        if p.kind == "factor":
            check_balanced_factor(p, sizes, what)
            continue
        ones = balanced_ones(p.p, int(n))
        if not 0 < ones < n:
            raise ValueError(f"set_variable_type: {p.name}={p.type_text()} gives round({p.p:g}"
                             f" x {n}) = {ones} of {n} {what} with {p.name}=1, so it does not "
                             "vary there: use p with 1 <= round(p x n) <= n - 1, or more units")


def validate_groupings(spec: SimulationSpec) -> None:
    """Raise ``ValueError`` naming the parameter, the value and what is allowed."""
    _unsupported(spec)
    if spec.estimator not in ESTIMATORS:
        raise ValueError(f"estimator={spec.estimator!r} is unknown: use one of {ESTIMATORS}")
    if is_glmm(spec.family) and spec.df_method != "z":
        raise ValueError(f"df_method={spec.df_method!r} is not available for family="
                         f"{spec.family!r} with several grouping factors: use 'z' (glmer's "
                         "Wald z; the between-within df need one grouping factor)")
    if spec.df_method not in GROUPINGS_DF_METHODS:
        raise ValueError(f"df_method={spec.df_method!r} is not available with several "
                         f"grouping factors: use one of {', '.join(GROUPINGS_DF_METHODS)}")
    if spec.df_method == "kenward_roger" and spec.estimator != "reml":
        raise ValueError(f"df_method='kenward_roger' needs estimator='reml', not "
                         f"estimator={spec.estimator!r}")
    PARAMS["alpha"].check(spec.alpha)
    PARAMS["sample_size"].check(spec.sample_size)
    for p in spec.predictors:
        if p.kind == "binary" and not (0.0 < p.p < 1.0):
            raise ValueError(f"variable type of {p.name!r}: binary({p.p}) needs 0 < p < 1")
        if p.allocation == "balanced" and p.kind == "normal":
            raise ValueError(f"variable type of {p.name!r}: balanced allocation is for "
                             "binary predictors, e.g. binary(0.5, balanced)")
    _structure(spec.groupings)
    for g in spec.groupings:
        _variances(g)
    _sizes(spec)
    _levels(spec)
    _correlations(spec)
    _balanced(spec)
    check_latin_square(spec, unit_counts(spec.groupings, spec.sample_size))
    if spec.sample_size <= len(spec.term_names) + 1:
        raise ValueError(f"sample_size={spec.sample_size} is too small for "
                         f"{len(spec.term_names)} fixed effects")
