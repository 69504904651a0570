"""Design-recommendation tables from a sweep's derived Dataset.

Everything here is a pure function of the Dataset that
:func:`mcpower_sweep.open_results` returns (dims: the swept axes plus ``test``;
variables ``power``, ``power_lower``, ``power_upper``, ``n_success``,
``n_significant``, ...; provenance in ``attrs``).  Nothing is simulated.

* :func:`power_table` — power over any two axes at fixed values of the others, as
  markdown or CSV, with Wilson 95% intervals on request.
* :func:`required_sample_size` — for every point of the other axes, the smallest grid
  sample size reaching the target, an interpolated estimate with a range, or "not
  reached" with the highest power seen and the power ceiling as N grows without bound.
* :func:`power_ceiling` — that ceiling (formula in its docstring).
* :func:`slope_variance_table`, :func:`cluster_table`, :func:`recommendation` and
  :func:`tutorial_tables` — the random-slopes tutorial's "Design Recommendations".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

Z_95 = 1.959963984540054
SIZE_AXIS = "sample_size"
# Power values closer than this count as equal (pooled means are not exact fractions).
_TOL = 1e-12


# ----------------------------------------------------------------- small helpers


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


def _coord_index(ds: xr.Dataset, axis: str, value: Any) -> int:
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
    return ds.isel({axis: _coord_index(ds, axis, value) for axis, value in at.items()})


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
        i = _coord_index(ds, key, text)
        out[key] = ds[key].values[i].item()
    return out


def format_value(axis: str, value: Any) -> str:
    """A coordinate as a table label: integers with thousands separators, floats short."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()
                                  and axis in ("sample_size", "n_clusters", "cluster_size")):
        return f"{int(value):,}" if axis == SIZE_AXIS else str(int(value))
    if isinstance(value, float):
        return f"{value:.2f}" if 0 < abs(value) < 10 and round(value, 2) == value else f"{value:g}"
    return str(value)


