"""The random-slopes tutorial's "Design Recommendations": its two tables, the minimum
clusters per slope variance, and a warning about design points with many failed fits.

They need a store over ``n_clusters`` × ``slope_variance`` × ``sample_size``
(:func:`has_tutorial_axes`); :func:`tutorial_tables` puts them together.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .axes import (
    SIZE_AXIS,
    axes_of,
    base_params,
    format_value,
    pick_test,
    point_params,
    scalar,
    select,
    target_of,
)
from .ceiling import CEILING_NOTE, above_ceiling, min_clusters_for
from .power import power_cell
from .render import NOT_COMPLETE_NOTE, format_n, interval, markdown, pct, round_n
from .required_n import required_n_text, required_sample_size

TUTORIAL_AXES = ("n_clusters", "slope_variance", SIZE_AXIS)


def has_tutorial_axes(ds: xr.Dataset) -> bool:
    """Whether the store can give the tutorial's tables (its three axes, nothing else
    free)."""
    axes = axes_of(ds)
    extra = [a for a in axes if a not in TUTORIAL_AXES and ds.sizes[a] > 1]
    return all(a in axes for a in TUTORIAL_AXES) and not extra


def _fixed_extra(ds: xr.Dataset) -> xr.Dataset:
    extra = [a for a in axes_of(ds) if a not in TUTORIAL_AXES]
    return ds.isel({a: 0 for a in extra}) if extra else ds


def _power_cell(cell: xr.Dataset, ci: bool) -> str:
    complete = bool(cell["complete"]) if "complete" in cell else True
    return power_cell(float(cell["power"]), float(cell["power_lower"]),
                      float(cell["power_upper"]), ci=ci, complete=complete)


def slope_variance_table(
    ds: xr.Dataset,
    *,
    sample_size: int = 900,
    n_clusters: int = 30,
    target: float | None = None,
    test: str | None = None,
    ci: bool = True,
) -> str:
    """The tutorial's first table: power by slope_variance at one N and cluster count,
    and the required N at that cluster count.

    Examples
    --------
    >>> print(slope_variance_table(ds))  # doctest: +SKIP
    | slope_variance | Power (N=900, 30 clusters) | Required N (30 clusters) |
    ...
    """
    ds = _fixed_extra(ds)
    test = pick_test(ds, test)
    target = target_of(ds, target)
    at_point = select(ds, {"n_clusters": n_clusters, SIZE_AXIS: sample_size}).sel(test=test)
    req = required_sample_size(ds, target, test=test, at={"n_clusters": n_clusters})
    max_size = float(ds[SIZE_AXIS].values.max())
    base_n = None
    if 0.0 in [float(v) for v in req.index] and req.loc[0.0, "status"] != "not reached":
        base_n = req.loc[0.0, "estimate"]
    rows = []
    for i, sv in enumerate(ds["slope_variance"].values):
        power = _power_cell(at_point.isel(slope_variance=i), ci)
        r = req.iloc[i]
        need = required_n_text(r, max_size)
        if r["status"] == "reached" and base_n and float(sv) > 0:
            need += f" ({round_n(r['estimate']) / round_n(base_n):.1f}x sv=0)"
        elif r["status"] == "not reached":
            need += f" (ceiling {pct(r['ceiling'], 0)})"
        label = "0 (slope fitted)" if float(sv) == 0 else format_value("slope_variance", sv)
        rows.append([label, power, need])
    header = ["slope_variance", f"Power (N={sample_size:,}, {n_clusters} clusters)",
              f"Required N ({n_clusters} clusters)"]
    return markdown(header, rows)


def cluster_table(
    ds: xr.Dataset,
    *,
    slope_variance: float = 0.10,
    sample_size: int = 900,
    test: str | None = None,
    ci: bool = True,
) -> str:
    """The tutorial's second table: power by n_clusters at one slope_variance and N.

    Examples
    --------
    >>> print(cluster_table(ds))  # doctest: +SKIP
    | n_clusters | Power (slope_var=0.10, N=900) |
    ...
    """
    ds = _fixed_extra(ds)
    test = pick_test(ds, test)
    sub = select(ds, {"slope_variance": slope_variance, SIZE_AXIS: sample_size}).sel(test=test)
    rows = [[str(int(j)), _power_cell(sub.isel(n_clusters=i), ci)]
            for i, j in enumerate(ds["n_clusters"].values)]
    return markdown(["n_clusters", f"Power (slope_var={slope_variance:.2f}, N={sample_size:,})"],
                    rows)


def _cluster_bound(j_min: int | None, max_clusters: int) -> str:
    """The ceiling's lower bound on clusters, said to be extrapolated beyond the grid."""
    if j_min is None or j_min <= 2:
        return ""
    text = f"; no N reaches it with fewer than {j_min} clusters"
    if j_min > max_clusters:
        text += (f" (extrapolated from the ceiling formula beyond the grid, whose largest "
                 f"n_clusters is {max_clusters})")
    return text


