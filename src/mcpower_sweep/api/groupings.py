"""``MCPower`` with several grouping factors: nested ``(1 | school/class)`` and crossed
``(1 | subject) + (1 | item)`` random effects, configured with one ``set_cluster`` per
grouping (MCPower 1.4.1's spellings; :mod:`mcpower_sweep.design.groupings`).

Examples
--------
>>> mixed = several_groupings("y ~ treatment + (1 | school/class)")
>>> [g.name for g in groupings_of(mixed)]
['school:class', 'school']
>>> grouping_settings(mixed, "school:class", icc=0.05, n_per_parent=4).n_per_parent
4
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..design.factors import expand
from ..design.formula import FormulaError, MixedFormula, parse_mixed_formula
from ..design.groupings import Grouping
from ..design.spec import MAX_RANDOM_EFFECTS, Predictor, SimulationSpec
from ..params import PARAMS
from .parse import term_name
from .settings import check_simulated_fixed


def several_groupings(formula: str) -> MixedFormula | None:
    """The formula parsed with its grouping factors, or None when it has one (the
    one-grouping path of :func:`~mcpower_sweep.api.settings.simulated_formula`)."""
    mixed = parse_mixed_formula(formula)
    if mixed.single or not mixed.random:
        return None
    check_simulated_fixed(mixed.fixed)
    groupings_of(mixed)  # its checks
    return mixed


def groupings_of(mixed: MixedFormula) -> list[Grouping]:
    """The formula's groupings (not yet configured), in order of appearance."""
    text = mixed.fixed.text
    columns: dict[str, list[tuple[int, ...]]] = {}
    factors: dict[str, tuple[str, ...]] = {}
    for term in mixed.random:
        name = ":".join(term.factors)
        columns.setdefault(name, []).append(term.columns)
        factors[name] = term.factors
    out = []
    for name, blocks in columns.items():
        parent = ":".join(factors[name][:-1]) or None
        if parent is not None and parent not in columns:
            raise FormulaError(f"the grouping {name!r} is nested in {parent!r}, which has no "
                               f"random-effect term: write (1 | {parent}/"
                               f"{factors[name][-1]}) or add (1 | {parent})", text)
        cols = tuple(c for b in blocks for c in b)
        if len(blocks) > 1 and any(len(b) > 1 for b in blocks):
            raise FormulaError(f"the random-effect terms on {name!r} ({len(blocks)} terms, some "
                               "with several effects) are not supported in simulations: write "
                               f"one term (1 + x | {name}) or uncorrelated ones (1 + x || "
                               f"{name})", text)
        if len(set(cols)) != len(cols) or len(cols) > MAX_RANDOM_EFFECTS:
            raise FormulaError(f"the random part of {name!r} repeats an effect or has more "
                               f"than {MAX_RANDOM_EFFECTS} random effects", text)
        out.append(Grouping(name, parent, tuple(sorted(cols)), uncorrelated=len(blocks) > 1))
    return out


def _per_slope(g: Grouping, term_names: tuple[str, ...], label: str, given: object
               ) -> tuple[float, ...]:
    """One value per random slope of ``g``: a number for all, or a mapping by slope."""
    slopes = [term_names[c] for c in g.slopes]
    if not isinstance(given, Mapping):
        value = PARAMS[label].check(given, f"set_cluster({g.name!r}): {label}")
        return (value,) * len(slopes)
    out = {}
    for name, value in given.items():
        term = term_name(str(name), slopes)
        if term is None:
            raise ValueError(f"set_cluster({g.name!r}): {label}={dict(given)!r}: {name!r} is "
                             f"not a random slope on {g.name}; its slopes are "
                             f"{', '.join(slopes) or 'none'}")
        out[term] = PARAMS[label].check(value, f"{label}[{name!r}]")
    missing = [s for s in slopes if s not in out]
    if missing:
        raise ValueError(f"set_cluster({g.name!r}): {label}={dict(given)!r} leaves out "
                         f"{', '.join(missing)}: give a value for every random slope")
    return tuple(out[s] for s in slopes)


