"""Power tables: power over any two axes at fixed values of the others, as markdown or CSV.

Cells show the Wilson 95% interval by default (``ci=False`` leaves it out); a design
point whose chunks are not all done is marked ``*``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
import xarray as xr

from .axes import axes_of, default_axes, format_value, pick_test, scalar, select
from .render import NOT_COMPLETE_NOTE, interval, markdown, pct


def power_frame(
    ds: xr.Dataset,
    rows: str,
    cols: str,
    *,
    at: Mapping[str, Any] | None = None,
    test: str | None = None,
) -> pd.DataFrame:
    """Power over two axes as a long DataFrame (one row per cell).

    Parameters
    ----------
    ds
        The derived results Dataset.
    rows, cols
        The two axes of the table (``cols`` may equal ``"test"``).
    at
        Values for every other axis (an axis of length one may be left out).
    test
        The tested effect (default: the first).

    Returns
    -------
    pandas.DataFrame
        Columns ``rows``, ``cols``, ``power``, ``power_lower``, ``power_upper``,
        ``n_success``, ``complete``.

    Examples
    --------
    >>> power_frame(ds, "slope_variance", "n_clusters", at={"sample_size": 900})  # doctest: +SKIP
    """
    at = dict(at or {})
    sub = select(ds, at)
    if cols != "test":
        sub = sub.sel(test=pick_test(ds, test))
    free = [a for a in axes_of(sub) if a not in (rows, cols)]
    for axis in list(free):
        if sub.sizes[axis] == 1:
            sub = sub.isel({axis: 0})
            free.remove(axis)
    if free:
        raise ValueError(
            f"fix the other axes to make a {rows} x {cols} table: give a value for "
            + ", ".join(f"{a} (one of {', '.join(format_value(a, v) for v in ds[a].values)})"
                        for a in free)
        )
    for axis in (rows, cols):
        if axis not in sub.dims:
            raise ValueError(f"{axis!r} is not a free axis of the results: axes are "
                             f"{axes_of(ds)}")
    names = ["power", "power_lower", "power_upper", "n_success"]
    if "complete" in sub:
        names.append("complete")
    frame = sub[names].to_dataframe().reset_index()
    if "complete" not in frame:
        frame["complete"] = True
    return frame[[rows, cols, *names[:4], "complete"]]


def power_cell(power: float, lower: float, upper: float, *, ci: bool, complete: bool) -> str:
    """One power cell: ``61.4%``, with ``[58.0, 64.7]`` when ``ci``, ``*`` when incomplete.

    Examples
    --------
    >>> power_cell(0.614, 0.58, 0.647, ci=True, complete=False)
    '61.4% [58.0, 64.7]*'
    """
    text = pct(power)
    if ci and not math.isnan(power):
        text += " " + interval(lower, upper)
    return text + ("" if complete else "*")


def power_table(
    ds: xr.Dataset,
    rows: str,
    cols: str,
    *,
    at: Mapping[str, Any] | None = None,
    test: str | None = None,
    ci: bool = True,
    fmt: str = "markdown",
) -> str:
    """Power over two axes as a markdown or CSV table.

    Markdown cells read ``61.4% [58.0, 64.7]`` (``61.4%`` without ``ci``); an
    incomplete point is marked ``*``.  CSV holds fractions and, with ``ci``, the bounds.

    Examples
    --------
    >>> print(power_table(ds, "slope_variance", "n_clusters",
    ...                   at={"sample_size": 900}))  # doctest: +SKIP
    | slope_variance | 15 | 20 | 30 | 40 | 50 |
    ...
    """
    frame = power_frame(ds, rows, cols, at=at, test=test)
    if fmt == "csv":
        keep = [rows, cols, "power"] + (["power_lower", "power_upper"] if ci else [])
        out = frame[keep + ["n_success", "complete"]].copy()
        for axis, value in (at or {}).items():
            out.insert(0, axis, value)
        return out.to_csv(index=False, float_format="%.6g")
    if fmt != "markdown":
        raise ValueError(f"format={fmt!r} is unknown: use markdown or csv")

    lookup = {
        (r[rows], r[cols]): power_cell(r["power"], r["power_lower"], r["power_upper"], ci=ci,
                                       complete=bool(r["complete"]))
        for _, r in frame.iterrows()
    }
    row_vals = list(dict.fromkeys(frame[rows]))
    col_vals = list(dict.fromkeys(frame[cols]))
    header = [rows] + [f"{cols}={format_value(cols, c)}" if cols != "test" else str(c)
                       for c in col_vals]
    body = [[format_value(rows, rv)] + [lookup.get((rv, cv), "—") for cv in col_vals]
            for rv in row_vals]
    text = markdown(header, body)
    if not frame["complete"].all():
        text += "\n\n" + NOT_COMPLETE_NOTE
    return text


def power_tables(
    ds: xr.Dataset,
    rows: str | None = None,
    cols: str | None = None,
    *,
    at: Mapping[str, Any] | None = None,
    test: str | None = None,
    ci: bool = True,
    fmt: str = "markdown",
) -> str:
    """:func:`power_table` for every combination of the axes not fixed by ``at``.

    Markdown gives one titled table per combination; CSV gives one long table with a
    column per axis.

    Examples
    --------
    >>> print(power_tables(ds, "n_clusters", "df_method",
    ...                    at={"slope_variance": 0.1}))  # doctest: +SKIP
    """
    if rows is None or cols is None:
        given = rows or cols
        ranked = [a for a in sorted(axes_of(ds), key=lambda a: -ds.sizes[a])
                  if a != given and a not in (at or {})] + ["test"]
        if given is None:
            rows, cols = default_axes(select(ds, at)) if at else default_axes(ds)
        else:
            rows, cols = given, ranked[0]
    if rows == cols:
        raise ValueError(f"rows and columns are both {rows!r}: give two different axes")
    at = dict(at or {})
    free = [a for a in axes_of(ds) if a not in (rows, cols) and a not in at]
    combos = pd.MultiIndex.from_product([ds[a].values for a in free]) if free else [()]
    if fmt == "csv":
        sub = select(ds, at)
        if cols != "test":
            sub = sub.sel(test=pick_test(ds, test))
        names = ["power"] + (["power_lower", "power_upper"] if ci else []) + ["n_success"]
        frame = sub[names].to_dataframe().reset_index()
        for axis, value in at.items():
            frame[axis] = value  # fixed axes are scalar coordinates: make sure they show
        first = [*at, rows, cols, *free]
        if "test" not in first:
            first.append("test")
        frame = frame[first + [c for c in frame.columns if c not in first]]
        return frame.to_csv(index=False, float_format="%.6g")
    parts = []
    for combo in combos:
        point = {**at, **{a: scalar(v) for a, v in zip(free, combo, strict=True)}}
        table = power_table(ds, rows, cols, at=point, test=test, ci=ci, fmt=fmt)
        if free:
            title = ", ".join(f"{a}={format_value(a, v)}" for a, v in point.items()
                              if a in free)
            table = f"### {title}\n\n{table}"
        parts.append(table)
    return "\n\n".join(parts)