def recommendation(ds: xr.Dataset, target: float | None = None, *,
                   test: str | None = None) -> str:
    """For each slope_variance, the fewest grid clusters reaching the target and at what N.

    Also gives the fewest clusters whose ceiling (N → ∞) reaches the target at all,
    from :func:`~mcpower_sweep.reports.ceiling.min_clusters_for` (said to be
    extrapolated when it lies beyond the grid), and where the best observed power is
    above the ceiling, its 95% interval and why.

    Examples
    --------
    >>> print(recommendation(ds, 0.8))  # doctest: +SKIP
    - slope_variance 0.10: at least 40 clusters (N ≈ 2,310 there) ...
    """
    ds = _fixed_extra(ds)
    test = pick_test(ds, test)
    target = target_of(ds, target)
    req = required_sample_size(ds, target, test=test).reset_index()
    max_size = float(ds[SIZE_AXIS].values.max())
    max_clusters = int(ds["n_clusters"].values.max())
    lines = []
    for sv in ds["slope_variance"].values:
        rows = req[np.isclose(req["slope_variance"].astype(float), float(sv))]
        rows = rows.sort_values("n_clusters")
        ok = rows[rows["status"] != "not reached"]
        params = point_params(ds, {"slope_variance": float(sv)}, test)
        j_min = min_clusters_for(target, params["effect"], float(sv), alpha=params["alpha"],
                                 df_method=params["df_method"]) if params["random_slope"] else 2
        bound = _cluster_bound(j_min, max_clusters)
        label = format_value("slope_variance", sv)
        if ok.empty:
            top = rows.iloc[-1]
            best = pct(top["max_power"])
            why = above_ceiling(top["max_power"], top["max_power_lower"], top["ceiling"])
            if why:
                best += (f" {interval(top['max_power_lower'], top['max_power_upper'])}, "
                         f"ceiling {pct(top['ceiling'])}: {why}")
            else:
                best += f", ceiling {pct(top['ceiling'])}"
            lines.append(
                f"- slope_variance {label}: {pct(target, 0)} is not reached with up to "
                f"{int(top['n_clusters'])} clusters and N ≤ {format_n(max_size)} (best "
                f"{best}){bound}.")
            continue
        first = ok.iloc[0]
        lines.append(
            f"- slope_variance {label}: at least {int(first['n_clusters'])} clusters "
            f"(N {required_n_text(first, max_size)} there){bound}.")
    return f"Minimum clusters for {pct(target, 0)} power ({test}):\n" + "\n".join(lines)


def failure_note(ds: xr.Dataset) -> str:
    """A warning naming the design points whose failed-fit share exceeds the store's
    ``max_failed`` ("" when none does, or no threshold is recorded).

    Examples
    --------
    >>> failure_note(ds)  # doctest: +SKIP
    'Warning: 2 design points have more failed fits than max_failed=3% ...'
    """
    limit = ds.attrs.get("max_failed")
    if limit is None or "failure_rate" not in ds:
        return ""
    rate = ds["failure_rate"]
    over = rate.where(rate > float(limit))
    n_over = int(over.notnull().sum())
    if n_over == 0:
        return ""
    worst = over.where(over == over.max(), drop=True)
    point = {a: scalar(worst[a].values.flat[0]) for a in axes_of(ds)}
    shown = ", ".join(f"{a}={format_value(a, v)}" for a, v in point.items())
    return (f"Warning: {n_over} design point(s) have more failed fits than "
            f"max_failed={100 * float(limit):g}% (worst {pct(float(over.max()))} at {shown}); "
            "their power is over the successful fits only: use more clusters or more "
            "observations per cluster there.")


def tutorial_tables(ds: xr.Dataset, target: float | None = None, *, test: str | None = None,
                    ci: bool = True, sample_size: int = 900, n_clusters: int = 30,
                    slope_variance: float = 0.10) -> str:
    """Both tutorial tables, their captions and the recommendation, as markdown.

    The ceiling is explained once, after the first section that mentions it.

    Examples
    --------
    >>> print(tutorial_tables(open_results("results/random-slopes-docs.zarr")))  # doctest: +SKIP
    """
    test = pick_test(ds, test)
    caption = _caption(ds, test)
    sections = [
        ["### Effect of slope_variance on power",
         slope_variance_table(ds, sample_size=sample_size, n_clusters=n_clusters,
                              target=target, test=test, ci=ci),
         caption],
        ["### More clusters is critical",
         cluster_table(ds, slope_variance=slope_variance, sample_size=sample_size, test=test,
                       ci=ci),
         caption],
        [recommendation(ds, target, test=test)],
    ]
    for section in sections:
        if any("ceiling" in part for part in section):
            section.append(CEILING_NOTE)
            break
    parts = [part for section in sections for part in section]
    note = failure_note(ds)
    if note:
        parts.append(note)
    if "complete" in ds and not bool(ds["complete"].all()):
        parts.append(NOT_COMPLETE_NOTE)
    return "\n\n".join(parts)


def _caption(ds: xr.Dataset, test: str) -> str:
    a = ds.attrs
    base = base_params(ds)
    effect = base.get("effects", {}).get(test, "?")
    icc = base.get("icc", "?")
    return (f"*Simulation: `{test}={effect}`, ICC={icc}, {a.get('simulations', '?')} "
            f"simulations, seed={a.get('seed', '?')}, {a.get('estimator', 'reml').upper()} "
            f"with {a.get('df_method', 'satterthwaite')} df; random slope fitted at every "
            "slope_variance.*")

