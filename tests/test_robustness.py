"""Non-normal residuals and random effects, heteroskedasticity and scenario sets (#16).

The shapes keep the set variances (only the shape changes), are deterministic per seed, and
the default (normal) draws exactly as before (the fingerprint check); the default test keeps
its level under heavy-tailed random effects; scenario sets run side by side.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mcpower_sweep import MCPower, _native, engine
from mcpower_sweep.design.robust import SCENARIOS, check_distribution, scenario_config
from mcpower_sweep.engine import native_spec
from mcpower_sweep.results.scenarios import ScenarioResult

# shape, parameter, (skewness, excess kurtosis) of the unit-variance draw
MOMENTS = [
    ("normal", 0.0, (0.0, 0.0)),
    ("t", 10.0, (0.0, 6 / (10 - 4))),
    ("right_skewed", 8.0, (math.sqrt(8 / 8), 12 / 8)),
    ("left_skewed", 8.0, (-math.sqrt(8 / 8), 12 / 8)),
    ("uniform", 0.0, (0.0, -1.2)),
    ("mixture", 0.1, (0.0, 3 * (0.9 + 0.1 * 81) / (1 + 0.1 * 8) ** 2 - 3)),
]


def _batch_stats(x: np.ndarray, n_batches: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Mean of (mean, variance, skewness, excess kurtosis) over batches, and its SE."""
    rows = np.array([[b.mean(), b.var(), stats.skew(b), stats.kurtosis(b)]
                     for b in np.array_split(x, n_batches)])
    return rows.mean(0), rows.std(0, ddof=1) / math.sqrt(n_batches)


@pytest.mark.parametrize(("shape", "param", "moments"), MOMENTS, ids=[m[0] for m in MOMENTS])
def test_shapes_have_unit_variance_and_their_shape(shape, param, moments) -> None:
    x = _native.shape_draws(_native.Shape.__members__[shape], param, 7, 3, 400_000)
    est, se = _batch_stats(x)
    target = np.array([0.0, 1.0, *moments])
    # within 4 Monte Carlo SEs (batch means), and the SE itself small enough to mean something
    assert np.all(np.abs(est - target) < 4 * se + 1e-3), (shape, est, se)
    assert se[1] < 0.01 and se[3] < 0.15


def test_shapes_are_deterministic_and_normal_is_the_normal_stream() -> None:
    t = _native.Shape.t
    assert np.array_equal(_native.shape_draws(t, 5.0, 1, 2, 100),
                          _native.shape_draws(t, 5.0, 1, 2, 100))
    assert np.array_equal(_native.shape_draws(_native.Shape.normal, 0.0, 1, 2, 100),
                          _native.normal_draws(1, 2, 100))


def _null_model(**cluster) -> MCPower:
    return (MCPower("y ~ x + (1|g)").set_effects("x=0.0")
            .set_cluster("g", **{"ICC": 0.5, "n_clusters": 500, **cluster}))


def _cluster_stats(spec, sims: int) -> tuple[np.ndarray, np.ndarray]:
    """Cluster means of y and within-cluster residual variances, pooled over simulations."""
    es = native_spec(spec)
    means, within = [], []
    for i in range(sims):
        d = _native.cross_products(es, 5, i)
        n, ysum, yy = d["rows"], d["colsum"][:, -1], d["cross"][:, -1, -1]
        means.append(ysum / n)
        within.append((yy - ysum**2 / n) / (n - 1))
    return np.concatenate(means), np.concatenate(within)


def test_engine_random_effects_keep_their_variance_and_take_the_shape() -> None:
    # y = b_j + e_ij with tau^2 = 1 (ICC .5) and 200 rows per cluster: a cluster mean is
    # b_j + N(0, 1/200), so its variance is 1.005 and its kurtosis nearly that of b.
    spec = _null_model().to_spec(100_000).with_params(random_effect_dist="t(10)")
    means, within = _cluster_stats(spec, 20)
    est, se = _batch_stats(means, 20)
    shrink = (1 / (1 + 1 / 200)) ** 2  # excess kurtosis of b + small normal noise
    assert abs(est[1] - (1 + 1 / 200)) < 4 * se[1]
    assert abs(est[3] - 1.0 * shrink) < 4 * se[3] and est[3] > 0.5, (est, se)
    assert abs(within.mean() - 1.0) < 0.01  # residual variance untouched


