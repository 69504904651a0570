"""Per-simulation tallies: multiple-testing corrections and estimate summaries.

Corrections must agree exactly with statsmodels' ``multipletests`` on the same
per-simulation p-values; estimate summaries with a direct NumPy computation from
``run_chunk``'s arrays (within the fixed-point resolution); and every tally must be the
same whatever the chunking.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import xarray as xr
from statsmodels.stats.multitest import multipletests

from mcpower_sweep import MCPower, engine, engine_fits
from mcpower_sweep.params import CORRECTIONS, check_correction
from mcpower_sweep.results import tally
from mcpower_sweep.results.schema import summarise
from mcpower_sweep.stats import reject, t_quantiles

SEED = 20261127
STATSMODELS = {"none": None, "bonferroni": "bonferroni", "holm": "holm", "bh": "fdr_bh"}


def make_model(simulations: int = 200) -> MCPower:
    """Three tested effects of different sizes, so corrections matter."""
    return (
        MCPower("y ~ a + b + c + (1 + a|g)")
        .set_cluster("g", ICC=0.2, n_clusters=12, random_slopes=["a"], slope_variance=0.05)
        .set_effects("a=0.25, b=0.12, c=0.05")
        .set_simulations(simulations)
        .set_seed(SEED)
    )


@pytest.fixture(scope="module")
def chunk():
    spec = make_model().to_spec(240)
    return spec, engine.run_chunk(spec, SEED, 0, 300, n_threads=2)


@pytest.fixture(autouse=True)
def no_gc_per_call(monkeypatch):
    """statsmodels' Holm runs gc.collect() on every call: seconds each in a big test process."""
    monkeypatch.setattr(gc, "collect", lambda *args: 0)


def statsmodels_reject(p: np.ndarray, alpha: float, method: str) -> np.ndarray:
    if method == "none":
        return p < alpha
    return np.array([multipletests(row, alpha=alpha, method=STATSMODELS[method])[0]
                     for row in p])


@pytest.mark.parametrize("method", CORRECTIONS)
@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_reject_agrees_with_statsmodels_on_engine_pvalues(chunk, method, alpha) -> None:
    spec, r = chunk
    p = r.pvalue[r.converged, 1:]
    assert p.shape[0] > 250 and p.shape[1] == 3
    np.testing.assert_array_equal(reject(p, alpha, method), statsmodels_reject(p, alpha, method))


@pytest.mark.parametrize("method", CORRECTIONS)
def test_reject_agrees_with_statsmodels_on_random_families(method) -> None:
    rng = np.random.default_rng(1)
    for m in (1, 2, 5, 9):
        p = rng.beta(0.3, 1.0, size=(400, m))  # many small p-values: decisions vary
        np.testing.assert_array_equal(reject(p, 0.05, method),
                                      statsmodels_reject(p, 0.05, method), err_msg=f"m={m}")


def test_counts_of_a_chunk_are_the_direct_computation(chunk) -> None:
    """Corrected counts, 'at least k' and 'all' from the engine's p-values, per correction."""
    spec, r = chunk
    c = engine.count_chunk(r, spec.alpha, spec.effects)
    p = r.pvalue[r.converged, 1:]
    for i, method in enumerate(CORRECTIONS):
        hits = statsmodels_reject(p, spec.alpha, method)
        assert c.n_corrected[i].tolist() == hits.sum(axis=0).tolist(), method
        per_sim = hits.sum(axis=1)
        assert c.n_at_least[i].tolist() == [int((per_sim >= k).sum()) for k in (1, 2, 3)]
        assert c.n_at_least[i, -1] == int(hits.all(axis=1).sum())  # all three
    assert c.n_corrected[0].tolist() == c.n_significant.tolist()  # "none" is uncorrected
    assert (c.n_corrected[1] <= c.n_corrected[2]).all()  # Holm is uniformly more powerful


def test_a_family_of_some_tests_leaves_the_others_uncorrected(chunk) -> None:
    spec, r = chunk
    c = engine.count_chunk(r, spec.alpha, family=[0, 2])
    p = r.pvalue[r.converged, 1:]
    holm = statsmodels_reject(p[:, [0, 2]], spec.alpha, "holm")
    i = CORRECTIONS.index("holm")
    assert c.n_corrected[i].tolist() == [holm[:, 0].sum(), c.n_significant[1], holm[:, 1].sum()]
    assert c.n_at_least.shape == (len(CORRECTIONS), 2)
    assert c.n_at_least[i, 1] == int(holm.all(axis=1).sum())


