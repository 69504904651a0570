"""Where a power curve reaches the target power: *the* definition of the sample size
(or effect) that reaches it, which ``find_sample_size``, the searches, the tables and the
plots all use.

:func:`required_n` reads a grid of sizes (isotonic curve and Wilson band, or with each
simulation's outcomes the joint probit fit); :func:`probit_crossing` fits a probit model
of power in log size to every simulation and inverts it with a Fieller interval.

Examples
--------
>>> first_crossing(np.array([100, 200]), np.array([0.6, 1.0]), 0.8)
150.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .stats import TOL, Z_95, isotonic, wilson_interval

__all__ = ["Crossing", "RequiredN", "first_crossing", "probit_crossing", "required_n"]


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
    from scipy import optimize, special
    from scipy import stats as _st

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
