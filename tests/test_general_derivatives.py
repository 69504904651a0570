"""The exact gradient of the profiled deviance with several random-effect terms
(``general::gradient``) against central differences of the deviance itself, term by term:
nested and crossed groupings, random slopes on the first (blocked) and on a later (dense)
term, REML and ML, inside the parameter space and on its boundary."""

from __future__ import annotations

import numpy as np
import pytest

from mcpower_sweep import engine

_native = engine._native


def nested(rng: np.random.Generator, slope_first: bool) -> dict:
    """8 schools x 3 classes x 6 pupils; the first term (classes) or the second (schools)
    has a random slope of x."""
    school = np.repeat(np.arange(8), 18)
    cls = np.repeat(np.arange(24), 6)
    x = rng.normal(size=school.size)
    X = np.column_stack([np.ones(school.size), cls % 2, x])
    y = (0.3 * X[:, 1] + rng.normal(0, 0.5, 8)[school] + rng.normal(0, 0.4, 24)[cls]
         + rng.normal(0, 0.3, 24)[cls] * x + rng.normal(size=school.size))
    z = [[0, 2], [0]] if slope_first else [[0], [0, 2]]
    return {"X": X, "y": y, "codes": np.vstack([cls, school]), "n_levels": [24, 8], "z_columns": z}


def crossed(rng: np.random.Generator) -> dict:
    """10 subjects x 7 items, a by-subject and a by-item slope of cond, an extra term."""
    subject = np.repeat(np.arange(10), 7)
    item = np.tile(np.arange(7), 10)
    cond = (subject + item) % 2
    X = np.column_stack([np.ones(subject.size), cond, rng.normal(size=subject.size)])
    y = (rng.normal(0, 0.6, 10)[subject] + rng.normal(0, 0.3, 10)[subject] * cond
         + rng.normal(0, 0.5, 7)[item] + rng.normal(0, 0.3, 7)[item] * cond
         + rng.normal(size=subject.size))
    return {"X": X, "y": y, "codes": np.vstack([subject, item, item % 3]), "n_levels": [10, 7, 3],
            "z_columns": [[0, 1], [0, 1], [0]]}


def one_term(rng: np.random.Generator) -> dict:
    """A single term with three random effects (intercept and two slopes)."""
    g = np.repeat(np.arange(12), 8)
    X = np.column_stack([np.ones(g.size), rng.normal(size=(g.size, 2))])
    b = rng.normal(0, 0.5, (12, 3))
    y = (X * b[g]).sum(axis=1) + rng.normal(size=g.size)
    return {"X": X, "y": y, "codes": g[None, :], "n_levels": [12], "z_columns": [[0, 1, 2]]}


def n_theta(problem: dict) -> int:
    return sum(len(z) * (len(z) + 1) // 2 for z in problem["z_columns"])


def thetas(problem: dict, rng: np.random.Generator) -> list[np.ndarray]:
    """A random interior point, one with every diagonal of Lambda at 0 but the first, and
    one with an off-diagonal entry negative."""
    k = n_theta(problem)
    interior = rng.uniform(0.2, 1.2, k)
    boundary = interior.copy()
    boundary[1:] = np.where(np.arange(1, k) % 2 == 0, 0.0, boundary[1:])
    signed = interior * np.where(np.arange(k) % 3 == 1, -1.0, 1.0)
    return [interior, boundary, signed]


def check(problem: dict, estimator: str, rng: np.random.Generator) -> None:
    est = engine._estimator(estimator)
    for theta in thetas(problem, rng):
        dev, grad = _native.general_deviance(theta=theta, estimator=est, **problem)
        assert np.isfinite(dev) and grad is not None
        for i in range(theta.size):
            h = 1e-5 * max(1.0, abs(theta[i]))
            up, down = theta.copy(), theta.copy()
            up[i] += h
            down[i] -= h
            fd = (_native.general_deviance(theta=up, estimator=est, **problem)[0]
                  - _native.general_deviance(theta=down, estimator=est, **problem)[0]) / (2 * h)
            assert grad[i] == pytest.approx(fd, rel=1e-5, abs=1e-5), (i, theta, grad, fd)


@pytest.mark.parametrize("estimator", ["reml", "ml"])
@pytest.mark.parametrize("slope_first", [True, False])
def test_nested_gradient(estimator: str, slope_first: bool) -> None:
    rng = np.random.default_rng(1)
    check(nested(rng, slope_first), estimator, rng)


@pytest.mark.parametrize("estimator", ["reml", "ml"])
def test_crossed_gradient(estimator: str) -> None:
    rng = np.random.default_rng(2)
    check(crossed(rng), estimator, rng)


@pytest.mark.parametrize("estimator", ["reml", "ml"])
def test_single_term_gradient(estimator: str) -> None:
    rng = np.random.default_rng(3)
    check(one_term(rng), estimator, rng)
