"""Designs beyond independent level-1 predictors: MCPower 1.4.1's family argument,
cluster-level predictors (cluster-randomised trials) and balanced allocation (multisite
trials).  Generation is checked exactly on one simulation's per-cluster cross-products;
power is checked against the exact noncentral-t answers of balanced trials (slow)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from mcpower_sweep import MCPower, _native, engine

ROOT = Path(__file__).resolve().parents[1]


def crt(n_clusters: int = 12, p: str = "0.5, balanced", covariate: bool = True) -> MCPower:
    """A cluster-randomised trial: treatment constant within schools."""
    formula = "y ~ treatment + x + (1|school)" if covariate else "y ~ treatment + (1|school)"
    return (MCPower(formula, family="lme")
            .set_variable_type(f"treatment=binary({p})")
            .set_cluster("school", ICC=0.15, n_clusters=n_clusters,
                         cluster_level_vars=["treatment"])
            .set_effects("treatment=0.3")
            .set_seed(7))


def cross_products(model: MCPower, sample_size: int, index: int = 0) -> dict[str, np.ndarray]:
    return _native.cross_products(engine.native_spec(model.to_spec(sample_size)), 11, index)


# --------------------------------------------------------------------------- family
def test_family_lme_is_the_linear_mixed_model() -> None:
    a = MCPower("y ~ x + (1|g)", family="lme").set_cluster("g", ICC=0.1, n_clusters=10)
    b = MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.1, n_clusters=10)
    assert a.to_spec(200) == b.to_spec(200)


@pytest.mark.parametrize("family", ["gaussian", "ols", "LME", 3])
def test_other_families_are_refused_by_name(family: object) -> None:
    with pytest.raises(ValueError, match=r"family=.*'lme'"):
        MCPower("y ~ x + (1|g)", family=family)  # type: ignore[arg-type]


# ------------------------------------------------------------- cluster-level predictors
@pytest.mark.parametrize("p", ["0.5", "0.5, balanced", "0.3, balanced"])
def test_cluster_level_binary_is_constant_within_clusters(p: str) -> None:
    model = crt(n_clusters=10, p=p)
    for index in range(5):
        d = cross_products(model, 200, index)
        n, x_sum, xx = d["rows"], d["colsum"][:, 1], d["cross"][:, 1, 1]
        assert set(np.unique(x_sum / n)) <= {0.0, 1.0}
        np.testing.assert_array_equal(xx, x_sum)  # 0/1 values: sum of squares = sum
        if "balanced" in p:
            share = float(p.split(",")[0])
            assert (x_sum > 0).sum() == int(np.floor(share * 10 + 0.5))


def test_cluster_level_normal_is_constant_within_clusters() -> None:
    model = (MCPower("y ~ w + x + (1|g)").set_cluster("g", ICC=0.2, n_clusters=8,
                                                      cluster_level_vars=["w"]))
    d = cross_products(model, 96)
    n, w_sum, ww = d["rows"], d["colsum"][:, 1], d["cross"][:, 1, 1]
    np.testing.assert_allclose(ww, w_sum**2 / n)  # one value per cluster
    assert np.all(np.abs(w_sum) > 0) and len(set(np.round(w_sum / n, 12))) == 8
    x_sum, xx = d["colsum"][:, 2], d["cross"][:, 2, 2]
    assert np.all(xx > x_sum**2 / n + 1e-6)  # the level-1 covariate still varies


def test_cluster_level_treatment_draws_vary_by_simulation() -> None:
    model = crt(n_clusters=10)
    treated = {tuple(cross_products(model, 200, i)["colsum"][:, 1] > 0) for i in range(20)}
    assert len(treated) > 10  # which clusters are treated is random


def test_balanced_within_clusters_has_exact_counts() -> None:
    model = (MCPower("y ~ treatment + (1 + treatment|site)")
             .set_variable_type("treatment=binary(0.5, balanced)")
             .set_cluster("site", ICC=0.1, n_clusters=7, slope_variance=0.1))
    d = cross_products(model, 7 * 13 + 3)  # sizes 14, 14, 14, 13, 13, 13, 13
    expected = np.floor(0.5 * d["rows"] + 0.5)
    np.testing.assert_array_equal(d["colsum"][:, 1], expected)


def test_bernoulli_designs_are_unchanged_by_the_new_fields() -> None:
    """A binary(p) level-1 predictor keeps its Bernoulli draws (bit-identical results)."""
    model = (MCPower("y ~ treatment + (1|site)").set_variable_type("treatment=binary(0.3)")
             .set_cluster("site", ICC=0.1, n_clusters=8))
    spec = model.to_spec(160)
    es = engine.native_spec(spec)
    plain = _native.EngineSpec(
        predictor_binary=es.predictor_binary, predictor_p=es.predictor_p, terms=es.terms,
        beta=es.beta, z_columns=es.z_columns, re_cov=es.re_cov,
        cluster_sizes=es.cluster_sizes, estimator=es.estimator, df_method=es.df_method)
    a = _native.run_chunk(es, 5, 0, 20)
    b = _native.run_chunk(plain, 5, 0, 20)
    np.testing.assert_array_equal(a["pvalue"], b["pvalue"])


def test_crt_power_runs_and_between_within_uses_cluster_df() -> None:
    model = crt(n_clusters=12).set_simulations(60)
    res = model.find_power(240, df_method="between_within", print_results=False)
    assert res.n_success == 60
    chunk = engine.run_chunk(model.to_spec(240, df_method="between_within"), 1, 0, 5)
    np.testing.assert_array_equal(chunk.df[:, 1], 12 - 2)  # J - 2 for the cluster-level term


# ---------------------------------------------------------------- exact power (slow)
def _exact_module():  # the formulas live with the docs page they make
    path = ROOT / "docs" / "exact_power.py"
    spec = importlib.util.spec_from_file_location("exact_power", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_crt_power_matches_the_exact_answer() -> None:
    """J=30, n=30, ICC .15, delta .30 total-SD units: 46.8% (PowerUp!), within 3 MC SEs."""
    exact = _exact_module()
    row = exact.crt_row(n_clusters=30, cluster_size=30, icc=0.15, delta_total=0.30,
                        simulations=2000)
    assert abs(row.exact - 0.468) < 0.001
    assert abs(row.simulated - row.exact) < 3 * row.mc_se, row


@pytest.mark.slow
def test_multisite_power_matches_the_exact_answer() -> None:
    """J=30, n=30, tau1^2 .1, beta .15 residual-SD units: 37.6%, within 3 MC SEs."""
    exact = _exact_module()
    row = exact.multisite_row(n_clusters=30, cluster_size=30, icc=0.15, slope_variance=0.1,
                              effect=0.15, simulations=2000)
    assert abs(row.exact - 0.376) < 0.001
    assert abs(row.simulated - row.exact) < 3 * row.mc_se, row


# ------------------------------------------- the cells path against generated rows
CELL_DESIGNS = {
    "crt with covariate": crt(n_clusters=6, covariate=True),
    "crt bernoulli": crt(n_clusters=6, p="0.4", covariate=True),
    "multisite with covariate": (
        MCPower("y ~ treatment + x + (1 + treatment|site)")
        .set_variable_type("treatment=binary(0.3, balanced)")
        .set_cluster("site", ICC=0.2, n_clusters=6, slope_variance=0.2)
        .set_effects("treatment=0.5, x=0.3")),
    "two binaries and a cluster-level normal": (
        MCPower("y ~ a + b + w + x + (1 + a|g)")
        .set_variable_type("a=binary(0.5, balanced), b=binary(0.3)")
        .set_cluster("g", ICC=0.2, n_clusters=6, slope_variance=0.1,
                     cluster_level_vars=["w"])
        .set_effects("a=0.4, b=-0.3, w=0.2, x=0.3")),
    "a level-1 binary with a random slope (the tutorial's example 08)": (
        MCPower("y ~ treatment + age + (1 + treatment|site)")
        .set_variable_type("treatment=binary")
        .set_cluster("site", ICC=0.15, n_clusters=6, random_slopes=["treatment"],
                     slope_variance=0.05)
        .set_effects("treatment=0.5, age=0.2")),
    "correlated normals at both levels": (
        MCPower("y ~ t + w1 + w2 + x1 + x2 + (1|g)")
        .set_variable_type("t=binary(0.5, balanced)")
        .set_cluster("g", ICC=0.2, n_clusters=6, cluster_level_vars=["t", "w1", "w2"])
        .set_correlations("corr(w1,w2)=-0.5, corr(x1,x2)=0.6")
        .set_effects("t=0.4, w1=0.2, x1=0.3, x2=-0.2")),
}


@pytest.mark.parametrize("name", list(CELL_DESIGNS))
def test_cells_path_matches_row_generation_in_distribution(name: str) -> None:
    """The per-cluster cross-products drawn from their exact distribution given the cells
    have the same mean and variance as those of generated rows (within 4.5 MC SEs)."""
    spec = CELL_DESIGNS[name].to_spec(6 * 11 + 2)
    fast, rows = engine.native_spec(spec), engine.native_spec(spec, row_level=True)
    n = 3000

    def draws(es: _native.EngineSpec) -> np.ndarray:
        out = []
        for i in range(n):
            d = _native.cross_products(es, 3, i)
            out.append(np.concatenate([d["cross"].reshape(len(d["rows"]), -1),
                                       d["colsum"]], axis=1))
        return np.array(out)  # simulation x cluster x statistic

    a, b = draws(fast), draws(rows)
    for stat in (lambda x: x, lambda x: x**2):
        sa, sb = stat(a), stat(b)
        se = np.sqrt((sa.var(axis=0) + sb.var(axis=0)) / n)
        diff = np.abs(sa.mean(axis=0) - sb.mean(axis=0))
        z = np.where(se > 0, diff / np.where(se > 0, se, 1.0), 0.0)
        assert np.all(diff[se == 0] < 1e-9)
        assert z.max() < 4.5, (name, np.unravel_index(z.argmax(), z.shape), z.max())
    # same sizes, and the cells path is not the rows path (it is really used)
    assert not np.array_equal(a, b)


# ------------------------------------------------------------ unequal cluster sizes
def test_min_cluster_size_is_the_engines() -> None:
    from mcpower_sweep import params

    assert params.MIN_CLUSTER_SIZE == _native.MIN_CLUSTER_SIZE


def test_explicit_cluster_sizes_are_used() -> None:
    model = crt(p="0.5, balanced").set_cluster(
        "school", ICC=0.1, cluster_sizes=[8, 20, 12, 30, 5, 15], cluster_level_vars=["treatment"])
    d = cross_products(model, 90)
    assert d["rows"].tolist() == [8, 20, 12, 30, 5, 15]
    assert (d["colsum"][:, 1] > 0).sum() == 3
    with pytest.raises(ValueError, match=r"add up to 90, not sample_size=100"):
        model.to_spec(100)


def test_drawn_cluster_sizes() -> None:
    """cluster_size_cv: sizes vary by simulation, reproducibly, add up to N, at least 5,
    with about the coefficient of variation asked for."""
    model = crt(n_clusters=40).set_cluster("school", ICC=0.1, n_clusters=40,
                                           cluster_level_vars=["treatment"],
                                           cluster_size_cv=0.4)
    rows = np.array([cross_products(model, 1200, i)["rows"] for i in range(400)])
    assert np.all(rows.sum(axis=1) == 1200) and rows.min() >= 5
    assert len({tuple(r) for r in rows}) == 400
    np.testing.assert_array_equal(rows[3], cross_products(model, 1200, 3)["rows"])
    cv = rows.std(axis=1) / rows.mean(axis=1)
    assert abs(cv.mean() - 0.4) < 0.04
    # the data's own stream is that of the same design with even sizes
    even = crt(n_clusters=40).set_cluster("school", ICC=0.1, n_clusters=40,
                                          cluster_level_vars=["treatment"])
    np.testing.assert_array_equal(cross_products(model, 1200, 0)["colsum"][:, 1] > 0,
                                  cross_products(even, 1200, 0)["colsum"][:, 1] > 0)


def test_unequal_sizes_cost_power_and_are_a_sweep_axis() -> None:
    from mcpower_sweep.sweeps.grid import Grid

    model = crt(n_clusters=10, covariate=False).set_simulations(400).set_parallel(False)
    base = model.to_spec(400)
    grid = Grid(base, {"cluster_size_cv": [0.0, 1.0]})
    power = []
    for _, spec in grid.points():
        counts = engine.chunk_counts(spec, 9, 0, 400, 1)
        power.append(counts.n_significant[0] / counts.n_success)
    assert power[1] < power[0]


# ------------------------------------------------------------ correlated predictors
@pytest.mark.parametrize("row_level", [False, True])
def test_correlated_predictors_have_the_correlation(row_level: bool) -> None:
    model = (MCPower("y ~ x1 + x2 + x3 + (1|g)").set_cluster("g", ICC=0.1, n_clusters=20)
             .set_correlations(np.array([[1, 0.6, -0.3], [0.6, 1, 0], [-0.3, 0, 1]])))
    es = engine.native_spec(model.to_spec(400), row_level=row_level)
    s = sum(_native.cross_products(es, 2, i)["cross"].sum(axis=0) for i in range(300))
    c = s[1:4, 1:4] / np.sqrt(np.outer(np.diag(s)[1:4], np.diag(s)[1:4]))
    np.testing.assert_allclose(c, [[1, 0.6, -0.3], [0.6, 1, 0], [-0.3, 0, 1]], atol=0.02)


# ------------------------------------------------------------- per-slope variances
def test_each_random_slope_has_its_own_variance_and_correlation() -> None:
    model = (MCPower("y ~ x + z + (1 + x + z|g)")
             .set_cluster("g", ICC=0.2, n_clusters=20, slope_variance={"z": 0.05, "x": 0.2},
                          slope_intercept_corr={"x": 0.3, "z": -0.2}))
    spec = model.to_spec(400)
    t0 = 0.2 / 0.8
    sd = np.sqrt([t0, 0.2, 0.05])
    corr = np.array([[1, 0.3, -0.2], [0.3, 1, 0], [-0.2, 0, 1]])
    np.testing.assert_allclose(spec.re_cov(), corr * np.outer(sd, sd))
    assert spec.params()["slope_variance"] == {"x": 0.2, "z": 0.05}
    np.testing.assert_allclose(engine.native_spec(spec).re_cov, spec.re_cov().ravel())
    with pytest.raises(ValueError, match="give one number for all slopes or a mapping"):
        spec.with_params(slope_variance=0.1)  # a sweep axis cannot silently do nothing
