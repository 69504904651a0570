"""Nested designs take their own path through the several-term deviance (the dense columns
ordered by the top grouping, an envelope Cholesky and selected inversion: see
native/lmm_general_model.cpp).  Adding a crossed term whose theta is 0 leaves the deviance
and the other terms' gradient unchanged but makes the design crossed, so the same numbers
come from the crossed path: the two must agree to rounding, with intercepts, slopes, ``||``
(several terms on one grouping), three levels, unequal sizes and unsorted rows."""

from __future__ import annotations

import numpy as np
import pytest

from mcpower_sweep import engine

_native = engine._native

# Terms as (grouping, columns of X); groupings: 0 class, 1 school, 2 district.
MODELS = {
    "intercepts": [(0, [0]), (1, [0])],
    "slope on classes": [(0, [0, 2]), (1, [0])],
    "slope on schools": [(0, [0]), (1, [0, 2])],
    "double bars": [(0, [0]), (1, [0]), (1, [2])],
    "three levels": [(0, [0]), (1, [0, 2]), (2, [0])],
}


def data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """3 districts x 2-4 schools x 2-3 classes x 3-7 pupils, rows shuffled."""
    rows = []
    school = cls = 0
    for district in range(3):
        for _ in range(int(rng.integers(2, 5))):
            for _ in range(int(rng.integers(2, 4))):
                rows += [(cls, school, district)] * int(rng.integers(3, 8))
                cls += 1
            school += 1
    codes = np.array(rows).T[:, rng.permutation(len(rows))]
    n = codes.shape[1]
    X = np.column_stack([np.ones(n), codes[0] % 2, rng.normal(size=n)])
    y = (0.3 * X[:, 1] + rng.normal(0, 0.5, school)[codes[1]] + rng.normal(0, 0.4, cls)[codes[0]]
         + rng.normal(0, 0.3, school)[codes[1]] * X[:, 2] + rng.normal(size=n))
    return X, y, codes, [cls, school, 3]


@pytest.mark.parametrize("estimator", ["reml", "ml"])
@pytest.mark.parametrize("model", list(MODELS))
def test_nested_path_matches_crossed_path(model: str, estimator: str) -> None:
    rng = np.random.default_rng(len(model))
    X, y, codes, levels = data(rng)
    terms = MODELS[model]
    crossed = rng.integers(0, 4, X.shape[0])
    problem = {"X": X, "y": y, "codes": np.vstack([codes[g] for g, _ in terms]),
               "n_levels": [levels[g] for g, _ in terms], "z_columns": [z for _, z in terms]}
    wider = {**problem, "codes": np.vstack([problem["codes"], crossed]),
             "n_levels": [*problem["n_levels"], 4], "z_columns": [*problem["z_columns"], [0]]}
    k = sum(len(z) * (len(z) + 1) // 2 for _, z in terms)
    est = engine._estimator(estimator)
    for theta in (rng.uniform(0.2, 1.5, k), np.where(np.arange(k) % 2 == 1, 0.0, 0.7),
                  rng.uniform(-1.0, 1.0, k)):
        dev, grad = _native.general_deviance(theta=theta, estimator=est, **problem)
        ref, ref_grad = _native.general_deviance(theta=np.append(theta, 0.0), estimator=est,
                                                 **wider)
        assert np.isfinite(dev) and dev == pytest.approx(ref, rel=1e-10, abs=0)
        scale = max(1.0, float(np.abs(ref_grad[:k]).max()))
        np.testing.assert_allclose(grad, ref_grad[:k], rtol=1e-10, atol=1e-10 * scale)
