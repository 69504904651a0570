"""Tables and plots of a sweep of searches: the required N (or the minimum detectable
effect), with its 95% interval, per point.

A store written by :func:`mcpower_sweep.search.sweep.search_sweep` (``mcpower-sweep run`` on
a scenario with ``search:``) holds ``required_n``, ``required_n_lower``, ``required_n_upper``
(observations), ``status`` and ``n_simulations`` over the scenario's axes; one written by
:func:`~mcpower_sweep.search.sweep.effect_sweep` (``search: {effect: ...}``) holds ``mde``,
``mde_lower``, ``mde_upper`` (outcome SD) instead, and the same code shows either.  Every
cell reads ``"407 [388–427]"`` (``"0.31 [0.28–0.34]"``), ``"below range"`` (the target is
met at the smallest size searched), ``"not reached"`` (not met at the largest) or
``"undecided"`` (the budget ran out first).

Examples
--------
>>> import numpy as np, xarray as xr
>>> ds = xr.Dataset({"required_n": ("icc", [407.2, np.nan]),
...                  "required_n_lower": ("icc", [388.0, np.nan]),
...                  "required_n_upper": ("icc", [427.4, np.nan]),
...                  "status": ("icc", ["reached", "not reached"]),
...                  "n_simulations": ("icc", [3000, 8000])}, coords={"icc": [0.05, 0.2]},
...                 attrs={"search_unit": "observations", "search_test": "x",
...                        "target_power": 0.8})
>>> print(search_table(ds))  # doctest: +NORMALIZE_WHITESPACE
### Required sample size for 80% power, x (N in observations, 95% interval)
<BLANKLINE>
| icc | required N | simulations |
|:--|--:|--:|
| 0.05 | 407 [388–427] | 3,000 |
| 0.20 | not reached | 8,000 |
<BLANKLINE>
Simulations used: 11,000 over 2 searches.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .axes import format_value, label_of, select
from .render import format_n, markdown
from .status import is_search

if TYPE_CHECKING:  # matplotlib loads only to plot: `table` and `info` read stores without it
    from matplotlib.figure import Figure

__all__ = ["is_search", "search_info", "search_plot", "search_table", "search_text"]


def _is_mde(ds: xr.Dataset) -> bool:
    return "search_effect" in ds.attrs


def _vars(ds: xr.Dataset) -> tuple[str, ...]:
    """The answer, its bounds, ``status`` and ``n_simulations``: of the size (in the searched
    unit when the store has it) or the MDE."""
    name = ("mde" if _is_mde(ds) else "required_units" if "required_units" in ds
            else "required_n")
    return name, f"{name}_lower", f"{name}_upper", "status", "n_simulations"


def _format_mde(v: float) -> str:
    return f"{v:.2f}"


def _unit(ds: xr.Dataset) -> str:
    """What the required size counts: N in observations, or the searched unit."""
    if "required_units" in ds:
        return str(ds["required_units"].attrs.get("units", ds.attrs.get("search_unit")))
    return "observations"


def _label(ds: xr.Dataset) -> str:
    """The answer's axis label."""
    if _is_mde(ds):
        return "MDE (outcome SD)"
    return "required N (observations)" if _unit(ds) == "observations" else f"required {_unit(ds)}"


def search_text(n: float, lower: float, upper: float, status: str,
                fmt: Callable[[float], str] = format_n) -> str:
    """One point's answer, ``"407 [388–427]"`` (as the docs' generated table), or its status.

    >>> search_text(407.2, 388.0, 427.4, "reached")
    '407 [388–427]'
    >>> search_text(0.312, 0.281, 0.344, "reached", _format_mde)
    '0.31 [0.28–0.34]'
    >>> search_text(np.nan, np.nan, np.nan, "below range")
    'below range'
    """
    if status != "reached" or math.isnan(n):
        return str(status)
    shown = [fmt(v) if not math.isnan(v) else "…" for v in (n, lower, upper)]
    return f"{shown[0]} [{shown[1]}–{shown[2]}]"


def search_info(ds: xr.Dataset) -> str:
    """What a sweep of searches' store holds: the search, its axes and its outcomes.

    >>> print(search_info(xr.Dataset({"status": ("icc", ["reached"]),
    ...     "n_simulations": ("icc", [300])}, coords={"icc": [0.1]},
    ...     attrs={"search_test": "x", "search_unit": "clusters", "search_from": 6,
    ...            "search_to": 200, "search_precision": 0.2, "seed": 11})))
    sweep of searches: required clusters for x, from 6 to 200, precision 0.2
    axes: icc (1)
    outcomes: reached 1; simulations 300; seed 11
    """
    a = ds.attrs
    counts = Counter(str(v) for v in np.ravel(ds["status"].values))
    what = (f"minimum detectable effect of {a.get('search_effect')}" if _is_mde(ds) else
            f"required {a.get('search_unit')} for {a.get('search_test')}")
    return "\n".join([
        f"sweep of searches: {what}, "
        f"from {a.get('search_from')} to {a.get('search_to')}, "
        f"precision {a.get('search_precision')}",
        "axes: " + (", ".join(f"{d} ({n})" for d, n in ds["status"].sizes.items()) or "none"),
        "outcomes: " + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"; simulations {int(ds['n_simulations'].sum()):,}; seed {a.get('seed')}"])


def _axes(ds: xr.Dataset) -> list[str]:
    return list(ds["status"].dims)


def _cells(ds: xr.Dataset) -> np.ndarray:
    """``search_text`` of every point, an array over the Dataset's axes."""
    parts = [np.asarray(ds[v].values) for v in _vars(ds)[:4]]
    fmt = _format_mde if _is_mde(ds) else format_n
    flat = [search_text(float(n), float(lo), float(hi), str(st), fmt)
            for n, lo, hi, st in zip(*(p.ravel() for p in parts), strict=True)]
    return np.array(flat, dtype=object).reshape(parts[0].shape)


