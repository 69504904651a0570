"""Figures from a sweep's derived Dataset (PNG, SVG or PDF).

* :func:`power_curves` — power against sample size, one line per slope_variance (or
  any ``hue`` axis), one panel per number of clusters (or any ``facet`` axis), with
  95% Wilson bands and the target power as a dashed line.
* :func:`required_n_heatmap` — the interpolated required N over n_clusters ×
  slope_variance; cells where the target is not reached in the grid are hatched and
  show the power ceiling.

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot, so
importing this module or drawing never changes matplotlib's backend (a notebook keeps
its own), and nothing is left open in pyplot's figure manager.  Axis labels come from
the variables' and coordinates' CF attributes (``long_name``, ``units``) when present.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from .axes import (
    SIZE_AXIS,
    axes_of,
    format_value,
    label_of,
    pick_test,
    point_params,
    select,
    target_of,
)
from .render import format_n, round_n
from .required_n import required_sample_size

FORMATS = (".png", ".svg", ".pdf")


def _fix_others(ds: xr.Dataset, keep: tuple[str | None, ...],
                at: Mapping[str, Any] | None) -> tuple[xr.Dataset, dict[str, Any]]:
    """Fix every axis not in ``keep``: at the given value, else at its first value."""
    fixed = dict(at or {})
    for axis in axes_of(ds):
        if axis not in keep and axis not in fixed:
            fixed[axis] = ds[axis].values[0].item()
    return select(ds, fixed), fixed


def _is_null(ds: xr.Dataset, test: str) -> bool:
    """Whether the test's effect is 0 at every point (a calibration run)."""
    axis = f"effect_{test}"
    if axis in ds.dims:
        return bool((ds[axis].values == 0).all())
    return point_params(ds, {}, test)["effect"] == 0


def power_curves(
    ds: xr.Dataset,
    *,
    x: str = SIZE_AXIS,
    hue: str | None = "slope_variance",
    facet: str | None = "n_clusters",
    at: Mapping[str, Any] | None = None,
    test: str | None = None,
    target: float | None = None,
    bands: bool = True,
    ncols: int | None = None,
) -> Figure:
    """Power curves: ``x`` on the horizontal axis, a line per ``hue``, a panel per ``facet``.

    Axes missing from the Dataset are ignored; other axes are fixed by ``at`` (or at
    their first value, named in the title).

    Examples
    --------
    >>> fig = power_curves(open_results("results/random-slopes-docs.zarr"))  # doctest: +SKIP
    >>> fig.savefig("power.png")  # doctest: +SKIP
    """
    if x not in axes_of(ds):
        raise ValueError(f"cannot plot against {x!r}: the results' axes are {axes_of(ds)}")
    hue = hue if hue in axes_of(ds) and hue != x else None
    facet = facet if facet in axes_of(ds) and facet not in (x, hue) else None
    test = pick_test(ds, test)
    target = target_of(ds, target)
    sub, fixed = _fix_others(ds.sel(test=test), (x, hue, facet), at)

    # Under a true null the curves are rejection rates: compare them with alpha instead.
    null = _is_null(ds, test)
    alpha = float(ds.attrs.get("alpha", 0.05)) if not isinstance(
        ds.attrs.get("alpha"), str) else 0.05
    reference = alpha if null else target
    upper = float(sub["power_upper"].max(skipna=True)) if sub["power_upper"].size else 1.0
    top = max(3 * 100 * alpha, 120 * upper) if null else 101

    facets = list(sub[facet].values) if facet else [None]
    n = len(facets)
    ncols = ncols or min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.4 * nrows + 0.6))
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    hues = list(sub[hue].values) if hue else [None]
    colors = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, max(len(hues), 1)))
    xs = sub[x].values.astype(float)
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_visible(False)
            continue
        panel = sub.isel({facet: k}) if facet else sub
        for color, h in zip(colors, hues, strict=False):
            curve = panel.sel({hue: h}) if hue is not None else panel
            label = format_value(hue, h) if hue else test
            ax.plot(xs, 100 * curve["power"].values, marker="o", ms=3, lw=1.5, color=color,
                    label=label)
            if bands:
                ax.fill_between(xs, 100 * curve["power_lower"].values,
                                100 * curve["power_upper"].values, color=color, alpha=0.18,
                                lw=0)
        ax.axhline(100 * reference, ls="--", lw=1, color="0.3")
        ax.set_ylim(0, top)
        ax.grid(alpha=0.3)
        if facet:
            ax.set_title(f"{facets[k]} clusters" if facet == "n_clusters"
                         else f"{facet} = {format_value(facet, facets[k])}", fontsize=10)
        if x == SIZE_AXIS:
            ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
    for col in range(ncols):
        # the lowest visible panel of each column carries the x labels
        last = max(r for r in range(nrows) if r * ncols + col < n) if col < n else None
        if last is None:
            continue
        ax = axes[last, col]
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xlabel(label_of(sub, x))
    # The y axis is in percent whatever the variable's units; its long_name names it.
    quantity = "rejection rate" if null else ds["power"].attrs.get("long_name", "power")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{quantity} of {test} (%)")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if hue:
        fig.legend(handles, labels, title=hue, loc="center right", frameon=False)
    fixed_text = ", ".join(f"{a}={format_value(a, v)}" for a, v in fixed.items())
    what = (f"Rejection rate of {test} under a true null (alpha {100 * alpha:g}%, dashed"
            if null else f"Power of {test} (target {100 * target:.0f}%, dashed")
    fig.suptitle(f"{what}; bands: 95% CI)"
                 + (f"\n{fixed_text}" if fixed_text else ""), fontsize=11)
    longest = max((len(label) for label in labels), default=0)
    fig.tight_layout(rect=(0, 0, (0.88 if longest <= 6 else 0.84) if hue else 1, 1))
    return fig