def test_estimate_sums_equal_numpy(chunk) -> None:
    spec, r = chunk
    sums = engine.count_chunk(r, spec.alpha, spec.effects).estimate_sums
    got = dict(zip(tally.ESTIMATE_FIELDS, sums, strict=True))
    ok = r.converged
    est, se, df = r.estimate[ok, 1:], r.se[ok, 1:], r.df[ok, 1:]
    err = est - np.asarray(spec.effects[1:])
    half = t_quantiles(1 - spec.alpha / 2, df) * se
    direct = {"sum_estimate": est.sum(0), "sum_error": err.sum(0),
              "sum_sq_error": (err**2).sum(0), "sum_se": se.sum(0),
              "sum_half_width": half.sum(0), "sum_df": df.sum(0)}
    n = int(ok.sum())
    for name, value in direct.items():
        resolution = 2.0 ** -tally.SUM_BITS[name]
        np.testing.assert_allclose(got[name] * resolution, value, rtol=0,
                                   atol=n * resolution / 2, err_msg=name)
    assert got["n_covered"].tolist() == (np.abs(err) <= half).sum(0).tolist()
    assert got["n_df"].tolist() == [n] * 3 and got["n_out_of_range"].tolist() == [0] * 3


def test_find_power_summaries_are_the_direct_computation() -> None:
    model = make_model(150)
    result = model.find_power(240, print_results=False)
    ds = result.to_xarray()
    spec = result.spec
    r = engine.run_chunk(spec, SEED, 0, 150)
    ok = r.converged
    err = r.estimate[ok, 1:] - np.asarray(spec.effects[1:])
    n = int(ok.sum())
    tol = 2.0**-24
    np.testing.assert_allclose(ds.bias.values, err.mean(0), rtol=0, atol=tol)
    np.testing.assert_allclose(ds.rmse.values, np.sqrt((err**2).mean(0)), rtol=1e-6)
    np.testing.assert_allclose(ds.sd_estimate.values, r.estimate[ok, 1:].std(0, ddof=1),
                               rtol=1e-5)
    np.testing.assert_allclose(ds.mean_estimate.values, r.estimate[ok, 1:].mean(0), atol=tol)
    np.testing.assert_allclose(ds.mean_se.values, r.se[ok, 1:].mean(0), atol=tol)
    np.testing.assert_allclose(ds.mean_df.values, r.df[ok, 1:].mean(0), atol=2.0**-8)
    half = t_quantiles(1 - spec.alpha / 2, r.df[ok, 1:]) * r.se[ok, 1:]
    np.testing.assert_allclose(ds.mean_half_width.values, half.mean(0), atol=tol)
    covered = (np.abs(err) <= half).sum(0)
    assert ds.n_covered.values.tolist() == covered.tolist()
    np.testing.assert_array_equal(ds.coverage.values, covered / n)
    assert ds.bias.attrs["long_name"] == "bias of the estimate"
    assert ds.coverage_lower.dims == ("test",) and ds.power_all.dims == ("correction",)
    assert ds.power_at_least.dims == ("correction", "k") and ds.k.values.tolist() == [1, 2, 3]


def test_any_chunking_gives_identical_tallies(chunk) -> None:
    spec, whole = chunk
    total = engine.count_chunk(whole, spec.alpha, spec.effects)
    parts = [engine.chunk_counts(spec, SEED, start, count)
             for start, count in ((0, 7), (7, 100), (107, 1), (108, 192))]
    summed = parts[0]
    for p in parts[1:]:
        summed = summed + p
    for name in ("n_significant", "n_corrected", "n_at_least", "estimate_sums",
                 "component_sums"):
        np.testing.assert_array_equal(getattr(summed, name), getattr(total, name), name)