def _rows(spec, sims: int) -> np.ndarray:
    """The engine's simulated rows [cluster, X, y] (these designs take the row path)."""
    es = native_spec(spec)
    return np.vstack([_native.simulated_rows(es, 3, i) for i in range(sims)])


@pytest.mark.parametrize(("residual", "moments"), [
    ("t(10)", (0.0, 1.0)), ("right_skewed(8)", (1.0, 1.5)), ("left_skewed(8)", (-1.0, 1.5)),
    ("mixture(0.1)", MOMENTS[-1][2])])
def test_engine_residuals_keep_their_variance_and_take_the_shape(residual, moments) -> None:
    # No random effect (ICC 0) and x's effect 0: y is the residual itself.
    spec = _null_model(ICC=0.0, n_clusters=200).to_spec(40_000).with_params(
        residual_dist=residual)
    est, se = _batch_stats(_rows(spec, 10)[:, -1])
    target = np.array([0.0, 1.0, *moments])
    assert np.all(np.abs(est - target) < 4 * se + 1e-3), (residual, est, se)


def test_engine_rows_are_the_row_paths_cross_products() -> None:
    es = native_spec(_null_model(n_clusters=20).to_spec(400), row_level=True)
    rows, cp = _native.simulated_rows(es, 3, 1), _native.cross_products(es, 3, 1)
    for j in (0, 7):
        w = rows[rows[:, 0] == j, 1:]
        assert np.allclose(w.T @ w, cp["cross"][j], rtol=1e-12, atol=1e-9)


def test_heteroskedasticity_has_the_set_ratio_and_mean_variance() -> None:
    spec = (_null_model(ICC=0.0, n_clusters=200).set_heteroskedasticity(4)
            .set_heteroskedasticity_driver("x").to_spec(40_000))
    gamma = native_spec(spec).robust.het_gamma
    assert gamma == pytest.approx(math.log(4) / 4)
    rows = _rows(spec, 5)
    x, e = rows[:, 2], rows[:, -1]
    assert abs(e.var() - 1.0) < 4 * math.sqrt(2 / e.size) * 1.2
    high, low = x > 1.5, x < -1.5
    ratio = e[high].var() / e[low].var()
    expected = np.exp(gamma * x[high]).mean() / np.exp(gamma * x[low]).mean()
    se_log = math.sqrt(2 / high.sum() + 2 / low.sum())
    assert abs(math.log(ratio / expected)) < 4 * se_log, (ratio, expected)


def test_perturbations_leave_the_data_stream_alone() -> None:
    # A jitter of zero effects is zero: a null design's data are those of no scenario.
    model = _null_model(n_clusters=20).set_scenario_configs({"jitter": {"heterogeneity": 0.4}})
    spec = model.to_spec(400)
    plain = _native.cross_products(native_spec(spec), 3, 1)
    jittered = _native.cross_products(native_spec(spec.with_params(scenario="jitter")), 3, 1)
    assert np.array_equal(plain["cross"], jittered["cross"])


def test_type_one_error_under_heavy_tailed_random_effects() -> None:
    # A cluster-randomised null (30 clusters of 20, ICC .2), random intercepts t(3) with the
    # set variance: the Satterthwaite t test keeps its level (measured 4.7% +- 0.3 at 4,000).
    model = (MCPower("y ~ treat + x + (1|g)")
             .set_cluster("g", ICC=0.2, n_clusters=30, cluster_level_vars=["treat"])
             .set_variable_type("treat=binary(0.5, balanced)")
             .set_random_effect_distribution("t(3)"))
    out = _native.run_chunk(native_spec(model.to_spec(600)), 11, 0, 4000, 1)
    ok = out["converged"]
    rate = (out["pvalue"][ok, 1] < 0.05).mean()
    se = math.sqrt(0.05 * 0.95 / ok.sum())
    assert abs(rate - 0.05) < 3 * se, rate