def required_n_heatmap(
    ds: xr.Dataset,
    *,
    rows: str = "slope_variance",
    cols: str = "n_clusters",
    at: Mapping[str, Any] | None = None,
    test: str | None = None,
    target: float | None = None,
) -> Figure:
    """Heatmap of the interpolated required N over two axes (log colour scale).

    Cells where the target is not reached in the grid are hatched grey and labelled
    ``>N_max`` with the power ceiling as N → ∞; cells already at the target at the
    smallest size read ``≤N_min``.

    Examples
    --------
    >>> fig = required_n_heatmap(open_results("results/random-slopes-docs.zarr"))  # doctest: +SKIP
    """
    for axis in (rows, cols, SIZE_AXIS):
        if axis not in axes_of(ds):
            raise ValueError(f"a required-N heatmap needs the {axis!r} axis: the results' "
                             f"axes are {axes_of(ds)}")
    test = pick_test(ds, test)
    target = target_of(ds, target)
    sub, fixed = _fix_others(ds, (rows, cols, SIZE_AXIS), at)
    req = required_sample_size(sub, target, test=test)
    r_vals, c_vals = list(sub[rows].values), list(sub[cols].values)
    grid = np.full((len(r_vals), len(c_vals)), np.nan)
    frame = req.reset_index()
    max_n = float(sub[SIZE_AXIS].values.max())
    min_n = float(sub[SIZE_AXIS].values.min())
    fig = Figure(figsize=(1.1 * len(c_vals) + 2.6, 0.55 * len(r_vals) + 1.8))
    ax = fig.subplots()
    labels: dict[tuple[int, int], str] = {}
    for _, row in frame.iterrows():
        i = int(np.flatnonzero(np.isclose(np.asarray(r_vals, float), float(row[rows])))[0])
        j = int(np.flatnonzero(np.isclose(np.asarray(c_vals, float), float(row[cols])))[0])
        if row["status"] == "not reached":
            labels[i, j] = f">{format_n(max_n)}\nceil {100 * row['ceiling']:.0f}%"
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="0.88",
                                       hatch="///", edgecolor="0.7", lw=0))
        elif row["status"] == "below range":
            grid[i, j] = min_n
            labels[i, j] = f"≤{format_n(min_n)}"
        else:
            grid[i, j] = row["estimate"]
            labels[i, j] = format_n(round_n(row["estimate"]))
    finite = grid[np.isfinite(grid)]
    vmin = float(finite.min()) if finite.size else min_n
    vmax = float(finite.max()) if finite.size else max_n
    norm = LogNorm(vmin=vmin, vmax=max(vmax, vmin * 1.5))
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="magma_r", norm=norm, aspect="auto",
                      origin="upper")
    for (i, j), text in labels.items():
        value = grid[i, j]
        dark = np.isfinite(value) and norm(value) > 0.55
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if dark else "black")
    ax.set_xticks(range(len(c_vals)), [format_value(cols, v) for v in c_vals])
    ax.set_yticks(range(len(r_vals)), [format_value(rows, v) for v in r_vals])
    ax.set_xlabel(label_of(sub, cols))
    ax.set_ylabel(label_of(sub, rows))
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(f"N for {100 * target:.0f}% power")
    plain = FuncFormatter(lambda v, _pos: f"{v:,.0f}")
    bar.ax.yaxis.set_major_formatter(plain)
    bar.ax.yaxis.set_minor_formatter(plain)
    fixed_text = ", ".join(f"{a}={format_value(a, v)}" for a, v in fixed.items())
    ax.set_title(f"Required sample size, {test}" + (f" ({fixed_text})" if fixed_text else ""),
                 fontsize=10)
    fig.tight_layout()
    return fig


def save(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Write a figure as PNG, SVG or PDF (from the suffix) into an existing folder.

    A missing folder is an error naming it (it is not created): a typo in the path
    should not scatter directories.

    Examples
    --------
    >>> save(power_curves(ds), "power.svg")  # doctest: +SKIP
    """
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"{str(path)!r}: use a file name ending in {', '.join(FORMATS)}")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"directory {str(folder)!r} does not exist: create it first, "
                                "or write the figure somewhere else")
    fig.savefig(path, dpi=dpi)
    return path