@pytest.mark.parametrize("icc", [0.0, 0.3])
def test_gaussian_design_is_unbiased_and_covers(icc) -> None:
    """A Gaussian LMM: bias within 3.5 MC SEs of 0; Satterthwaite intervals cover ~95%."""
    model = (MCPower("y ~ x + w + (1|g)").set_cluster("g", ICC=icc, n_clusters=20)
             .set_effects("x=0.3, w=0.5").set_simulations(1500).set_seed(7))
    ds = model.find_power(400, print_results=False).to_xarray()
    mc_se = ds.sd_estimate / np.sqrt(ds.n_success)
    assert (np.abs(ds.bias) < 3.5 * mc_se).all(), ds.bias.values
    assert ((ds.coverage_lower < 0.95) & (ds.coverage_upper > 0.93)).all(), ds.coverage.values
    # the model-based SE is the estimate's sampling SD
    np.testing.assert_allclose(ds.mean_se.values, ds.sd_estimate.values, rtol=0.1)


def test_values_out_of_range_are_counted_and_their_summaries_are_nan() -> None:
    ones = np.ones((3, 2))
    r = engine.ChunkResult(
        converged=np.array([True, True, False]), singular=np.zeros(3, dtype=bool),
        estimate=np.array([[0, 0.5], [0, 1e6], [np.nan, np.nan]]), se=ones * 0.1,
        df=np.full((3, 2), np.inf), pvalue=np.array([[0.5, 0.01], [0.5, 0.0], [np.nan] * 2]),
        joint_pvalue=np.empty((3, 0)),
        components=np.array([[1.0, 0.2], [1e5, 0.3], [np.nan, np.nan]]),
        component_truth=np.array([1.0, 0.25]))
    c = engine.count_chunk(r, 0.05, [0.0, 0.5])
    vc = dict(zip(tally.COMPONENT_FIELDS, c.component_sums, strict=True))
    assert vc["vc_n"].tolist() == [1, 2] and vc["vc_n_undefined"].tolist() == [0, 0]
    assert vc["vc_sum"].tolist() == [2**24, round(0.5 * 2**24)]
    got = dict(zip(tally.ESTIMATE_FIELDS, c.estimate_sums[:, 0], strict=True))
    assert got["n_out_of_range"] == 1 and got["n_covered"] == 1 and got["n_df"] == 0
    assert got["sum_estimate"] == 2**23  # 0.5 on the 2**-24 grid; the wild fit adds nothing
    model = make_model(20)
    result = model.find_power(240, print_results=False)
    arrays = dict(result.tallies)
    arrays["n_out_of_range"] = np.array([1, 0, 0])
    ds = type(result)(**{**result.__dict__, "tallies": arrays}).to_xarray()
    assert np.isnan(ds.bias.values[0]) and not np.isnan(ds.bias.values[1:]).any()
    assert not np.isnan(ds.coverage.values).any()


@pytest.mark.parametrize("spelling, name", [
    (None, "none"), ("none", "none"), ("Bonferroni", "bonferroni"), ("HOLM", "holm"),
    ("bh", "bh"), ("fdr", "bh"), ("Benjamini-Hochberg", "bh")])
def test_correction_spellings_of_mcpower(spelling, name) -> None:
    assert check_correction(spelling) == name


@pytest.mark.parametrize("bad", ["tukey", "sidak", 3, ""])
def test_bad_correction_names_parameter_value_and_choices(bad) -> None:
    with pytest.raises(ValueError) as err:
        make_model(10).find_power(240, correction=bad, print_results=False)
    message = str(err.value)
    assert message.startswith(f"correction={bad!r}")
    for allowed in ("'none'", "'bonferroni'", "'holm'", "'bh'"):
        assert allowed in message


def test_find_power_shows_the_correction_and_the_joint_power(capsys) -> None:
    result = make_model(100).find_power(240, correction="holm", target_test="a, b")
    out = capsys.readouterr().out
    assert "power (holm)" in out and "at least 1" in out and "all 2" in out
    assert result.family == ("a", "b") and result.correction == "holm"
    ds = result.to_xarray()
    assert ds.attrs["correction"] == "holm" and ds.attrs["correction_family"] == "a, b"
    # c is outside the family: not corrected
    c = ds.sel(test="c")
    assert (c.n_significant_corrected == c.n_significant).all()
    assert ds.power_all.sel(correction="holm") == ds.power_at_least.sel(correction="holm", k=2)
    assert result.reached("a") == (result.power_corrected()["a"] >= result.target_power)


