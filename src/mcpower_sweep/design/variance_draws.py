"""A pilot's uncertainty about its variances, drawn per simulation.

``SimulationSpec.variance_draws`` holds draws from the sampling distribution of the fitted
variance components (:meth:`MCPower.from_fit <mcpower_sweep.api.pilot.Pilot.from_fit>`
makes them by a parametric bootstrap of the pilot): each draw is one set of the fitted
model's components in the order of :func:`mcpower_sweep.results.tally.components`
(``sigma2``, each random effect's variance, then the correlations), in the units of the
spec (the fitted residual variance 1).  Each simulation takes one draw, uniformly: its
random-effect covariance becomes the draw's G / sigma2 and its effects (per residual SD)
are divided by sqrt(sigma2), the raw fixed effects staying the fitted ones.  Power is then
averaged over the pilot's uncertainty (an "assurance").

Examples
--------
>>> engine_rows(((1.0, 0.5), (4.0, 1.0)), 1)
[0.7071067811865476, 1.0, 0.5, 0.5]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def covariance(draw: Sequence[float], q: int) -> tuple[float, np.ndarray]:
    """``(sigma2, G)`` of one draw of ``q`` random effects.

    Examples
    --------
    >>> covariance((2.0, 1.0, 4.0, 0.5), 2)[1]
    array([[1., 1.],
           [1., 4.]])
    """
    sigma2, variances, corr = draw[0], np.asarray(draw[1:1 + q]), draw[1 + q:]
    r = np.eye(q)
    pairs = [(a, b) for a in range(q) for b in range(a + 1, q)]
    for (a, b), c in zip(pairs, corr, strict=True):
        r[a, b] = r[b, a] = c
    sd = np.sqrt(variances)
    return float(sigma2), r * np.outer(sd, sd)


def lower_factor(g: np.ndarray) -> np.ndarray:
    """A lower-triangular L with L L' = G for a positive semi-definite G (a zero variance
    gives a zero column, as the engine's own factor)."""
    q = g.shape[0]
    L = np.zeros((q, q))
    for j in range(q):
        d = g[j, j] - L[j, :j] @ L[j, :j]
        L[j, j] = math.sqrt(d) if d > 1e-14 else 0.0
        for i in range(j + 1, q):
            L[i, j] = (g[i, j] - L[i, :j] @ L[j, :j]) / L[j, j] if L[j, j] > 0 else 0.0
    return L


def engine_rows(draws: Sequence[Sequence[float]], q: int) -> list[float]:
    """The engine's ``variance_draws``: per draw the lower factor of G / sigma2 (row-major)
    and the factor 1 / sqrt(sigma2) on the effects."""
    out: list[float] = []
    for draw in draws:
        sigma2, g = covariance(draw, q)
        out += [*lower_factor(g / sigma2).ravel().tolist(), 1.0 / math.sqrt(sigma2)]
    return out


def check_draws(draws: Sequence[Sequence[float]], n_components: int, q: int) -> None:
    """Rows of ``n_components`` values: sigma2 > 0, variances >= 0, correlations in [-1, 1]
    (``ValueError`` naming the first bad row)."""
    for k, draw in enumerate(draws):
        ok = (len(draw) == n_components and all(math.isfinite(v) for v in draw)
              and draw[0] > 0 and all(v >= 0 for v in draw[1:1 + q])
              and all(-1 <= v <= 1 for v in draw[1 + q:]))
        if not ok:
            raise ValueError(f"variance_draws[{k}]={tuple(draw)!r} is not allowed: use "
                             f"{n_components} values (sigma2 > 0, variances >= 0, "
                             "correlations in [-1, 1])")
