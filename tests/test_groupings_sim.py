"""Simulations with several grouping factors: nested (classes in schools) and crossed
(subjects x items) designs, from set_cluster to find_power (issue #12)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mcpower_sweep import MCPower, fit_lmm
from mcpower_sweep.design.formula import FormulaError
from mcpower_sweep.design.groupings import layout
from mcpower_sweep.engine import run_chunk, simulated_data
from mcpower_sweep.results.tally import components as engine_components
from mcpower_sweep.sweeps.grid import allowed_axes
from mcpower_sweep.sweeps.run import sweep


def nested(treatment_at: str = "school:class") -> MCPower:
    """Pupils in classes in schools, a balanced treatment of classes (2 of 4 in each
    school) or of schools."""
    return (MCPower("score ~ treatment + x + (1 | school/class)")
            .set_variable_type("treatment=binary(0.5, balanced)")
            .set_effects("treatment=0.4, x=0.2")
            .set_cluster("school", ICC=0.15, n_clusters=8,
                         cluster_level_vars=["treatment"] if treatment_at == "school" else None)
            .set_cluster("school:class", ICC=0.1, n_per_parent=4,
                         cluster_level_vars=["treatment"] if treatment_at != "school" else None)
            .set_seed(7).set_simulations(40).set_parallel(False))


def crossed() -> MCPower:
    """Subjects x items, condition within both, a by-subject random slope on it."""
    return (MCPower("rt ~ condition + (1 + condition | subject) + (1 | item)")
            .set_variable_type("condition=binary(0.5, balanced)")
            .set_effects("condition=0.3")
            .set_cluster("subject", ICC=0.2, n_clusters=10, slope_variance=0.05,
                         slope_intercept_corr=0.2)
            .set_cluster("item", ICC=0.1, n_clusters=8)
            .set_seed(11).set_simulations(40).set_parallel(False))


# ------------------------------------------------------------------ design
def test_nested_spec_and_layout() -> None:
    spec = nested().to_spec(320)
    assert [g.name for g in spec.groupings] == ["school:class", "school"]
    assert spec.groupings[0].parent == "school" and spec.groupings[0].n_per_parent == 4
    assert spec.grouping == "school" and spec.effective_n_clusters == 8
    lay = layout(spec.groupings, 320)
    assert lay.n_levels == (32, 8)
    assert np.bincount(lay.codes[0]).tolist() == [10] * 32
    assert (lay.codes[0] // 4 == lay.codes[1]).all()  # classes inside their school
    assert spec.params()["groupings"][1] == {
        "name": "school", "random_effects": ["(Intercept)"], "icc": 0.15, "n_clusters": 8}


def test_balanced_within_parent_and_cluster_level() -> None:
    spec = nested().to_spec(320)
    lay = layout(spec.groupings, 320)
    X, _ = simulated_data(spec, 3, 0)
    t = X[:, 1]
    per_class = np.array([t[lay.codes[0] == c] for c in range(32)])
    assert (per_class == per_class[:, :1]).all()  # constant within classes
    per_school = per_class[:, 0].reshape(8, 4).sum(axis=1)
    assert per_school.tolist() == [2] * 8  # 2 of 4 classes in every school
    school = nested("school").to_spec(320)
    t = simulated_data(school, 3, 0)[0][:, 1]
    assert t.reshape(8, 40).std(axis=1).max() == 0 and t.reshape(8, 40)[:, 0].sum() == 4


def test_crossed_layout() -> None:
    spec = crossed().to_spec(160)
    lay = layout(spec.groupings, 160)
    assert lay.n_levels == (10, 8)
    pairs = set(zip(lay.codes[0].tolist(), lay.codes[1].tolist(), strict=True))
    assert len(pairs) == 80  # every subject sees every item (twice)
    t = simulated_data(spec, 1, 2)[0][:, 1]
    assert [t[lay.codes[0] == s].sum() for s in range(10)] == [8] * 10  # balanced per subject


@pytest.mark.parametrize(("build", "match"), [
    (lambda: MCPower("y ~ x + (1 | school:class)"), r"nested in 'school'.*\(1 \| school/class\)"),
    (lambda: MCPower("y ~ x + (1 | school/class)").set_cluster("school", ICC=0.1,
                                                                n_clusters=5, n_per_parent=3),
     r"n_per_parent=3.*top-level"),
    (lambda: MCPower("y ~ x + (1 | school/class)").set_cluster("school:class", ICC=0.1,
                                                                n_clusters=5),
     r"nested in 'school': give n_per_parent"),
    (lambda: MCPower("y ~ x + (1 | school/class)").set_cluster("class", ICC=0.1,
                                                                n_per_parent=3),
     r"name='class' is not a grouping.*school:class, school"),
    (lambda: MCPower("y ~ x + (1 | school/class)")
     .set_cluster("school:class", ICC=0.1, n_per_parent=3).to_spec(300),
     r"set_cluster has not been called for 'school'"),
    (lambda: crossed().to_spec(150), r"sample_size=150 does not fit the crossed groupings "
                                     r"subject \(10\) x item \(8\) = 80 combinations"),
    (lambda: MCPower("y ~ t + (1 | school) + (1 + t | school:class)")
     .set_cluster("school", ICC=0.1, n_clusters=6, cluster_level_vars=["t"])
     .set_cluster("school:class", ICC=0.1, n_per_parent=3, slope_variance=0.1).to_spec(360),
     r"random_slopes=\['t'\].*constant within school:class units"),
    (lambda: MCPower("y ~ x + z + (1 + x | g) + (0 + z | g) + (1 | h)"),
     r"random-effect terms on 'g'"),
    (lambda: MCPower("y ~ x + (1 | s/c) + (1 | i)").set_cluster("s", ICC=0.1, n_clusters=4)
     .set_cluster("s:c", ICC=0.1, n_per_parent=2).set_cluster("i", ICC=0.1, n_clusters=4)
     .to_spec(320), r"mix crossed \(s, i\) and nested"),
    (lambda: MCPower("y ~ x + (1 | s) + (1 | i)", family="logit")
     .set_baseline_probability(0.3).set_cluster("s", ICC=0.1, n_clusters=5)
     .set_cluster("i", ICC=0.1, n_clusters=5).to_spec(100, df_method="between_within"),
     r"df_method='between_within' is not available for family='logit'"),
    (lambda: MCPower("y ~ x + (1 | s) + (1 | i)").set_cluster("s", ICC=0.1,
                                                              cluster_sizes=[5, 6]),
     r"cluster_sizes=\[5, 6\].*sized by n_clusters"),
    (lambda: MCPower("y ~ x + (1 | s) + (1 | i)").set_cluster("s", ICC=0.1, cluster_size=5)
     .set_cluster("i", ICC=0.1, cluster_size=5).to_spec(100),
     r"cluster_size is set on \['s', 'i'\]"),
    (lambda: crossed().to_spec(160, df_method="between_within"),
     r"df_method='between_within' is not available"),
    (lambda: nested().find_cheapest_design(500, 20),
     r"find_cheapest_design .* needs one grouping factor"),
    (lambda: crossed().find_sample_size(5, 10, by=5, unit="clusters"),
     r"unit='clusters' needs set_cluster\(..., cluster_size=...\).*sets n_clusters=10"),
])
def test_bad_designs(build, match: str) -> None:
    with pytest.raises((ValueError, FormulaError), match=match):
        build()


# ------------------------------------------------------------------ engine
@pytest.mark.parametrize("make", [nested, crossed])
def test_find_power_runs(make) -> None:
    model = make()
    n = 320 if make is nested else 160
    result = model.find_power(n, print_results=False)
    assert result.n_failed <= 2
    assert 0.0 < result.power[model.tests[0]] <= 1.0
    again = make().find_power(n, print_results=False)  # same seed, same numbers
    assert again.power == result.power


def test_chunks_do_not_change_results() -> None:
    spec = crossed().to_spec(160)
    whole = run_chunk(spec, 5, 0, 8)
    parts = [run_chunk(spec, 5, 0, 3), run_chunk(spec, 5, 3, 5, n_threads=2)]
    np.testing.assert_array_equal(whole.pvalue, np.vstack([p.pvalue for p in parts]))


def uncorrelated_crossed() -> MCPower:
    return (MCPower("rt ~ condition + x + (1 + condition || subject) + (1 | item)")
            .set_variable_type("condition=binary(0.3)").set_effects("condition=0.3, x=0.1")
            .set_cluster("subject", ICC=0.2, n_clusters=10, slope_variance=0.1)
            .set_cluster("item", tau_squared=0.2, n_clusters=8))


def three_levels() -> MCPower:
    """Pupils in classes in schools in districts; a by-school slope on a class-level
    treatment, tested with Kenward-Roger df (set in to_spec below)."""
    return (MCPower("y ~ t + (1 | d) + (1 + t | d:s) + (1 | d:s:c)")
            .set_variable_type("t=binary(0.5, balanced)").set_effects("t=0.3")
            .set_cluster("d", ICC=0.1, n_clusters=4)
            .set_cluster("d:s", ICC=0.1, n_per_parent=3, slope_variance=0.1)
            .set_cluster("d:s:c", ICC=0.1, n_per_parent=2, cluster_level_vars=["t"]))


@pytest.mark.parametrize(("make", "n", "df_method"), [
    (nested, 320, "satterthwaite"), (crossed, 160, "satterthwaite"),
    (uncorrelated_crossed, 160, "satterthwaite"), (three_levels, 240, "kenward_roger"),
])
def test_engine_fit_equals_fit_lmm(make, n: int, df_method: str) -> None:
    """Each simulated data set, fitted by fit_lmm, gives the engine's numbers."""
    model = make()
    spec = model.to_spec(n, df_method=df_method)
    lay = layout(spec.groupings, spec.sample_size)
    out = run_chunk(spec, 9, 0, 3)
    assert out.components.shape[1] == len(out.component_truth)
    for i in range(3):
        X, y = simulated_data(spec, 9, i)
        data = {spec.outcome: y, **{name: X[:, k + 1] for k, name in
                                    enumerate(spec.term_names[1:])}}
        for g, codes in zip(spec.groupings, lay.codes, strict=True):
            data[g.name.split(":")[-1]] = codes
        fit = fit_lmm(spec.formula, data, df_method=df_method)
        assert out.converged[i]
        np.testing.assert_allclose(out.estimate[i], list(fit.coef.values()), rtol=1e-6,
                                   atol=1e-8)
        np.testing.assert_allclose(out.pvalue[i], list(fit.pvalue.values()), rtol=1e-5,
                                   atol=1e-8)
        np.testing.assert_allclose(out.df[i], list(fit.df.values()), rtol=1e-5)
        assert out.components[i, 0] == pytest.approx(fit.sigma2, rel=1e-6)


