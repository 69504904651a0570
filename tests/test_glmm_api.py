"""GLMMs through the user's API: family, baselines, latent-scale ICC, Wald z, ratios, sweeps."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from mcpower_sweep import MCPower, engine
from mcpower_sweep.design.family import baseline_intercept, intercept_variance
from mcpower_sweep.scenario import load_scenario


def crt(family: str = "logit", *, effect: float = 0.5, n_clusters: int = 20) -> MCPower:
    """A cluster-randomised trial: exactly half the schools treated."""
    model = (MCPower("y ~ treatment + (1|school)", family=family)
             .set_variable_type("treatment=binary(0.5, balanced)")
             .set_effects({"treatment": effect}).set_seed(5))
    if family == "poisson":
        return (model.set_baseline_rate(2.0)
                .set_cluster("school", tau_squared=0.2, n_clusters=n_clusters,
                             cluster_level_vars=["treatment"]))
    return (model.set_baseline_probability(0.3)
            .set_cluster("school", ICC=0.1, n_clusters=n_clusters,
                         cluster_level_vars=["treatment"]))


# ------------------------------------------------------------------ the mapping
@pytest.mark.parametrize(("family", "baseline", "intercept"), [
    ("logit", 0.3, math.log(0.3 / 0.7)), ("probit", 0.3, norm.ppf(0.3)),
    ("poisson", 2.5, math.log(2.5))])
def test_baseline_is_the_link_scale_intercept(family: str, baseline: float,
                                              intercept: float) -> None:
    assert baseline_intercept(family, baseline) == pytest.approx(intercept, rel=1e-14)
    model = MCPower("y ~ x + (1|g)", family=family)
    model = (model.set_baseline_rate(baseline) if family == "poisson"
             else model.set_baseline_probability(baseline))
    model.set_cluster("g", tau_squared=0.3, n_clusters=10)
    spec = model.to_spec(100)
    assert spec.intercept == pytest.approx(intercept, rel=1e-14)
    assert engine.native_spec(spec).beta[0] == pytest.approx(intercept, rel=1e-14)
    assert spec.re_cov()[0, 0] == pytest.approx(0.3)


@pytest.mark.parametrize(("family", "latent"), [("logit", math.pi ** 2 / 3), ("probit", 1.0),
                                                ("lme", 1.0)])
def test_icc_is_on_the_latent_scale(family: str, latent: float) -> None:
    assert intercept_variance(family, 0.2) == pytest.approx(0.25 * latent)
    model = MCPower("y ~ x + (1|g)", family=family).set_cluster("g", ICC=0.2, n_clusters=10)
    if family != "lme":
        model.set_baseline_probability(0.5)
    spec = model.to_spec(100)
    assert spec.re_cov()[0, 0] == pytest.approx(0.25 * latent, rel=1e-14)
    # The latent ICC comes back: tau^2 / (tau^2 + latent residual variance).
    tau2 = spec.re_cov()[0, 0]
    assert tau2 / (tau2 + latent) == pytest.approx(0.2)


def test_tau_squared_works_for_every_family_and_slopes_are_link_scale() -> None:
    model = (MCPower("y ~ x + (1 + x|g)", family="logit").set_baseline_probability(0.5)
             .set_cluster("g", tau_squared=0.4, n_clusters=10, slope_variance=0.1))
    assert np.diag(model.to_spec(100).re_cov()) == pytest.approx([0.4, 0.1])
    lme = MCPower("y ~ x + (1|g)").set_cluster("g", tau_squared=0.25, n_clusters=10)
    icc = MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.2, n_clusters=10)
    assert lme.to_spec(100).re_cov() == pytest.approx(icc.to_spec(100).re_cov())


def test_mcpowers_asymptotic_and_agq() -> None:
    model = crt().set_simulations(10)
    result = model.find_power(400, df_method="asymptotic", agq=5, print_results=False)
    assert (result.spec.df_method, result.spec.nagq) == ("z", 5)
    assert "adaptive quadrature (5 nodes)" in str(result)


def test_defaults_are_glmers_fit_and_wald_z() -> None:
    spec = crt().to_spec(400)
    assert (spec.estimator, spec.df_method, spec.family) == ("ml", "z", "logit")
    assert spec.params()["baseline_probability"] == 0.3
    lme = MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.1, n_clusters=10).to_spec(100)
    assert (lme.estimator, lme.df_method) == ("reml", "satterthwaite")
    assert "family" not in lme.params()  # existing designs keep their provenance


# ------------------------------------------------------------------ results
def test_results_report_odds_and_rate_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    result = crt().set_simulations(20).find_power(400)
    printed = capsys.readouterr().out
    assert "binomial GLMM, logit link" in printed and "odds ratio" in printed
    assert "1.65" in printed  # exp(0.5)
    ds = result.to_xarray()
    assert float(ds.odds_ratio.sel(test="treatment")) == pytest.approx(math.exp(0.5))
    assert ds.attrs["family"] == "logit" and ds.attrs["df_method"] == "z"
    counts = crt("poisson", effect=-0.2).set_simulations(20).find_sample_size(
        200, 400, by=200, print_results=False).to_xarray()
    assert float(counts.rate_ratio.sel(test="treatment")) == pytest.approx(math.exp(-0.2))


# ------------------------------------------------------------------ power sanity
def test_logit_crt_power_grows_with_clusters() -> None:
    powers = [crt(n_clusters=j, effect=0.6).set_simulations(300)
              .find_power(20 * j, print_results=False).power["treatment"]
              for j in (10, 20, 40)]
    assert powers[0] < powers[1] < powers[2]


def test_logit_null_rejects_near_alpha_at_40_clusters() -> None:
    result = crt(n_clusters=40, effect=0.0).set_simulations(1000).find_power(
        800, print_results=False)
    n = result.n_success
    assert n >= 990
    # Wald z is a little liberal with 40 clusters; 4 binomial Monte Carlo SEs around .05,
    # plus 1.5 points of small-sample excess.
    assert abs(result.power["treatment"] - 0.05) < 4 * math.sqrt(0.05 * 0.95 / n) + 0.015


@pytest.mark.slow
def test_logit_null_rejects_near_alpha_slow() -> None:
    result = crt(n_clusters=40, effect=0.0).set_simulations(10_000).find_power(
        800, print_results=False)
    n = result.n_success
    assert abs(result.power["treatment"] - 0.05) < 4 * math.sqrt(0.05 * 0.95 / n) + 0.01


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("call", "words"), [
    (lambda: MCPower("y ~ x + (1|g)", family="logit").set_baseline_probability(1.0),
     ["p=1.0", "(0, 1)"]),
    (lambda: MCPower("y ~ x + (1|g)", family="probit").set_baseline_probability(0),
     ["p=0", "(0, 1)"]),
    (lambda: MCPower("y ~ x + (1|g)", family="poisson").set_baseline_rate(0),
     ["rate=0", "> 0"]),
    (lambda: MCPower("y ~ x + (1|g)", family="poisson").set_baseline_rate(-1.5),
     ["rate=-1.5", "> 0"]),
    (lambda: MCPower("y ~ x + (1|g)", family="poisson").set_baseline_probability(0.2),
     ["set_baseline_probability", "logit", "family='poisson'", "set_baseline_rate"]),
    (lambda: MCPower("y ~ x + (1|g)", family="logit").set_baseline_rate(2),
     ["set_baseline_rate", "family='logit'", "set_baseline_probability"]),
    (lambda: MCPower("y ~ x + (1|g)").set_baseline_probability(0.2),
     ["family='lme'", "no baseline"]),
    (lambda: MCPower("y ~ x + (1|g)", family="poisson").set_cluster("g", ICC=0.1,
                                                                      n_clusters=10),
     ["ICC=0.1", "poisson", "tau_squared"]),
    (lambda: MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.1, tau_squared=0.2,
                                                  n_clusters=10),
     ["ICC=0.1", "tau_squared=0.2", "exactly one"]),
    (lambda: MCPower("y ~ x + (1|g)").set_cluster("g", tau_squared=-1, n_clusters=10),
     ["tau_squared=-1", ">= 0"]),
    (lambda: crt().find_power(400, df_method="satterthwaite"),
     ["df_method='satterthwaite'", "Wald z", "df_method='z'"]),
    (lambda: crt().find_power(400, df_method="kenward_roger"),
     ["df_method='kenward_roger'", "df_method='z'"]),
    (lambda: crt().find_power(400, estimator="reml"), ["estimator='reml'", "'ml'"]),
    (lambda: crt().find_power(400, agq=4), ["agq=4", "odd"]),
    (lambda: (MCPower("y ~ x + (1 + x|g)", family="logit").set_baseline_probability(0.5)
              .set_cluster("g", ICC=0.1, n_clusters=10)).find_power(100, agq=5),
     ["agq=5", "random intercept only"]),
    (lambda: MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.1, n_clusters=10).find_power(
        100, agq=5), ["agq=5", "linear mixed model"]),
    (lambda: MCPower("y ~ x + (1|g)", family="logit").set_cluster(
        "g", ICC=0.1, n_clusters=10).to_spec(100), ["needs a baseline",
                                                   "set_baseline_probability"]),
    (lambda: MCPower("y ~ x + (1|g)", family="ols"), ["family='ols'", "mixed model", "'lme'"]),
    (lambda: MCPower("y ~ x + (1|g)", family="binomial"), ["family='binomial'", "'logit'"]),
], ids=lambda c: "" if callable(c) else c[0])
def test_bad_input_is_refused_clearly(call, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


# ------------------------------------------------------------------ scenarios and sweeps
SCENARIO = """\
model:
  formula: "passed ~ treatment + (1|school)"
  family: logit
  baseline_probability: 0.3
  effects: {treatment: 0.5}
  variable_types: {treatment: "binary(0.5, balanced)"}
  cluster:
    grouping: school
    ICC: 0.1
    n_clusters: 20
    cluster_level_vars: [treatment]
