"""The Python-side statistics, each defined once, on SciPy.

Everything that turns simulation counts into answers lives here: the Wilson interval of
a power estimate, the t and normal distribution functions, the noncentral-t power of a
two-sided Wald test, isotonic regression, and *the* definition of the sample size that
reaches a target power (:func:`required_n`), which ``find_sample_size``, the tables and
the plots all use.  The C++ engine keeps what the hot loop needs (p-values of each fit).

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
from dataclasses import dataclass
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
    "Crossing",
    "RequiredN",
    "first_crossing",
    "isotonic",
    "norm_cdf",
    "probit_crossing",
    "reject",
    "required_n",
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


def first_crossing(sizes: np.ndarray, curve: np.ndarray, target: float) -> float | None:
    """Size where a non-decreasing ``curve`` first reaches ``target``, linear between
    sizes; ``sizes[0]`` if it starts there, None if it never gets there.

    Examples
    --------
    >>> first_crossing(np.array([100, 200]), np.array([0.6, 1.0]), 0.8)
    150.0
    """
    hit = np.flatnonzero(np.asarray(curve) >= target - TOL)
    if hit.size == 0:
        return None
    k = int(hit[0])
    if k == 0:
        return float(sizes[0])
    p0, p1 = curve[k - 1], curve[k]
    frac = (target - p0) / (p1 - p0) if p1 > p0 else 1.0
    return float(sizes[k - 1] + frac * (sizes[k] - sizes[k - 1]))


@dataclass(frozen=True)
class RequiredN:
    """Where one power curve reaches the target power.

    Attributes
    ----------
    status
        ``"reached"``; ``"below range"`` (the target is already met at the smallest
        size: the answer is at most that size, start lower); or ``"not reached"``
        (not even at the largest size).
    estimate
        The size where the monotone (isotonic) fit of the curve reaches the target,
        linear between sizes (None when not reached).
    low, high
        Its 95% range: where the Wilson upper and lower bounds of the fitted power
        reach the target (``high`` None: beyond the largest size).
    first_size
        Smallest size tried whose observed power is at or above the target.
    max_power, n_at_max
        Highest observed power and the (smallest) size where it was seen.
    monotone
        Whether the observed curve never decreases.
    """

    status: str
    estimate: float | None
    low: float | None
    high: float | None
    first_size: float | None
    max_power: float
    n_at_max: float | None
    monotone: bool


def required_n(
    sizes: Sequence[float] | np.ndarray,
    n_significant: Sequence[float] | np.ndarray,
    n_success: Sequence[float] | np.ndarray,
    target: float,
    outcomes: np.ndarray | None = None,
) -> RequiredN:
    """The required sample size (or clusters, or any size) from one power curve.

    The status, and the estimate without ``outcomes``: the isotonic fit of the observed
    power (weights = successful simulations), interpolated linearly in size; it irons out
    Monte Carlo wiggles without moving a curve that is already monotone.  Its 95% range
    then comes from the Wilson bounds of the fitted power at each size, made
    non-decreasing (the upper bound's crossing is the smallest plausible size, the lower
    bound's the largest): the conservative range counts alone allow, since the sizes'
    simulations may share random numbers.

    With the per-simulation ``outcomes`` (``[simulation, size]``, as
    :func:`probit_crossing`'s ``paired``) of a reached target, the estimate and range come
    from the probit model of power in log size fitted jointly to the sizes around the
    crossing (two each side of it), with the covariance clustered by simulation:
    every simulation there informs the answer, correctly for any correlation.

    Examples
    --------
    >>> r = required_n([300, 600, 900], [300, 600, 760], [1000, 1000, 1000], 0.7)
    >>> r.status, r.first_size, round(r.estimate)
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
    monotone = bool(np.all(np.diff(p) >= -TOL))
    reached = np.flatnonzero(p >= target - TOL)
    first_size = float(s[reached[0]]) if reached.size else None
    best = int(np.argmax(p))
    fit = isotonic(p, n)
    lower, upper = wilson_interval(fit * n, n)
    lower, upper = np.maximum.accumulate(lower), np.maximum.accumulate(upper)
    estimate = first_crossing(s, fit, target)
    low, high = first_crossing(s, upper, target), first_crossing(s, lower, target)
    if estimate is None:
        status = "not reached"
    elif fit[0] >= target - TOL:
        status = "below range"
    else:
        status = "reached"
    if outcomes is not None and status == "reached":
        j = int(np.flatnonzero(fit >= target - TOL)[0])
        near = slice(max(j - 2, 0), j + 2)
        y = np.asarray(outcomes, dtype=float)[:, order][:, keep][:, near]
        c = probit_crossing(s[near], k[near], n[near], target, paired=y)
        if c.low is not None and c.high is not None:
            estimate, low, high = c.estimate, c.low, c.high
    return RequiredN(status, estimate, low, high, first_size, float(p[best]), float(s[best]),
                     monotone)


@dataclass(frozen=True)
class Crossing:
    """Where a probit model of power, ``P(x) = Phi(a + b log x)``, reaches a target.

    Attributes
    ----------
    estimate
        The fitted crossing (None: no increasing fit, e.g. every count 0 or all successes).
    low, high
        Its 95% Fieller interval (None: unbounded on that side, the slope is not clear yet).
    intercept, slope, cov
        The fit on the centred log scale ``log x - centre`` and its covariance.
    centre
        Mean log value the fit is centred on.
    """

    estimate: float | None
    low: float | None
    high: float | None
    intercept: float = math.nan
    slope: float = math.nan
    cov: Any = None
    centre: float = 0.0


def probit_crossing(values: Sequence[float] | np.ndarray, n_significant: Any, n_success: Any,
                    target: float, z: float = Z_95, paired: np.ndarray | None = None
                    ) -> Crossing:
    """Fit ``P(significant) = Phi(a + b log value)`` by maximum likelihood to binomial counts
    and invert it at ``target``, with a 95% Fieller interval.

    Counts alone must come from independent simulations.  Simulations paired across the
    values (common random numbers: simulation ``i`` of every value shares its random
    numbers) are correlated; pass their outcomes as ``paired`` (``[simulation, value]``:
    1 significant, 0 not, NaN failed fit; the counts must be their sums) and the
    covariance is the sandwich clustered by simulation, which stays right whatever the
    correlation.

    The interval is the set of values where the fit's Wald band of ``a + b log x``
    contains ``Phi^-1(target)``: it uses every simulation jointly (the slope borrows
    strength from all sizes) and is exact in the normal limit; it is open on a side where
    the data cannot yet bound it.  A probit in log size is monotone, is the power of a z
    test whose noncentrality grows like a power of the size, and is checked against the
    exact power of balanced trials (tests/test_search_coverage.py).

    Examples
    --------
    >>> c = probit_crossing([10, 20, 40], [20, 50, 85], [100, 100, 100], 0.8)
    >>> round(c.estimate, 1), round(c.low, 1), round(c.high, 1)
    (35.7, 30.7, 44.1)
    """
    lx = np.log(np.asarray(values, dtype=float))
    k = np.asarray(n_significant, dtype=float)
    n = np.asarray(n_success, dtype=float)
    keep = n > 0
    lx, k, n = lx[keep], k[keep], n[keep]
    if lx.size < 2 or np.ptp(lx) == 0 or k.sum() in (0, n.sum()):
        return Crossing(None, None, None)
    centre = float(np.average(lx, weights=n))
    x = lx - centre

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = theta[0] + theta[1] * x
        lp, lq = special.log_ndtr(eta), special.log_ndtr(-eta)
        # d/d eta of log Phi(eta) and log Phi(-eta), stable in both tails
        dp, dq = np.exp(_st.norm.logpdf(eta) - lp), -np.exp(_st.norm.logpdf(eta) - lq)
        g = k * dp + (n - k) * dq
        return -float(np.sum(k * lp + (n - k) * lq)), -np.array([g.sum(), (g * x).sum()])

    p0 = np.clip((k + 0.5) / (n + 1.0), 0.01, 0.99)
    start = np.polyfit(x, special.ndtri(p0), 1, w=np.sqrt(n))[::-1]
    fit = optimize.minimize(nll, start, jac=True, method="BFGS")
    a, b = (float(v) for v in fit.x)
    if not np.all(np.isfinite(fit.x)) or b <= 0 or b * np.ptp(x) > 40:
        return Crossing(None, None, None)  # decreasing, or separated (no finite MLE)
    eta = a + b * x
    phi2 = np.exp(2 * _st.norm.logpdf(eta))
    w = n * phi2 / np.clip(special.ndtr(eta) * special.ndtr(-eta), 1e-300, None)
    info = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum()]])
    cov = np.linalg.inv(info)
    if paired is not None:  # sandwich: scores summed over each simulation's values
        y = np.asarray(paired, dtype=float)[:, keep]
        p = special.ndtr(eta)
        resid = np.where(np.isnan(y), 0.0, y - p) * (w / (n * np.exp(_st.norm.logpdf(eta))))
        scores = np.stack([resid.sum(axis=1), (resid * x).sum(axis=1)], axis=1)
        cov = cov @ (scores.T @ scores) @ cov
    q = float(special.ndtri(target))
    # Fieller: (a + b x - q)^2 <= z^2 Var(a + b x), a quadratic in x.
    qa = b * b - z * z * cov[1, 1]
    qb = 2 * (b * (a - q) - z * z * cov[0, 1])
    qc = (a - q) ** 2 - z * z * cov[0, 0]
    low = high = None
    disc = qb * qb - 4 * qa * qc
    if qa > 0 and disc >= 0:
        r = np.sqrt(disc)
        low = math.exp(centre + (-qb - r) / (2 * qa))
        high = math.exp(centre + (-qb + r) / (2 * qa))
    return Crossing(math.exp(centre + (q - a) / b), low, high, a, b, cov, centre)
