"""The power ceiling: the most power any sample size can give at a fixed number of clusters.

With a random slope, adding observations to the same clusters cannot remove the
cluster-to-cluster variation of the effect, so power levels off below 1 as N grows.
:func:`power_ceiling` is that limit and :func:`min_clusters_for` the fewest clusters
whose limit reaches a target.

Examples
--------
>>> round(power_ceiling(0.15, 0.1, 30), 3)
0.709
>>> min_clusters_for(0.8, 0.15, 0.1)
37
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import xarray as xr

from ..stats import TOL, two_sided_power
from .axes import point_params

CEILING_NOTE = ("Ceiling: power as N → ∞ at that number of clusters, because the "
                "cluster-to-cluster variation of the effect does not shrink with N.")


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

    computed with SciPy's noncentral t (:func:`mcpower_sweep.stats.two_sided_power`).
    Without a random slope for the predictor, with ``slope_variance = 0`` or with the
    number of clusters growing with N (``n_clusters=None``), SE → 0 and the ceiling is
    1 (``alpha`` for a null effect).

    Examples
    --------
    >>> round(power_ceiling(0.15, 0.1, 30), 3)
    0.709
    >>> power_ceiling(0.15, 0.0, 30)
    1.0
    """
    if effect == 0:
        return float(alpha)
    if not random_slope or slope_variance <= 0 or n_clusters is None:
        return 1.0
    delta = abs(effect) / math.sqrt(slope_variance / n_clusters)
    return two_sided_power(delta, ceiling_df(n_clusters, df_method), alpha)


def ceiling_at(ds: xr.Dataset, point: Mapping[str, Any], test: str) -> float:
    """:func:`power_ceiling` at a design point of a results Dataset (its parameters from
    the store's base parameters and the point)."""
    p = point_params(ds, point, test)
    return power_ceiling(p["effect"], p["slope_variance"], p["n_clusters"], alpha=p["alpha"],
                         df_method=p["df_method"], random_slope=p["random_slope"])


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
    37
    >>> power_ceiling(0.15, 0.1, 37) >= 0.8 > power_ceiling(0.15, 0.1, 36)
    True
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


ABOVE_BY_MC = "above the ceiling by Monte Carlo error: its 95% interval contains the ceiling"
ABOVE_BEYOND_MC = ("above the ceiling beyond Monte Carlo error: the test fitted at finite N "
                   "is not the limit's test")


def above_ceiling(power: float, lower: float, ceiling: float) -> str:
    """Why an observed power exceeds the ceiling ("" when it does not).

    The ceiling is a limit that finite N never beats, so an estimate above it is
    either Monte Carlo error (its Wilson 95% interval, lower bound ``lower``, still
    contains the ceiling) or a sign that the fitted test differs from the limit's.

    Examples
    --------
    >>> above_ceiling(0.481, 0.446, 0.476) == ABOVE_BY_MC
    True
    >>> above_ceiling(0.40, 0.37, 0.476)
    ''
    """
    if not power > ceiling + TOL:
        return ""
    return ABOVE_BY_MC if lower <= ceiling + TOL else ABOVE_BEYOND_MC
