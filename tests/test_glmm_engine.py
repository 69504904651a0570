"""Simulated GLMMs in the engine: reproducible, unbiased, honest Wald z, never a silent NaN."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mcpower_sweep import MCPower, engine

# The engine's GLMM as a spec: family, intercept 0 on the link scale (p = .5, rate 1), a
# random-intercept variance of 0.25 on the link scale (what ICC = .2 gives a linear model).
BASELINE = {"logit": 0.5, "probit": 0.5, "poisson": 1.0}


def _spec(family: str = "logit", n_clusters: int = 20, n: int = 400,
          effects: str = "treatment=0.6, x=0.4", nagq: int = 1):
    model = (
        MCPower("y ~ treatment + x + (1 | g)", family=family)
        .set_cluster("g", tau_squared=0.25, n_clusters=n_clusters)
        .set_effects(effects)
        .set_variable_type("treatment=binary")
    )
    model = (model.set_baseline_rate(BASELINE[family]) if family == "poisson"
             else model.set_baseline_probability(BASELINE[family]))
    return dataclasses.replace(model.to_spec(n), nagq=nagq)


@pytest.mark.parametrize("family", ["logit", "poisson"])
def test_same_simulations_whatever_the_chunks_and_threads(family: str) -> None:
    spec = _spec(family)
    whole = engine.run_chunk(spec, 11, 0, 8, n_threads=3)
    part = engine.run_chunk(spec, 11, 4, 4)
    np.testing.assert_array_equal(whole.estimate[4:], part.estimate)
    np.testing.assert_array_equal(whole.pvalue[4:], part.pvalue)
    assert np.all(np.isinf(whole.df[whole.converged]))


@pytest.mark.parametrize(("family", "nagq"),
                         [("logit", 1), ("probit", 1), ("poisson", 1), ("logit", 5)])
def test_estimates_are_unbiased(family: str, nagq: int) -> None:
    spec = _spec(family, nagq=nagq)
    r = engine.run_chunk(spec, 3, 0, 60)
    ok = r.converged
    assert ok.mean() > 0.95
    est = r.estimate[ok]
    mc_se = est.std(axis=0) / np.sqrt(len(est))
    # Fixed effects are biased towards 0 by O(1/n) only; 4 Monte Carlo SEs.
    truth = np.array([spec.intercept, *spec.effects[1:]])
    assert np.all(np.abs(est.mean(axis=0) - truth) < 4 * mc_se + 0.02)


def test_wald_z_type_one_error() -> None:
    spec = _spec(n_clusters=20, n=400, effects="treatment=0, x=0")
    r = engine.run_chunk(spec, 5, 0, 150)
    ok = r.converged
    rate = (r.pvalue[ok, 1:] < 0.05).mean()
    assert 0.01 < rate < 0.10


@pytest.mark.parametrize(("family", "baseline"), [("logit", 0.01), ("poisson", 0.05)])
def test_degenerate_designs_never_leak_nan(family: str, baseline: float) -> None:
    """Baseline probability .01 / rate .05 with 3 small clusters: failures are flagged."""
    model = (
        MCPower("y ~ treatment + (1 | g)", family=family)
        .set_cluster("g", tau_squared=0.25, n_clusters=3)
        .set_effects("treatment=1.5")
        .set_variable_type("treatment=binary")
    )
    model = (model.set_baseline_rate(baseline) if family == "poisson"
             else model.set_baseline_probability(baseline))
    r = engine.run_chunk(model.to_spec(15), 9, 0, 200)
    ok = r.converged
    assert (~ok).any()
    assert np.all(np.isfinite(r.estimate[ok])) and np.all(np.isfinite(r.pvalue[ok]))
    assert np.all(np.isnan(r.pvalue[~ok]))


def test_bad_glmm_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="agq=30 .*odd"):
        _spec().with_params(nagq=30)
    with pytest.raises(ValueError, match="nagq"):  # the engine's own check, too
        engine.run_chunk(dataclasses.replace(_spec(), nagq=30), 1, 0, 1)
