"""The MCPower API: input validation at the setters, specs, runs and results."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from mcpower_sweep.api.model import MCPower, TooManyFailedFitsError
from mcpower_sweep.design.formula import FormulaError
from mcpower_sweep.results.power import PowerResult, wilson_interval
from mcpower_sweep.results.sample_size import SampleSizeResult

FORMULA = "outcome ~ treatment + motivation + (1 + treatment|site)"


def slope_model(**cluster) -> MCPower:
    """The tutorial's full example, with few simulations."""
    options = dict(ICC=0.2, n_clusters=30, random_slopes=["treatment"], slope_variance=0.1,
                   slope_intercept_corr=0.3)
    options.update(cluster)
    return (
        MCPower(FORMULA)
        .set_simulations(120)
        .set_cluster("site", **options)
        .set_effects("treatment=0.5, motivation=0.3")
        .set_max_failed_simulations(0.30)
        .set_seed(2024)
    )


@pytest.fixture
def engine():
    return pytest.importorskip(
        "mcpower_sweep.engine",
        reason="the native engine (mcpower_sweep._native) is not built",
        exc_type=ImportError,
    )


def raises_naming(exc: type[Exception], param: str, value: str, match: str | None = None):
    """Context: raises ``exc`` whose message names the parameter and the value."""

    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(exc)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *args):
            suppressed = self.ctx.__exit__(*args)
            message = str(self.info.value)
            assert param in message, message
            assert value in message, message
            if match is not None:
                assert match in message, message
            return suppressed

    return _Check()


# ------------------------------------------------------------------ setters: valid input
def test_setters_chain_and_record():
    model = slope_model()
    assert model.simulations == 120
    assert model.seed == 2024
    assert model.max_failed == 0.30
    assert model.effects == {"treatment": 0.5, "motivation": 0.3}
    assert model.alpha == 0.05
    assert model.target_power == 0.8
    assert model.set_alpha(0.01) is model
    assert model.alpha == 0.01


@pytest.mark.parametrize(("given", "fraction"), [(80, 0.8), (0.9, 0.9), (95.0, 0.95)])
def test_set_power_accepts_fraction_or_percent(given, fraction):
    assert MCPower(FORMULA).set_power(given).target_power == pytest.approx(fraction)


def test_unset_effects_are_zero_and_interactions_accept_either_order():
    model = MCPower("y ~ a*b + (1|g)").set_effects("b:a=0.2")
    assert model.effects == {"a": 0.0, "b": 0.0, "a:b": 0.2}
    model.set_effects({"a": 0.5})
    assert model.effects["a"] == 0.5


def test_variable_types_become_predictors():
    model = slope_model().set_variable_type("treatment=binary, motivation=normal")
    spec = model.to_spec(600)
    kinds = {p.name: (p.kind, p.p) for p in spec.predictors}
    assert kinds == {"treatment": ("binary", 0.5), "motivation": ("normal", 0.5)}
    model.set_variable_type("treatment=binary(0.3)")
    assert model.to_spec(600).predictors[0].p == 0.3


def test_to_spec_carries_the_configuration():
    spec = slope_model().set_alpha(0.01).to_spec(1500, estimator="ml", df_method="z")
    assert spec.term_names == ("(Intercept)", "treatment", "motivation")
    assert spec.effects == (0.0, 0.5, 0.3)
    assert spec.random_columns == (0, 1)
    assert (spec.icc, spec.slope_variance, spec.slope_intercept_corr) == (0.2, 0.1, 0.3)
    assert (spec.n_clusters, spec.cluster_size, spec.sample_size) == (30, None, 1500)
    assert (spec.estimator, spec.df_method, spec.alpha) == ("ml", "z", 0.01)


def test_random_slopes_default_to_the_formula():
    model = MCPower(FORMULA).set_cluster("site", ICC=0.2, n_clusters=30, slope_variance=0.1)
    assert model.to_spec(900).random_columns == (0, 1)


def test_cluster_size_instead_of_n_clusters():
    model = slope_model(n_clusters=None, cluster_size=25)
    spec = model.to_spec(1000)
    assert spec.effective_n_clusters == 40


def test_set_parallel():
    model = MCPower(FORMULA)
    assert model.set_parallel(False).n_threads == 1
    assert model.set_parallel(True, n_cores=3).n_threads == 3


