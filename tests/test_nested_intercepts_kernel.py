"""Nested scalar intercepts, ``(1|school/class)`` and ``(1|district/school/class)``, take a
closed form (native/lmm_nested_intercepts.cpp: Woodbury up the tree from the classes' sums);
``nested_kernel=False`` sends the same model through the general blocked path.  The two must
agree: the deviance and its gradient at fixed theta to rounding, and whole fits (deviance,
beta, SEs, Satterthwaite df, theta) to the optimiser's tolerance, on random nested data with
unequal sizes, unsorted rows, REML and ML, 1 to 4 fixed effects, two and three levels, and
variance components near and at zero."""

from __future__ import annotations

import numpy as np
import pytest

from mcpower_sweep import engine

_native = engine._native


def nested_data(rng: np.random.Generator, levels: int, p: int, sd: tuple[float, ...]
                ) -> dict[str, object]:
    """Districts > schools > classes (``levels`` = 2: schools > classes) of unequal sizes,
    rows shuffled; terms in lme4's order (most levels first); ``sd``: the groupings' SDs,
    finest first (the residual SD is 1)."""
    rows = []
    school = cls = 0
    n_districts = int(rng.integers(3, 6)) if levels == 3 else 1
    for district in range(n_districts):
        for _ in range(int(rng.integers(3, 7))):
            for _ in range(int(rng.integers(2, 5))):
                rows += [(cls, school, district)] * int(rng.integers(1, 9))
                cls += 1
            school += 1
    codes = np.array(rows).T[:, rng.permutation(len(rows))]
    n = codes.shape[1]
    X = np.column_stack([np.ones(n), codes[0] % 2, rng.normal(size=(n, 2))])[:, :p]
    counts = [cls, school, n_districts]
    y = 10.0 + X @ rng.normal(0, 0.5, p) + rng.normal(size=n)
    for g in range(levels):
        y += sd[g] * rng.normal(size=counts[g])[codes[g]]
    return {"X": X, "y": y, "codes": np.ascontiguousarray(codes[:levels], dtype=np.int64),
            "n_levels": counts[:levels], "z_columns": [[0]] * levels}


CASES = [(levels, p, sd) for levels in (2, 3) for p in (1, 2, 3, 4)
         for sd in ((0.6, 0.8, 0.5), (0.5, 0.0, 0.3), (0.0, 0.0, 0.0), (1e-3, 0.4, 1e-3))]


@pytest.mark.parametrize("estimator", ["reml", "ml"])
@pytest.mark.parametrize(("levels", "p", "sd"), CASES)
def test_deviance_and_gradient_match_general_path(levels: int, p: int, sd: tuple[float, ...],
                                                  estimator: str) -> None:
    rng = np.random.default_rng(100 * levels + 10 * p + int(1000 * sd[0]))
    problem = nested_data(rng, levels, p, sd)
    est = engine._estimator(estimator)
    for theta in (rng.uniform(0.1, 2.0, levels), np.zeros(levels), rng.uniform(-1.5, 1.5, levels),
                  np.array([1e-5, 30.0, 0.5][:levels])):
        dev, grad = _native.general_deviance(theta=theta, estimator=est, **problem)
        ref, ref_grad = _native.general_deviance(theta=theta, estimator=est,
                                                 nested_kernel=False, **problem)
        assert np.isfinite(dev) and dev == pytest.approx(ref, rel=1e-10, abs=0)
        scale = max(1.0, float(np.abs(ref_grad).max()))
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-7, atol=1e-9 * scale)