simulations: 40
seed: 3
sample_size: 400
sweep:
  baseline_probability: [0.1, 0.3]
  n_clusters: [10, 20]
"""


def test_scenario_family_and_baseline_axis(tmp_path: Path) -> None:
    path = tmp_path / "glmm.yaml"
    path.write_text(SCENARIO)
    s = load_scenario(path)
    assert s.model.family == "logit"
    assert (s.options.estimator, s.options.df_method) == ("ml", "z")
    assert s.grid["baseline_probability"] == [0.1, 0.3]
    spec = s.base_spec()
    assert spec.with_params(baseline_probability=0.1).intercept == pytest.approx(
        math.log(0.1 / 0.9))
    poisson = SCENARIO.replace("family: logit", "family: poisson")
    path.write_text(poisson)
    with pytest.raises(ValueError, match="baseline_probability"):
        load_scenario(path)


def test_sweep_over_the_baseline_probability() -> None:
    from mcpower_sweep import sweep

    ds = sweep(crt(), {"baseline_probability": [0.1, 0.5]}, sample_size=400,
               simulations=30, progress=False)
    assert ds.sizes["baseline_probability"] == 2
    assert ds.baseline_probability.attrs["long_name"].startswith("probability")
    assert int(ds.n_success.sum()) > 50
