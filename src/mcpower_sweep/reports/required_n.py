"""The required sample size at every design point, as a frame and as a table.

Each power curve over ``sample_size`` goes through :func:`mcpower_sweep.crossing.required_n`
(the one definition of "required N", shared with ``find_sample_size``); the point's
power ceiling (:func:`~mcpower_sweep.reports.ceiling.power_ceiling`) says how far an
unreached target is out of reach.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import pandas as pd
import xarray as xr

from ..crossing import required_n
from .axes import SIZE_AXIS, axes_of, coord_index, format_value, pick_test, scalar, select
from .axes import target_of as _target_of
from .ceiling import ABOVE_BEYOND_MC, ABOVE_BY_MC, CEILING_NOTE, above_ceiling, ceiling_at
from .render import format_n, interval, is_missing, markdown, pct, round_n

# Why a best observed power is above its ceiling, as a footnote mark.
_MARKS = {"": "", ABOVE_BY_MC: "†", ABOVE_BEYOND_MC: "‡"}


def required_sample_size(
    ds: xr.Dataset,
    target: float | None = None,
    *,
    test: str | None = None,
    axis: str = SIZE_AXIS,
    at: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Required sample size at every point of the other axes.

    Parameters
    ----------
    ds
        The derived results Dataset; it must have the ``axis`` dimension.
    target
        Target power (default: the store's ``target_power`` attribute, else 0.8).
    test
        The tested effect (default: the first).
    axis
        The sample-size axis.
    at
        Fix some of the other axes first.

    Returns
    -------
    pandas.DataFrame
        One row per point of the other axes (they are the index) with the fields of
        :class:`mcpower_sweep.stats.RequiredN`, the 95% interval of the highest power
        (``max_power_lower``, ``max_power_upper``), ``ceiling`` (power as N → ∞,
        :func:`~mcpower_sweep.reports.ceiling.power_ceiling`) and ``target``.

    Examples
    --------
    >>> required_sample_size(ds, 0.8, at={"n_clusters": 30})  # doctest: +SKIP
    """
    target = _target_of(ds, target)
    test = pick_test(ds, test)
    sub = select(ds, at).sel(test=test)
    if axis not in sub.dims:
        raise ValueError(f"the results have no {axis!r} axis to find a required size on")
    others = [a for a in axes_of(sub) if a != axis]
    # Only the variables read below: indexing every variable of the store at every point
    # would cost most of a report's time.
    sub = sub[["n_significant", "n_success", "power_lower", "power_upper"]]
    sizes = sub[axis].values
    points = (
        [dict(zip(others, combo, strict=True)) for combo in
         pd.MultiIndex.from_product([sub[a].values for a in others])]
        if others else [{}]
    )
    records = []
    for point in points:
        curve = sub.isel({a: coord_index(sub, a, v) for a, v in point.items()})
        r = required_n(sizes, curve["n_significant"].values, curve["n_success"].values, target)
        lower = upper = float("nan")
        if r.n_at_max is not None:
            best = curve.isel({axis: coord_index(curve, axis, r.n_at_max)})
            lower, upper = float(best["power_lower"]), float(best["power_upper"])
        plain = {a: scalar(v) for a, v in point.items()}
        records.append({**plain, **asdict(r), "max_power_lower": lower,
                        "max_power_upper": upper,
                        "ceiling": ceiling_at(ds, {**(at or {}), **plain}, test),
                        "target": target})
    frame = pd.DataFrame.from_records(records)
    return frame.set_index(others) if others else frame


def required_n_text(row: Mapping[str, Any], max_size: float) -> str:
    """One required-N cell: ``≈1,050 [950–1,200]``, ``≤300`` (below the range tried) or
    ``>5,000`` (not reached).

    Examples
    --------
    >>> required_n_text({"status": "below range", "estimate": 300.0}, 5000)
    '≤300'
    """
    status = row["status"]
    if status == "below range":
        return f"≤{format_n(row['estimate'])}"
    if status == "not reached":
        return f">{format_n(max_size)}"
    high = row["high"]
    hi_text = format_n(round_n(high)) if not is_missing(high) else f">{format_n(max_size)}"
    return (f"≈{format_n(round_n(row['estimate']))} "
            f"[{format_n(round_n(row['low']))}–{hi_text}]")


def best_power_text(row: Mapping[str, Any]) -> str:
    """The highest observed power and where: ``55.0% (1,800)``; above the ceiling it gets
    its 95% interval and a mark (``†`` Monte Carlo error, ``‡`` beyond it).

    Examples
    --------
    >>> best_power_text({"max_power": 0.384, "max_power_lower": 0.351,
    ...                  "max_power_upper": 0.418, "n_at_max": 3000, "ceiling": 0.376})
    '38.4% [35.1, 41.8] (3,000)†'
    """
    why = above_ceiling(row["max_power"], row["max_power_lower"], row["ceiling"])
    text = pct(row["max_power"])
    if why:
        text += " " + interval(row["max_power_lower"], row["max_power_upper"])
    return f"{text} ({format_n(row['n_at_max'])}){_MARKS[why]}"


def required_n_table(
    ds: xr.Dataset,
    target: float | None = None,
    *,
    test: str | None = None,
    at: Mapping[str, Any] | None = None,
    fmt: str = "markdown",
) -> str:
    """:func:`required_sample_size` as a markdown or CSV table.

    Markdown ends with what the columns mean, what the ceiling is and, where the best
    observed power is above the ceiling, why.

    Examples
    --------
    >>> print(required_n_table(ds, 0.8))  # doctest: +SKIP
    """
    frame = required_sample_size(ds, target, test=test, at=at)
    if fmt == "csv":
        return frame.reset_index().to_csv(index=False, float_format="%.6g")
    if fmt != "markdown":
        raise ValueError(f"format={fmt!r} is unknown: use markdown or csv")
    max_size = float(ds[SIZE_AXIS].values.max())
    others = [n for n in frame.index.names if n is not None]
    header = [*others, "First N at target", "Estimated N [95% range]", "Max power (at N)",
              "Ceiling N→∞"]
    body = []
    for _, row in frame.reset_index().iterrows():
        first = format_n(row["first_size"]) if not is_missing(row["first_size"]) else (
            "not reached")
        body.append([*(format_value(a, row[a]) for a in others), first,
                     required_n_text(row, max_size), best_power_text(row),
                     pct(row["ceiling"])])
    t = frame["target"].iloc[0] if len(frame) else _target_of(ds, target)
    notes = [
        f"Target power {pct(t, 0)}. First N at target: the smallest N simulated whose "
        "observed power reaches it. Estimated N interpolates the isotonic fit of the power "
        "curve; the range is where its Wilson 95% bounds cross the target.",
        CEILING_NOTE,
    ]
    cells = "".join(r[-2] for r in body)
    if "†" in cells:
        notes.append(f"† Max power {ABOVE_BY_MC} (interval shown).")
    if "‡" in cells:
        notes.append(f"‡ Max power {ABOVE_BEYOND_MC} (95% interval shown).")
    return "\n\n".join([markdown(header, body), *notes])