# ------------------------------------------------------------------ bad input (issue 3)
@pytest.mark.parametrize("icc", [1.0, -0.1, 1.5])
def test_icc_outside_0_1(icc):
    with raises_naming(ValueError, "ICC", repr(icc), "[0, 1)"):
        MCPower(FORMULA).set_cluster("site", ICC=icc, n_clusters=30)


def test_negative_slope_variance():
    with raises_naming(ValueError, "slope_variance", "-0.1", ">= 0"):
        MCPower(FORMULA).set_cluster("site", ICC=0.2, n_clusters=30, slope_variance=-0.1)


@pytest.mark.parametrize("corr", [1.5, -1.01])
def test_slope_intercept_corr_outside_minus1_1(corr):
    with raises_naming(ValueError, "slope_intercept_corr", repr(corr), "[-1, 1]"):
        MCPower(FORMULA).set_cluster("site", ICC=0.2, n_clusters=30, slope_variance=0.1,
                                     slope_intercept_corr=corr)


@pytest.mark.parametrize("n", [1, 0, -3])
def test_n_clusters_below_2(n):
    with raises_naming(ValueError, "n_clusters", repr(n), ">= 2"):
        MCPower(FORMULA).set_cluster("site", ICC=0.2, n_clusters=n)


def test_cluster_size_below_5():
    with raises_naming(ValueError, "cluster_size", "4", ">= 5"):
        MCPower(FORMULA).set_cluster("site", ICC=0.2, cluster_size=4)


def test_fewer_than_5_observations_per_cluster():
    model = slope_model()
    with raises_naming(ValueError, "sample_size", "100", "fewer than 5 observations"):
        model.find_power(sample_size=100, print_results=False)


def test_fewer_than_5_observations_per_cluster_in_a_size_range():
    with raises_naming(ValueError, "sample_size", "120", "fewer than 5 observations"):
        slope_model().find_sample_size(120, 600, by=120, print_results=False)


def test_n_clusters_and_cluster_size_together_or_neither():
    with raises_naming(ValueError, "n_clusters", "30", "exactly one"):
        MCPower(FORMULA).set_cluster("site", ICC=0.2, n_clusters=30, cluster_size=10)
    with raises_naming(ValueError, "cluster_size", "None", "exactly one"):
        MCPower(FORMULA).set_cluster("site", ICC=0.2)


def test_random_slope_not_in_formula():
    with raises_naming(ValueError, "random_slopes", "'age'", "not in the formula"):
        MCPower(FORMULA).set_cluster("site", ICC=0.2, n_clusters=30, random_slopes=["age"],
                                     slope_variance=0.1)


def test_random_slope_not_in_random_part():
    with raises_naming(ValueError, "random_slopes", "'motivation'", "no random slope"):
        MCPower(FORMULA).set_cluster("site", ICC=0.2, n_clusters=30,
                                     random_slopes=["treatment", "motivation"],
                                     slope_variance=0.1)


def test_random_slopes_leaving_out_a_slope_of_the_formula():
    with raises_naming(ValueError, "random_slopes", "[]", "'treatment'"):
        MCPower(FORMULA).set_cluster("site", ICC=0.2, n_clusters=30, random_slopes=[])


def test_slope_variance_without_random_slopes():
    model = MCPower("y ~ x + (1|g)")
    with raises_naming(ValueError, "slope_variance", "0.1", "no random slopes"):
        model.set_cluster("g", ICC=0.1, n_clusters=20, slope_variance=0.1)


def test_set_cluster_for_unknown_grouping_variable():
    with raises_naming(ValueError, "name", "'school'", "'site'"):
        MCPower(FORMULA).set_cluster("school", ICC=0.2, n_clusters=30)


def test_set_cluster_without_random_part():
    with raises_naming(ValueError, "set_cluster", "'site'", "no random part"):
        MCPower("y ~ treatment").set_cluster("site", ICC=0.2, n_clusters=30)


def test_find_power_without_random_part_or_cluster():
    with raises_naming(ValueError, "formula", "'y ~ x'", "no random part"):
        MCPower("y ~ x").find_power(100, print_results=False)
    with raises_naming(ValueError, "set_cluster", "'site'", "has not been called"):
        MCPower(FORMULA).find_power(100, print_results=False)


def test_set_effects_unknown_name():
    with raises_naming(ValueError, "set_effects", "'age'", "not a fixed effect"):
        MCPower(FORMULA).set_effects("treatment=0.5, age=0.2")


@pytest.mark.parametrize("text", ["treatment=", "treatment=  , motivation=0.3"])
def test_set_effects_missing_value(text):
    with raises_naming(ValueError, "set_effects", "'treatment'", "missing value"):
        MCPower(FORMULA).set_effects(text)


