"""Scenario files: a declarative sweep (model, run options, axes) in YAML.

A scenario names everything a sweep needs::

    model:
      formula: "score ~ treatment + (1 + treatment|cluster)"
      effects: {treatment: 0.15}
      cluster:
        grouping: cluster
        ICC: 0.15
        n_clusters: 30
        random_slopes: [treatment]
        slope_variance: 0.1
    simulations: 800
    seed: 42
    sweep:
      slope_variance: [0, 0.05, 0.1]
      sample_size: {from: 300, to: 1500, by: 300}

:func:`load_scenario` checks the file against the schema below (unknown keys, types,
ranges), then builds an :class:`~mcpower_sweep.model.MCPower` through its setters, so
a scenario is validated by exactly the code that validates the Python API.  Every error
is a :class:`ScenarioError` naming the file, the key path and the offending value.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..design.spec import DF_METHODS, ESTIMATORS

# Axes a sweep may vary besides ``effect_<term>``; the type says how values are checked.
AXIS_TYPES: dict[str, str] = {
    "n_clusters": "int",
    "cluster_size": "int",
    "sample_size": "int",
    "icc": "float",
    "slope_variance": "float",
    "slope_intercept_corr": "float",
    "alpha": "float",
    "df_method": "choice",
    "estimator": "choice",
}
AXIS_CHOICES: dict[str, tuple[str, ...]] = {"df_method": DF_METHODS, "estimator": ESTIMATORS}
EFFECT_AXIS_PREFIX = "effect_"

# Largest grid whose every point is checked while loading (beyond it only each axis is).
_FULL_CHECK_LIMIT = 20_000
# Beyond these a run would exhaust memory or time long before it finished: fail at once.
MAX_GRID_POINTS = 1_000_000
MAX_SAMPLE_SIZE = 10_000_000
MAX_SIMULATIONS = 100_000_000


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message names file, key path and value."""


