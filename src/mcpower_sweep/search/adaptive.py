"""The adaptive search: simulations placed in batches where they inform the crossing.

``find_sample_size`` without ``by=`` and ``find_effect_size`` call :func:`search` with a
function that simulates the design at one value (a size in the chosen unit, or an effect).

The design is sequential on the probit model of power (:func:`mcpower_sweep.stats.
probit_crossing`).  A first batch spreads a few simulations over ``[low, high]``
(geometrically); every later batch goes half to the current estimate of the crossing and a
quarter to each of two sizes where the fitted power is ``SPREAD`` (0.7) probit units
below and above the target.  The estimate is where the crossing is most likely, so
simulations there shrink the error of the fitted curve where it matters; the two slope
points keep the slope known (the interval is the curve's error divided by its slope, and
Fieller's widens sharply when the slope is uncertain).  Their distance on the probit
scale is fixed, so they close in on the answer with the fit and (almost) every
simulation is spent where power is between about 55% and 95%, unlike a grid's (slope
points at the interval's ends needed 14% more simulations in benchmarks/bench_search.py).
A batch is sized so the interval should reach the precision (its width falls like
1 / sqrt(simulations)), at most doubling the simulations so far.  While the probit model
has no increasing fit (every count 0, all significant, or a curve falling by chance),
a batch bisects the bracket of the isotonic fit (in log size) instead, or checks the end
of the range the data point to.

Reproducible: the simulations of batch ``b`` at value ``v`` are simulations ``0 .. m-1`` of
the seed :func:`batch_seed` ``(seed, b, v)``, and the engine's simulation ``i`` of a seed is
the same whatever the threads or chunking, so the same seed gives the same batches and
the same answer.  Batches use independent seeds, so the binomial likelihood of the probit
fit is exact (common random numbers would correlate the sizes).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from ..crossing import Crossing, first_crossing, probit_crossing
from ..results.power import PowerResult
from ..stats import isotonic, wilson_interval

__all__ = ["Step", "Search", "batch_seed", "search"]

FIRST_VALUES = 5  # values of the first, exploring batch
MIN_PER_VALUE = 20  # fewest simulations at one value of a batch
MIN_BATCH = 120  # fewest simulations in a batch after the first
# The slope points sit this far either side of the target on the probit scale (0.8:
# at 56% and 93% power): near enough to inform the crossing, far enough to fix the slope.
SPREAD = 0.7


@dataclass(frozen=True)
class Step:
    """The simulations of one batch at one value."""

    batch: int
    value: float
    result: PowerResult


@dataclass(frozen=True)
class Search:
    """Outcome of :func:`search`: the batches run, the final fit and what it says.

    ``status`` is ``"reached"``, ``"below range"`` (the target is met at ``low`` already),
    ``"not reached"`` (not even at ``high``) or ``"undecided"`` (the budget ran out before
    the curve could be fitted); ``precise`` whether the interval reached the precision
    asked for (False: the budget ran out first).
    """

    steps: tuple[Step, ...]
    crossing: Crossing
    status: str
    precise: bool


def batch_seed(seed: int, batch: int, value: float) -> int:
    """The seed of batch ``batch`` at ``value``: a 64-bit hash of the three (SeedSequence).

    >>> batch_seed(1, 0, 20) == batch_seed(1, 0, 20.0) != batch_seed(1, 1, 20)
    True
    """
    key = struct.unpack("<Q", struct.pack("<d", float(value)))[0]
    state = np.random.SeedSequence([int(seed), int(batch), key]).generate_state(1, np.uint64)
    return int(state[0])


def pooled(steps: tuple[Step, ...] | list[Step], test: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values (sorted, distinct) and their pooled significant and successful counts."""
    values = np.array(sorted({s.value for s in steps}), dtype=float)
    k = np.zeros(values.size)
    n = np.zeros(values.size)
    for s in steps:
        i = int(np.searchsorted(values, s.value))
        k[i] += s.result.significant[test]
        n[i] += s.result.n_success
    return values, k, n


def _round(values: list[float], low: float, high: float, integer: bool) -> list[float]:
    out = [min(max(v, low), high) for v in values]
    return [float(round(v)) if integer else float(f"{v:.4g}") for v in out]


