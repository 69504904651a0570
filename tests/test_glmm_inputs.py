"""fit_glmm at its edges: bad options and outcomes, and degenerate data that must be flagged."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mcpower_sweep import fit_glmm


def _data(n_clusters: int = 12, size: int = 20, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), size)
    x = rng.normal(size=g.size)
    eta = -0.2 + 0.5 * x + rng.normal(scale=0.6, size=n_clusters)[g]
    y = (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float)
    return {"y": y, "x": x, "g": g, "count": rng.poisson(np.exp(eta)).astype(float)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"family": "gaussian"}, "family='gaussian'"),
        ({"family": "binomial", "link": "log"}, "link='log'"),
        ({"family": "poisson", "link": "logit"}, "link='logit'"),
        ({"nagq": 0}, "nagq=0"),
        ({"nagq": 26}, "nagq=26"),
        ({"nagq": 2.0}, "nagq=2.0"),
        ({"nagq": True}, "nagq=True"),
    ],
)
def test_bad_options_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        fit_glmm("y ~ x + (1 | g)", _data(), **kwargs)


def test_quadrature_needs_a_random_intercept_only() -> None:
    with pytest.raises(ValueError, match=r"nagq=5 .*random slopes"):
        fit_glmm("y ~ x + (1 + x | g)", _data(), nagq=5)


@pytest.mark.parametrize(
    ("family", "value", "what"),
    [("binomial", 2.0, "0 or 1"), ("binomial", 0.5, "0 or 1"),
     ("poisson", -1.0, "non-negative whole"), ("poisson", 1.5, "non-negative whole")],
)
def test_bad_outcomes_are_named(family: str, value: float, what: str) -> None:
    data = _data()
    y = data["y"].copy() if family == "binomial" else data["count"].copy()
    y[7] = value
    data["y"] = y
    with pytest.raises(ValueError, match=rf"outcome 'y' = {value} at row 7 .*{what}"):
        fit_glmm("y ~ x + (1 | g)", data, family=family)


def _flagged_or_finite(fit) -> None:  # noqa: ANN001 - a GLMMFit
    """A fit either converged with finite numbers or says it did not; never a silent NaN."""
    numbers = [*fit.coef.values(), *fit.se.values(), *fit.pvalue.values(), fit.loglik]
    if fit.converged:
        assert all(math.isfinite(v) for v in numbers)
        assert np.all(np.isfinite(fit.re_cov))


@pytest.mark.parametrize("nagq", [1, 7])
def test_degenerate_binary_data_are_flagged(nagq: int) -> None:
    data = _data()
    y = data["y"].copy()
    y[data["g"] < 3] = 0.0  # three all-0 clusters
    y[data["g"] == 5] = 1.0  # one all-1 cluster
    fit = fit_glmm("y ~ x + (1 | g)", {**data, "y": y}, nagq=nagq)
    _flagged_or_finite(fit)
    assert fit.converged
    # Complete separation by x: the MLE does not exist.
    sep = (data["x"] > 0).astype(float)
    fit = fit_glmm("y ~ x + (1 | g)", {**data, "y": sep}, nagq=nagq)
    _flagged_or_finite(fit)
    assert not fit.converged


def test_degenerate_counts_are_flagged() -> None:
    data = _data(n_clusters=3, size=4)
    zeros = np.zeros_like(data["count"])
    fit = fit_glmm("y ~ x + (1 | g)", {**data, "y": zeros}, family="poisson")
    _flagged_or_finite(fit)
    assert not fit.converged
    rare = zeros.copy()
    rare[0] = 1.0
    fit = fit_glmm("y ~ x + (1 | g)", {**data, "y": rare}, family="poisson", nagq=3)
    _flagged_or_finite(fit)


def test_all_outcomes_equal_are_flagged() -> None:
    data = _data(n_clusters=4, size=5)
    for value in (0.0, 1.0):
        fit = fit_glmm("y ~ x + (1 | g)", {**data, "y": np.full(20, value)})
        _flagged_or_finite(fit)
        assert not fit.converged


def test_uncorrelated_slopes_are_nested_in_correlated_ones() -> None:
    """(1 + x || g) fixes the correlation at 0: never a better fit than (1 + x | g)."""
    data = _data(n_clusters=15, size=25, seed=8)
    diag = fit_glmm("y ~ x + (1 + x || g)", data)
    full = fit_glmm("y ~ x + (1 + x | g)", data)
    assert diag.re_cov[0, 1] == 0.0 and diag.re_cov[1, 0] == 0.0
    assert diag.loglik <= full.loglik + 1e-8 * abs(full.loglik)
    assert diag.re_names == ("(Intercept)", "x")