def test_distribution_spellings() -> None:
    assert check_distribution("heavy_tailed") == "t"
    assert check_distribution("Skewed(4)") == "right_skewed(4)"
    assert check_distribution("mixture") == "mixture"
    for bad, words in [("cauchy", "unknown"), ("mixture(1)", r"weight in \(0, 1\)"),
                       ("normal(2)", "takes no parameter"), ("t(x)", "not allowed")]:
        with pytest.raises(ValueError, match=words):
            check_distribution(bad)


def test_scenario_configs_follow_mcpower_merge_rule() -> None:
    model = _null_model().set_scenario_configs(
        {"doomer": {"icc_noise_sd": 0.1}, "mine": {"heteroskedasticity_ratio": 3.0}})
    custom = model.to_spec(5000).scenario_configs
    assert scenario_config("doomer", custom) == {**SCENARIOS["doomer"], "icc_noise_sd": 0.1}
    mine = scenario_config("mine", custom)
    assert mine["heteroskedasticity_ratio"] == 3.0 and mine["truth_start"] is False
    assert mine["heterogeneity"] == SCENARIOS["optimistic"]["heterogeneity"]
    with pytest.raises(ValueError, match="unknown config key 'icc'"):
        model.set_scenario_configs({"realistic": {"icc": 0.1}})
    with pytest.raises(ValueError, match="scenario='nope' is unknown"):
        model.to_spec(5000).with_params(scenario="nope")


def test_a_scenario_keeps_what_the_design_sets() -> None:
    spec = _null_model().set_residual_distribution("high_kurtosis").to_spec(5000)
    # the pinned t takes the scenario's residual_df (MCPower 1.4.1) and is never swapped
    doomer = native_spec(spec.with_params(scenario="doomer")).robust
    assert (doomer.residual_shape, doomer.residual_param) == (_native.Shape.t, 5.0)
    assert doomer.residual_change_prob == 0.0 and doomer.re_param == 5.0
    assert native_spec(spec).robust.residual_param == 10.0  # optimistic's df by default


def _logit() -> MCPower:
    return (MCPower("y ~ x + (1|g)", family="logit").set_baseline_probability(0.3)
            .set_cluster("g", ICC=0.2, n_clusters=20).set_effects("x=0.3"))


def test_a_glmm_has_no_residual_to_change() -> None:
    with pytest.raises(ValueError, match="residual_dist='t\\(5\\)' with family='logit'"):
        _logit().set_residual_distribution("t(5)").to_spec(400)
    with pytest.raises(ValueError, match="heteroskedasticity=2 with family='logit'"):
        _logit().set_heteroskedasticity(2).to_spec(400)


def test_glmm_random_effect_shapes_and_scenarios() -> None:
    """A GLMM's random effects take the shape (same variance), and a scenario set its
    effects and random-intercept noise; its residual settings are left out."""
    spec = _logit().set_random_effect_distribution("t(3)").to_spec(400)
    robust = native_spec(spec).robust
    assert (robust.re_shape, robust.re_param) == (_native.Shape.t, 3.0)
    doomer = native_spec(_logit().to_spec(400).with_params(scenario="doomer")).robust
    assert doomer.effect_jitter > 0 and doomer.icc_noise_sd > 0
    assert doomer.residual_change_prob == 0.0 and doomer.het_gamma == 0.0
    normal = engine.run_chunk(_logit().to_spec(400), 5, 0, 200)
    heavy = engine.run_chunk(spec, 5, 0, 200)
    assert not np.array_equal(normal.estimate, heavy.estimate)  # the shape is drawn
    # the same simulations as before when nothing is set (no draws spent on robustness)
    again = engine.run_chunk(_logit().set_random_effect_distribution("normal").to_spec(400),
                             5, 0, 200)
    np.testing.assert_array_equal(normal.estimate, again.estimate)
    result = _logit().set_seed(3).set_simulations(200).find_power(400, scenarios=True,
                                                                   print_results=False)
    assert set(result.scenarios) == {"optimistic", "realistic", "doomer"}


