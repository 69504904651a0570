"""GLMM tests chosen by df_method: Wald z (glmer's default) or Wald t / F on SAS GLIMMIX's
between-within df, in the engine's simulations and in fit_glmm."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from mcpower_sweep import MCPower, engine, fit_glmm


def _model(kind: str = "binary", n_clusters: int = 12) -> MCPower:
    """A logit CRT: a cluster-level treatment (or factor) and a row-level x."""
    return (
        MCPower("y ~ treatment + x + (1 | g)", family="logit")
        .set_baseline_probability(0.3)
        .set_cluster("g", ICC=0.1, n_clusters=n_clusters, cluster_level_vars=["treatment"])
        .set_variable_type(f"treatment={kind}")
        .set_effects("treatment=0.4, x=0.3" if kind == "binary"
                     else "treatment[2]=0.4, treatment[3]=0.2, x=0.3")
    )


def test_between_within_df_and_p_values_in_simulations() -> None:
    """Same fits as z; df = clusters - 2 for the intercept and the cluster-level treatment,
    N - clusters - 1 for x; p-values on t with those df."""
    model = _model()
    z = engine.run_chunk(model.to_spec(240), 4, 0, 40)
    bw = engine.run_chunk(model.to_spec(240, df_method="between_within"), 4, 0, 40)
    ok = bw.converged
    np.testing.assert_array_equal(ok, z.converged)
    np.testing.assert_array_equal(bw.estimate[ok], z.estimate[ok])
    np.testing.assert_array_equal(bw.se[ok], z.se[ok])
    assert np.all(bw.df[ok] == [10.0, 10.0, 240 - 12 - 1])
    t = bw.estimate[ok] / bw.se[ok]
    np.testing.assert_allclose(bw.pvalue[ok], 2 * stats.t.sf(np.abs(t), bw.df[ok]), rtol=1e-9)
    assert np.all(bw.pvalue[ok] >= z.pvalue[ok])
    assert np.all(np.isnan(bw.pvalue[~ok]))


def test_joint_test_of_a_cluster_level_factor() -> None:
    """The factor's Wald statistic on chi-square(2) / 2 (z) or F(2, clusters - 3) (BW)."""
    model = _model("(factor,3)")
    z = engine.run_chunk(model.to_spec(240), 6, 0, 30)
    bw = engine.run_chunk(model.to_spec(240, df_method="between_within"), 6, 0, 30)
    ok = bw.converged
    assert ok.mean() > 0.8
    assert np.all(np.isfinite(z.joint_pvalue[ok])) and np.all(np.isnan(z.joint_pvalue[~ok]))
    # W from the z test's p-value, then its BW p-value on F(2, 12 - 3).
    w = stats.chi2.isf(z.joint_pvalue[ok, 0], 2)
    np.testing.assert_allclose(bw.joint_pvalue[ok, 0], stats.f.sf(w / 2, 2, 9), rtol=1e-6)
    assert np.all(bw.df[ok][:, :3] == 9.0)


def test_other_df_methods_are_refused_for_glmms() -> None:
    with pytest.raises(ValueError, match="df_method='satterthwaite'.*between_within"):
        _model().to_spec(240, df_method="satterthwaite")
    spec = _model().to_spec(240)
    with pytest.raises(ValueError, match="between_within"):  # the engine's own check
        engine.run_chunk(dataclasses.replace(spec, df_method="residual"), 1, 0, 1)


def test_fit_glmm_between_within() -> None:
    rng = np.random.default_rng(8)
    g = np.repeat(np.arange(8), 25)
    trt = (np.arange(8) % 2)[g].astype(float)
    x = rng.normal(size=g.size)
    eta = -0.5 + 0.6 * trt + 0.4 * x + rng.normal(scale=0.5, size=8)[g]
    y = (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float)
    data = {"y": y, "trt": trt, "x": x, "g": g}
    z = fit_glmm("y ~ trt + x + (1 | g)", data)
    bw = fit_glmm("y ~ trt + x + (1 | g)", data, df_method="between_within")
    assert z.df == dict.fromkeys(z.coef, math.inf)
    assert bw.df == {"(Intercept)": 6.0, "trt": 6.0, "x": 200 - 8 - 1}
    assert bw.coef == z.coef and bw.z == z.z
    for t in bw.coef:
        assert bw.pvalue[t] == pytest.approx(2 * stats.t.sf(abs(bw.z[t]), bw.df[t]), rel=1e-12)
    assert "between-within" in str(bw)
    with pytest.raises(ValueError, match="df_method='residual'"):
        fit_glmm("y ~ trt + x + (1 | g)", data, df_method="residual")


def test_default_stays_glmer_wald_z() -> None:
    spec = _model().to_spec(240)
    assert spec.df_method == "z"
    assert _model().to_spec(240, df_method="asymptotic").df_method == "z"


def test_fit_glmm_wald_tests_of_each_term() -> None:
    """fit_glmm's anova: W = b'V^-1 b over a term's columns (a factor once), on chi-square
    (z) or F on the smallest between-within df of its columns; one column: z^2."""
    rng = np.random.default_rng(21)
    g = np.repeat(np.arange(12), 30)
    arm = (np.arange(12) % 3)[g]
    x = rng.normal(size=g.size)
    eta = -0.4 + np.array([0.0, 0.5, 0.9])[arm] + 0.3 * x + rng.normal(scale=0.5, size=12)[g]
    y = (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float)
    data = {"y": y, "arm": np.array(["a", "b", "c"])[arm], "x": x, "g": g}
    for df_method in ("z", "between_within"):
        fit = fit_glmm("y ~ arm + x + (1 | g)", data, df_method=df_method)
        assert fit.converged and list(fit.anova) == ["arm", "x"]
        names = list(fit.coef)
        cols = [names.index("armb"), names.index("armc")]
        b = np.array([fit.coef[names[c]] for c in cols])
        w = b @ np.linalg.solve(fit.vcov[np.ix_(cols, cols)], b)
        row = fit.anova["arm"]
        assert row["num_df"] == 2 and row["F"] == pytest.approx(w / 2, rel=1e-10)
        if df_method == "z":
            assert row["den_df"] == math.inf
            assert row["pvalue"] == pytest.approx(stats.chi2.sf(w, 2), rel=1e-8)
        else:
            assert row["den_df"] == 12 - 3  # the factor is constant within clusters
            assert row["pvalue"] == pytest.approx(stats.f.sf(w / 2, 2, 9), rel=1e-8)
        assert fit.anova["x"]["F"] == pytest.approx(fit.z["x"] ** 2, rel=1e-10)
        assert fit.anova["x"]["pvalue"] == pytest.approx(fit.pvalue["x"], rel=1e-8)
    assert "Wald tests of each term" in str(fit)
