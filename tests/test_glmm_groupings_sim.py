"""Simulated GLMMs with several grouping factors: MCPower(..., family="logit" | "probit" |
"poisson") with nested or crossed groupings, each simulation fitted as fit_glmm fits it."""

from __future__ import annotations

import numpy as np
import pytest

from mcpower_sweep import MCPower, fit_glmm
from mcpower_sweep.design.groupings import layout
from mcpower_sweep.engine import run_chunk, simulated_data
from mcpower_sweep.results.tally import components


def nested_logit() -> MCPower:
    """Pupils in classes in schools, a treatment of classes (2 of 4 in each school)."""
    return (MCPower("y ~ treatment + x + (1 | school/class)", family="logit")
            .set_baseline_probability(0.3)
            .set_variable_type("treatment=binary(0.5, balanced)")
            .set_effects("treatment=0.5, x=0.3")
            .set_cluster("school", ICC=0.1, n_clusters=8)
            .set_cluster("school:class", ICC=0.05, n_per_parent=4,
                         cluster_level_vars=["treatment"])
            .set_seed(3).set_simulations(30).set_parallel(False))


def crossed_logit() -> MCPower:
    """Subjects x items, condition within both, a by-subject random slope on it."""
    return (MCPower("y ~ condition + (1 + condition | subject) + (1 | item)", family="logit")
            .set_baseline_probability(0.5)
            .set_variable_type("condition=binary(0.5, balanced)")
            .set_effects("condition=0.4")
            .set_cluster("subject", ICC=0.15, n_clusters=12, slope_variance=0.1,
                         slope_intercept_corr=0.3)
            .set_cluster("item", ICC=0.1, n_clusters=10)
            .set_seed(5).set_simulations(30).set_parallel(False))


def nested_poisson() -> MCPower:
    return (MCPower("y ~ x + (1 | school/class)", family="poisson")
            .set_baseline_rate(2.0).set_effects("x=0.2")
            .set_cluster("school", tau_squared=0.2, n_clusters=8)
            .set_cluster("school:class", tau_squared=0.1, n_per_parent=3)
            .set_seed(9).set_simulations(30).set_parallel(False))


def probit_crossed() -> MCPower:
    return (MCPower("y ~ x + (1 | subject) + (1 | item)", family="probit")
            .set_baseline_probability(0.4).set_effects("x=0.3")
            .set_cluster("subject", ICC=0.2, n_clusters=10)
            .set_cluster("item", ICC=0.1, n_clusters=8)
            .set_seed(2).set_simulations(30).set_parallel(False))


CASES = [(nested_logit, 320), (crossed_logit, 240), (nested_poisson, 240), (probit_crossed, 160)]


@pytest.mark.parametrize(("make", "n"), CASES)
def test_engine_fit_equals_fit_glmm(make, n: int) -> None:
    """Each simulated data set, fitted by fit_glmm, gives the engine's numbers."""
    model = make()
    spec = model.to_spec(n)
    lay = layout(spec.groupings, spec.sample_size)
    out = run_chunk(spec, 9, 0, 3)
    names, truth = components(spec)
    assert out.components.shape[1] == len(truth) and "sigma2" not in names
    family, link = {"logit": ("binomial", "logit"), "probit": ("binomial", "probit"),
                    "poisson": ("poisson", "log")}[spec.family]
    for i in range(3):
        X, y = simulated_data(spec, 9, i)
        assert set(np.unique(y)) <= ({0.0, 1.0} if family == "binomial" else set(range(200)))
        data = {spec.outcome: y, **{name: X[:, k + 1] for k, name in
                                    enumerate(spec.term_names[1:])}}
        for g, codes in zip(spec.groupings, lay.codes, strict=True):
            data[g.name.split(":")[-1]] = codes
        fit = fit_glmm(spec.formula, data, family=family, link=link)
        assert out.converged[i] == fit.converged
        if not fit.converged:
            continue
        np.testing.assert_allclose(out.estimate[i], list(fit.coef.values()), rtol=1e-9)
        np.testing.assert_allclose(out.se[i], list(fit.se.values()), rtol=1e-9)
        np.testing.assert_allclose(out.pvalue[i], list(fit.pvalue.values()), rtol=1e-7,
                                   atol=1e-12)
        assert np.all(np.isinf(out.df[i]))
        # the components in the design's order: each grouping's variances
        for name, value in zip(names, out.components[i], strict=True):
            kind, rest = name.split("_", 1)
            effect, group = rest.rsplit("|", 1)
            if kind == "var":
                vc = fit.varcorr[_lme4_group(group, fit)]
                assert value == pytest.approx(vc.cov[vc.terms.index(effect)] [vc.terms.index(
                    effect)], rel=1e-9, abs=1e-14)