@pytest.mark.slow
def test_nested_crt_power_matches_exact() -> None:
    """Treatment of half the schools (balanced), classes nested in schools: the REML /
    Satterthwaite test is the t test on school means, Var = (tau_s^2 + tau_c^2 / m +
    1 / (m n)) / (p (1 - p) J) on J - 2 df, so its power is exact."""
    J, m, n, beta = 20, 4, 10, 0.5
    model = (MCPower("y ~ treatment + (1 | school/class)")
             .set_variable_type("treatment=binary(0.5, balanced)")
             .set_effects(f"treatment={beta}")
             .set_cluster("school", ICC=0.15, n_clusters=J, cluster_level_vars=["treatment"])
             .set_cluster("school:class", ICC=0.1, n_per_parent=m)
             .set_seed(2026).set_simulations(1000))
    tau_s, tau_c = 0.15 / 0.85, 0.1 / 0.9
    se = np.sqrt((tau_s + tau_c / m + 1 / (m * n)) / (0.25 * J))
    crit = stats.t.ppf(0.975, J - 2)
    exact = stats.nct.sf(crit, J - 2, beta / se) + stats.nct.cdf(-crit, J - 2, beta / se)
    result = model.find_power(J * m * n, print_results=False)
    power = result.power["treatment"]
    mc_se = np.sqrt(exact * (1 - exact) / (1000 - result.n_failed))
    assert abs(power - exact) < 3 * mc_se, (power, exact)


