"""Design grids: ordered axes of parameter values, each point a validated spec.

A :class:`Grid` takes a base :class:`~mcpower_sweep.design.spec.SimulationSpec` and axes
``{parameter: values}``.  Every design point is ``base.with_params(...)`` of that
point's values, so a sweep point and a ``find_power`` call with the same parameters
and seed run exactly the same simulations.

Axis names are the parameters of :mod:`mcpower_sweep.params` that are axes
(``n_clusters``, ``sample_size``, ``icc``, ...) plus ``effect_<term>`` for the size of a
fixed effect (``effect_treatment``, ``effect_x:z``); their rules and words come from
there.  Input is checked once, here; everything downstream trusts it.

>>> grid = Grid(spec, {"n_clusters": [10, 20], "slope_variance": [0.0, 0.1]})  # doctest: +SKIP
>>> grid.shape  # doctest: +SKIP
(2, 2)
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..design.groupings_axes import grouping_axes
from ..design.spec import SimulationSpec
from ..params import AXES, EFFECT_PREFIX, param

# Beyond this a sweep would exhaust memory or time long before it finished.
MAX_GRID_POINTS = 1_000_000


def allowed_axes(spec: SimulationSpec) -> tuple[str, ...]:
    """Axis names a grid over ``spec`` may use: the parameters that are axes, and
    ``effect_<term>`` for each tested term.

    >>> allowed_axes(spec)  # doctest: +SKIP
    ('sample_size', 'n_clusters', ..., 'effect_treatment')
    """
    return (*AXES, *(EFFECT_PREFIX + t for t in spec.term_names[1:]),
            *grouping_axes(spec.groupings))


def axis_attrs(name: str) -> dict[str, str]:
    """CF attributes (``long_name``, ``units``) of an axis, for its xarray coordinate.

    >>> axis_attrs("n_clusters")
    {'long_name': 'number of clusters', 'units': 'clusters'}
    """
    return param(name).attrs()


def _check_name(name: object, spec: SimulationSpec) -> str:
    allowed = allowed_axes(spec)
    if isinstance(name, str) and name in allowed:
        return name
    by_case = {a.lower(): a for a in allowed}
    close = [by_case[str(name).lower()]] if str(name).lower() in by_case else []
    close = close or difflib.get_close_matches(str(name), allowed, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown grid parameter {name!r}.{hint} Allowed: {', '.join(allowed)}")


def normalise_axis(name: str, values: object) -> tuple[int | float | str, ...]:
    """An axis' values as plain Python scalars of the parameter's type, or ``ValueError``
    naming the axis, the value and what is allowed (empty, repeated or out-of-range values
    included).

    >>> normalise_axis("n_clusters", [10, 20.0])
    (10, 20)
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise ValueError(
            f"grid axis {name!r}: {values!r} is not a list of values: "
            f"write e.g. {{{name!r}: [value1, value2]}}"
        )
    rule = param(name)
    try:
        out = tuple(rule.check(v) for v in values)
    except ValueError as err:
        raise ValueError(f"grid axis {name!r}: {err}") from None
    if not out:
        raise ValueError(f"grid axis {name!r} is empty: give at least one value")
    seen: set[object] = set()
    for v in out:
        if v in seen:
            raise ValueError(f"grid axis {name!r}: value {v!r} appears more than once")
        seen.add(v)
    return out


def point_params(spec: SimulationSpec, values: Mapping[str, int | float | str]) -> dict[str, Any]:
    """The keyword arguments of :meth:`SimulationSpec.with_params` for one design point.

    ``effect_<term>`` values replace that term's entry of ``effects``; setting
    ``n_clusters`` clears ``cluster_size`` (and vice versa) so that exactly one is set.

    >>> point_params(spec, {"n_clusters": 10, "effect_x": 0.3})  # doctest: +SKIP
    {'n_clusters': 10, 'cluster_size': None, 'effects': (0.0, 0.3)}
    """
    params: dict[str, Any] = {}
    effects = list(spec.effects)
    for name, value in values.items():
        if name.startswith(EFFECT_PREFIX):
            effects[spec.term_names.index(name[len(EFFECT_PREFIX) :])] = float(value)
            params["effects"] = tuple(effects)
        else:
            params[name] = value
    if "n_clusters" in params:
        params["cluster_size"] = None
    elif "cluster_size" in params:
        params["n_clusters"] = None
    return params