@pytest.mark.parametrize(("text", "value"), [("treatment=big", "'big'"),
                                             ("treatment=0.5x", "'0.5x'")])
def test_set_effects_non_numeric(text, value):
    with raises_naming(ValueError, "set_effects", value, "not a number"):
        MCPower(FORMULA).set_effects(text)


@pytest.mark.parametrize("text", ["treatment 0.5", "", "=0.5"])
def test_set_effects_malformed(text):
    with pytest.raises(ValueError, match="set_effects"):
        MCPower(FORMULA).set_effects(text)


def test_set_effects_given_twice():
    with raises_naming(ValueError, "set_effects", "'treatment'", "twice"):
        MCPower(FORMULA).set_effects("treatment=0.5, treatment=0.2")


@pytest.mark.parametrize("n", [0, -100])
def test_find_power_sample_size_not_positive(n):
    with raises_naming(ValueError, "sample_size", repr(n), ">= 1"):
        slope_model().find_power(sample_size=n, print_results=False)


def test_find_power_sample_size_not_a_whole_number():
    with raises_naming(ValueError, "sample_size", "'1500'", "whole number"):
        slope_model().find_power(sample_size="1500", print_results=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "param", "value"), [
    ((0, 1000, 100), "from_size", "0"),
    ((500, -1, 100), "to_size", "-1"),
    ((500, 1000, 0), "by", "0"),
])
def test_find_sample_size_sizes_not_positive(args, param, value):
    with raises_naming(ValueError, param, value, ">= 1"):
        slope_model().find_sample_size(*args, print_results=False)


def test_find_sample_size_from_above_to():
    with raises_naming(ValueError, "from_size", "3000", "to_size=500"):
        slope_model().find_sample_size(from_size=3000, to_size=500, by=100, print_results=False)


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_simulations_below_1(n):
    with raises_naming(ValueError, "n_simulations", repr(n), ">= 1"):
        MCPower(FORMULA).set_simulations(n)


@pytest.mark.parametrize("alpha", [0, 1, 1.5, -0.05])
def test_alpha_outside_0_1(alpha):
    with raises_naming(ValueError, "alpha", repr(alpha), "(0, 1)"):
        MCPower(FORMULA).set_alpha(alpha)


def test_alpha_not_a_number():
    with raises_naming(ValueError, "alpha", "'0.05'", "not a number"):
        MCPower(FORMULA).set_alpha("0.05")  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "value"), [("treatment=poisson", "'poisson'"),
                                             ("treatment=binary(1.5)", "binary(1.5)"),
                                             ("treatment=binary(p)", "binary(p)")])
def test_unknown_variable_type(text, value):
    with raises_naming(ValueError, "set_variable_type", value, "binary"):
        MCPower(FORMULA).set_variable_type(text)


def test_variable_type_for_unknown_variable():
    with raises_naming(ValueError, "set_variable_type", "'age'", "not a predictor"):
        MCPower(FORMULA).set_variable_type("age=binary")


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_max_failed_outside_0_1(value):
    with raises_naming(ValueError, "max_failed", repr(value), "[0, 1]"):
        MCPower(FORMULA).set_max_failed_simulations(value)


@pytest.mark.parametrize("value", [0, 1, 100, 150, -5])
def test_power_target_out_of_range(value):
    with raises_naming(ValueError, "power", repr(value), "percentage"):
        MCPower(FORMULA).set_power(value)


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, "42"])
def test_bad_seed(seed):
    with raises_naming(ValueError, "seed", repr(seed), "2**64"):
        MCPower(FORMULA).set_seed(seed)


def test_bad_parallel_settings():
    with raises_naming(ValueError, "n_cores", "0", ">= 1"):
        MCPower(FORMULA).set_parallel(True, n_cores=0)
    with raises_naming(ValueError, "enable", "'yes'", "True or False"):
        MCPower(FORMULA).set_parallel("yes")  # type: ignore[arg-type]


def test_bad_estimator_df_method_and_target_test():
    model = slope_model()
    with raises_naming(ValueError, "estimator", "'bayes'", "reml"):
        model.find_power(1500, estimator="bayes", print_results=False)
    with raises_naming(ValueError, "df_method", "'kr'", "satterthwaite"):
        model.find_power(1500, df_method="kr", print_results=False)
    with raises_naming(ValueError, "target_test", "'age'", "treatment"):
        model.find_power(1500, target_test="age", print_results=False)