# ------------------------------------------------------------------ sweeps
def test_grouping_axes_change_groupings() -> None:
    spec = nested().to_spec(320)
    assert "n_per_parent[school:class]" in allowed_axes(spec)
    new = spec.with_params(**{"n_per_parent[school:class]": 2, "icc[school]": 0.3,
                              "n_clusters": 10})
    child, school = new.groupings
    assert (child.n_per_parent, school.icc, school.n_clusters) == (2, 0.3, 10)
    assert new.n_clusters == 10 and spec.with_params(n_per_parent=5).groupings[0].n_per_parent == 5
    with pytest.raises(ValueError, match=r"icc=0.2: this design has several grouping factors: "
                                         r"name one, e.g. icc\[school:class\]"):
        spec.with_params(icc=0.2)
    with pytest.raises(ValueError, match=r"'class' is not a grouping"):
        spec.with_params(**{"icc[class]": 0.2})
    one = MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.1, n_clusters=10).to_spec(100)
    with pytest.raises(ValueError, match=r"n_per_parent=3: an axis of designs with several"):
        one.with_params(n_per_parent=3)


def test_sweep_over_items_and_classes() -> None:
    model = crossed()
    model.find_power(160, print_results=False)
    ds = sweep(model, {"n_clusters[item]": [4, 8], "icc[subject]": [0.1, 0.3]},
               progress=False)
    assert ds["power"].dims[:2] == ("n_clusters[item]", "icc[subject]")
    assert ds.attrs["formula"] == model.formula and bool(ds["complete"].all())