def grouping_settings(
    mixed: MixedFormula,
    name: str,
    *,
    icc: object = None,
    tau_squared: object = None,
    n_clusters: object = None,
    cluster_size: object = None,
    n_per_parent: object = None,
    random_slopes: Sequence[str] | str | None = None,
    slope_variance: object = 0.0,
    slope_intercept_corr: object = 0.0,
    cluster_level_vars: Sequence[str] | str | None = None,
    latin_square: str | None = None,
    unsupported: Mapping[str, object] | None = None,
) -> Grouping:
    """Check one ``set_cluster`` call of a formula with several groupings.

    ``unsupported``: the one-grouping sizing arguments given (refused by name).
    """
    f = mixed.fixed
    known = {g.name: g for g in groupings_of(mixed)}
    if name not in known:
        raise ValueError(f"set_cluster: name={name!r} is not a grouping factor of "
                         f"{f.text!r}; its groupings are {', '.join(known)} (a nested "
                         "child is named parent:child)")
    g = known[name]
    for arg, value in (unsupported or {}).items():
        if value not in (None, 0.0):
            raise ValueError(f"set_cluster({name!r}, {arg}={value!r}): with several grouping "
                             "factors a top-level or crossed grouping is sized by n_clusters "
                             "(or cluster_size) and a nested child by n_per_parent")
    if g.parent is None and n_per_parent is not None:
        raise ValueError(f"set_cluster({name!r}, n_per_parent={n_per_parent!r}): {name!r} is "
                         "a top-level grouping, not nested in another: give n_clusters "
                         "(n_per_parent is for a nested child such as 'school:class')")
    if g.parent is not None and (n_clusters is not None or cluster_size is not None
                                 or n_per_parent is None):
        raise ValueError(f"set_cluster({name!r}, n_clusters={n_clusters!r}, n_per_parent="
                         f"{n_per_parent!r}): {name!r} is nested in {g.parent!r}: give "
                         f"n_per_parent, its units per {g.parent} unit (>= 2)")
    if g.parent is None and (n_clusters is None) == (cluster_size is None):
        raise ValueError(f"set_cluster({name!r}, n_clusters={n_clusters!r}, cluster_size="
                         f"{cluster_size!r}): give exactly one, the number of {name} units "
                         "or the observations in each")
    intercept = 0 in g.columns
    if icc is not None and tau_squared is not None:
        raise ValueError(f"set_cluster({name!r}): ICC={icc!r} and tau_squared={tau_squared!r}: "
                         "give exactly one of them for the random-intercept variance")
    if intercept and icc is None and tau_squared is None:
        raise ValueError(f"set_cluster({name!r}): ICC=None is not allowed: {name} has a random "
                         "intercept, give ICC with 0 <= ICC < 1 (or tau_squared=)")
    icc_value = 0.0 if icc is None else PARAMS["icc"].check(icc, "ICC")
    tau2 = None if tau_squared is None else PARAMS["tau_squared"].check(tau_squared)
    if not intercept and (icc_value or tau2):
        raise ValueError(f"set_cluster({name!r}): ICC={icc!r}, tau_squared={tau_squared!r}: "
                         f"{name} has no random intercept in {f.text!r}; leave them unset")
    slopes = [f.term_names[c] for c in g.slopes]
    if random_slopes is not None:
        given = [random_slopes] if isinstance(random_slopes, str) else list(random_slopes)
        names = [term_name(str(s), f.term_names[1:]) for s in given]
        if sorted(map(str, names)) != sorted(slopes):
            raise ValueError(f"set_cluster({name!r}): random_slopes={random_slopes!r} must be "
                             f"the random slopes of {name} in the formula "
                             f"({', '.join(slopes) or 'none'}); change the formula's "
                             f"random part to change them")
    if not slopes and (slope_variance or slope_intercept_corr):
        raise ValueError(f"set_cluster({name!r}): slope_variance={slope_variance!r}, "
                         f"slope_intercept_corr={slope_intercept_corr!r}: {name} has no "
                         "random slope in the formula; leave them at 0")
    between = ([cluster_level_vars] if isinstance(cluster_level_vars, str)
               else list(cluster_level_vars or ()))
    for var in between:
        if var not in f.predictors:
            raise ValueError(f"set_cluster({name!r}): cluster_level_vars={between!r}: {var!r} "
                             f"is not a predictor of {f.text!r}; its predictors are "
                             f"{', '.join(f.predictors)}")
    if latin_square is not None and latin_square not in f.predictors:
        raise ValueError(f"set_cluster({name!r}): latin_square={latin_square!r} is not a "
                         f"predictor of {f.text!r}; its predictors are "
                         f"{', '.join(f.predictors)}")
    return replace(
        g, icc=icc_value, tau_squared=tau2, latin_square=latin_square,
        slope_variances=_per_slope(g, f.term_names, "slope_variance", slope_variance),
        slope_intercept_corrs=(_per_slope(g, f.term_names, "slope_intercept_corr",
                                          slope_intercept_corr) if intercept and not
                               g.uncorrelated else (0.0,) * len(slopes)),
        n_clusters=None if n_clusters is None else PARAMS["n_clusters"].check(n_clusters),
        cluster_size=(None if cluster_size is None else
                      PARAMS["cluster_size"].check(cluster_size)),
        n_per_parent=(None if n_per_parent is None else
                      PARAMS["n_per_parent"].check(n_per_parent)),
        cluster_level_vars=tuple(dict.fromkeys(between)))


