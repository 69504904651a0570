"""The exact gradient and Hessian of the Laplace deviance (native/glmm_derivatives.cpp)
against central finite differences, for every link and for random intercepts (q = 1) and
correlated random slopes (q = 2), at random points and on the boundary theta = 0.

The gradient is held to differences of the deviance, the Hessian to differences of the
exact gradient (accurate to ~1e-8 here) and, independently of the gradient, to second
differences of the deviance.  A missing or wrong term in either moves them by far more.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from mcpower_sweep import _native

LINKS = {"logit": _native.GlmFamily.binomial, "probit": _native.GlmFamily.binomial,
         "log": _native.GlmFamily.poisson}


def _problem(link: str, q: int, seed: int) -> dict:
    """Eight clusters of 12 rows: intercept, a normal and a binary predictor; the normal
    one has a random slope when q = 2."""
    rng = np.random.default_rng(seed)
    n_groups, size = 8, 12
    group = np.repeat(np.arange(n_groups), size)
    n = group.size
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)]).astype(float)
    u = rng.normal(size=(n_groups, 2)) * [0.8, 0.5]
    eta = X @ [-0.3, 0.5, 0.4] + u[group, 0] + (u[group, 1] * X[:, 1] if q == 2 else 0.0)
    if link == "log":
        y = rng.poisson(np.exp(eta))
    else:
        mean = 1.0 / (1.0 + np.exp(-eta)) if link == "logit" else norm.cdf(eta)
        y = rng.uniform(size=n) < mean
    return dict(X=X, y=y.astype(float), group=group, n_groups=n_groups,
                z_columns=list(range(q)), family=LINKS[link], link=getattr(_native.GlmLink, link))


def _split(problem: dict, x: np.ndarray) -> tuple[list[float], list[float]]:
    n_theta = len(problem["z_columns"]) * (len(problem["z_columns"]) + 1) // 2
    return list(x[:n_theta]), list(x[n_theta:])


def _deviance(problem: dict, x: np.ndarray) -> float:
    theta, beta = _split(problem, x)
    return _native.glmm_deviance(theta=theta, beta=beta, **problem)


def _derivatives(problem: dict, x: np.ndarray) -> dict:
    theta, beta = _split(problem, x)
    return _native.glmm_derivatives(theta=theta, beta=beta, **problem)


def _points(q: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Two random points and one with Lambda's first diagonal at its bound 0."""
    base = [0.7] if q == 1 else [0.7, 0.25, 0.4]
    points = [np.r_[np.asarray(base) + rng.uniform(-0.3, 0.3, len(base)),
                    rng.uniform(-0.6, 0.6, 3)] for _ in range(2)]
    boundary = points[0].copy()
    boundary[0] = 0.0
    return [*points, boundary]


def _second_difference(problem: dict, x: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """d2 deviance / dx_a dx_b by central differences with steps a and b."""
    h2 = np.abs(a).max() * np.abs(b).max()
    if (a == b).all():
        mid = 2 * _deviance(problem, x)
        return (_deviance(problem, x + a) - mid + _deviance(problem, x - a)) / h2
    return (_deviance(problem, x + a + b) - _deviance(problem, x + a - b)
            - _deviance(problem, x - a + b) + _deviance(problem, x - a - b)) / (4 * h2)


@pytest.mark.parametrize("q", [1, 2])
@pytest.mark.parametrize("link", sorted(LINKS))
def test_exact_derivatives_match_finite_differences(link: str, q: int) -> None:
    problem = _problem(link, q, seed=q * 10 + len(link))
    h = 1e-4
    for x in _points(q, np.random.default_rng(q)):
        exact = _derivatives(problem, x)
        assert exact["deviance"] == pytest.approx(_deviance(problem, x), rel=1e-12)
        k = x.size
        steps = h * np.eye(k)
        grad_fd = np.array([(_deviance(problem, x + s) - _deviance(problem, x - s)) / (2 * h)
                            for s in steps])
        hess_fd = np.array([(_derivatives(problem, x + s)["gradient"]
                             - _derivatives(problem, x - s)["gradient"]) / (2 * h) for s in steps])
        hess_fd2 = np.array([[_second_difference(problem, x, a, b) for b in steps]
                             for a in steps])
        gap_g = np.abs(exact["gradient"] - grad_fd).max()
        assert gap_g <= 1e-6 * np.abs(grad_fd).max(), (x, exact["gradient"], grad_fd)
        scale_h = np.abs(hess_fd).max()
        assert np.abs(exact["hessian"] - hess_fd).max() <= 1e-6 * scale_h, (x, exact["hessian"])
        assert np.abs(exact["hessian"] - hess_fd2).max() <= 1e-4 * scale_h
        np.testing.assert_array_equal(exact["hessian"], exact["hessian"].T)
