"""The ``sweep:`` block: axes named as in :data:`~mcpower_sweep.params.AXES`, values or ranges.

Each axis is a list of values or an inclusive range ``{from:, to:, by:}``; every value is
checked by its parameter's rule, values on an axis must be distinct, and the whole grid may
not exceed :data:`~mcpower_sweep.params.MAX_GRID_POINTS`.  Whether a value fits the
model (e.g. enough observations per cluster) is checked later, on the built model.

Examples
--------
>>> from mcpower_sweep.scenario.checks import Source
>>> check_sweep(Source("s.yaml"), "sweep", {"icc": [0.1, 0.2], "sample_size": {
...     "from": 300, "to": 900, "by": 300}})
{'icc': [0.1, 0.2], 'sample_size': [300, 600, 900]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..params import AXES, EFFECT_PREFIX, MAX_GRID_POINTS, Param, param
from .checks import Source, mapping, rule, suggest

# More values than this on one axis is a typo in a range, not a design.
MAX_AXIS_VALUES = 10_000
_BOUND = Param("bound", "float", "an end of a range")
_STEP = Param("by", "float", "the step of a range", low=0.0, low_open=True)
_RANGE = mapping({"from": (True, rule(_BOUND)), "to": (True, rule(_BOUND)),
                  "by": (True, rule(_STEP))})


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


def _axis_param(name: str) -> Param | None:
    """The parameter a sweep axis varies (``effect_<term>`` included), or None."""
    try:
        p = param(name)
    except KeyError:
        return None
    return p if p.axis else None


def _check_range(src: Source, path: str, spec: Mapping[str, Any]) -> list[Any]:
    r = _RANGE(src, path, spec)
    if r["to"] < r["from"]:
        raise src.fail(f"{path}.to", spec["to"], f"must be >= from ({spec['from']})")
    n = (r["to"] - r["from"]) / r["by"] + 1
    if n > MAX_AXIS_VALUES:
        raise src.fail(path, dict(spec), f"gives {int(n)} values; at most {MAX_AXIS_VALUES} "
                       "per axis")
    return expand_range(spec["from"], spec["to"], spec["by"])


def check_sweep(src: Source, path: str, value: Any) -> dict[str, list[Any]]:
    """The ``sweep:`` mapping as ``{axis: [values...]}`` in file order, ranges expanded."""
    if not isinstance(value, Mapping) or not value:
        raise src.fail(path, value, "must be a non-empty mapping of axis -> values")
    grid: dict[str, list[Any]] = {}
    for axis, spec in value.items():
        sub = f"{path}.{axis}"
        p = _axis_param(str(axis))
        if p is None:
            hint = suggest(str(axis), list(AXES))
            raise src.fail(sub, axis, f"unknown sweep axis{hint} (axes: {', '.join(AXES)} "
                           f"or {EFFECT_PREFIX}<term>)")
        if isinstance(spec, Mapping):
            spec = _check_range(src, sub, spec)
        if not isinstance(spec, list) or not spec:
            raise src.fail(sub, spec, "must be a non-empty list of values or {from:, to:, by:}")
        check = rule(p)
        values = [check(src, f"{sub}[{i}]", v) for i, v in enumerate(spec)]
        seen: set[Any] = set()
        for i, v in enumerate(values):
            if v in seen:
                raise src.fail(f"{sub}[{i}]", v, "duplicate value on this axis")
            seen.add(v)
        grid[str(axis)] = values
    n_points = math.prod(len(v) for v in grid.values())
    if n_points > MAX_GRID_POINTS:
        sizes = " x ".join(f"{len(v)} {a}" for a, v in grid.items())
        raise src.fail(path, sizes, f"the grid has {n_points:,} design points; at most "
                       f"{MAX_GRID_POINTS:,}: split it into several scenarios")
    if "n_clusters" in grid and "cluster_size" in grid:
        raise src.fail(path, list(grid), "sweep either n_clusters or cluster_size, not both")
    return grid
