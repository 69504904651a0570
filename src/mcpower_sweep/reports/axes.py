"""The axes of a results Dataset: listing them, fixing points on them, and naming values.

Every report reads the Dataset that :func:`mcpower_sweep.open_results` returns (dims:
the swept axes plus ``test``; variables ``power``, ``power_lower``, ``power_upper``,
``n_success``, ``n_significant``, ...; provenance in ``attrs``).  This module finds
things in it; nothing is simulated.

Examples
--------
>>> format_value("sample_size", 1050)
'1,050'
>>> format_value("slope_variance", 0.1)
'0.10'
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import xarray as xr

SIZE_AXIS = "sample_size"
_COUNT_AXES = ("sample_size", "n_clusters", "cluster_size")


def axes_of(ds: xr.Dataset) -> list[str]:
    """The swept axes of a results Dataset (its dims except ``test``, in order).

    Examples
    --------
    >>> axes_of(synthetic)  # doctest: +SKIP
    ['n_clusters', 'slope_variance', 'sample_size']
    """
    return [d for d in ds["power"].dims if d != "test"]


def pick_test(ds: xr.Dataset, test: str | None = None) -> str:
    """``test`` if the Dataset has it, else its first tested effect."""
    tests = [str(t) for t in ds["test"].values]
    if test is None:
        return tests[0]
    if test not in tests:
        raise ValueError(f"test={test!r} is not in the results: tests are {', '.join(tests)}")
    return test


def scalar(value: Any) -> Any:
    """A NumPy scalar as the plain Python value (anything else unchanged)."""
    return value.item() if isinstance(value, np.generic) else value


def coord_index(ds: xr.Dataset, axis: str, value: Any) -> int:
    """Position of ``value`` on ``axis``, matching floats up to rounding."""
    if axis not in ds.dims:
        raise ValueError(f"{axis!r} is not an axis of the results: axes are {axes_of(ds)}")
    coords = ds[axis].values
    if coords.dtype.kind in "fiu":
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{axis}={value!r} is not a number") from None
        hits = np.flatnonzero(np.isclose(coords.astype(float), v, rtol=1e-9, atol=1e-12))
    else:
        hits = np.flatnonzero(coords.astype(str) == str(value))
    if hits.size == 0:
        shown = ", ".join(format_value(axis, c) for c in coords)
        raise ValueError(f"{axis}={value!r} is not in the results: {axis} has {shown}")
    return int(hits[0])


def select(ds: xr.Dataset, at: Mapping[str, Any] | None = None) -> xr.Dataset:
    """Fix some axes at values (floats matched up to rounding); the axes are dropped.

    Examples
    --------
    >>> select(ds, {"n_clusters": 30, "slope_variance": 0.1})  # doctest: +SKIP
    """
    if not at:
        return ds
    return ds.isel({axis: coord_index(ds, axis, value) for axis, value in at.items()})


def parse_at(items: Iterable[str], ds: xr.Dataset) -> dict[str, Any]:
    """Parse ``["n_clusters=30", "slope_variance=0.1"]`` into coordinate values.

    Examples
    --------
    >>> parse_at(["n_clusters=30"], ds)  # doctest: +SKIP
    {'n_clusters': 30}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not eq or not key or not text:
            raise ValueError(f"--at {item!r}: write it as axis=value, e.g. n_clusters=30")
        i = coord_index(ds, key, text)
        out[key] = ds[key].values[i].item()
    return out


def default_axes(ds: xr.Dataset) -> tuple[str, str]:
    """Rows and columns for a table when none are asked for: the axis with the most
    values as rows, the next as columns (``test`` when there is only one axis).

    Examples
    --------
    >>> default_axes(ds)  # doctest: +SKIP
    ('sample_size', 'slope_variance')
    """
    axes = sorted(axes_of(ds), key=lambda a: (-ds.sizes[a], a != SIZE_AXIS))
    if not axes:
        raise ValueError("the results have no swept axis to tabulate")
    return (axes[0], axes[1]) if len(axes) > 1 else (axes[0], "test")


def target_of(ds: xr.Dataset, target: float | None = None) -> float:
    """``target``, else the store's ``target_power``, else 0.8."""
    return float(target if target is not None else ds.attrs.get("target_power", 0.8))


def base_params(ds: xr.Dataset) -> dict[str, Any]:
    """The design the sweep started from (the store's ``base_params`` attribute)."""
    base = ds.attrs.get("base_params", "{}")
    return json.loads(base) if isinstance(base, str) else dict(base)


def point_params(ds: xr.Dataset, point: Mapping[str, Any], test: str) -> dict[str, Any]:
    """The model parameters at a design point: the store's base parameters, then the point.

    Returns a dict with ``effect``, ``slope_variance``, ``n_clusters`` (None when the
    number of clusters grows with N), ``alpha``, ``df_method`` and ``random_slope``.
    """
    base = base_params(ds)
    effects = base.get("effects", {})
    out = {
        "effect": float(point.get(f"effect_{test}", effects.get(test, math.nan))),
        "slope_variance": float(point.get("slope_variance", base.get("slope_variance", 0.0))),
        "n_clusters": point.get("n_clusters", base.get("n_clusters")),
        "alpha": float(point.get("alpha", ds.attrs.get("alpha", base.get("alpha", 0.05)))),
        "df_method": str(point.get("df_method",
                                   ds.attrs.get("df_method", base.get("df_method",
                                                                      "satterthwaite")))),
        "random_slope": test in base.get("random_effects", [test]),
    }
    if "cluster_size" in point:
        out["n_clusters"] = None
    if out["n_clusters"] is not None:
        out["n_clusters"] = int(out["n_clusters"])
    return out


def format_value(axis: str, value: Any) -> str:
    """A coordinate as a table label: integers with thousands separators, floats short."""
    value = scalar(value)
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()
                                  and axis in _COUNT_AXES):
        return f"{int(value):,}" if axis == SIZE_AXIS else str(int(value))
    if isinstance(value, float):
        return f"{value:.2f}" if 0 < abs(value) < 10 and round(value, 2) == value else f"{value:g}"
    return str(value)


def label_of(ds: xr.Dataset, name: str) -> str:
    """An axis label from a variable's or coordinate's CF attributes: ``long_name [units]``.

    Falls back to ``description``, then to the name; units that say nothing (``""``,
    ``"1"``) are left out.

    Examples
    --------
    >>> ds = xr.Dataset(coords={"n_clusters": ("n_clusters", [10, 20],
    ...                         {"long_name": "number of clusters", "units": "clusters"})})
    >>> label_of(ds, "n_clusters")
    'number of clusters [clusters]'
    >>> label_of(ds.assign_coords(n_clusters=[10, 20]), "n_clusters")
    'n_clusters'
    """
    attrs = ds[name].attrs if name in ds.variables else {}
    text = str(attrs.get("long_name") or attrs.get("description") or name)
    units = str(attrs.get("units") or "")
    return f"{text} [{units}]" if units not in ("", "1") else text
