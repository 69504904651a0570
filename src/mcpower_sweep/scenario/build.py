"""Building a scenario's model through the API's own setters, and checking its grid.

The model is an :class:`~mcpower_sweep.api.model.MCPower` configured by the same setters a
script calls, so a scenario is validated by exactly the code that validates the Python API.
A setter's error is reported at the key path it is about.  Then every axis value, and every
point of a grid that is not too large, is built as a simulation spec.

Examples
--------
>>> from mcpower_sweep.scenario.checks import Source
>>> model = build_model(Source("s.yaml"), {"model": {
...     "formula": "y ~ x + (1|g)", "effects": {"x": 0.3},
...     "cluster": {"grouping": "g", "icc": 0.1, "n_clusters": 20}}, "simulations": 200})
>>> model.simulations, model.effects
(200, {'x': 0.3})
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ..design.analysis import with_analysis
from ..params import EFFECT_PREFIX, grouping_axis
from .checks import Source, suggest
from .schema import GROUPING_ALIASES

# Scenario keys set through a setter of the same meaning (the tutorial's method names).
_ROBUST_SETTERS = {"residual_dist": "set_residual_distribution",
                   "random_effect_dist": "set_random_effect_distribution",
                   "heteroskedasticity": "set_heteroskedasticity",
                   "heteroskedasticity_driver": "set_heteroskedasticity_driver",
                   "scenario_configs": "set_scenario_configs"}
_SETTERS = {"simulations": "set_simulations", "seed": "set_seed", "alpha": "set_alpha",
            "target_power": "set_power", "max_failed": "set_max_failed_simulations"}
# set_cluster's keyword for each canonical cluster key (the tutorial writes ICC).
_CLUSTER_ARGS = {"icc": "ICC", "n_clusters": "n_clusters", "cluster_size": "cluster_size",
                 "random_slopes": "random_slopes", "slope_variance": "slope_variance",
                 "slope_intercept_corr": "slope_intercept_corr",
                 "cluster_level_vars": "cluster_level_vars", "cluster_sizes": "cluster_sizes",
                 "cluster_size_cv": "cluster_size_cv", "tau_squared": "tau_squared",
                 "n_per_parent": "n_per_parent", "latin_square": "latin_square"}
# Words a spec's error may be about -> the scenario key (cluster keys under model.cluster).
_SPEC_KEYS = ("sample_size", "n_per_parent", "n_clusters", "cluster_sizes", "cluster_size_cv",
              "cluster_size",
              "ICC", "icc", "tau_squared", "slope_variance", "slope_intercept_corr",
              "cluster_level_vars", "baseline_probability", "baseline_rate", "estimator",
              "df_method", "alpha", "effects", "correlations", "heteroskedasticity_driver",
              "latin_square")
# Largest grid whose every point is checked while loading (beyond it only each axis value
# is; the sweep checks every point before it starts).
_FULL_CHECK_LIMIT = 20_000


def _key_in_message(message: str, keys: tuple[str, ...], default: str) -> str:
    """The key a setter's message is about: the first of ``keys`` it mentions."""
    # at the same place the longer key wins (cluster_sizes, not cluster_size)
    hits = [(message.find(k), -len(k), k) for k in keys if k in message]
    return min(hits)[2] if hits else default


def _call(src: Source, path: str, value: Any, setter: Callable[[], Any]) -> None:
    try:
        setter()
    except (ValueError, TypeError) as err:
        raise src.error(path, err, value, show_value=True) from err


def _set_cluster(src: Source, model: Any, cluster: Mapping[str, Any], path: str) -> None:
    """One ``set_cluster`` call; an error is reported at the key (under ``path``) it names."""
    written = {GROUPING_ALIASES.get(k, k): k for k in cluster}  # canonical -> as written
    kwargs = {_CLUSTER_ARGS[c]: cluster[k] for c, k in written.items() if c != "grouping"}
    name = cluster[written["grouping"]]
    try:
        model.set_cluster(name, **kwargs)
    except (ValueError, TypeError) as err:
        key, value = _cluster_key(str(err), cluster, name)
        raise src.error(f"{path}.{key}", err, value, show_value=True) from err


def _cluster_key(message: str, cluster: Mapping[str, Any], name: str) -> tuple[str, Any]:
    """The key of a cluster block (as written) a message is about, and its value."""
    written = {GROUPING_ALIASES.get(k, k): k for k in cluster}
    words = (*_CLUSTER_ARGS.values(), *_CLUSTER_ARGS)
    about = _key_in_message(message, words, "grouping")
    canonical = GROUPING_ALIASES.get(about, about)
    key = written.get(canonical, canonical)
    return key, cluster.get(key, name)


def _groupings_path(message: str, groupings: list[Mapping[str, Any]]) -> tuple[str, Any]:
    """Where in ``model.clusters`` a spec's message is about: the entry of the grouping it
    names first (``set_cluster('item', ...)``, ``'item'``) and the key, else the list."""
    names = [g.get("grouping", g.get("name")) for g in groupings]
    if "has not been called" in message:  # a grouping of the formula left out of the list
        return "model.clusters", names
    hits = sorted((message.find(repr(n)), i) for i, n in enumerate(names) if repr(n) in message)
    if not hits:
        return "model.clusters", names
    i = hits[0][1]
    key, value = _cluster_key(message, groupings[i], names[i])
    return f"model.clusters[{i}].{key}", value