def _end_status(values: np.ndarray, k: np.ndarray, n: np.ndarray, c: Crossing, low: float,
                high: float, target: float) -> str | None:
    """``"below range"`` / ``"not reached"`` when the data or the fit show it, else None."""
    if values.size == 0:
        return None
    lo_ci = wilson_interval(k[0], n[0]) if values[0] == low else (0.0, 1.0)
    hi_ci = wilson_interval(k[-1], n[-1]) if values[-1] == high else (0.0, 1.0)
    if lo_ci[0] >= target or (c.high is not None and c.high < low):
        return "below range"
    if hi_ci[1] < target or (c.low is not None and c.low > high):
        return "not reached"
    return None


def _next_values(values: np.ndarray, k: np.ndarray, n: np.ndarray, c: Crossing, low: float,
                 high: float, target: float) -> tuple[list[float], list[float]]:
    """Where the next batch goes and the share of it at each value."""
    if c.estimate is not None:
        q = float(special.ndtri(target))
        at = [math.exp(c.centre + (q + d - c.intercept) / c.slope) for d in (-SPREAD, SPREAD)]
        return [c.estimate, *at], [0.5, 0.25, 0.25]
    fit = isotonic(k / n, n)
    if fit[-1] < target:
        return [high], [1.0]
    if fit[0] >= target:
        return [low], [1.0]
    # bisect the bracket of the isotonic fit, in log
    cross = first_crossing(values, fit, target) or low
    j = int(np.flatnonzero(fit >= target)[0])
    a, b = values[max(j - 1, 0)], values[j]
    mid = [math.exp(t) for t in np.linspace(math.log(a), math.log(b), 5)[1:-1]]
    return [cross, *mid], [0.4, 0.2, 0.2, 0.2]


def search(
    run: Callable[[int, float, int], PowerResult],
    test: str,
    *,
    low: float,
    high: float,
    target: float,
    precision: float | int,
    max_simulations: int,
    integer: bool = True,
    first_batch: int = 200,
) -> Search:
    """Search ``[low, high]`` for the value where the power of ``test`` reaches ``target``.

    Parameters
    ----------
    run
        ``run(batch, value, simulations)`` simulates the design at ``value`` (its seed
        derived from the batch and the value, see :func:`batch_seed`).
    test
        The test whose power curve is searched.
    low, high
        The range searched (``low < high``).
    target
        Target power.
    precision
        Stop when the 95% interval's half-width is at most this: a float below 1 is
        relative to the estimate (0.05: ±5%), an int is absolute (in the values' units).
    max_simulations
        Budget: no batch starts that would exceed it (give or take the
        ``MIN_PER_VALUE`` simulations of a value).
    integer
        Values are whole (sizes); otherwise rounded to 4 significant digits (effects).
    first_batch
        Simulations of the exploring batch, spread over ``FIRST_VALUES`` values.

    Examples
    --------
    >>> found = search(run, "x", low=10, high=80, target=0.8, precision=0.05,
    ...                max_simulations=20_000)  # doctest: +SKIP
    >>> found.crossing.estimate, found.crossing.low, found.crossing.high  # doctest: +SKIP
    (33.4, 31.9, 35.1)
    """
    steps: list[Step] = []
    used = 0

    def add(batch: int, values: list[float], sims: list[int]) -> None:
        nonlocal used
        merged: dict[float, int] = {}
        for v, m in zip(values, sims, strict=True):
            merged[v] = merged.get(v, 0) + m
        for v, m in merged.items():
            steps.append(Step(batch, v, run(batch, v, m)))
            used += m

    explore = sorted(set(_round(list(np.geomspace(low, high, FIRST_VALUES)), low, high,
                                integer)))
    per = max(MIN_PER_VALUE, min(first_batch, max_simulations) // len(explore))
    add(0, explore, [per] * len(explore))
    batch = 0
    while True:
        values, k, n = pooled(steps, test)
        c = probit_crossing(values, k, n, target)
        status = _end_status(values, k, n, c, low, high, target)
        if status is not None:
            return Search(tuple(steps), c, status, True)
        goal = None
        if c.estimate is not None and c.low is not None and c.high is not None:
            half = (c.high - c.low) / 2
            goal = precision * c.estimate if isinstance(precision, float) else precision
            if half <= goal:
                return Search(tuple(steps), c, "reached", True)
            wanted = used * (half / goal) ** 2 - used
        else:
            wanted = used / 2
        left = max_simulations - used
        size = int(min(max(wanted, MIN_BATCH), used, left))
        if size < MIN_BATCH or left < MIN_BATCH:
            status = "undecided" if c.estimate is None else "reached"
            return Search(tuple(steps), c, status, False)
        batch += 1
        where, shares = _next_values(values, k, n, c, low, high, target)
        where = _round(where, low, high, integer)
        add(batch, where, [max(MIN_PER_VALUE, round(size * s)) for s in shares])