def _expanded_columns(g: Grouping, terms: tuple[str, ...], columns: tuple[str, ...]
                      ) -> Grouping:
    """``g`` with its random effects on the fixed columns once factors are expanded to
    their dummies (the formula's terms index them before)."""
    names = [terms[c] for c in g.columns]
    for name in names:
        if name not in columns:
            raise ValueError(f"set_cluster({g.name!r}): the random slope of {name!r} is on a "
                             "factor; random slopes of factors are not supported yet")
    return replace(g, columns=tuple(columns.index(n) for n in names))


def groupings_spec(mixed: MixedFormula, configured: Mapping[str, Grouping], *,
                   types: Mapping[str, Predictor], effects: Mapping[str, float],
                   **fields: object) -> SimulationSpec:
    """The validated spec of a model with several groupings (``fields``: the spec's other
    settings: sample_size, estimator, df_method, alpha, correlations, family, ...)."""
    f = mixed.fixed
    order = [g.name for g in groupings_of(mixed)]
    missing = [n for n in order if n not in configured]
    if missing:
        raise ValueError(f"set_cluster has not been called for {', '.join(map(repr, missing))}: "
                         f"configure every grouping factor of {f.text!r} ({', '.join(order)}),"
                         " e.g. set_cluster('school', ICC=0.1, n_clusters=20) and "
                         "set_cluster('school:class', ICC=0.05, n_per_parent=4)")
    groupings = tuple(configured[n] for n in order)
    # The first top-level grouping configured is the primary one (MCPower 1.4.1's): its
    # units are plain n_clusters / cluster_size and find_sample_size's unit="clusters".
    top = next(g for g in configured.values() if g.parent is None)
    between = {v for g in groupings for v in g.cluster_level_vars}
    design = expand(f, types)
    groupings = tuple(_expanded_columns(g, f.term_names, design.term_names) for g in groupings)
    spec = SimulationSpec(
        formula=f.text, outcome=f.outcome,
        predictors=tuple(replace(types[p], level="cluster") if p in between else types[p]
                         for p in f.predictors),
        terms=design.terms, term_names=design.term_names,
        effects=(0.0, *(effects[t] for t in design.term_names[1:])),
        grouping=top.name, random_columns=(), n_clusters=top.n_clusters,
        cluster_size=top.cluster_size,
        joint_tests=design.joint_tests, groupings=groupings,
        sample_size=PARAMS["sample_size"].check(fields.pop("sample_size")),
        **fields,  # type: ignore[arg-type]
    )
    spec.validate()
    return spec


class SeveralGroupings:
    """``set_cluster`` and ``to_spec`` of a formula with several grouping factors (a part
    of :class:`~mcpower_sweep.api.configure.Configuration`)."""

    _mixed: MixedFormula | None
    _groupings: dict[str, Grouping]
    _types: dict[str, Predictor]
    _correlations: dict[tuple[str, str], float]
    _alpha: float

    def _set_grouping(self, name: str, n_per_parent: object, **settings: Any) -> bool:
        """Configure grouping ``name`` (:func:`grouping_settings`); False when the formula
        has one grouping factor (``set_cluster``'s own path)."""
        if self._mixed is None and settings.get("latin_square") is not None:
            raise ValueError(f"set_cluster({name!r}, latin_square={settings['latin_square']!r})"
                             ": a Latin square needs two crossed grouping factors, e.g. "
                             "(1|subject) + (1|item); the formula has one")
        if self._mixed is None:
            if n_per_parent is not None:
                raise ValueError(f"set_cluster({name!r}, n_per_parent={n_per_parent!r}): the "
                                 "formula has one grouping factor; n_per_parent is for a "
                                 "nested child such as 'school:class' of (1 | school/class)")
            return False
        self._groupings[name] = grouping_settings(self._mixed, name, n_per_parent=n_per_parent,
                                                  **settings)
        return True

    def _groupings_spec(self, sample_size: object, estimator: str, df_method: str
                        ) -> SimulationSpec:
        assert self._mixed is not None
        model: Any = self  # the Configuration this is part of
        return groupings_spec(
            self._mixed, self._groupings, types=self._types,
            effects=model._resolved_effects(), sample_size=sample_size, estimator=estimator,
            df_method=df_method, alpha=self._alpha,
            correlations=tuple((a, b, r) for (a, b), r in self._correlations.items() if r),
            **model._outcome(), **model._robust_fields())
