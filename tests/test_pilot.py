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


# ------------------------------------------------------------------ the pilot's uncertainty
BOOT = Path(__file__).resolve().parent / "data" / "sleepstudy_bootstrap.json"


def test_variance_draws_follow_lme4s_parametric_bootstrap(pilot) -> None:
    """The draws of from_fit(..., uncertainty=) against lme4's bootMer on the same fit
    (``tests/data/make_sleepstudy_bootstrap.R``, 1,000 draws): the mean and SD of each
    component (sigma^2, the two variances, their correlation) within 3 combined SEs (the
    SD's SE from the draws' kurtosis)."""
    import json

    _, fit = pilot
    ref = json.loads(BOOT.read_text())
    draws = np.array(MCPower.from_fit(fit, uncertainty=2000, seed=16)._variance_draws)
    n, m = len(draws), ref["nsim"]
    assert n >= 1990  # failed fits are left out
    raw = draws * np.array([fit.sigma2, fit.sigma2, fit.sigma2, 1.0])
    for k, name in enumerate(("sigma2", "var_intercept", "var_days", "corr")):
        x = raw[:, k]
        mean, sd = x.mean(), x.std(ddof=1)
        r_mean, r_sd = ref["mean"][name], ref["sd"][name]
        kurt = float(np.mean((x - mean) ** 4) / sd**4)
        assert abs(mean - r_mean) < 3 * sd * math.sqrt(1 / n + 1 / m), (name, mean, r_mean)
        se_sd = sd * math.sqrt((kurt - 1) / 4 * (1 / n + 1 / m))
        assert abs(sd - r_sd) < 3 * se_sd, (name, sd, r_sd)


def test_a_variance_draw_is_the_design_with_those_variances() -> None:
    """A draw (sigma^2, tau^2) simulates the design with effects / sigma and ICC
    tau^2 / (tau^2 + sigma^2): the same data streams, so the same p-values (to the fit's
    tolerance: the optimiser starts from the spec's own variances)."""
    from mcpower_sweep import engine

    model = (MCPower("y ~ x + (1 | g)").set_cluster("g", ICC=0.2, n_clusters=12)
             .set_effects("x=0.4"))
    spec = model.to_spec(120)
    drawn = spec.with_params(variance_draws=((4.0, 0.5),))
    same = spec.with_params(effects=(0.0, 0.2), icc=0.5 / 4 / (0.5 / 4 + 1))
    a, b = engine.run_chunk(drawn, 5, 0, 50), engine.run_chunk(same, 5, 0, 50)
    assert np.allclose(a.pvalue, b.pvalue, rtol=1e-5, atol=1e-9)
    # two draws: each simulation takes one, uniformly, so power is their average
    both = spec.with_params(variance_draws=((4.0, 0.5), (1.0, 0.25)))
    counts = [engine.run_chunk(s, 5, 0, 4000).pvalue[:, 1] < 0.05
              for s in (both, drawn, spec.with_params(variance_draws=((1.0, 0.25),)))]
    p, p1, p2 = (float(c.mean()) for c in counts)
    assert abs(p - (p1 + p2) / 2) < 3 * math.sqrt(p * (1 - p) / 4000)
    assert "variance_draws" in both.params()


# subjects -> power of Days with the pilot's variance uncertainty, from
# `Rscript tests/data/pilot_uncertainty_power.R 1000 16 3 10` (a bootMer draw per simulation)
R_UNCERTAIN = {3: 0.39, 10: 0.987}
R_UNCERTAIN_SIMS = 1000


@pytest.mark.slow
@pytest.mark.parametrize("subjects", sorted(R_UNCERTAIN))
def test_power_with_the_pilots_uncertainty_agrees_with_r(pilot, subjects) -> None:
    _, fit = pilot
    model = MCPower.from_fit(fit, uncertainty=True, seed=16).set_seed(16).set_simulations(4000)
    result = model.find_power(subjects * 10, print_results=False)
    ours, n = result.power["Days"], result.n_success
    ref = R_UNCERTAIN[subjects]
    se = math.sqrt(ours * (1 - ours) / n + ref * (1 - ref) / R_UNCERTAIN_SIMS)
    assert abs(ours - ref) < 3 * se, (subjects, ours, ref, se)


