"""Type-I error of a logistic cluster-randomised trial's tests with few clusters
(docs/calibration.md, scenarios/calibration-glmm.yaml): glmer's Wald z is liberal, the
Wald statistic on t with between-within df is not (or far less).

Both tests come from one engine run (the same fits): the engine's between-within p-values,
and the z test's from estimate / SE on the normal.  Tolerances are Monte Carlo error:
3 SEs of a 5% rate over the simulations.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mcpower_sweep import MCPower, engine

SIMS = 2000
ALPHA = 0.05
MC_SE = math.sqrt(ALPHA * (1 - ALPHA) / SIMS)  # 0.49 percentage points


def _rates(n_clusters: int, seed: int) -> tuple[float, float]:
    """(z, between-within) rejection rates of a null treatment effect, 25 per cluster."""
    model = (MCPower("passed ~ treatment + (1|cluster)", family="logit")
             .set_baseline_probability(0.3)
             .set_cluster("cluster", ICC=0.1, n_clusters=n_clusters,
                          cluster_level_vars=["treatment"])
             .set_variable_type("treatment=binary(0.5, balanced)")
             .set_effects("treatment=0"))
    r = engine.run_chunk(model.to_spec(25 * n_clusters, df_method="between_within"), seed, 0,
                         SIMS)
    ok = r.converged
    assert ok.mean() > 0.99
    assert np.all(r.df[ok, 1] == n_clusters - 2)
    p_z = 2 * stats.norm.sf(np.abs(r.estimate[ok, 1] / r.se[ok, 1]))
    return float((p_z < ALPHA).mean()), float((r.pvalue[ok, 1] < ALPHA).mean())


@pytest.mark.slow
def test_six_clusters_z_liberal_between_within_not() -> None:
    z, bw = _rates(6, 61)
    assert z > ALPHA + 3 * MC_SE  # scenario: 13.4% of 3,000
    assert bw < ALPHA + 3 * MC_SE  # scenario: 4.0%


@pytest.mark.slow
def test_ten_clusters_z_liberal_between_within_closer() -> None:
    z, bw = _rates(10, 101)
    assert z > ALPHA + 3 * MC_SE  # scenario: 10.8%
    assert bw < z - 3 * MC_SE  # scenario: 6.1%