@dataclass(frozen=True)
class RunOptions:
    """How the sweep is run and judged (the scenario's top-level keys besides the model)."""

    simulations: int
    seed: int | None
    alpha: float
    target_power: float
    max_failed: float
    estimator: str
    df_method: str
    sample_size: int | None
    chunk_size: int | None = None


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario.

    Attributes
    ----------
    path
        The file it was read from (``"<string>"`` for text).
    name, description
        Free text for humans (``name`` defaults to the file stem).
    model
        The configured :class:`~mcpower_sweep.model.MCPower`.
    grid
        The sweep axes, ``{axis: [values...]}`` in file order, ranges expanded.
    options
        Run options (simulations, seed, alpha, target power, ...).
    text
        The original YAML text (recorded in the store's provenance).
    """

    path: str
    name: str
    description: str
    model: Any
    grid: dict[str, list[Any]]
    options: RunOptions
    text: str = field(repr=False)

    @property
    def stem(self) -> str:
        """The file name without extension (the default store is ``results/<stem>.zarr``)."""
        return Path(self.path).stem if self.path != "<string>" else self.name

    def sweep_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`mcpower_sweep.sweep` that the scenario fixes."""
        return {
            "simulations": self.options.simulations,
            "seed": self.options.seed,
            "chunk_size": self.options.chunk_size,
            "scenario_text": self.text,
            "target_power": self.options.target_power,
        }

    def design_grid(self) -> Any:
        """The :class:`~mcpower_sweep.grid.Grid` to sweep: the base spec (with the
        scenario's estimator and df method) and the axes."""
        from ..sweeps.grid import Grid

        return Grid(self.base_spec(), self.grid)

    def base_spec(self) -> Any:
        """The spec at the base sample size (or the first swept one)."""
        n = self.options.sample_size or self.grid["sample_size"][0]
        return self.model.to_spec(
            int(n), estimator=self.options.estimator, df_method=self.options.df_method
        )


# ------------------------------------------------------------------------ schema
#
# A schema node is either a type checker (a function of (checker, path, value)) or a
# dict of key -> (required, node).  Checkers raise through ``_Checker.fail`` so every
# message has the same shape.


class _Checker:
    """Carries the file name so every message can name it."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, value: Any, problem: str) -> ScenarioError:
        where = f"{self.source}: {path}" if path else self.source
        return ScenarioError(f"{where}: {problem} (got {_show(value)})")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(
        value
    )


Check = Callable[[_Checker, str, Any], Any]


def _int(low: int | None = None, high: int | None = None) -> Check:
    def check(c: _Checker, path: str, value: Any) -> int:
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)
        if not _is_int(value):
            raise c.fail(path, value, "must be an integer")
        if low is not None and value < low:
            raise c.fail(path, value, f"must be >= {low}")
        if high is not None and value > high:
            raise c.fail(path, value, f"must be <= {high}")
        return value

    return check


def _float(low: float | None = None, high: float | None = None, *, open_low: bool = False,
           open_high: bool = False) -> Check:
    lo_br = "(" if open_low else "["
    hi_br = ")" if open_high else "]"
    lo_text = "-inf" if low is None else f"{low:g}"
    hi_text = "inf" if high is None else f"{high:g}"
    interval = f"{lo_br}{lo_text}, {hi_text}{hi_br}"

    def check(c: _Checker, path: str, value: Any) -> float:
        if not _is_number(value):
            raise c.fail(path, value, "must be a finite number")
        v = float(value)
        below = low is not None and (v <= low if open_low else v < low)
        above = high is not None and (v >= high if open_high else v > high)
        if below or above:
            raise c.fail(path, value, f"must be in {interval}")
        return v

    return check


def _str(choices: tuple[str, ...] | None = None) -> Check:
    def check(c: _Checker, path: str, value: Any) -> str:
        if not isinstance(value, str):
            raise c.fail(path, value, "must be a string")
        if choices is not None and value not in choices:
            hint = _suggest(value, choices)
            raise c.fail(path, value, f"must be one of {', '.join(choices)}{hint}")
        return value

    return check


def _optional(check: Check) -> Check:
    def wrapped(c: _Checker, path: str, value: Any) -> Any:
        return None if value is None else check(c, path, value)

    return wrapped


def _name_list(c: _Checker, path: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise c.fail(path, value, "must be a list of variable names")
    return list(value)


def _assignments(kind: str, check_value: Check) -> Check:
    """A mapping ``{name: value}`` or the API's string form ``"a=0.5, b=0.3"``."""

    def check(c: _Checker, path: str, value: Any) -> dict[str, Any]:
        if isinstance(value, str):
            pairs: dict[str, Any] = {}
            for part in value.split(","):
                name, eq, text = part.partition("=")
                if not eq or not name.strip():
                    raise c.fail(path, value, f"must be a mapping of {kind} or 'name=value, ...'")
                raw: Any = text.strip()
                if check_value is not _variable_type:
                    raw = yaml.safe_load(raw) if raw else raw
                pairs[name.strip()] = raw
            value = pairs
        if not isinstance(value, Mapping) or not value:
            raise c.fail(path, value, f"must be a non-empty mapping of {kind}")
        out = {}
        for name, v in value.items():
            if not isinstance(name, str):
                raise c.fail(path, name, "names must be strings")
            out[name] = check_value(c, f"{path}.{name}", v)
        return out

    return check


def _variable_type(c: _Checker, path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise c.fail(path, value, "must be 'normal', 'binary' or 'binary(p)'")
    text = value.strip().replace(" ", "")
    if text in ("normal", "binary"):
        return text
    if text.startswith("binary(") and text.endswith(")"):
        p = text[len("binary("):-1]
        try:
            prob = float(p)
        except ValueError:
            raise c.fail(path, value, "binary(p) needs a number p with 0 < p < 1") from None
        if not 0.0 < prob < 1.0:
            raise c.fail(path, value, "binary(p) needs 0 < p < 1")
        return text
    hint = _suggest(text, ("normal", "binary"))
    raise c.fail(path, value, f"must be 'normal', 'binary' or 'binary(p)'{hint}")


_CLUSTER_SCHEMA: dict[str, tuple[bool, Any]] = {
    "grouping": (True, _str()),
    "ICC": (False, _float(0.0, 1.0, open_high=True)),
    "n_clusters": (False, _int(2)),
    "cluster_size": (False, _int(1)),
    "random_slopes": (False, _name_list),
    "slope_variance": (False, _float(0.0)),
    "slope_intercept_corr": (False, _float(-1.0, 1.0)),
}

_MODEL_SCHEMA: dict[str, tuple[bool, Any]] = {
    "formula": (True, _str()),
    "effects": (False, _assignments("effect sizes", _float())),
    "variable_types": (False, _assignments("variable types", _variable_type)),
    "cluster": (False, _CLUSTER_SCHEMA),
}

_TOP_SCHEMA: dict[str, tuple[bool, Any]] = {
    "name": (False, _str()),
    "description": (False, _str()),
    "model": (True, _MODEL_SCHEMA),
    "simulations": (False, _int(1, MAX_SIMULATIONS)),
    "seed": (False, _optional(_int(0, 2**64 - 1))),
    "alpha": (False, _float(0.0, 1.0, open_low=True, open_high=True)),
    "target_power": (False, _float(0.0, 1.0, open_low=True, open_high=True)),
    "max_failed": (False, _float(0.0, 1.0)),
    "estimator": (False, _str(ESTIMATORS)),
    "df_method": (False, _str(DF_METHODS)),
    "sample_size": (False, _int(1, MAX_SAMPLE_SIZE)),
    "chunk_size": (False, _optional(_int(1))),
    "sweep": (False, "sweep"),
}

_DEFAULTS: dict[str, Any] = {
    "simulations": 1000,
    "seed": None,
    "alpha": 0.05,
    "target_power": 0.80,
    "max_failed": 0.03,
    "estimator": "reml",
    "df_method": "satterthwaite",
    "sample_size": None,
    "chunk_size": None,
}


def _suggest(word: str, valid: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.5)
    if not close:
        lowered = {v.lower(): v for v in valid}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_mapping(
    c: _Checker, path: str, value: Any, schema: Mapping[str, tuple[bool, Any]]
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise c.fail(path, value, "must be a mapping of keys to values")
    out: dict[str, Any] = {}
    for key, v in value.items():
        sub = f"{path}.{key}" if path else str(key)
        if key not in schema:
            hint = _suggest(str(key), list(schema))
            raise c.fail(
                sub, key, f"unknown key{hint} (valid keys here: {', '.join(schema)})"
            )
        node = schema[key][1]
        if node == "sweep":
            out[key] = _check_sweep(c, sub, v)
        elif isinstance(node, dict):
            out[key] = _check_mapping(c, sub, v, node)
        else:
            out[key] = node(c, sub, v)
    for key, (required, _) in schema.items():
        if required and key not in value:
            raise c.fail(f"{path}.{key}" if path else key, None, "this key is required")
    return out


# ------------------------------------------------------------------------- sweep


def expand_range(start: float, stop: float, step: float) -> list[float]:
    """Values ``start, start + step, ...`` up to and including ``stop`` (float-safe).

    Examples
    --------
    >>> expand_range(300, 900, 300)
    [300, 600, 900]
    >>> expand_range(0.1, 0.3, 0.1)
    [0.1, 0.2, 0.3]
    """
    n = int(math.floor((stop - start) / step + 1e-9)) + 1
    integral = all(float(x).is_integer() for x in (start, step))
    values = [start + i * step for i in range(n)]
    if integral:
        return [int(round(v)) for v in values]
    digits = max(_decimals(start), _decimals(step))
    return [round(v, digits) for v in values]


def _decimals(x: float) -> int:
    text = f"{x:.12g}"
    return len(text.split(".")[1]) if "." in text and "e" not in text else 12


def _axis_check(axis: str) -> Check | None:
    if axis.startswith(EFFECT_AXIS_PREFIX) and len(axis) > len(EFFECT_AXIS_PREFIX):
        return _float()
    kind = AXIS_TYPES.get(axis)
    if kind == "int":
        return _int(1, MAX_SAMPLE_SIZE)
    if kind == "float":
        return _float()
    if kind == "choice":
        return _str(AXIS_CHOICES[axis])
    return None


def _check_sweep(c: _Checker, path: str, value: Any) -> dict[str, list[Any]]:
    if not isinstance(value, Mapping) or not value:
        raise c.fail(path, value, "must be a non-empty mapping of axis -> values")
    grid: dict[str, list[Any]] = {}
    for axis, spec in value.items():
        sub = f"{path}.{axis}"
        check = _axis_check(str(axis))
        if check is None:
            hint = _suggest(str(axis), list(AXIS_TYPES))
            raise c.fail(
                sub, axis,
                f"unknown sweep axis{hint} (axes: {', '.join(AXIS_TYPES)} or effect_<term>)",
            )
        if isinstance(spec, Mapping):
            spec = _check_range(c, sub, spec)
        if not isinstance(spec, list) or not spec:
            raise c.fail(sub, spec, "must be a non-empty list of values or {from:, to:, by:}")
        values = [check(c, f"{sub}[{i}]", v) for i, v in enumerate(spec)]
        seen: set[Any] = set()
        for i, v in enumerate(values):
            if v in seen:
                raise c.fail(f"{sub}[{i}]", v, "duplicate value on this axis")
            seen.add(v)
        grid[str(axis)] = values
    n_points = math.prod(len(v) for v in grid.values())
    if n_points > MAX_GRID_POINTS:
        sizes = " x ".join(f"{len(v)} {a}" for a, v in grid.items())
        raise c.fail(path, sizes, f"the grid has {n_points:,} design points; at most "
                     f"{MAX_GRID_POINTS:,}: split it into several scenarios")
    if "n_clusters" in grid and "cluster_size" in grid:
        raise c.fail(path, list(grid), "sweep either n_clusters or cluster_size, not both")
    return grid


def _check_range(c: _Checker, path: str, spec: Mapping[str, Any]) -> list[Any]:
    schema = {"from": (True, _float()), "to": (True, _float()), "by": (True, _float())}
    r = _check_mapping(c, path, spec, schema)
    if r["by"] <= 0:
        raise c.fail(f"{path}.by", spec["by"], "must be > 0")
    if r["to"] < r["from"]:
        raise c.fail(f"{path}.to", spec["to"], f"must be >= from ({spec['from']})")
    n = (r["to"] - r["from"]) / r["by"] + 1
    if n > 10_000:
        raise c.fail(path, dict(spec), f"gives {int(n)} values; at most 10000 per axis")
    return expand_range(spec["from"], spec["to"], spec["by"])


# ------------------------------------------------------------------ model build

_CLUSTER_KEYS = ("ICC", "n_clusters", "cluster_size", "random_slopes", "slope_variance",
                 "slope_intercept_corr")


def _key_in_message(message: str, keys: tuple[str, ...], default: str) -> str:
    """The key a setter's message is about: the first of ``keys`` it mentions."""
    hits = [(message.find(k), k) for k in keys if k in message]
    return min(hits)[1] if hits else default


def _one_line(err: Exception) -> str:
    """An error's message on one line (a formula error's caret becomes a column)."""
    reason, position = getattr(err, "reason", None), getattr(err, "position", None)
    if reason is not None:
        return reason + (f" (at column {position + 1})" if position is not None else "")
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip(" ^"))


def _setter_error(c: _Checker, path: str, value: Any, err: Exception) -> ScenarioError:
    where = f"{c.source}: {path}"
    return ScenarioError(f"{where}: {_one_line(err)} (got {_show(value)})")


def _build_model(c: _Checker, model_cfg: dict[str, Any], opts: dict[str, Any]) -> Any:
    from ..api.model import MCPower  # imported here: loading the schema needs no engine

    formula = model_cfg["formula"]
    try:
        model = MCPower(formula)
    except ValueError as err:
        raise _setter_error(c, "model.formula", formula, err) from err

    def call(path: str, value: Any, setter: Callable[[], Any]) -> None:
        try:
            setter()
        except (ValueError, TypeError) as err:
            raise _setter_error(c, path, value, err) from err

    call("simulations", opts["simulations"], lambda: model.set_simulations(opts["simulations"]))
    if opts["seed"] is not None:
        call("seed", opts["seed"], lambda: model.set_seed(opts["seed"]))
    call("alpha", opts["alpha"], lambda: model.set_alpha(opts["alpha"]))
    call("target_power", opts["target_power"], lambda: model.set_power(opts["target_power"]))
    call("max_failed", opts["max_failed"],
         lambda: model.set_max_failed_simulations(opts["max_failed"]))

    cluster = model_cfg.get("cluster")
    if cluster is not None:
        kwargs = {k: cluster[k] for k in _CLUSTER_KEYS if k in cluster}
        try:
            model.set_cluster(cluster["grouping"], **kwargs)
        except (ValueError, TypeError) as err:
            key = _key_in_message(str(err), _CLUSTER_KEYS, "grouping")
            value = cluster.get(key, cluster["grouping"])
            raise _setter_error(c, f"model.cluster.{key}", value, err) from err

    types = model_cfg.get("variable_types")
    if types:
        text = ", ".join(f"{k}={v}" for k, v in types.items())
        call("model.variable_types", dict(types), lambda: model.set_variable_type(text))
    effects = model_cfg.get("effects")
    if effects:
        text = ", ".join(f"{k}={v!r}" for k, v in effects.items())
        call("model.effects", dict(effects), lambda: model.set_effects(text))
    return model


def _check_grid_points(c: _Checker, base: Any, grid: dict[str, list[Any]]) -> None:
    """Build the spec of each axis value (naming it), then of every point of the grid."""
    from ..sweeps.grid import Grid, point_params

    for axis, values in grid.items():
        if axis.startswith(EFFECT_AXIS_PREFIX):
            term = axis[len(EFFECT_AXIS_PREFIX):]
            if term not in base.tests:
                hint = _suggest(term, list(base.tests))
                raise c.fail(
                    f"sweep.{axis}", axis,
                    f"no fixed effect {term!r} in the formula{hint} "
                    f"(effects: {', '.join(base.tests)})",
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
                raise _setter_error(c, f"sweep.{axis}[{i}]", v, err) from err
    if math.prod(len(v) for v in grid.values()) > _FULL_CHECK_LIMIT:
        return  # the sweep checks every point before it starts
    try:
        Grid(base, grid)
    except ValueError as err:
        raise ScenarioError(f"{c.source}: sweep: {_one_line(err)}") from err


# --------------------------------------------------------------------- loading


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Validate scenario YAML text and build its model.

    Parameters
    ----------
    text
        The YAML document.
    source
        The file name used in error messages.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        For unreadable YAML, unknown keys, wrong types and out-of-range values; the
        message names ``source``, the key path and the value.

    Examples
    --------
    >>> s = parse_scenario('''
    ... model:
    ...   formula: "y ~ x + (1|g)"
    ...   effects: {x: 0.3}
    ...   cluster: {grouping: g, ICC: 0.1, n_clusters: 20}
    ... simulations: 200
    ... sweep: {sample_size: [200, 400]}
    ... ''')  # doctest: +SKIP
    >>> s.grid  # doctest: +SKIP
    {'sample_size': [200, 400]}
    """
    c = _Checker(source)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ScenarioError(f"{source}: not valid YAML{where}: {problem}") from err
    if raw is None:
        raise ScenarioError(f"{source}: the file is empty; a scenario needs at least 'model:'")
    cfg = _check_mapping(c, "", raw, _TOP_SCHEMA)
    opts = {k: cfg.get(k, d) for k, d in _DEFAULTS.items()}
    grid: dict[str, list[Any]] = cfg.get("sweep", {})
    if opts["sample_size"] is None and "sample_size" not in grid:
        raise c.fail("sample_size", None,
                     "set a base sample_size or sweep it (sweep.sample_size)")
    if not grid:
        grid = {"sample_size": [opts["sample_size"]]}  # a single design point
    options = RunOptions(**opts)
    model = _build_model(c, cfg["model"], opts)
    scenario = Scenario(
        path=source,
        name=cfg.get("name") or (Path(source).stem if source != "<string>" else "scenario"),
        description=cfg.get("description", ""),
        model=model,
        grid=grid,
        options=options,
        text=text,
    )
    try:
        base = scenario.base_spec()
    except ValueError as err:
        key = _key_in_message(
            str(err),
            ("sample_size", "n_clusters", "cluster_size", "ICC", "slope_variance",
             "slope_intercept_corr", "estimator", "df_method", "alpha", "effects"),
            "model",
        )
        path = {"ICC": "model.cluster.ICC", "n_clusters": "model.cluster.n_clusters",
                "cluster_size": "model.cluster.cluster_size",
                "slope_variance": "model.cluster.slope_variance",
                "slope_intercept_corr": "model.cluster.slope_intercept_corr",
                "effects": "model.effects"}.get(key, key)
        value = opts.get(key, (cfg["model"].get("cluster") or {}).get(key))
        raise _setter_error(c, path, value, err) from err
    _check_grid_points(c, base, grid)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and build the scenario in the YAML file ``path``.

    Examples
    --------
    >>> s = load_scenario("scenarios/random-slopes-docs.yaml")  # doctest: +SKIP
    >>> sorted(s.grid)  # doctest: +SKIP
    ['n_clusters', 'sample_size', 'slope_variance']
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{p}: cannot read the scenario: {err}") from err
    return parse_scenario(text, str(p))
