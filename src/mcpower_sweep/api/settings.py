"""A model's checked settings and the one spec they make.

``set_cluster``'s arguments are checked against the formula once, here, into
:class:`ClusterSettings`; :func:`build_spec` turns the settings into the validated
:class:`~mcpower_sweep.design.spec.SimulationSpec` that the engine runs.

Examples
--------
>>> from mcpower_sweep.design.formula import parse_formula
>>> f = parse_formula("y ~ x + (1 + x|school)")
>>> cluster_settings(f, "school", icc=0.1, n_clusters=40, slope_variance=0.05).n_clusters
40
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..design.factors import expand
from ..design.formula import FormulaError, ParsedFormula, parse_formula
from ..design.spec import (
    MAX_FIXED_EFFECTS,
    MAX_RANDOM_EFFECTS,
    Predictor,
    SimulationSpec,
)
from ..design.validate import check_slope_intercept_corr
from ..params import PARAMS
from .parse import term_name


def simulated_formula(formula: str) -> ParsedFormula:
    """Parse ``formula`` and check that the engine can simulate and fit it.

    Examples
    --------
    >>> simulated_formula("y ~ x + (1|g)").tests
    ('x',)
    """
    parsed = parse_formula(formula)
    if parsed.uncorrelated:  # fit_lmm fits it; simulations do not generate it yet
        raise FormulaError("'||' (uncorrelated random effects) is not supported in "
                           "simulations yet: use '|'", formula, formula.index("||"))
    check_simulated_fixed(parsed)
    if len(parsed.random_columns) > MAX_RANDOM_EFFECTS:
        raise FormulaError(f"the random part has {len(parsed.random_columns)} random effects: "
                           f"the engine fits at most {MAX_RANDOM_EFFECTS}", formula)
    return parsed


def check_simulated_fixed(parsed: ParsedFormula) -> None:
    """The fixed part the engine simulates: an intercept and 1 to MAX_FIXED_EFFECTS - 1
    predictors' terms."""
    formula = parsed.text
    if not parsed.intercept:
        raise FormulaError("models without a fixed intercept ('0 +', '- 1') are not "
                           "supported yet: remove it", formula)
    if not parsed.terms:
        raise FormulaError("the formula has no fixed effects to test: add at least one "
                           "predictor, e.g. 'y ~ x + (1|g)'", formula)
    if len(parsed.term_names) > MAX_FIXED_EFFECTS:
        raise FormulaError(f"the formula has {len(parsed.term_names)} fixed effects: the "
                           f"engine fits at most {MAX_FIXED_EFFECTS}", formula)


@dataclass(frozen=True)
class ClusterSettings:
    """The random-effects settings given to ``set_cluster`` (already checked)."""

    grouping: str
    icc: float
    n_clusters: int | None
    cluster_size: int | None
    slope_variance: float
    slope_intercept_corr: float
    cluster_level_vars: tuple[str, ...] = ()
    cluster_size_cv: float = 0.0
    cluster_sizes: tuple[int, ...] = ()
    slope_variances: tuple[float, ...] = ()  # per slope, when given as a mapping
    slope_intercept_corrs: tuple[float, ...] = ()
    tau_squared: float | None = None  # instead of icc: the intercept variance, link scale