def format_n(n: float | None) -> str:
    """A sample size for humans: ``1,050``; ``—`` for None/NaN."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "—"
    return f"{int(round(n)):,}"


def pct(x: float, digits: int = 1) -> str:
    """A fraction as a percentage, ``—`` for NaN."""
    return "—" if x is None or math.isnan(x) else f"{100 * x:.{digits}f}%"


def wilson(p: np.ndarray, n: np.ndarray, z: float = Z_95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of proportions ``p`` from ``n`` trials (arrays).

    Examples
    --------
    >>> lo, hi = wilson(np.array([0.8]), np.array([100]))
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (0.711, 0.867)
    """
    p = np.asarray(p, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z2 = z * z
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


# ------------------------------------------------------------------ power tables


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


def power_table(
    ds: xr.Dataset,
    rows: str,
    cols: str,
    *,
    at: Mapping[str, Any] | None = None,
    test: str | None = None,
    ci: bool = False,
    fmt: str = "markdown",
) -> str:
    """Power over two axes as a markdown or CSV table.

    Markdown cells read ``61.4%`` (``61.4% [58.0, 64.7]`` with ``ci``); an incomplete
    point is marked ``*``.  CSV holds fractions and, with ``ci``, the bounds.

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

    def cell(r: pd.Series) -> str:
        text = pct(r["power"])
        if ci and not math.isnan(r["power"]):
            text += f" [{100 * r['power_lower']:.1f}, {100 * r['power_upper']:.1f}]"
        return text + ("" if r["complete"] else "*")

    frame["cell"] = frame.apply(cell, axis=1)
    row_vals = list(dict.fromkeys(frame[rows]))
    col_vals = list(dict.fromkeys(frame[cols]))
    lookup = {(r[rows], r[cols]): r["cell"] for _, r in frame.iterrows()}
    header = [rows] + [f"{cols}={format_value(cols, c)}" if cols != "test" else str(c)
                       for c in col_vals]
    body = [[format_value(rows, rv)] + [lookup.get((rv, cv), "—") for cv in col_vals]
            for rv in row_vals]
    text = markdown(header, body)
    if not frame["complete"].all():
        text += "\n\n\\* point not complete yet (power from the chunks done so far)"
    return text


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


def power_tables(
    ds: xr.Dataset,
    rows: str | None = None,
    cols: str | None = None,
    *,
    at: Mapping[str, Any] | None = None,
    test: str | None = None,
    ci: bool = False,
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
        point = {**at, **{a: _scalar(v) for a, v in zip(free, combo, strict=True)}}
        table = power_table(ds, rows, cols, at=point, test=test, ci=ci, fmt=fmt)
        if free:
            title = ", ".join(f"{a}={format_value(a, v)}" for a, v in point.items()
                              if a in free)
            table = f"### {title}\n\n{table}"
        parts.append(table)
    return "\n\n".join(parts)


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table, numeric-looking columns right-aligned.

    Examples
    --------
    >>> print(markdown(["a", "b"], [["x", "1"]]))
    | a | b |
    |:--|--:|
    | x | 1 |
    """
    def numeric(k: int) -> bool:
        cells = [r[k].lstrip("*") for r in rows]
        return k > 0 and all(c[:1].isdigit() or c[:1] in "<>≤≈—-" or c == "not reached"
                             for c in cells)

    align = ["--:" if numeric(k) else ":--" for k in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------- power ceiling


_erfc = np.frompyfunc(math.erfc, 1, 1)


def _norm_cdf(x: np.ndarray | float) -> np.ndarray:
    """Standard normal CDF, exact to double precision (``math.erfc`` element-wise)."""
    x = np.asarray(x, dtype=float)
    return 0.5 * _erfc(-x / math.sqrt(2.0)).astype(float)


@lru_cache(maxsize=64)
def _chi_scale_nodes(df: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``s = sqrt(V/df)`` and weights for ``V ~ chi2(df)`` (trapezoid in log V)."""
    x = np.linspace(math.log(1e-30 * df), math.log(df + 60 * math.sqrt(df) + 200), 4001)
    v = np.exp(x)
    half = df / 2.0
    log_dens = (half - 1) * x - v / 2 - half * math.log(2.0) - math.lgamma(half) + x
    w = np.exp(log_dens)
    w[[0, -1]] *= 0.5
    w *= x[1] - x[0]
    return np.sqrt(v / df), w / w.sum()


def two_sided_power(delta: float, df: float, alpha: float) -> float:
    """Power of a two-sided t test (noncentrality ``delta``, ``df``; z when ``df`` is inf).

    ``P(|T| > t_{1-alpha/2, df})`` with ``T = (Z + delta) / sqrt(V / df)``,
    ``V ~ chi2(df)``, integrated numerically over V (no SciPy needed).

    Examples
    --------
    >>> round(two_sided_power(2.8, math.inf, 0.05), 3)
    0.8
    """
    crit = t_quantile(1 - alpha / 2, df)
    if math.isinf(df):
        s, w = np.array([1.0]), np.array([1.0])
    else:
        s, w = _chi_scale_nodes(float(df))
    tail = _norm_cdf(delta - crit * s) + _norm_cdf(-delta - crit * s)
    return float(np.clip((tail * w).sum(), 0.0, 1.0))


@lru_cache(maxsize=256)
def t_quantile(q: float, df: float) -> float:
    """Quantile of Student's t (normal when ``df`` is inf).

    Newton's method on the CDF (the mixture integral of :func:`two_sided_power`) with
    the closed-form density, from the normal quantile; bisection guards each step.

    Examples
    --------
    >>> round(t_quantile(0.975, 29), 3)
    2.045
    """
    if math.isinf(df):
        s, w = np.array([1.0]), np.array([1.0])
        log_c = -0.5 * math.log(2 * math.pi)

        def log_pdf(t: float) -> float:
            return log_c - t * t / 2
    else:
        s, w = _chi_scale_nodes(float(df))
        log_c = (math.lgamma((df + 1) / 2) - math.lgamma(df / 2)
                 - 0.5 * math.log(df * math.pi))

        def log_pdf(t: float) -> float:
            return log_c - (df + 1) / 2 * math.log1p(t * t / df)

    def cdf(t: float) -> float:
        return float((_norm_cdf(t * s) * w).sum())

    lo, hi = -1e4, 1e4
    t = 0.0
    for _ in range(200):
        f = cdf(t) - q
        if abs(f) < 1e-13:
            break
        lo, hi = (t, hi) if f < 0 else (lo, t)
        step = t - f / math.exp(log_pdf(t))
        t = step if lo < step < hi else (lo + hi) / 2
        if hi - lo < 1e-12:
            break
    return t


def ceiling_df(n_clusters: int, df_method: str) -> float:
    """Degrees of freedom of the fitted test as N grows with ``n_clusters`` fixed."""
    return float(n_clusters - 1) if df_method in ("satterthwaite", "kenward_roger") else math.inf


def power_ceiling(
    effect: float,
    slope_variance: float,
    n_clusters: int | None,
    *,
    alpha: float = 0.05,
    df_method: str = "satterthwaite",
    random_slope: bool = True,
) -> float:
    """Power for the average effect of a predictor as N → ∞ at a fixed number of clusters.

    With ``J`` clusters of size ``m → ∞`` each cluster's own slope is estimated
    exactly, so the fixed-effect estimate becomes the mean of ``J`` draws of the true
    slopes: ``Var(beta_hat) → tau1² / J`` with ``tau1² = slope_variance``.  The ceiling
    is the power of the two-sided Wald test at ``alpha`` with
    ``SE = sqrt(tau1² / J)``, noncentrality ``delta = |beta| / SE`` and the test's
    limiting reference distribution: ``t`` with ``J − 1`` df for Satterthwaite (and
    Kenward–Roger), the normal for ``z``, ``residual`` and ``between_within`` (whose
    df grow with N)::

        ceiling = P(|T_{J-1}(delta)| > t_{1-alpha/2, J-1})

    Without a random slope for the predictor, with ``slope_variance = 0`` or with the
    number of clusters growing with N (``n_clusters=None``), SE → 0 and the ceiling is
    1 (``alpha`` for a null effect).

    Examples
    --------
    >>> round(power_ceiling(0.15, 0.1, 30), 3)
    0.717
    >>> power_ceiling(0.15, 0.0, 30)
    1.0
    """
    if effect == 0:
        return float(alpha)
    if not random_slope or slope_variance <= 0 or n_clusters is None:
        return 1.0
    delta = abs(effect) / math.sqrt(slope_variance / n_clusters)
    return two_sided_power(delta, ceiling_df(n_clusters, df_method), alpha)


def min_clusters_for(
    target: float,
    effect: float,
    slope_variance: float,
    *,
    alpha: float = 0.05,
    df_method: str = "satterthwaite",
    limit: int = 100_000,
) -> int | None:
    """Fewest clusters whose :func:`power_ceiling` reaches ``target`` (None above ``limit``).

    Examples
    --------
    >>> min_clusters_for(0.8, 0.15, 0.1)
    39
    """
    if effect == 0:
        return None

    def ok(j: int) -> bool:
        return power_ceiling(effect, slope_variance, j, alpha=alpha,
                             df_method=df_method) >= target

    if slope_variance <= 0:
        return 2
    lo, hi = 2, 4
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > limit:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi if not ok(lo) else lo


def point_params(ds: xr.Dataset, point: Mapping[str, Any], test: str) -> dict[str, Any]:
    """The model parameters at a design point: the store's base parameters, then the point.

    Returns a dict with ``effect``, ``slope_variance``, ``n_clusters`` (None when the
    number of clusters grows with N), ``alpha``, ``df_method`` and ``random_slope``.
    """
    base = ds.attrs.get("base_params", "{}")
    base = json.loads(base) if isinstance(base, str) else dict(base)
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


# ------------------------------------------------------------- required N


@dataclass(frozen=True)
class RequiredN:
    """Where one power curve reaches the target.

    Attributes
    ----------
    status
        ``"reached"``, ``"below grid"`` (already at the smallest size) or
        ``"not reached"``.
    grid_n
        Smallest grid size whose observed power is >= target (None if none).
    estimate
        Interpolated size on the monotone (isotonic) fit of the curve.
    low, high
        Range for the estimate: where the curves of the Wilson upper and lower bounds
        cross the target (``high`` None: beyond the grid).
    max_power, n_at_max
        Highest observed power and the (smallest) size where it was seen.
    monotone
        Whether the observed curve never decreases.
    """

    status: str
    grid_n: float | None
    estimate: float | None
    low: float | None
    high: float | None
    max_power: float
    n_at_max: float | None
    monotone: bool


def isotonic(y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Non-decreasing least-squares fit of ``y`` with weights ``w`` (pool adjacent violators).

    Examples
    --------
    >>> isotonic(np.array([0.5, 0.8, 0.7, 0.9])).round(2).tolist()
    [0.5, 0.75, 0.75, 0.9]
    """
    y = np.asarray(y, dtype=float)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=float)
    blocks: list[list[float]] = []  # [mean, weight, count]
    for yi, wi in zip(y, w, strict=True):
        blocks.append([yi, wi, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0] + _TOL:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            wt = w1 + w2
            blocks.append([(m1 * w1 + m2 * w2) / wt if wt > 0 else (m1 + m2) / 2, wt, c1 + c2])
    return np.concatenate([np.full(int(c), m) for m, _, c in blocks]) if blocks else y


def first_crossing(sizes: np.ndarray, curve: np.ndarray, target: float) -> float | None:
    """Size where a non-decreasing ``curve`` first reaches ``target``, linear between
    grid sizes; ``sizes[0]`` if it starts above, None if it never gets there.

    Examples
    --------
    >>> first_crossing(np.array([100, 200]), np.array([0.6, 1.0]), 0.8)
    150.0
    """
    hit = np.flatnonzero(curve >= target - _TOL)
    if hit.size == 0:
        return None
    k = int(hit[0])
    if k == 0:
        return float(sizes[0])
    p0, p1 = curve[k - 1], curve[k]
    frac = (target - p0) / (p1 - p0) if p1 > p0 else 1.0
    return float(sizes[k - 1] + frac * (sizes[k] - sizes[k - 1]))


def required_n_curve(
    sizes: Sequence[float],
    n_significant: Sequence[float],
    n_success: Sequence[float],
    target: float,
) -> RequiredN:
    """Required sample size from one power curve (pure; see :class:`RequiredN`).

    The estimate interpolates linearly in N on the isotonic fit of the observed power
    (weights = successful simulations), which irons out Monte Carlo wiggles without
    moving a curve that is already monotone; linear interpolation of a concave curve
    errs towards larger N.  Its range comes from the Wilson 95% bounds of the fitted
    power at each size (made non-decreasing): the upper bound's crossing is the
    smallest plausible N, the lower bound's the largest.

    Examples
    --------
    >>> r = required_n_curve([300, 600, 900], [300, 600, 760], [1000, 1000, 1000], 0.7)
    >>> r.status, r.grid_n, round(r.estimate)
    ('reached', 900.0, 788)
    """
    s = np.asarray(sizes, dtype=float)
    k = np.asarray(n_significant, dtype=float)
    n = np.asarray(n_success, dtype=float)
    order = np.argsort(s, kind="stable")
    s, k, n = s[order], k[order], n[order]
    keep = n > 0
    s, k, n = s[keep], k[keep], n[keep]
    if s.size == 0:
        return RequiredN("not reached", None, None, None, None, math.nan, None, True)
    p = k / n
    monotone = bool(np.all(np.diff(p) >= -_TOL))
    reached = np.flatnonzero(p >= target - _TOL)
    grid_n = float(s[reached[0]]) if reached.size else None
    best = int(np.argmax(p))
    fit = isotonic(p, n)
    lower, upper = wilson(fit, n)
    lower, upper = np.maximum.accumulate(lower), np.maximum.accumulate(upper)
    estimate = first_crossing(s, fit, target)
    low = first_crossing(s, upper, target)
    high = first_crossing(s, lower, target)
    if estimate is None:
        status = "not reached"
    elif fit[0] >= target - _TOL:
        status = "below grid"
    else:
        status = "reached"
    return RequiredN(status, grid_n, estimate, low, high, float(p[best]), float(s[best]),
                     monotone)


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
        One row per point of the other axes (they are the index) with the columns of
        :class:`RequiredN` plus ``ceiling`` (power as N → ∞, :func:`power_ceiling`)
        and ``target``.

    Examples
    --------
    >>> required_sample_size(ds, 0.8, at={"n_clusters": 30})  # doctest: +SKIP
    """
    target = float(target if target is not None else ds.attrs.get("target_power", 0.8))
    test = pick_test(ds, test)
    sub = select(ds, at).sel(test=test)
    if axis not in sub.dims:
        raise ValueError(f"the results have no {axis!r} axis to find a required size on")
    others = [a for a in axes_of(sub) if a != axis]
    sizes = sub[axis].values
    records = []
    index_points = (
        [dict(zip(others, combo, strict=True)) for combo in
         pd.MultiIndex.from_product([sub[a].values for a in others])]
        if others else [{}]
    )
    for point in index_points:
        curve = sub.isel({a: _coord_index(sub, a, v) for a, v in point.items()})
        r = required_n_curve(sizes, curve["n_significant"].values, curve["n_success"].values,
                             target)
        full_point = {**(at or {}), **{a: _scalar(v) for a, v in point.items()}}
        params = point_params(ds, full_point, test)
        ceiling = power_ceiling(params["effect"], params["slope_variance"], params["n_clusters"],
                                alpha=params["alpha"], df_method=params["df_method"],
                                random_slope=params["random_slope"])
        records.append({**{a: _scalar(v) for a, v in point.items()}, **asdict(r),
                        "ceiling": ceiling, "target": target})
    frame = pd.DataFrame.from_records(records)
    return frame.set_index(others) if others else frame


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def required_n_text(row: Mapping[str, Any], max_size: float) -> str:
    """One required-N cell: ``≈1,050 [950–1,200]``, ``≤300`` or ``>5,000``."""
    status = row["status"]
    if status == "below grid":
        return f"≤{format_n(row['estimate'])}"
    if status == "not reached":
        return f">{format_n(max_size)}"
    high = row["high"]
    hi_text = format_n(_round_n(high)) if high is not None and not _isnan(high) else (
        f">{format_n(max_size)}")
    return (f"≈{format_n(_round_n(row['estimate']))} "
            f"[{format_n(_round_n(row['low']))}–{hi_text}]")


def _isnan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _round_n(n: float | None) -> float | None:
    """Round an interpolated N to 10 (Monte Carlo error is far larger)."""
    return None if n is None or _isnan(n) else float(10 * math.ceil(n / 10))


def required_n_table(
    ds: xr.Dataset,
    target: float | None = None,
    *,
    test: str | None = None,
    at: Mapping[str, Any] | None = None,
    fmt: str = "markdown",
) -> str:
    """:func:`required_sample_size` as a markdown or CSV table.

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
    header = [*others, "Smallest grid N", "Estimated N [95% range]", "Max power (at N)",
              "Ceiling N→∞"]
    body = []
    for idx, row in frame.reset_index().iterrows():
        del idx
        labels = [format_value(a, row[a]) for a in others]
        grid_n = format_n(row["grid_n"]) if row["grid_n"] is not None and not _isnan(
            row["grid_n"]) else "not reached"
        body.append([*labels, grid_n, required_n_text(row, max_size),
                     f"{pct(row['max_power'])} ({format_n(row['n_at_max'])})",
                     pct(row["ceiling"])])
    t = frame["target"].iloc[0] if len(frame) else target
    return (markdown(header, body) + f"\n\nTarget power {pct(t, 0)}. Estimated N interpolates "
            "the isotonic fit of the power curve; the range is where its Wilson 95% bounds "
            "cross the target. Ceiling: power as N → ∞ at that number of clusters.")


# -------------------------------------------------------- the tutorial tables

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
    """``61.4%`` (with ``[58.0, 64.7]`` when ``ci``), ``*`` when the point is incomplete."""
    p = float(cell["power"])
    text = pct(p)
    if ci and not math.isnan(p):
        text += f" [{100 * float(cell['power_lower']):.1f}, {100 * float(cell['power_upper']):.1f}]"
    if "complete" in cell and not bool(cell["complete"]):
        text += "*"
    return text


def slope_variance_table(
    ds: xr.Dataset,
    *,
    sample_size: int = 900,
    n_clusters: int = 30,
    target: float | None = None,
    test: str | None = None,
    ci: bool = False,
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
    target = float(target if target is not None else ds.attrs.get("target_power", 0.8))
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
            need += f" ({_round_n(r['estimate']) / _round_n(base_n):.1f}x sv=0)"
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
    ci: bool = False,
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
    rows = []
    for i, j in enumerate(ds["n_clusters"].values):
        power = _power_cell(sub.isel(n_clusters=i), ci)
        rows.append([str(int(j)), power])
    return markdown(["n_clusters", f"Power (slope_var={slope_variance:.2f}, N={sample_size:,})"],
                    rows)


def recommendation(ds: xr.Dataset, target: float | None = None, *,
                   test: str | None = None) -> str:
    """For each slope_variance, the fewest grid clusters reaching the target and at what N.

    Also gives the fewest clusters whose ceiling (N → ∞) reaches the target at all,
    from :func:`min_clusters_for`.

    Examples
    --------
    >>> print(recommendation(ds, 0.8))  # doctest: +SKIP
    - slope_variance 0.10: at least 40 clusters (N ≈ 2,310 there) ...
    """
    ds = _fixed_extra(ds)
    test = pick_test(ds, test)
    target = float(target if target is not None else ds.attrs.get("target_power", 0.8))
    req = required_sample_size(ds, target, test=test).reset_index()
    max_size = float(ds[SIZE_AXIS].values.max())
    lines = []
    for sv in ds["slope_variance"].values:
        rows = req[np.isclose(req["slope_variance"].astype(float), float(sv))]
        rows = rows.sort_values("n_clusters")
        ok = rows[rows["status"] != "not reached"]
        params = point_params(ds, {"slope_variance": float(sv)}, test)
        j_min = min_clusters_for(target, params["effect"], float(sv), alpha=params["alpha"],
                                 df_method=params["df_method"]) if params["random_slope"] else 2
        bound = (f"; no N reaches it with fewer than {j_min} clusters"
                 if j_min is not None and j_min > 2 else "")
        label = format_value("slope_variance", sv)
        if ok.empty:
            top = rows.iloc[-1]
            lines.append(
                f"- slope_variance {label}: {pct(target, 0)} is not reached with up to "
                f"{int(top['n_clusters'])} clusters and N ≤ {format_n(max_size)} (best "
                f"{pct(top['max_power'])}, ceiling {pct(top['ceiling'])}){bound}.")
            continue
        first = ok.iloc[0]
        lines.append(
            f"- slope_variance {label}: at least {int(first['n_clusters'])} clusters "
            f"(N {required_n_text(first, max_size)} there){bound}.")
    return (f"Minimum clusters for {pct(target, 0)} power ({test}):\n" + "\n".join(lines))


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
    point = {a: _scalar(worst[a].values.flat[0]) for a in axes_of(ds)}
    shown = ", ".join(f"{a}={format_value(a, v)}" for a, v in point.items())
    return (f"Warning: {n_over} design point(s) have more failed fits than "
            f"max_failed={100 * float(limit):g}% (worst {pct(float(over.max()))} at {shown}); "
            "their power is over the successful fits only: use more clusters or more "
            "observations per cluster there.")


def tutorial_tables(ds: xr.Dataset, target: float | None = None, *, test: str | None = None,
                    ci: bool = False, sample_size: int = 900, n_clusters: int = 30,
                    slope_variance: float = 0.10) -> str:
    """Both tutorial tables, their captions and the recommendation, as markdown.

    Examples
    --------
    >>> print(tutorial_tables(open_results("results/random-slopes-docs.zarr")))  # doctest: +SKIP
    """
    test = pick_test(ds, test)
    caption = _caption(ds, test)
    parts = [
        "### Effect of slope_variance on power",
        slope_variance_table(ds, sample_size=sample_size, n_clusters=n_clusters,
                             target=target, test=test, ci=ci),
        caption,
        "### More clusters is critical",
        cluster_table(ds, slope_variance=slope_variance, sample_size=sample_size, test=test,
                      ci=ci),
        caption,
        recommendation(ds, target, test=test),
    ]
    note = failure_note(ds)
    if note:
        parts.append(note)
    if "complete" in ds and not bool(ds["complete"].all()):
        parts.append("\\* point not complete yet (power from the chunks done so far)")
    return "\n\n".join(parts)


def _caption(ds: xr.Dataset, test: str) -> str:
    a = ds.attrs
    base = a.get("base_params", "{}")
    base = json.loads(base) if isinstance(base, str) else dict(base)
    effect = base.get("effects", {}).get(test, "?")
    icc = base.get("icc", "?")
    return (f"*Simulation: `{test}={effect}`, ICC={icc}, {a.get('simulations', '?')} "
            f"simulations, seed={a.get('seed', '?')}, {a.get('estimator', 'reml').upper()} "
            f"with {a.get('df_method', 'satterthwaite')} df; random slope fitted at every "
            "slope_variance.*")