def _title(ds: xr.Dataset) -> str:
    target = float(ds.attrs.get("target_power", 0.8))
    if _is_mde(ds):
        return (f"Minimum detectable effect for {100 * target:.0f}% power, "
                f"{ds.attrs['search_effect']} (in outcome SD, 95% interval)")
    unit = _unit(ds)
    return (f"Required sample size for {100 * target:.0f}% power, "
            f"{ds.attrs.get('search_test', '')} "
            f"({'N in observations' if unit == 'observations' else unit}, 95% interval)")


def search_table(ds: xr.Dataset, rows: str | None = None, cols: str | None = None, *,
                 at: Mapping[str, Any] | None = None, fmt: str = "markdown") -> str:
    """The required N (or MDE) with its interval at every point: rows × cols for two axes (the
    first two unless named; ``at`` fixes the others), else one row per point.

    ``fmt="csv"`` gives every variable in long form, one line per point.
    """
    sub = select(ds[list(_vars(ds))], at)
    if fmt == "csv":
        return sub.to_dataframe().reset_index().to_csv(index=False).rstrip("\n")
    axes = _axes(sub)
    cells = _cells(sub)
    total = int(sub["n_simulations"].sum())
    foot = f"Simulations used: {total:,} over {cells.size} searches."
    if rows is not None or (len(axes) == 2 and cols is None):
        rows, cols = rows or axes[0], cols or next(a for a in axes if a != (rows or axes[0]))
        for name in (rows, cols):
            if name not in axes:
                raise ValueError(f"{name!r} is not an axis of the search store: axes are "
                                 f"{', '.join(axes)}")
        if len(axes) != 2:
            others = [a for a in axes if a not in (rows, cols)]
            raise ValueError(f"a table over {rows} × {cols} needs the other axes fixed: "
                             f"give --at for {', '.join(others)}")
        grid = xr.DataArray(cells, dims=axes).transpose(rows, cols).values
        header = [f"{rows} \\ {cols}", *(f"{cols}={format_value(cols, c)}"
                                         for c in sub[cols].values)]
        body = [[format_value(rows, r), *grid[i]] for i, r in enumerate(sub[rows].values)]
    else:
        size = "required N" if _unit(sub) == "observations" else f"required {_unit(sub)}"
        header = [*axes, "MDE" if _is_mde(sub) else size, "simulations"]
        sims = np.asarray(sub["n_simulations"].values).ravel()
        index = np.indices(cells.shape).reshape(len(axes), -1).T if axes else [()]
        body = [[*(format_value(a, sub[a].values[i]) for a, i in zip(axes, idx, strict=True)),
                 cells[tuple(idx)], f"{int(sims[k]):,}"] for k, idx in enumerate(index)]
    return f"### {_title(sub)}\n\n{markdown(header, body)}\n\n{foot}"


def search_plot(ds: xr.Dataset, rows: str | None = None, cols: str | None = None, *,
                at: Mapping[str, Any] | None = None) -> Figure:
    """A heatmap of the required N (or MDE) over two axes, each cell annotated with its interval
    (unreached cells hatched), or over one axis a line with its 95% band.

    >>> fig = search_plot(xr.open_zarr("results/search.zarr"))  # doctest: +SKIP
    """
    answer, lower, upper = _vars(ds)[:3]
    sub = select(ds[list(_vars(ds))], at)
    axes = _axes(sub)
    if rows is not None:
        axes = [rows, *([cols] if cols else [a for a in axes if a != rows])]
    if not 1 <= len(axes) <= 2 or any(a not in sub.dims for a in axes):
        raise ValueError(f"plot one or two axes of the search store (axes: "
                         f"{', '.join(_axes(ds))}); fix the others with --at")
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    n = sub[answer].transpose(*axes)
    if len(axes) == 1:
        x = np.asarray(sub[axes[0]].values)
        ax.plot(x, n.values, "o-", color="C0")
        ax.fill_between(x, sub[lower].values, sub[upper].values,
                        color="C0", alpha=0.25, label="95% interval")
        for xi, st in zip(x, sub["status"].values, strict=True):
            if st != "reached":
                ax.annotate(str(st), (xi, 0.05), xycoords=("data", "axes fraction"),
                            ha="center", fontsize=8, color="0.3")
        ax.set_xlabel(label_of(sub, axes[0]))
        ax.set_ylabel(_label(sub))
        ax.legend(fontsize=8)
    else:
        cells = xr.DataArray(_cells(sub), dims=_axes(sub)).transpose(*axes).values
        values = np.asarray(n.values, float)
        image = ax.imshow(np.ma.masked_invalid(values), cmap="magma_r", aspect="auto")
        for (i, j), text in np.ndenumerate(cells):
            if not np.isfinite(values[i, j]):
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="0.88",
                                       hatch="///", edgecolor="0.7", lw=0))
            dark = np.isfinite(values[i, j]) and image.norm(values[i, j]) > 0.55
            ax.text(j, i, text.replace(" [", "\n["), ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
        ax.set_yticks(range(values.shape[0]),
                      [format_value(axes[0], v) for v in sub[axes[0]].values])
        ax.set_xticks(range(values.shape[1]),
                      [format_value(axes[1], v) for v in sub[axes[1]].values])
        ax.set_ylabel(label_of(sub, axes[0]))
        ax.set_xlabel(label_of(sub, axes[1]))
        fig.colorbar(image, ax=ax).set_label(_label(sub))
    ax.set_title(_title(sub), fontsize=9)
    fig.tight_layout()
    return fig
