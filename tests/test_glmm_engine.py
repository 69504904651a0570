"""Simulated GLMMs in the engine: reproducible, unbiased, honest Wald z, never a silent NaN."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mcpower_sweep import MCPower, engine


def _spec(n_clusters: int = 20, n: int = 400, effects: str = "treatment=0.6, x=0.4"):
    model = (
        MCPower("y ~ treatment + x + (1 | g)")
        .set_cluster("g", ICC=0.2, n_clusters=n_clusters)
        .set_effects(effects)
        .set_variable_type("treatment=binary")
    )
    return model.to_spec(n)


@pytest.mark.parametrize(("family", "link"), [("binomial", "logit"), ("poisson", "log")])
def test_same_simulations_whatever_the_chunks_and_threads(family: str, link: str) -> None:
    spec = _spec()
    whole = engine.run_chunk(spec, 11, 0, 8, n_threads=3, family=family, link=link)
    part = engine.run_chunk(spec, 11, 4, 4, family=family, link=link)
    np.testing.assert_array_equal(whole.estimate[4:], part.estimate)
    np.testing.assert_array_equal(whole.pvalue[4:], part.pvalue)
    assert np.all(np.isinf(whole.df[whole.converged]))


@pytest.mark.parametrize(("family", "link", "nagq"),
                         [("binomial", "logit", 1), ("binomial", "probit", 1),
                          ("poisson", "log", 1), ("binomial", "logit", 5)])
def test_estimates_are_unbiased(family: str, link: str, nagq: int) -> None:
    spec = _spec()
    r = engine.run_chunk(spec, 3, 0, 60, family=family, link=link, nagq=nagq)
    ok = r.converged
    assert ok.mean() > 0.95
    est = r.estimate[ok]
    mc_se = est.std(axis=0) / np.sqrt(len(est))
    # Fixed effects are biased towards 0 by O(1/n) only; 4 Monte Carlo SEs.
    assert np.all(np.abs(est.mean(axis=0) - np.array(spec.effects)) < 4 * mc_se + 0.02)


def test_wald_z_type_one_error() -> None:
    spec = _spec(n_clusters=20, n=400, effects="treatment=0, x=0")
    r = engine.run_chunk(spec, 5, 0, 150, family="binomial", link="logit")
    ok = r.converged
    rate = (r.pvalue[ok, 1:] < 0.05).mean()
    assert 0.01 < rate < 0.10


@pytest.mark.parametrize(("family", "link", "intercept"),
                         [("binomial", "logit", -4.6), ("poisson", "log", -3.0)])
def test_degenerate_designs_never_leak_nan(family: str, link: str, intercept: float) -> None:
    """Baseline probability .01 / rate .05 with 3 small clusters: failures are flagged."""
    model = (
        MCPower("y ~ treatment + (1 | g)")
        .set_cluster("g", ICC=0.2, n_clusters=3)
        .set_effects("treatment=1.5")
        .set_variable_type("treatment=binary")
    )
    spec = model.to_spec(15)
    spec = dataclasses.replace(spec, effects=(intercept, *spec.effects[1:]))
    r = engine.run_chunk(spec, 9, 0, 200, family=family, link=link)
    ok = r.converged
    assert (~ok).any()
    assert np.all(np.isfinite(r.estimate[ok])) and np.all(np.isfinite(r.pvalue[ok]))
    assert np.all(np.isnan(r.pvalue[~ok]))


def test_bad_glmm_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="binomial .*poisson"):
        engine.run_chunk(_spec(), 1, 0, 1, family="poisson", link="logit")
    with pytest.raises(ValueError, match="nagq"):
        engine.run_chunk(_spec(), 1, 0, 1, family="binomial", link="logit", nagq=30)