@pytest.mark.parametrize("estimator", ["reml", "ml"])
@pytest.mark.parametrize(("levels", "p", "sd"), CASES)
def test_fit_matches_general_path(levels: int, p: int, sd: tuple[float, ...],
                                  estimator: str) -> None:
    rng = np.random.default_rng(7 + 100 * levels + 10 * p + int(1000 * sd[1]))
    for _ in range(3):
        problem = nested_data(rng, levels, p, sd)
        opts = {"estimator": engine._estimator(estimator),
                "df_method": engine._df_method("satterthwaite"), **problem}
        fit = _native.fit_general(**opts)
        ref = _native.fit_general(nested_kernel=False, **opts)
        assert fit["converged"] == ref["converged"]
        assert fit["deviance"] == pytest.approx(ref["deviance"], rel=1e-8, abs=0)
        assert fit["deviance"] <= ref["deviance"] + 1e-8 * abs(ref["deviance"])
        se_scale = float(np.max(ref["se"]))
        np.testing.assert_allclose(fit["beta"], ref["beta"], rtol=1e-6, atol=1e-6 * se_scale)
        # 2e-6: on one data set (3 levels, p = 1, ML) the general path stops with a gradient
        # of 3e-5 (the closed form: 1e-7), which moves the SE by 1.1e-6.
        np.testing.assert_allclose(fit["se"], ref["se"], rtol=2e-6)
        np.testing.assert_allclose(fit["theta"], ref["theta"], rtol=1e-3, atol=1e-4)
        near_threshold = np.any(np.abs(np.abs(ref["theta"]) - 1e-4) < 1e-5)  # lme4's isSingular
        assert fit["singular"] == ref["singular"] or near_threshold
        np.testing.assert_allclose(fit["df"], ref["df"], rtol=1e-5)


def test_kenward_roger_and_joint_tests_match_general_path() -> None:
    rng = np.random.default_rng(3)
    problem = nested_data(rng, 3, 3, (0.6, 0.8, 0.5))
    for df_method in ("kenward_roger", "satterthwaite", "residual"):
        opts = {"estimator": engine._estimator("reml"), "df_method": engine._df_method(df_method),
                "joint_tests": [[1, 2]], **problem}
        fit = _native.fit_general(**opts)
        ref = _native.fit_general(nested_kernel=False, **opts)
        np.testing.assert_allclose(fit["se"], ref["se"], rtol=1e-6)
        np.testing.assert_allclose(fit["df"], ref["df"], rtol=1e-5)
        # A p-value's relative error is about |t| times t's: 1e-4 at t ~ 5 (p ~ 1e-7).
        np.testing.assert_allclose(fit["pvalue"], ref["pvalue"], rtol=1e-4)


def test_only_nested_intercepts_take_the_closed_form() -> None:
    """A slope, or crossed groupings, keep the general path: both options agree exactly."""
    rng = np.random.default_rng(11)
    problem = nested_data(rng, 2, 3, (0.6, 0.8, 0.5))
    est = engine._estimator("reml")
    slope = {**problem, "z_columns": [[0], [0, 2]]}
    crossed = {**problem, "codes": np.vstack([problem["codes"][0],
                                              rng.integers(0, 5, problem["X"].shape[0])]),
               "n_levels": [problem["n_levels"][0], 5]}
    for case, theta in ((slope, [0.5, 0.7, 0.1, 0.3]), (crossed, [0.5, 0.7])):
        a = _native.general_deviance(theta=theta, estimator=est, **case)
        b = _native.general_deviance(theta=theta, estimator=est, nested_kernel=False, **case)
        assert a[0] == b[0] and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("estimator", ["reml", "ml"])
def test_empty_levels_match_general_path(estimator: str) -> None:
    """Levels without rows (n_levels beyond the codes used) add nothing on either path."""
    rng = np.random.default_rng(5)
    problem = nested_data(rng, 3, 2, (0.5, 0.5, 0.5))
    problem = {**problem, "n_levels": [v + 3 for v in problem["n_levels"]]}
    opts = {"estimator": engine._estimator(estimator),
            "df_method": engine._df_method("satterthwaite"), **problem}
    fit = _native.fit_general(**opts)
    ref = _native.fit_general(nested_kernel=False, **opts)
    assert fit["deviance"] == pytest.approx(ref["deviance"], rel=1e-8, abs=0)
    np.testing.assert_allclose(fit["se"], ref["se"], rtol=1e-6)
    np.testing.assert_allclose(fit["df"], ref["df"], rtol=1e-5)