@dataclass(frozen=True, init=False)
class Grid:
    """A design grid: a base spec and ordered axes ``{parameter: values}``.

    Parameters
    ----------
    base
        The spec every point starts from (the model as configured).
    axes
        Axis name -> values, in the order the dimensions should have.  Names are
        spec parameters (``n_clusters``, ``cluster_size``, ``sample_size``, ``icc``,
        ``slope_variance``, ``slope_intercept_corr``, ``alpha``, ``df_method``,
        ``estimator``) or ``effect_<term>``.

    Raises
    ------
    ValueError
        For an unknown name (with the closest allowed name), an empty axis, a
        repeated value, a value of the wrong type, ``n_clusters`` together with
        ``cluster_size``, or a design point the spec rejects (naming the point).

    Examples
    --------
    >>> grid = Grid(spec, {"n_clusters": [10, 20], "sample_size": [200, 400]})  # doctest: +SKIP
    >>> [idx for idx, _ in grid.points()]  # doctest: +SKIP
    [(0, 0), (0, 1), (1, 0), (1, 1)]
    """

    base: SimulationSpec
    axes: tuple[tuple[str, tuple[int | float | str, ...]], ...]
    _total_n: np.ndarray = field(init=False, repr=False, compare=False)

    def __init__(self, base: SimulationSpec, axes: Mapping[str, Sequence[Any]]) -> None:
        if not isinstance(axes, Mapping):
            raise ValueError(
                f"grid must be a mapping {{parameter: values}}, got {type(axes).__name__}"
            )
        checked = tuple(
            (_check_name(name, base), normalise_axis(str(name), values))
            for name, values in axes.items()
        )
        if {"n_clusters", "cluster_size"} <= {name for name, _ in checked}:
            raise ValueError(
                "grid axes 'n_clusters' and 'cluster_size' cannot both be swept: "
                "a design sets one of them"
            )
        n_points = math.prod(len(values) for _, values in checked)
        if n_points > MAX_GRID_POINTS:
            sizes = " x ".join(f"{len(values)} {name}" for name, values in checked)
            raise ValueError(
                f"the grid ({sizes}) has {n_points:,} design points: at most "
                f"{MAX_GRID_POINTS:,}; split it into several sweeps"
            )
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "axes", checked)
        total_n = np.empty(self.shape, dtype=np.int64)
        for index, spec in self.points():  # validate every point before any work starts
            total_n[index] = spec.total_n
        object.__setattr__(self, "_total_n", total_n)

    @property
    def total_n(self) -> np.ndarray:
        """Observations of every point, over the axes (a point's cost, without its spec).

        >>> grid.total_n.max()  # doctest: +SKIP
        5000
        """
        return self._total_n

    # ------------------------------------------------------------------ shape
    @property
    def names(self) -> tuple[str, ...]:
        """Axis names, in dimension order."""
        return tuple(name for name, _ in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(values) for _, values in self.axes)

    @property
    def size(self) -> int:
        """Number of design points."""
        return math.prod(self.shape)

    def as_dict(self) -> dict[str, list[int | float | str]]:
        """Axes as plain lists (JSON-friendly, for provenance)."""
        return {name: list(values) for name, values in self.axes}

    # ----------------------------------------------------------------- points
    def values_at(self, index: tuple[int, ...]) -> dict[str, int | float | str]:
        """Parameter values of the point at ``index``."""
        return {name: values[i] for (name, values), i in zip(self.axes, index, strict=True)}

    def spec_at(self, index: tuple[int, ...]) -> SimulationSpec:
        """The validated spec of the point at ``index``."""
        values = self.values_at(index)
        try:
            return self.base.with_params(**point_params(self.base, values))
        except ValueError as err:
            where = ", ".join(f"{k}={v!r}" for k, v in values.items())
            raise ValueError(f"design point {where}: {err}") from None

    def points(self) -> Iterator[tuple[tuple[int, ...], SimulationSpec]]:
        """Design points in C order as ``(index tuple, spec)``."""
        for index in itertools.product(*(range(n) for n in self.shape)):
            yield index, self.spec_at(index)

    def grid_coords(self) -> dict[str, tuple[str, np.ndarray, dict[str, str]]]:
        """Coordinates for :class:`xarray.Dataset`: ``{name: (name, values, attrs)}``.

        >>> xr.Dataset(coords=grid.grid_coords())  # doctest: +SKIP
        """
        coords = {}
        for name, values in self.axes:
            kind = param(name).kind
            dtype: Any = np.int64 if kind == "int" else np.float64 if kind == "float" else object
            coords[name] = (name, np.asarray(values, dtype=dtype), axis_attrs(name))
        return coords