def test_cluster_size_of_the_primary_grouping() -> None:
    """MCPower 1.4.1 sizes its primary grouping by cluster_size too: sample_size //
    cluster_size schools, each of cluster_size pupils split over its classes."""
    model = (MCPower("y ~ x + (1 | school/class)").set_effects("x=0.3")
             .set_cluster("school", ICC=0.1, cluster_size=30)
             .set_cluster("school:class", ICC=0.1, n_per_parent=3).set_seed(1)
             .set_simulations(10).set_parallel(False))
    spec = model.to_spec(310)  # 10 schools of 30, as one grouping's cluster_size
    assert spec.effective_n_clusters == 10 and spec.total_n == 300
    lay = layout(spec.groupings, 310)
    assert lay.n_levels == (30, 10) and np.bincount(lay.codes[1]).tolist() == [30] * 10
    found = model.find_sample_size(4, 8, by=4, unit="clusters", print_results=False)
    assert list(found.sizes) == [120, 240]
    assert spec.with_params(n_clusters=12).groupings[1].cluster_size is None
    with pytest.raises(ValueError, match=r"cluster_size=30\) gives 1 school unit"):
        model.to_spec(40)


def test_components_keep_the_design_order_when_lme4s_flips() -> None:
    """With more items than subjects lme4 fits items first; the variance components stay
    in the design's order (a sweep over n_clusters[item] stores them under one name)."""
    base = crossed().to_spec(160)
    for items in (4, 16):
        spec = base.with_params(**{"n_clusters[item]": items})
        assert engine_components(spec)[0] == engine_components(base)[0]
        out = run_chunk(spec, 4, 0, 1)
        names = dict(zip(engine_components(spec)[0], out.components[0], strict=True))
        lay = layout(spec.groupings, 160)
        X, y = simulated_data(spec, 4, 0)
        fit = fit_lmm(spec.formula, {"rt": y, "condition": X[:, 1], "subject": lay.codes[0],
                                     "item": lay.codes[1]})
        assert names["var_(Intercept)|item"] == pytest.approx(fit.varcorr["item"].cov[0, 0],
                                                              rel=1e-5, abs=1e-9)
        assert names["var_condition|subject"] == pytest.approx(
            fit.varcorr["subject"].cov[1, 1], rel=1e-5, abs=1e-9)


# ------------------------------------------------------------------ correlated predictors
def correlated() -> MCPower:
    """Two correlated pupil-level normals and two correlated class-level normals."""
    return (MCPower("score ~ x + z + u + v + (1 | school/class)")
            .set_effects("x=0.2, z=0.1, u=0.3, v=0.1")
            .set_correlations("corr(x, z)=0.5, corr(u, v)=-0.6")
            .set_cluster("school", ICC=0.1, n_clusters=6)
            .set_cluster("school:class", ICC=0.1, n_per_parent=4, cluster_level_vars=["u", "v"])
            .set_seed(5).set_simulations(20).set_parallel(False))