def test_driver_must_be_a_main_effect_predictor() -> None:
    model = _null_model().set_heteroskedasticity(2).set_heteroskedasticity_driver("z")
    with pytest.raises(ValueError, match=r"heteroskedasticity_driver='z'.*\(x\)"):
        model.to_spec(5000)


def test_find_power_with_scenarios_side_by_side(capsys) -> None:
    model = (MCPower("y ~ x + (1|g)").set_effects("x=0.2").set_seed(1).set_simulations(60)
             .set_cluster("g", ICC=0.2, n_clusters=20))
    result = model.find_power(200, scenarios=["optimistic", "doomer"])
    assert isinstance(result, ScenarioResult) and result.scenarios == ("optimistic", "doomer")
    printed = capsys.readouterr().out
    assert "optimistic" in printed and "doomer" in printed and "\nx " in printed
    ds = result.to_xarray()
    assert ds.power.dims == ("scenario", "test") and list(ds.scenario.values) == [
        "optimistic", "doomer"]
    # optimistic perturbs nothing: the same numbers as no scenario at all
    plain = model.find_power(200, print_results=False)
    assert result["optimistic"].n_significant == plain.n_significant
    with pytest.raises(ValueError, match="'pessimistic' is unknown"):
        model.find_power(200, scenarios=["pessimistic"])
    curve = model.find_sample_size(200, 300, by=100, scenarios=True, print_results=False)
    assert curve.to_xarray().power.dims[0] == "scenario" and len(curve.required_n) == 3


def test_linear_predictor_driver_moments() -> None:
    # Var(0.2 a + 0.3 b + 0.4 c) with corr(a, b) = .5 and c ~ Bernoulli(.3): .04 + .09 +
    # 2 (.5)(.06) + .16 (.21); its mean .4 (.3).
    model = (MCPower("y ~ a + b + c + (1|g)").set_cluster("g", ICC=0.1, n_clusters=20)
             .set_variable_type("c=binary(0.3)").set_correlations("corr(a,b)=0.5")
             .set_effects("a=0.2, b=0.3, c=0.4").set_heteroskedasticity(2))
    r = native_spec(model.to_spec(400)).robust
    assert r.het_weights == [0.0, 0.2, 0.3, 0.4]
    assert r.het_center == pytest.approx(0.12)
    assert r.het_scale == pytest.approx(math.sqrt(0.04 + 0.09 + 0.06 + 0.16 * 0.21))


YAML = """\
model:
  formula: "y ~ x + (1|g)"
  effects: "x=0.2"
  residual_dist: t(5)
  heteroskedasticity_driver: x
  scenario_configs: {mine: {icc_noise_sd: 0.1}}
  cluster: {grouping: g, ICC: 0.2, n_clusters: 20}
sample_size: 400
sweep:
  random_effect_dist: [normal, heavy_tailed(4), skewed(2)]
  heteroskedasticity: [1, 4]
  scenario: [optimistic, doomer, mine]
"""


def test_yaml_scenarios_take_the_robustness_keys_and_axes() -> None:
    from mcpower_sweep.scenario import ScenarioError, parse_scenario

    s = parse_scenario(YAML)
    assert s.grid["random_effect_dist"] == ["normal", "t(4)", "right_skewed(2)"]
    spec = s.base_spec()
    assert (spec.residual_dist, spec.heteroskedasticity_driver) == ("t(5)", "x")
    doomer = native_spec(spec.with_params(scenario="mine", heteroskedasticity=4.0)).robust
    assert doomer.icc_noise_sd == 0.1 and doomer.het_gamma == pytest.approx(math.log(4) / 4)
    with pytest.raises(ScenarioError, match=r"sweep.random_effect_dist\[0\].*unknown"):
        parse_scenario(YAML.replace("[normal, heavy", "[cauchy, heavy"))
    with pytest.raises(ScenarioError, match="model.heteroskedasticity_driver"):
        parse_scenario(YAML.replace("driver: x", "driver: z")).base_spec()