def cluster_settings(
    f: ParsedFormula,
    name: str,
    *,
    icc: object = None,
    n_clusters: object = None,
    cluster_size: object = None,
    random_slopes: Sequence[str] | str | None = None,
    slope_variance: object = 0.0,
    slope_intercept_corr: object = 0.0,
    cluster_level_vars: Sequence[str] | str | None = None,
    cluster_sizes: Sequence[int] | None = None,
    cluster_size_cv: object = 0.0,
    tau_squared: object = None,
) -> ClusterSettings:
    """Check ``set_cluster``'s arguments against the formula ``f`` (see ``set_cluster``)."""
    if f.grouping is None:
        raise ValueError(
            f"set_cluster({name!r}): the formula {f.text!r} has no random part; add one "
            f"such as (1 | {name}) to the formula"
        )
    if name != f.grouping:
        raise ValueError(
            f"set_cluster: name={name!r} is not a grouping factor of the formula "
            f"{f.text!r}; its random part is grouped by {f.grouping!r}"
        )
    slopes = _random_slopes(f, random_slopes)
    tau2 = None if tau_squared is None else _tau_squared(f, icc, tau_squared)
    icc_value = 0.0 if tau2 is not None else _icc(f, icc)
    sizes = _cluster_sizes(cluster_sizes)
    if sum(x is not None for x in (n_clusters, cluster_size, cluster_sizes)) != 1:
        raise ValueError(
            f"set_cluster: give exactly one of n_clusters, cluster_size and cluster_sizes "
            f"(got n_clusters={n_clusters!r}, cluster_size={cluster_size!r}, "
            f"cluster_sizes={cluster_sizes!r})"
        )
    if sizes:
        n_clusters = len(sizes)
    cv = PARAMS["cluster_size_cv"].check(cluster_size_cv)
    if cv and sizes:
        raise ValueError(f"cluster_sizes={cluster_sizes!r} with cluster_size_cv="
                         f"{cluster_size_cv!r}: give one of them, not both")
    if n_clusters is not None:
        n_clusters = PARAMS["n_clusters"].check(n_clusters)
    if cluster_size is not None:
        cluster_size = PARAMS["cluster_size"].check(cluster_size)
    variances = _per_slope(f, slopes, "slope_variance", slope_variance)
    corrs = _per_slope(f, slopes, "slope_intercept_corr", slope_intercept_corr)
    variance = 0.0 if variances else PARAMS["slope_variance"].check(slope_variance)
    corr = 0.0 if corrs else PARAMS["slope_intercept_corr"].check(slope_intercept_corr)
    if corrs and not f.random_intercept:
        raise ValueError(f"slope_intercept_corr={slope_intercept_corr!r} is not allowed: the "
                         f"formula {f.text!r} has no random intercept")
    if not slopes and variance != 0.0:
        raise ValueError(
            f"slope_variance={slope_variance!r} is not allowed: the formula {f.text!r} has "
            "no random slopes; add one, e.g. (1 + x | g), or leave slope_variance at 0"
        )
    if corr != 0.0 and not (slopes and f.random_intercept):
        raise ValueError(
            f"slope_intercept_corr={slope_intercept_corr!r} is not allowed: the formula "
            f"{f.text!r} needs both a random intercept and a random slope for it; "
            "leave it at 0"
        )
    check_slope_intercept_corr(corr, len(slopes))
    between = _cluster_level_vars(f, cluster_level_vars)
    return ClusterSettings(name, icc_value, n_clusters, cluster_size, variance, corr, between,
                           cv, sizes, variances, corrs, tau2)


def _per_slope(f: ParsedFormula, slopes: tuple[str, ...], label: str, given: object
               ) -> tuple[float, ...]:
    """A mapping ``{slope: value}`` given for every random slope, in the formula's order."""
    if not isinstance(given, Mapping):
        return ()
    values: dict[str, float] = {}
    for name, value in given.items():
        term = term_name(str(name), slopes)
        if term is None:
            raise ValueError(f"{label}={dict(given)!r}: {name!r} is not a random slope of the "
                             f"formula {f.text!r}; its random slopes are "
                             f"{', '.join(slopes) or 'none'}")
        values[term] = PARAMS[label].check(value, f"{label}[{name!r}]")
    missing = [s for s in slopes if s not in values]
    if missing:
        raise ValueError(f"{label}={dict(given)!r} leaves out {', '.join(missing)}: give a "
                         "value for every random slope")
    order = [f.term_names[c] for c in f.random_columns if c != 0]
    return tuple(values[s] for s in order)


def _cluster_sizes(given: Sequence[int] | None) -> tuple[int, ...]:
    """Explicit cluster sizes: at least 2 whole numbers >= MIN_CLUSTER_SIZE."""
    if given is None:
        return ()
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence) or len(given) < 2:
        raise ValueError(f"cluster_sizes={given!r} is not allowed: use a list of at least 2 "
                         "cluster sizes, e.g. [20, 35, 12]")
    return tuple(PARAMS["cluster_size"].check(n, f"cluster_sizes={list(given)!r}: entry")
                 for n in given)


def _cluster_level_vars(f: ParsedFormula, given: Sequence[str] | str | None
                        ) -> tuple[str, ...]:
    """Predictors constant within clusters: names of the formula, none with a random slope."""
    if given is None:
        return ()
    names = [given] if isinstance(given, str) else list(given)
    for name in names:
        if not isinstance(name, str) or name not in f.predictors:
            raise ValueError(
                f"cluster_level_vars={given!r}: {name!r} is not a predictor of the formula "
                f"{f.text!r}; its predictors are {', '.join(f.predictors)}"
            )
        if name in f.random_slopes:
            raise ValueError(
                f"cluster_level_vars={given!r}: {name!r} has a random slope on "
                f"{f.grouping!r}, but a predictor constant within clusters has no slope that "
                "can vary between them: remove it from the formula's random part or from "
                "cluster_level_vars"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"cluster_level_vars={given!r} names a predictor twice")
    return tuple(names)