def build_model(src: Source, cfg: Mapping[str, Any]) -> Any:
    """The model a checked scenario describes (``cfg`` as returned by the schema)."""
    from ..api.model import MCPower  # imported here: checking the schema needs no engine

    spec = cfg["model"]
    try:
        model = MCPower(spec["formula"], family=spec.get("family", "lme"))
    except ValueError as err:
        key = "family" if str(err).startswith("family=") else "formula"
        raise src.error(f"model.{key}", err, spec.get(key), show_value=True) from err
    for key in ("baseline_probability", "baseline_rate"):  # a GLMM's intercept
        if spec.get(key) is not None:
            _call(src, f"model.{key}", spec[key],
                  lambda k=key: getattr(model, f"set_{k}")(spec[k]))
    for key, setter in _SETTERS.items():
        if cfg.get(key) is not None:
            value = cfg[key]
            _call(src, key, value, lambda s=setter, v=value: getattr(model, s)(v))
    if spec.get("cluster") is not None and spec.get("clusters") is not None:
        raise src.fail("model.clusters", [g.get("grouping", g.get("name"))
                                          for g in spec["clusters"]],
                       "give cluster (one grouping factor) or clusters (one entry per "
                       "grouping factor), not both")
    if spec.get("cluster") is not None:
        _set_cluster(src, model, spec["cluster"], "model.cluster")
    for i, grouping in enumerate(spec.get("clusters") or ()):
        _set_cluster(src, model, grouping, f"model.clusters[{i}]")
    for key, setter in _ROBUST_SETTERS.items():
        if spec.get(key) is not None:
            _call(src, f"model.{key}", spec[key],
                  lambda s=setter, v=spec[key]: getattr(model, s)(v))
    for key, setter in (("variable_types", model.set_variable_type),
                        ("correlations", model.set_correlations),
                        ("effects", model.set_effects)):
        given = spec.get(key)
        if isinstance(given, str):
            _call(src, f"model.{key}", given, lambda s=setter, g=given: s(g))
        elif given:
            for name, value in given.items():  # one at a time, to name the entry at fault
                _call(src, f"model.{key}.{name}", value,
                      lambda s=setter, n=name, v=value: s({n: v}))
    return model


def build_base(src: Source, model: Any, sample_size: int, cfg: Mapping[str, Any]) -> Any:
    """The spec at ``sample_size`` with the scenario's estimator and df method (if given)."""
    given = {k: cfg[k] for k in ("estimator", "df_method") if k in cfg}
    try:
        spec = model.to_spec(int(sample_size), **given)
    except ValueError as err:
        cluster = cfg["model"].get("cluster") or {}
        about = _key_in_message(str(err), _SPEC_KEYS, "model")
        canonical = GROUPING_ALIASES.get(about, about)
        groupings = cfg["model"].get("clusters")
        if groupings and (canonical in _CLUSTER_ARGS or str(err).startswith("set_cluster")):
            path, value = _groupings_path(str(err), groupings)
        elif canonical in _CLUSTER_ARGS:
            written = next((k for k in cluster if GROUPING_ALIASES.get(k, k) == canonical),
                           canonical)
            path, value = f"model.cluster.{written}", cluster.get(written)
        elif canonical in ("effects", "correlations", "baseline_probability", "baseline_rate",
                           "heteroskedasticity_driver"):
            path, value = f"model.{canonical}", cfg["model"].get(canonical)
        else:
            path, value = canonical, cfg.get(canonical)
        raise src.error(path, err, value, show_value=True) from err
    try:
        return with_analysis(spec, cfg.get("test_formula"))
    except ValueError as err:
        raise src.error("test_formula", err, cfg["test_formula"], show_value=True) from err


def check_grid_points(src: Source, base: Any, grid: Mapping[str, list[Any]]) -> None:
    """Build the spec of each axis value (naming it), then of every point of the grid."""
    from ..design.groupings_axes import grouping_axes
    from ..sweeps.grid import Grid, point_params

    for axis, values in grid.items():
        if grouping_axis(axis) is not None and axis not in grouping_axes(base.groupings):
            valid = grouping_axes(base.groupings)
            allowed = (f"this model's per-grouping axes are {', '.join(valid)}" if valid else
                       "per-grouping axes are for formulas with several grouping factors; "
                       "sweep n_clusters, icc, slope_variance instead")
            raise src.fail(f"sweep.{axis}", axis, f"not an axis of this model: {allowed}")
        if axis.startswith(EFFECT_PREFIX):
            term = axis[len(EFFECT_PREFIX):]
            effects = base.term_names[1:]  # fixed effects (a factor's per level)
            if term not in effects:
                hint = suggest(term, list(effects))
                raise src.fail(
                    f"sweep.{axis}", axis,
                    f"no fixed effect {term!r} in the formula{hint} "
                    f"(effects: {', '.join(effects)})",
                )
        # The most lenient values of the other size axes, so that an error here is
        # about this value alone (combinations are checked below).
        lenient = {a: (max(grid[a]) if a == "sample_size" else min(grid[a]))
                   for a in ("sample_size", "n_clusters", "cluster_size")
                   if a in grid and a != axis}
        if axis in ("n_clusters", "cluster_size"):
            lenient.pop("n_clusters", None)
            lenient.pop("cluster_size", None)
        for i, v in enumerate(values):
            try:
                base.with_params(**point_params(base, {**lenient, axis: v}))
            except ValueError as err:
                raise src.error(f"sweep.{axis}[{i}]", err, v, show_value=True) from err
    if math.prod(len(v) for v in grid.values()) > _FULL_CHECK_LIMIT:
        return  # the sweep checks every point before it starts
    try:
        Grid(base, grid)
    except ValueError as err:
        raise src.error("sweep", err) from err