def test_correlated_predictors_have_the_set_correlation() -> None:
    spec = correlated().to_spec(240)
    lay = layout(spec.groupings, 240)
    row_r, class_r = [], []
    for i in range(40):
        X, _ = simulated_data(spec, 2, i)
        row_r.append(np.corrcoef(X[:, 1], X[:, 2])[0, 1])
        first = np.unique(lay.codes[0], return_index=True)[1]  # one row per class
        u, v = X[first, 3], X[first, 4]
        assert all(np.ptp(X[lay.codes[0] == c, 3]) == 0 for c in range(3))  # per class
        class_r.append(np.corrcoef(u, v)[0, 1])
    assert np.mean(row_r) == pytest.approx(0.5, abs=0.03)      # SE about 0.008
    assert np.mean(class_r) == pytest.approx(-0.6, abs=0.06)   # SE about 0.02
    # Without correlations the draws are those of the independent design.
    plain = (MCPower("score ~ x + z + u + v + (1 | school/class)")
             .set_effects("x=0.2, z=0.1, u=0.3, v=0.1")
             .set_cluster("school", ICC=0.1, n_clusters=6)
             .set_cluster("school:class", ICC=0.1, n_per_parent=4, cluster_level_vars=["u", "v"]))
    X0 = simulated_data(plain.to_spec(240), 2, 0)[0]
    X1 = simulated_data(spec, 2, 0)[0]
    np.testing.assert_array_equal(X0[:, [1, 3]], X1[:, [1, 3]])  # the first of each pair


@pytest.mark.parametrize("df_method", ["satterthwaite", "kenward_roger"])
def test_correlated_engine_fit_equals_fit_lmm(df_method: str) -> None:
    test_engine_fit_equals_fit_lmm(correlated, 240, df_method)


@pytest.mark.parametrize(("corr", "match"), [
    ("corr(x, u)=0.3", r"'x' per observation and 'u' per school:class unit are drawn on "
                       r"different units"),
    ("corr(x, t)=0.3", r"'t' is not a normal predictor"),
])
def test_bad_correlations(corr: str, match: str) -> None:
    model = (MCPower("score ~ x + t + u + (1 | school/class)")
             .set_variable_type("t=binary(0.5)")
             .set_cluster("school", ICC=0.1, n_clusters=6)
             .set_cluster("school:class", ICC=0.1, n_per_parent=4, cluster_level_vars=["u"]))
    with pytest.raises(ValueError, match=match):
        model.set_correlations(corr).to_spec(240)


# ------------------------------------------------------------------ factor predictors
def with_factors() -> MCPower:
    """A pupil-level factor (3 levels), a class-level one (2 levels) before a slope's x."""
    return (MCPower("score ~ group + method + x + (1 + x | school) + (1 | school:class)")
            .set_variable_type("group=factor(0.5, 0.3, 0.2), method=factor(0.4, 0.6)")
            .set_effects("group[2]=0.3, group[3]=0.1, method[2]=0.2, x=0.2")
            .set_cluster("school", ICC=0.1, n_clusters=8, slope_variance=0.05)
            .set_cluster("school:class", ICC=0.1, n_per_parent=4, cluster_level_vars=["method"])
            .set_seed(3).set_simulations(20).set_parallel(False))


def test_factor_levels_have_the_set_proportions() -> None:
    spec = with_factors().to_spec(320)
    assert spec.term_names[1:] == ("group[2]", "group[3]", "method[2]", "x")
    assert [g.name for g in spec.groupings] == ["school", "school:class"]
    classes = layout(spec.groupings, 320).codes[1]
    first = np.unique(classes, return_index=True)[1]  # one row per class
    group, method = [], []
    for i in range(60):
        X = simulated_data(spec, 4, i)[0]
        assert (X[:, 1] * X[:, 2] == 0).all()  # one level per pupil
        group.append([1 - X[:, 1:3].sum(axis=1).mean(), X[:, 1].mean(), X[:, 2].mean()])
        per_class = np.array([np.ptp(X[classes == c, 3]) for c in range(32)])
        assert (per_class == 0).all()  # method constant within classes
        method.append(X[first, 3].mean())
    np.testing.assert_allclose(np.mean(group, axis=0), [0.5, 0.3, 0.2], atol=0.015)  # SE .004
    assert np.mean(method) == pytest.approx(0.6, abs=0.03)  # SE about 0.011


