"""A design from pilot data: ``MCPower.from_fit`` on lme4's sleepstudy (#16).

The reference is simr's workflow written out in R (``benchmarks/pilot_sleepstudy.R``:
simulate new subjects from the fitted lmer model, refit, lmerTest's Satterthwaite test of
Days), 400 simulations per size with seed 16; the engine must agree within 3 combined MC SEs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcpower_sweep import MCPower, _native, fit_lmm
from mcpower_sweep.engine import native_spec

DATA = Path(__file__).resolve().parent / "data" / "sleepstudy.csv"
FORMULA = "Reaction ~ Days + (Days | Subject)"
# subjects -> power of Days from `Rscript benchmarks/pilot_sleepstudy.R 400 16 3 4 6`
R_POWER = {3: 0.3675, 4: 0.5825, 6: 0.87}
R_SIMS = 400


@pytest.fixture(scope="module")
def pilot() -> tuple[pd.DataFrame, object]:
    data = pd.read_csv(DATA)
    return data, fit_lmm(FORMULA, data)


def test_the_fit_becomes_the_design(pilot) -> None:
    data, fit = pilot
    spec = MCPower.from_fit(fit, data).to_spec(180)
    sigma2 = fit.sigma2
    assert spec.effects[1] == pytest.approx(fit.coef["Days"] / math.sqrt(sigma2))
    g = fit.re_cov
    assert spec.icc == pytest.approx(g[0, 0] / (g[0, 0] + sigma2))
    assert spec.slope_variances == pytest.approx((g[1, 1] / sigma2,))
    assert spec.slope_intercept_corrs == pytest.approx((g[0, 1] / math.sqrt(g[0, 0] * g[1, 1]),))
    assert spec.predictors[0].values == tuple(float(d) for d in range(10))
    assert spec.cluster_size == 10 and spec.effective_n_clusters == 18
    # the engine's rows: days 0..9 in every subject, no random numbers spent on them
    rows = _native.simulated_rows(native_spec(spec), 1, 0)
    assert np.array_equal(rows[:, 2], np.tile(np.arange(10.0), 18))


@pytest.mark.parametrize("subjects", sorted(R_POWER))
def test_power_agrees_with_the_r_simulation(pilot, subjects) -> None:
    data, fit = pilot
    model = MCPower.from_fit(fit, data).set_seed(16).set_simulations(2000)
    result = model.find_power(subjects * 10, print_results=False)
    ours, n = result.power["Days"], result.n_success
    ref = R_POWER[subjects]
    se = math.sqrt(ours * (1 - ours) / n + ref * (1 - ref) / R_SIMS)
    assert abs(ours - ref) < 3 * se, (subjects, ours, ref, se)


def test_power_curve_in_subjects(pilot) -> None:
    data, fit = pilot
    model = MCPower.from_fit(fit, data).set_seed(16).set_simulations(300)
    curve = model.find_sample_size(3, 12, by=3, unit="clusters", print_results=False)
    power = curve.power["Days"]
    assert list(curve.unit_sizes) == [3, 6, 9, 12] and np.all(np.diff(power) > 0)
    assert power[-1] > 0.95


def test_unequal_pilot_clusters_are_refused(pilot) -> None:
    data, fit = pilot
    with pytest.raises(ValueError, match="differ in size"):
        MCPower.from_fit(fit, data.iloc[:-1])


def test_the_fit_keeps_what_from_fit_needs(pilot) -> None:
    data, fit = pilot
    assert sorted(fit.data) == ["Days", "Subject"]  # the predictors and the grouping only
    assert MCPower.from_fit(fit).to_spec(180) == MCPower.from_fit(fit, data).to_spec(180)