def test_psd_check_for_several_slopes():
    model = MCPower("y ~ a + b + (1 + a + b|g)")
    with raises_naming(ValueError, "slope_intercept_corr", "0.9", "positive semi-definite"):
        model.set_cluster("g", ICC=0.1, n_clusters=20, slope_variance=0.1,
                          slope_intercept_corr=0.9)


def test_unsupported_formulas_for_the_model():
    with pytest.raises(FormulaError, match="without a fixed intercept"):
        MCPower("y ~ 0 + x + (0 + x|g)")
    with pytest.raises(FormulaError, match="no fixed effects"):
        MCPower("y ~ 1 + (1|g)")


# ------------------------------------------------------------------ results without the engine
def test_wilson_interval():
    lo, hi = wilson_interval(80, 100)
    assert lo == pytest.approx(0.7112, abs=1e-4)
    assert hi == pytest.approx(0.8666, abs=1e-4)
    assert wilson_interval(0, 50)[0] == 0.0
    assert wilson_interval(50, 50)[1] == 1.0
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def _result(spec, n_success: int, sig: dict[str, int], **kw) -> PowerResult:
    return PowerResult(spec=spec, seed=7, n_simulations=200, n_success=n_success,
                       n_singular=5, n_significant=sig, target_power=0.8, **kw)


def test_sample_size_result_required_n_and_max_power():
    base = slope_model().to_spec(600)
    points = tuple(
        _result(replace(base, sample_size=n), 190, {"treatment": k, "motivation": 20})
        for n, k in [(600, 100), (900, 150), (1200, 160), (1500, 170)]
    )
    result = SampleSizeResult(points, 0.8, ("treatment",))
    assert list(result.sizes) == [600, 900, 1200, 1500]
    # the monotone fit crosses 0.8 = 152/190 between 900 (150/190) and 1200 (160/190):
    # 900 + (152 - 150) / (160 - 150) * 300 = 960; the first size at or above it is 1200
    assert result.required_n == {"treatment": 960, "motivation": None}
    assert result.curve("treatment").first_size == 1200
    assert result.max_power["motivation"] == (pytest.approx(20 / 190), 600)
    assert np.allclose(result.power["treatment"], np.array([100, 150, 160, 170]) / 190)
    text = str(result)
    assert "N ≈ 960" in text and "not reached" not in text.split("treatment:")[-1]
    ds = result.to_xarray()
    assert ds.power.dims == ("sample_size", "test")
    assert int(ds.n_failed.sel(sample_size=900)) == 10


def test_power_is_nan_when_no_fit_succeeded():
    spec = slope_model().to_spec(600)
    result = _result(spec, 0, {"treatment": 0, "motivation": 0})
    assert math.isnan(result.power["treatment"])
    assert not result.reached("treatment")
    assert "—" in str(result)


# ------------------------------------------------------------------ runs (native engine)
def test_find_power_returns_counts_power_and_ci(engine, capsys):
    result = slope_model().find_power(sample_size=1500)
    printed = capsys.readouterr().out
    assert isinstance(result, PowerResult)
    assert result.n_simulations == 120
    assert result.n_failed == result.n_simulations - result.n_success
    assert result.n_failed <= 0.30 * 120
    assert 0 <= result.n_singular <= result.n_success
    for test in ("treatment", "motivation"):
        p = result.power[test]
        lo, hi = result.ci[test]
        assert 0.0 <= lo <= p <= hi <= 1.0
    # a 0.5 SD effect at N = 1500 over 30 sites is well powered, 0.3 without slope too
    assert result.power["treatment"] > 0.6
    assert result.power["motivation"] > 0.9
    assert "treatment" in printed and "motivation" in printed and "2024" in printed
    assert "<table>" in result._repr_html_()
    assert result.engine_version == engine.ENGINE_VERSION


def test_find_power_is_reproducible_and_thread_independent(engine):
    one = slope_model().set_parallel(False).find_power(900, print_results=False)
    many = slope_model().set_parallel(True, n_cores=4).find_power(900, print_results=False)
    assert one.n_significant == many.n_significant
    assert (one.n_success, one.n_singular) == (many.n_success, many.n_singular)


def test_drawn_seed_is_recorded_and_repeats_the_run(engine, capsys):
    model = slope_model().set_seed(None)
    first = model.find_power(900)
    assert first.seed_drawn
    assert 0 <= first.seed < 2**63
    assert str(first.seed) in capsys.readouterr().out
    again = model.set_seed(first.seed).find_power(900, print_results=False)
    assert not again.seed_drawn
    assert again.n_significant == first.n_significant