def _glmm_pilot(family: str = "logit", seed: int = 4) -> tuple[dict, object]:
    """A cluster-randomised pilot: treatment of half the clusters, an uncentred covariate."""
    from mcpower_sweep import fit_glmm

    rng = np.random.default_rng(seed)
    j, m = 30, 20
    g = np.repeat(np.arange(j), m)
    treatment = (np.arange(j) % 2)[g].astype(float)
    x = rng.normal(2.0, 1.5, size=j * m)
    u = rng.normal(scale=0.6, size=j)[g]
    if family == "poisson":
        y = rng.poisson(np.exp(-0.5 + 0.4 * treatment + 0.2 * x + u)).astype(float)
        fit = fit_glmm("y ~ treatment + x + (1|g)", {"y": y, "treatment": treatment, "x": x,
                                                      "g": g}, family="poisson")
    else:
        eta = -1.0 + 0.6 * treatment + 0.3 * x + u
        y = (rng.random(j * m) < 1 / (1 + np.exp(-eta))).astype(float)
        fit = fit_glmm("y ~ treatment + x + (1|g)", {"y": y, "treatment": treatment, "x": x,
                                                      "g": g}, link=family)
    return {"treatment": treatment, "x": x}, fit


@pytest.mark.parametrize("family", ["logit", "probit", "poisson"])
def test_a_glmm_fit_becomes_the_design(family: str) -> None:
    """Link-scale effects (per SD of a drawn covariate), tau^2 as fitted, the baseline at the
    simulated predictors' means, the cluster-level treatment drawn per cluster."""
    from scipy.special import expit, ndtr

    cols, fit = _glmm_pilot(family)
    spec = MCPower.from_fit(fit).to_spec(600)
    assert spec.family == family and spec.cluster_size == 20
    sd, mean = cols["x"].std(), cols["x"].mean()
    assert spec.effects[1:] == pytest.approx((fit.coef["treatment"], fit.coef["x"] * sd))
    eta = fit.coef["(Intercept)"] + fit.coef["x"] * mean
    assert spec.intercept == pytest.approx(eta)
    baseline = {"logit": expit, "probit": ndtr, "poisson": np.exp}[family](eta)
    base = spec.baseline_rate if family == "poisson" else spec.baseline_probability
    assert base == pytest.approx(baseline)
    assert spec.intercept_variance == pytest.approx(fit.re_cov[0, 0])
    treatment = spec.predictors[0]
    assert (treatment.kind, treatment.p, treatment.level) == ("binary", 0.5, "cluster")
    assert spec.predictors[1].kind == "normal" and spec.predictors[1].level == "observation"


def test_a_glmm_pilots_simulations_recover_its_fit() -> None:
    """Simulating from from_fit and refitting gives back the pilot's estimates on average
    (within 3 Monte Carlo SEs): the link-scale mapping is the one the engine simulates."""
    _, fit = _glmm_pilot("logit")
    model = MCPower.from_fit(fit).set_simulations(300).set_seed(9)
    ds = model.find_power(600, print_results=False).to_xarray()
    spec = model.to_spec(600)
    for k, test in enumerate(ds["test"].values, 1):
        cell = ds.sel(test=test)
        se = float(cell["sd_estimate"]) / math.sqrt(int(cell["n_success"]))
        assert abs(float(cell["mean_estimate"]) - spec.effects[k]) < 3 * se, test


def test_glmm_pilot_refusals() -> None:
    _, fit = _glmm_pilot("logit")
    with pytest.raises(ValueError, match="uncertainty=True.*linear mixed models"):
        MCPower.from_fit(fit, uncertainty=True)
    from mcpower_sweep import fit_glmm

    cols, _ = _glmm_pilot("logit")
    data = {**cols, "g": np.repeat(np.arange(30), 20),
            "y": (np.arange(600) % 3 == 0).astype(float)}
    inter = fit_glmm("y ~ treatment * x + (1|g)", data)
    with pytest.raises(ValueError, match="interaction 'treatment:x'.*centre"):
        MCPower.from_fit(inter)