def test_find_sample_size_uses_the_corrected_power() -> None:
    from mcpower_sweep.crossing import required_n

    result = make_model(60).find_sample_size(120, 360, by=120, correction="bonferroni",
                                             print_results=False)
    for t in ("a", "b", "c"):
        corrected = [p.power_corrected("bonferroni")[t] for p in result.points]
        np.testing.assert_array_equal(result.power[t], corrected)
        counts = [p.tallies["n_significant_corrected"][1, i]
                  for p in result.points for i in [p.tests.index(t)]]
        expected = required_n(result.sizes, counts, [p.n_success for p in result.points],
                              result.target_power)
        assert result.curve(t) == expected
    uncorrected = make_model(60).find_sample_size(120, 360, by=120, print_results=False)
    assert (uncorrected.power["c"] >= result.power["c"]).all()


# ------------------------------------------------------------ variance components
def test_component_names_and_truth_follow_the_model() -> None:
    spec = (MCPower("y ~ a + (1 + a|g)")
            .set_cluster("g", ICC=0.2, n_clusters=12, random_slopes=["a"], slope_variance=0.05,
                         slope_intercept_corr=-0.3)
            .set_effects("a=0.25").to_spec(240))
    names, truth = tally.components(spec)
    assert names == ("sigma2", "var_(Intercept)|g", "var_a|g", "corr_(Intercept),a|g")
    np.testing.assert_allclose(truth, [1.0, 0.25, 0.05, -0.3])
    glmm = (MCPower("y ~ a + (1|g)", family="logit").set_baseline_probability(0.3)
            .set_cluster("g", ICC=0.2, n_clusters=12)
            .set_effects("a=0.5").to_spec(240))
    names, truth = tally.components(glmm)
    assert names == ("var_(Intercept)|g",)  # a GLMM has no residual variance
    np.testing.assert_allclose(truth, np.diag(glmm.re_cov()))
    r = engine.run_chunk(glmm, SEED, 0, 20)
    assert r.components.shape == (20, 1)
    assert np.isnan(r.components[~r.converged]).all()
    assert (r.components[r.converged] >= 0).all()


def test_component_sums_equal_numpy(chunk) -> None:
    """Each successful fit's sigma2, variances and correlation, summed on the 2**-24 grid."""
    spec, r = chunk
    sums = engine.count_chunk(r, spec.alpha, spec.effects).component_sums
    got = dict(zip(tally.COMPONENT_FIELDS, sums, strict=True))
    ok = r.converged
    value = r.components[ok]
    assert value.shape[1] == 4 and not np.isnan(value).any()
    assert (np.diag(np.cov(value[:, :3].T)) > 0).all()  # real per-fit estimates
    err = value - tally.components(spec)[1]
    n = int(ok.sum())
    resolution = 2.0**-tally.COMPONENT_BITS
    for name, direct in (("vc_sum", value.sum(0)), ("vc_sum_error", err.sum(0)),
                         ("vc_sum_sq_error", (err**2).sum(0))):
        np.testing.assert_allclose(got[name] * resolution, direct, rtol=0,
                                   atol=n * resolution / 2, err_msg=name)
    assert got["vc_n"].tolist() == [n] * 4 and got["vc_n_undefined"].tolist() == [0] * 4


def test_component_summaries_of_find_power_are_the_direct_computation() -> None:
    result = make_model(150).find_power(240, print_results=False)
    ds = result.to_xarray()
    r = engine.run_chunk(result.spec, SEED, 0, 150)
    value = r.components[r.converged]
    names, truth = tally.components(result.spec)
    assert ds.component.values.tolist() == list(names)
    tol = 2.0**-24
    np.testing.assert_allclose(ds.mean_component.values, value.mean(0), rtol=0, atol=tol)
    np.testing.assert_allclose(ds.bias_component.values, value.mean(0) - truth, rtol=0,
                               atol=2 * tol)
    np.testing.assert_allclose(ds.sd_component.values, value.std(0, ddof=1), rtol=1e-5)
    np.testing.assert_allclose(ds.rmse_component.values,
                               np.sqrt(((value - truth) ** 2).mean(0)), rtol=1e-6)
    assert ds.mean_component.dims == ("component",)
    assert ds.mean_component.attrs["long_name"] == "mean variance-component estimate"
    assert ds.component.attrs["long_name"] == "variance component of the fitted model"