def test_estimator_and_df_method_keywords_reach_the_spec(engine):
    result = slope_model().find_power(900, estimator="ml", df_method="z", print_results=False)
    assert (result.spec.estimator, result.spec.df_method) == ("ml", "z")
    ds = result.to_xarray()
    assert (ds.attrs["estimator"], ds.attrs["df_method"]) == ("ml", "z")


def test_to_xarray_of_power_result(engine):
    import mcpower_sweep

    result = slope_model().find_power(900, print_results=False)
    ds = result.to_xarray()
    assert ds.power.dims == ("test",)
    assert list(ds.test.values) == ["treatment", "motivation"]
    for name in ("power", "power_lower", "power_upper", "n_significant", "n_success",
                 "n_failed", "n_singular"):
        assert name in ds
    assert float(ds.power.sel(test="treatment")) == pytest.approx(result.power["treatment"])
    attrs = ds.attrs
    assert attrs["package_version"] == mcpower_sweep.__version__
    assert attrs["engine_version"] == engine.ENGINE_VERSION
    assert attrs["formula"] == FORMULA
    assert attrs["seed"] == 2024
    assert attrs["alpha"] == 0.05
    assert '"slope_variance": 0.1' in attrs["base_params"]
    for name in ds.data_vars:  # one results schema: every variable labels itself
        assert ds[name].attrs["long_name"] and "units" in ds[name].attrs


def test_find_sample_size_uses_common_random_numbers(engine):
    model = slope_model()
    curve = model.find_sample_size(600, 1200, by=300, target_test="treatment",
                                   print_results=False)
    assert list(curve.sizes) == [600, 900, 1200]
    assert curve.target_tests == ("treatment",)
    # each point is exactly the find_power run at that size with the same seed
    single = model.find_power(900, print_results=False)
    assert curve.points[1].n_significant == single.n_significant
    power = curve.power["treatment"]
    assert power.shape == (3,)
    assert power[-1] >= power[0]
    required = curve.required_n["treatment"]
    if required is None:
        assert np.all(power < 0.8)
    else:  # interpolated on the monotone fit: within the sizes, where power gets there
        assert curve.sizes[0] <= required <= curve.sizes[-1]
        assert power[curve.sizes >= required].max() >= 0.8
    ds = curve.to_xarray()
    assert ds.power.dims == ("sample_size", "test")
    assert list(ds.sample_size.values) == [600, 900, 1200]


def test_too_many_failed_fits_raise_with_rate_threshold_and_advice(engine, monkeypatch):
    real = engine.run_chunk

    def failing(spec, seed, start, count, n_threads=1):
        out = real(spec, seed, start, count, n_threads)
        converged = out.converged.copy()
        converged[: count // 4] = False  # a quarter of the fits fail
        return replace(out, converged=converged)

    monkeypatch.setattr(engine, "run_chunk", failing)
    model = slope_model().set_max_failed_simulations(0.10)
    with pytest.raises(TooManyFailedFitsError) as info:
        model.find_power(900, print_results=False)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    failed = info.value.result
    assert failed.failure_rate >= 0.25
    assert f"{failed.n_failed} of 120" in message
    assert f"({failed.failure_rate:.1%})" in message and "max_failed=0.1 " in message
    assert "more clusters" in message and "observations per cluster" in message
    assert "set_max_failed_simulations" in message
    # under the threshold the same run succeeds, and failed fits are not counted as misses
    result = model.set_max_failed_simulations(0.30).find_power(900, print_results=False)
    assert result.n_failed >= 30
    assert result.power["treatment"] == pytest.approx(
        result.n_significant["treatment"] / result.n_success)


def test_find_power_report_shows_the_design(engine):
    """Trap: five reports of the slope-variance loop looked identical but for the numbers."""
    texts = []
    for sv in (0.05, 0.1):
        model = slope_model(slope_variance=sv).set_simulations(20)
        texts.append(str(model.find_power(600, print_results=False)))
    for text, sv in zip(texts, ("0.05", "0.1"), strict=True):
        assert f"slope variance {sv} (treatment)" in text
        assert "ICC 0.2" in text and "slope-intercept correlation 0.3" in text
        assert "N = 600 in 30 clusters of 'site'" in text
        assert "treatment 0.5" in text and "motivation 0.3" in text
        assert "REML fit, Satterthwaite df, alpha = 0.05" in text