@pytest.mark.parametrize("df_method", ["satterthwaite", "kenward_roger"])
def test_factor_engine_fit_equals_fit_lmm(df_method: str) -> None:
    spec = with_factors().to_spec(320, df_method=df_method)
    lay = layout(spec.groupings, 320)
    out = run_chunk(spec, 9, 0, 2)
    for i in range(2):
        X, y = simulated_data(spec, 9, i)
        data = {"score": y, "x": X[:, 4], "school": lay.codes[0], "class": lay.codes[1],
                "group": np.array(["a", "b", "c"])[(X[:, 1] + 2 * X[:, 2]).astype(int)],
                "method": np.where(X[:, 3] == 1, "m2", "m1")}
        fit = fit_lmm("score ~ group + method + x + (1 + x | school) + (1 | school:class)",
                      data, df_method=df_method)
        assert out.converged[i]
        np.testing.assert_allclose(out.estimate[i], list(fit.coef.values()), rtol=1e-6,
                                   atol=1e-8)
        np.testing.assert_allclose(out.pvalue[i], list(fit.pvalue.values()), rtol=1e-5,
                                   atol=1e-8)
        np.testing.assert_allclose(out.df[i], list(fit.df.values()), rtol=1e-5)
        assert spec.fit_joint_tests == (("group", (1, 2)),)  # the factor's F test
        assert out.joint_pvalue[i, 0] == pytest.approx(fit.anova["group"]["pvalue"], rel=1e-5)


def test_balanced_factors() -> None:
    """Exactly round(p_k n) units per level in each block: classes of each school (a
    class-level factor), observations of each subject (crossed, row level)."""
    model = (MCPower("score ~ method + x + (1 | school/class)")
             .set_variable_type("method=factor(0.5, 0.25, 0.25, balanced)")
             .set_cluster("school", ICC=0.1, n_clusters=5)
             .set_cluster("school:class", ICC=0.1, n_per_parent=4, cluster_level_vars=["method"]))
    spec = model.to_spec(200)
    lay = layout(spec.groupings, 200)
    X = simulated_data(spec, 1, 0)[0]
    first = np.unique(lay.codes[0], return_index=True)[1]  # one row per class
    level = 1 + X[first, 1] + 2 * X[first, 2]
    assert [np.bincount(level[s * 4:(s + 1) * 4].astype(int), minlength=4)[1:].tolist()
            for s in range(5)] == [[2, 1, 1]] * 5
    crossed_model = (MCPower("y ~ g + (1 | subject) + (1 | item)")
                     .set_variable_type("g=factor(0.5, 0.3, 0.2, balanced)")
                     .set_cluster("subject", ICC=0.1, n_clusters=10)
                     .set_cluster("item", ICC=0.1, n_clusters=10))
    spec = crossed_model.to_spec(200)
    subject = layout(spec.groupings, 200).codes[0]
    X = simulated_data(spec, 1, 0)[0]
    assert [(X[subject == s, 1].sum(), X[subject == s, 2].sum()) for s in range(10)] == \
        [(6, 4)] * 10  # round(.3 x 20), round(.2 x 20) of each subject's 20 rows
    with pytest.raises(ValueError, match=r"gives 4, 0, 0 of 4 school:class units in each "
                                         r"school unit to its levels"):
        (MCPower("score ~ method + (1 | school/class)")
         .set_variable_type("method=factor(0.8, 0.1, 0.1, balanced)")
         .set_cluster("school", ICC=0.1, n_clusters=5)
         .set_cluster("school:class", ICC=0.1, n_per_parent=4, cluster_level_vars=["method"])
         .to_spec(200))


def test_random_slope_of_a_factor_is_refused() -> None:
    model = (MCPower("y ~ g + (1 + g | subject) + (1 | item)")
             .set_variable_type("g=factor(0.5, 0.5)")
             .set_cluster("subject", ICC=0.1, n_clusters=10, slope_variance=0.1)
             .set_cluster("item", ICC=0.1, n_clusters=10))
    with pytest.raises(ValueError, match=r"set_cluster\('subject'\): the random slope of 'g' is "
                                         r"on a factor"):
        model.to_spec(200)