def _tau_squared(f: ParsedFormula, icc: object, tau_squared: object) -> float:
    """The random-intercept variance given directly (exactly one of ICC and tau_squared)."""
    if icc is not None:
        raise ValueError(f"set_cluster: ICC={icc!r} and tau_squared={tau_squared!r}: give "
                         "exactly one of them for the random-intercept variance")
    value = PARAMS["tau_squared"].check(tau_squared)
    if value != 0.0 and not f.random_intercept:
        raise ValueError(f"tau_squared={tau_squared!r} is not allowed: the formula {f.text!r} "
                         "has no random intercept; leave it unset or 0")
    return value


def _icc(f: ParsedFormula, icc: object) -> float:
    if icc is None:
        if f.random_intercept:
            raise ValueError("set_cluster: ICC=None is not allowed: the formula has a "
                             "random intercept, give ICC with 0 <= ICC < 1 (or tau_squared=, "
                             "the random-intercept variance on the link scale)")
        return 0.0
    value = PARAMS["icc"].check(icc, "ICC")
    if value != 0.0 and not f.random_intercept:
        raise ValueError(
            f"ICC={icc!r} is not allowed: the formula {f.text!r} has no random "
            "intercept ('0 +' in the random part); leave ICC unset or 0"
        )
    return value

def _random_slopes(f: ParsedFormula, random_slopes: Sequence[str] | str | None
                   ) -> tuple[str, ...]:
    if random_slopes is None:
        return f.random_slopes
    given = [random_slopes] if isinstance(random_slopes, str) else list(random_slopes)
    names: list[str] = []
    for name in given:
        if not isinstance(name, str):
            raise ValueError(f"random_slopes={random_slopes!r}: {name!r} is not a "
                             "predictor name")
        term = term_name(name, f.tests)
        if term is None:
            raise ValueError(
                f"random_slopes={random_slopes!r}: {name!r} is not in the formula "
                f"{f.text!r}; its fixed effects are {', '.join(f.tests)}"
            )
        if term not in f.random_slopes:
            raise ValueError(
                f"random_slopes={random_slopes!r}: {name!r} has no random slope in the "
                f"formula's random part; write it there too, e.g. (1 + {term} | "
                f"{f.grouping})"
            )
        names.append(term)
    missing = [s for s in f.random_slopes if s not in names]
    if missing:
        raise ValueError(
            f"random_slopes={random_slopes!r} leaves out {', '.join(map(repr, missing))}, "
            "which the formula's random part gives a random slope; list every random slope "
            "of the formula (they share slope_variance) or remove it from the formula"
        )
    return tuple(names)


def build_spec(
    f: ParsedFormula,
    cluster: ClusterSettings | None,
    *,
    types: Mapping[str, Predictor],
    correlations: Mapping[tuple[str, str], float] | None = None,
    effects: Mapping[str, float],
    sample_size: object,
    estimator: object,
    df_method: object,
    alpha: float,
    outcome: Mapping[str, object] | None = None,
) -> SimulationSpec:
    """The validated spec of a configured model at ``sample_size`` (see ``MCPower.to_spec``).

    ``outcome`` holds the family's settings (``family``, ``baseline_probability``,
    ``baseline_rate``, ``nagq``; none: the linear mixed model).
    """
    sample_size = PARAMS["sample_size"].check(sample_size)
    estimator = PARAMS["estimator"].check(estimator)
    df_method = PARAMS["df_method"].check(df_method)
    if f.grouping is None:
        raise ValueError(
            f"the formula {f.text!r} has no random part: mcpower_sweep simulates "
            "multilevel designs; add one such as (1 | cluster) and call set_cluster"
        )
    c = cluster
    if c is None:
        raise ValueError(
            f"set_cluster has not been called: configure the grouping factor first, e.g. "
            f"set_cluster({f.grouping!r}, ICC=0.1, n_clusters=30)"
        )
    design = expand(f, types)
    spec = SimulationSpec(
        formula=f.text,
        outcome=f.outcome,
        predictors=tuple(replace(types[p], level="cluster") if p in c.cluster_level_vars
                         else types[p] for p in f.predictors),
        terms=design.terms,
        term_names=design.term_names,
        effects=(0.0, *(effects[t] for t in design.term_names[1:])),
        grouping=c.grouping,
        random_columns=design.random_columns,
        joint_tests=design.joint_tests,
        icc=c.icc,
        slope_variance=c.slope_variance,
        slope_intercept_corr=c.slope_intercept_corr,
        n_clusters=c.n_clusters,
        cluster_size=c.cluster_size,
        sample_size=sample_size,
        cluster_size_cv=c.cluster_size_cv,
        given_sizes=c.cluster_sizes,
        slope_variances=c.slope_variances,
        slope_intercept_corrs=c.slope_intercept_corrs,
        correlations=tuple((a, b, r) for (a, b), r in (correlations or {}).items() if r),
        estimator=estimator,
        df_method=df_method,
        alpha=alpha,
        tau_squared=c.tau_squared,
        **(outcome or {}),
    )
    spec.validate()
    return spec