def _lme4_group(design_name: str, fit) -> str:
    """lme4's name of a design grouping: 'school:class' is lme4's 'class:school'."""
    parts = design_name.split(":")
    return design_name if design_name in fit.varcorr else ":".join(reversed(parts))


def test_small_random_slope_design_fits_converge() -> None:
    """12 subjects x 10 items, a by-subject slope: many fits are singular inside the slope
    term (a zero diagonal with an entry below it); they converge, none fails."""
    out = run_chunk(crossed_logit().to_spec(120), 5, 0, 60)
    assert out.converged.all()
    assert 20 < out.singular.sum() < 60
    assert np.isfinite(out.pvalue).all()


@pytest.mark.parametrize(("model", "n"), [
    (MCPower("y ~ t + (1 | s/c)", family="logit").set_baseline_probability(0.01)
     .set_variable_type("t=binary(0.5, balanced)").set_effects("t=1.0")
     .set_cluster("s", ICC=0.3, n_clusters=3).set_cluster("s:c", ICC=0.2, n_per_parent=2), 30),
    (MCPower("y ~ t + (1 | a) + (1 | b)", family="logit").set_baseline_probability(0.5)
     .set_variable_type("t=binary(0.5, balanced)").set_effects("t=8")
     .set_cluster("a", ICC=0.1, n_clusters=3).set_cluster("b", ICC=0.1, n_clusters=3), 18),
    (MCPower("y ~ x + (1 | s/c)", family="poisson").set_baseline_rate(0.05).set_effects("x=0.5")
     .set_cluster("s", tau_squared=0.5, n_clusters=3)
     .set_cluster("s:c", tau_squared=0.5, n_per_parent=2), 24),
])
def test_degenerate_designs_fail_without_nan(model: MCPower, n: int) -> None:
    """Rare events, separation, near-zero counts in tiny designs: failed fits are counted,
    never a crash, never a NaN among the converged ones."""
    out = run_chunk(model.to_spec(n), 3, 0, 100)
    ok = out.converged.astype(bool)
    assert 0 < ok.sum() < 100
    assert np.isfinite(out.pvalue[ok]).all() and np.isfinite(out.estimate[ok]).all()
    assert np.isnan(out.pvalue[~ok]).all()


def test_simulated_outcomes_follow_the_design() -> None:
    """The baseline and the effect on the link scale show in the simulated outcomes."""
    spec = nested_poisson().to_spec(2400)
    X, y = simulated_data(spec, 1, 0)
    # E[y] = 2 exp(0.2 x + b) with b ~ N(0, 0.3): mean 2 exp(0.02 + 0.15) over x ~ N(0, 1)
    assert y.mean() == pytest.approx(2.0 * np.exp(0.02 + 0.15), rel=0.25)
    assert y.min() >= 0 and np.all(y == np.round(y))


def test_threads_and_chunks_do_not_change_results() -> None:
    spec = crossed_logit().to_spec(240)
    whole = run_chunk(spec, 5, 0, 6)
    parts = [run_chunk(spec, 5, 0, 2), run_chunk(spec, 5, 2, 4, n_threads=2)]
    np.testing.assert_array_equal(whole.pvalue, np.vstack([p.pvalue for p in parts]))
    np.testing.assert_array_equal(whole.components, np.vstack([p.components for p in parts]))


def test_find_power_runs_and_repeats() -> None:
    result = nested_logit().find_power(320, print_results=False)
    assert result.n_failed <= 3
    assert 0.0 < result.power["treatment"] <= 1.0
    again = nested_logit().find_power(320, print_results=False)
    assert again.power == result.power


@pytest.mark.parametrize(("change", "match"), [
    (lambda m: m.to_spec(320, df_method="between_within"),
     r"df_method='between_within' is not available for family='logit' with several"),
    (lambda m: m.find_power(320, agq=3, print_results=False),
     r"agq=3 is not supported yet with several grouping factors \(school:class, school\): "
     r"use agq=1"),
])
def test_refused_options_name_the_parameter(change, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        change(nested_logit())