def test_undefined_correlations_are_left_out_and_out_of_range_gives_nan() -> None:
    ones = np.ones((4, 2))
    r = engine.ChunkResult(
        converged=np.array([True, True, True, False]), singular=np.zeros(4, dtype=bool),
        estimate=ones * 0.5, se=ones * 0.1, df=np.full((4, 2), 30.0), pvalue=ones * 0.5,
        joint_pvalue=np.empty((4, 0)),
        # sigma2, one variance, one correlation: fit 2's variance is 0 (correlation NaN),
        # fit 3's sigma2 is beyond the fixed-point range
        components=np.array([[1.0, 0.2, 0.5], [1.0, 0.0, np.nan], [1e4, 0.2, 0.1],
                             [np.nan] * 3]),
        component_truth=np.array([1.0, 0.25, 0.0]))
    c = engine.count_chunk(r, 0.05, [0.0, 0.5])
    got = dict(zip(tally.COMPONENT_FIELDS, c.component_sums, strict=True))
    assert got["vc_n"].tolist() == [2, 3, 2] and got["vc_n_undefined"].tolist() == [0, 0, 1]
    counts = xr.Dataset({"n_sims": 4, "n_success": 3, "n_singular": 0,
                         "n_significant": ("test", [0]),
                         **tally.tally_vars({k: c.component_sums[i] for i, k in
                                             enumerate(tally.COMPONENT_FIELDS)}, (), "test")},
                        coords={"test": ["x"], "component": ["sigma2", "v", "c"]})
    ds = summarise(counts)
    assert np.isnan(ds.mean_component.values[0])  # an estimate out of range
    np.testing.assert_allclose(ds.mean_component.values[1:], [0.4 / 3, 0.3], atol=1e-7)
    assert ds.n_component_undefined.values.tolist() == [0, 0, 1]


def test_components_are_those_of_fit_data_on_the_same_data() -> None:
    """Each simulation's components are the fit's sigma2, G variances and correlation: the
    same data (rows with the simulation's cross-products) fitted by fit_data agree."""
    from _synthetic import rows_with_cross_products

    from mcpower_sweep import _native

    spec = (MCPower("y ~ x + (1 + x|g)")
            .set_cluster("g", ICC=0.2, n_clusters=8, random_slopes=["x"], slope_variance=0.1,
                         slope_intercept_corr=0.3)
            .set_effects("x=0.3").to_spec(160))
    es = engine.native_spec(spec)
    sims = engine.run_chunk(spec, SEED, 0, 30)
    for i in np.flatnonzero(sims.converged):
        cp = _native.cross_products(es, SEED, int(i))
        blocks = [rows_with_cross_products(cp["cross"][j], int(cp["rows"][j]))
                  for j in range(len(cp["rows"]))]
        data = np.vstack(blocks)
        group = np.repeat(np.arange(len(blocks)), [len(b) for b in blocks])
        fit = engine_fits.fit_data(data[:, :2], data[:, 2], group, len(blocks), [0, 1],
                              estimator="reml", df_method="satterthwaite")
        g = np.asarray(fit["re_cov"]).reshape(2, 2)
        corr = g[0, 1] / np.sqrt(g[0, 0] * g[1, 1]) if g[0, 0] * g[1, 1] > 0 else np.nan
        expected = [fit["sigma2"], g[0, 0], g[1, 1], corr]
        np.testing.assert_allclose(sims.components[i], expected, rtol=1e-4, atol=1e-6,
                                   err_msg=f"simulation {i}")


def test_a_misspecified_analysis_reports_its_own_components() -> None:
    """Dropping the random slope: the analysis has sigma2 and tau2 only, and its residual
    variance absorbs the slope's (true value 1: a positive bias)."""
    model = (MCPower("y ~ x + (1 + x|g)")
             .set_cluster("g", ICC=0.2, n_clusters=20, random_slopes=["x"], slope_variance=0.3)
             .set_effects("x=0.3").set_simulations(200).set_seed(SEED))
    ds = model.find_power(400, test_formula="y ~ x + (1|g)", print_results=False).to_xarray()
    assert ds.component.values.tolist() == ["sigma2", "var_(Intercept)|g"]
    assert float(ds.bias_component.sel(component="sigma2")) > 0.15
