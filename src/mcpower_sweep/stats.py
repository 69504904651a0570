"""The Python-side statistics, each defined once, on SciPy.

Everything that turns simulation counts into answers lives here: the Wilson interval of
a power estimate, the t and normal distribution functions, the noncentral-t power of a
two-sided Wald test, multiple-testing rejections and isotonic regression.  Where a power
curve reaches the target (the required N, the minimum detectable effect) is in
:mod:`mcpower_sweep.crossing`, on these.  The C++ engine keeps what the hot loop needs
(p-values of each fit).

Examples
--------
>>> lo, hi = wilson_interval(80, 100)
>>> round(float(lo), 3), round(float(hi), 3)
(0.711, 0.867)
>>> round(two_sided_power(2.8, math.inf, 0.05), 3)
0.8
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .params import CORRECTIONS

# SciPy is imported where used: it takes seconds to import (scipy.special alone pulls in
# numpy.f2py), and reading a store (open_results, `mcpower-sweep info`) needs none of it.
Z_95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975), exactly (a test checks)
# Two sizes' powers closer than this are treated as equal (ties in a monotone curve).
TOL = 1e-12

__all__ = [
    "Z_95",
    "isotonic",
    "norm_cdf",
    "reject",
    "t_quantile",
    "t_quantiles",
    "two_sided_power",
    "wilson_interval",
]


def wilson_interval(successes: Any, trials: Any, z: float = Z_95) -> tuple[Any, Any]:
    """Wilson score interval of a binomial proportion, element-wise (vectorised).

    Scalars give a pair of floats, arrays a pair of arrays; where ``trials`` is 0 both
    bounds are NaN.  For labelled arrays wrap it in ``xarray.apply_ufunc``.

    Parameters
    ----------
    successes, trials
        Counts (broadcast against each other).
    z
        Normal quantile of the two-sided level (default: 95%).

    Examples
    --------
    >>> lo, hi = wilson_interval(np.array([0, 80, 5]), np.array([100, 100, 0]))
    >>> np.round(lo, 3).tolist(), np.round(hi, 3).tolist()
    ([0.0, 0.711, nan], [0.037, 0.867, nan])
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        z2 = z * z
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
        lower = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        upper = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    if lower.ndim == 0:
        return float(lower), float(upper)
    return lower, upper


def norm_cdf(x: Any) -> Any:
    """Standard normal distribution function (``scipy.special.ndtr``)."""
    from scipy import special

    return special.ndtr(x)


def t_quantile(q: float, df: float) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (the normal when ``df`` is inf).

    Examples
    --------
    >>> round(t_quantile(0.975, 29), 3)
    2.045
    """
    from scipy import stats as _st

    if math.isinf(df):
        return float(_st.norm.ppf(q))
    return float(_st.t.ppf(q, df))


def t_quantiles(q: float, df: np.ndarray) -> np.ndarray:
    """:func:`t_quantile` of an array of ``df`` (the normal's where ``df`` is inf).

    >>> t_quantiles(0.975, np.array([29.0, np.inf])).round(3).tolist()
    [2.045, 1.96]
    """
    from scipy import special

    df = np.asarray(df, dtype=np.float64)
    infinite = np.isinf(df)
    # special.stdtrit is what t.ppf evaluates, without its per-call overhead (hot: per fit).
    return np.where(infinite, special.ndtri(q), special.stdtrit(np.where(infinite, 1, df), q))


def reject(pvalues: np.ndarray, alpha: float, method: str) -> np.ndarray:
    """Which tests of each family (a row of ``pvalues``) ``method`` rejects at ``alpha``.

    The thresholds are those of ``statsmodels.stats.multitest.multipletests`` (methods
    ``"bonferroni"``, ``"holm"``, ``"fdr_bh"``), compared strictly (``p < threshold``) like
    every test of this package: Bonferroni ``alpha / m``; Holm step-down, the i-th smallest
    p-value against ``alpha / (m - i + 1)`` until one fails; Benjamini-Hochberg step-up,
    all p-values up to the largest i-th smallest below ``i / m * alpha``.

    Parameters
    ----------
    pvalues
        ``[family, test]`` p-values (no NaN).
    alpha
        Level of the family.
    method
        One of :data:`CORRECTIONS`.

    Examples
    --------
    >>> p = np.array([[0.01, 0.04, 0.03]])
    >>> [reject(p, 0.05, m).tolist() for m in ("bonferroni", "holm", "bh")]
    [[[True, False, False]], [[True, False, False]], [[True, True, True]]]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.shape[-1]
    if method == "none":
        return p < alpha
    if method == "bonferroni":
        return p < alpha / m
    order = np.argsort(p, axis=-1, kind="stable")
    ordered = np.take_along_axis(p, order, axis=-1)
    rank = np.arange(m)
    if method == "holm":
        hit = np.logical_and.accumulate(ordered < alpha / np.arange(m, 0, -1), axis=-1)
    elif method == "bh":
        below = ordered < np.arange(1, m + 1) / m * alpha
        last = np.where(below.any(axis=-1), m - 1 - np.argmax(below[..., ::-1], axis=-1), -1)
        hit = rank <= last[..., None]
    else:
        raise ValueError(f"method={method!r}: use one of {', '.join(CORRECTIONS)}")
    out = np.empty_like(hit)
    np.put_along_axis(out, order, hit, axis=-1)
    return out


def two_sided_power(delta: float, df: float, alpha: float) -> float:
    """Power of a two-sided t test at level ``alpha`` with noncentrality ``delta``.

    ``P(|T| > t_{1-alpha/2, df})`` for ``T`` noncentral t with ``df`` degrees of freedom
    and noncentrality ``delta`` (normal with mean ``delta`` when ``df`` is inf).

    Examples
    --------
    >>> round(two_sided_power(0.0, 20, 0.05), 6)
    0.05
    """
    from scipy import special
    from scipy import stats as _st

    crit = t_quantile(1.0 - alpha / 2.0, df)
    if math.isinf(df):
        power = special.ndtr(delta - crit) + special.ndtr(-delta - crit)
    else:
        # P(T < -c | delta) = P(T > c | -delta): two upper tails, each accurate far out
        # (SciPy's nct.cdf returns NaN deep in the lower tail).
        power = _st.nct.sf(crit, df, delta) + _st.nct.sf(crit, df, -delta)
    return float(np.clip(power, 0.0, 1.0))


def isotonic(y: Sequence[float] | np.ndarray, w: Sequence[float] | np.ndarray | None = None
             ) -> np.ndarray:
    """Non-decreasing weighted least-squares fit of ``y`` (``scipy.optimize.isotonic_regression``).

    Examples
    --------
    >>> isotonic([0.5, 0.8, 0.7, 0.9]).round(2).tolist()
    [0.5, 0.75, 0.75, 0.9]
    """
    from scipy import optimize

    y = np.asarray(y, dtype=float)
    if y.size == 0:
        return y
    weights = None if w is None else np.asarray(w, dtype=float)
    return np.asarray(optimize.isotonic_regression(y, weights=weights).x)
