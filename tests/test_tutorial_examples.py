"""The random-slopes tutorial, rerun through ``mcpower_sweep``.

Part one restates each of the tutorial's eight examples in our own words and checks the
returned numbers: against a large-sample approximation of the Wald t test where one exists,
and against the direction the tutorial describes (more slope variance: less power; more
clusters: more power).  Part two runs the tutorial's own scripts (``shared/seed/examples``)
with only their import line changed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mcpower_sweep import MCPower

SIMS = 200
SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seed" / "examples"
ORIGINAL_IMPORT = "from mcpower import MCPower"
OUR_IMPORT = "from mcpower_sweep import MCPower"


@pytest.fixture(autouse=True)
def engine():
    return pytest.importorskip(
        "mcpower_sweep.engine",
        reason="the native engine (mcpower_sweep._native) is not built",
        exc_type=ImportError,
    )


def approx_slope_power(
    effect: float, slope_variance: float, n_clusters: int, per_cluster: float,
    alpha: float = 0.05, x_variance: float = 1.0,
) -> float:
    """Power of the test of a randomly varying within-cluster slope, balanced design.

    The estimate averages the clusters' slopes, so its variance is about
    ``(slope_variance + 1 / (per_cluster * x_variance)) / n_clusters`` and its
    Satterthwaite df about ``n_clusters - 1``; power is then a noncentral-t tail.
    """
    stats = pytest.importorskip("scipy.stats")
    se = math.sqrt((slope_variance + 1.0 / (per_cluster * x_variance)) / n_clusters)
    df = n_clusters - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    ncp = effect / se
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def site_model(formula: str, *, icc: float, slope_variance: float, corr: float = 0.0,
               n_clusters: int = 30, max_failed: float = 0.30, seed: int = 11) -> MCPower:
    return (
        MCPower(formula)
        .set_simulations(SIMS)
        .set_cluster("site", ICC=icc, n_clusters=n_clusters, random_slopes=["treatment"],
                     slope_variance=slope_variance, slope_intercept_corr=corr)
        .set_max_failed_simulations(max_failed)
        .set_seed(seed)
    )


def within_mc_error(power: float, expected: float, n: int, slack: float = 0.06) -> bool:
    """|power - expected| within 3.5 Monte Carlo SEs plus room for the approximation."""
    se = math.sqrt(max(expected * (1 - expected), 0.01) / n)
    return abs(power - expected) <= 3.5 * se + slack


# ------------------------------------------------------------------ our equivalents
def test_full_example_two_predictors_with_a_varying_treatment_effect():
    model = site_model("outcome ~ treatment + motivation + (1 + treatment|site)",
                       icc=0.2, slope_variance=0.1, corr=0.3)
    model.set_effects("treatment=0.5, motivation=0.3")
    result = model.find_power(sample_size=1500, print_results=False)
    assert result.failure_rate <= 0.30
    expected = approx_slope_power(0.5, 0.1, 30, 50)
    assert within_mc_error(result.power["treatment"], expected, result.n_success)
    # motivation has no random slope: 0.3 SD over 1500 observations is nearly certain
    assert result.power["motivation"] > 0.97


@pytest.mark.parametrize("slope_variance", [0.01, 0.05, 0.10, 0.20, 0.30])
def test_slope_variance_row_agrees_with_the_approximation(slope_variance):
    model = MCPower("score ~ treatment + (1 + treatment|cluster)").set_simulations(SIMS)
    model.set_cluster("cluster", ICC=0.15, n_clusters=30, random_slopes=["treatment"],
                      slope_variance=slope_variance)
    model.set_effects("treatment=0.15").set_max_failed_simulations(0.20).set_seed(42)
    result = model.find_power(sample_size=900, print_results=False)
    expected = approx_slope_power(0.15, slope_variance, 30, 30)
    assert within_mc_error(result.power["treatment"], expected, result.n_success)


def _power(model: MCPower, n: int) -> float:
    return model.find_power(sample_size=n, print_results=False).power["treatment"]


def test_more_slope_variance_means_less_power():
    powers = []
    for sv in [0.01, 0.05, 0.10, 0.20, 0.30]:
        model = MCPower("score ~ treatment + (1 + treatment|cluster)").set_simulations(SIMS)
        model.set_cluster("cluster", ICC=0.15, n_clusters=30, random_slopes=["treatment"],
                          slope_variance=sv)
        model.set_effects("treatment=0.15").set_max_failed_simulations(0.20).set_seed(42)
        powers.append(_power(model, 900))
    # same seed at every row: the curve falls, allowing a little Monte Carlo wobble
    assert np.all(np.diff(powers) <= 0.05), powers
    assert powers[0] - powers[-1] > 0.4, powers


def test_more_clusters_means_more_power():
    powers = []
    for n_clusters in [15, 20, 30, 40, 50]:
        model = MCPower("score ~ treatment + (1 + treatment|cluster)").set_simulations(SIMS)
        model.set_cluster("cluster", ICC=0.15, n_clusters=n_clusters,
                          random_slopes=["treatment"], slope_variance=0.10)
        model.set_effects("treatment=0.15").set_max_failed_simulations(0.25).set_seed(42)
        result = model.find_power(sample_size=900, print_results=False)
        expected = approx_slope_power(0.15, 0.10, n_clusters, 900 / n_clusters)
        assert within_mc_error(result.power["treatment"], expected, result.n_success)
        powers.append(result.power["treatment"])
    assert powers[-1] - powers[0] > 0.2, powers


@pytest.mark.parametrize("corr", [0.0, -0.5])
def test_slope_intercept_correlation_barely_matters_for_a_large_effect(corr):
    model = site_model("outcome ~ treatment + (1 + treatment|site)", icc=0.2,
                       slope_variance=0.1, corr=corr)
    model.set_effects("treatment=0.5")
    result = model.find_power(sample_size=1500, print_results=False)
    expected = approx_slope_power(0.5, 0.1, 30, 50)
    assert expected > 0.99
    assert result.power["treatment"] > 0.95
    assert result.ci["treatment"][1] >= expected - 0.02


def test_small_slope_variance_is_nearly_a_fixed_effect():
    model = site_model("outcome ~ treatment + (1 + treatment|site)", icc=0.15,
                       slope_variance=0.02, max_failed=0.20)
    model.set_effects("treatment=0.5")
    result = model.find_power(sample_size=1000, print_results=False)
    assert result.power["treatment"] > 0.97
    assert result.n_singular <= result.n_success


def test_required_sample_size_for_the_treatment_effect():
    model = site_model("outcome ~ treatment + motivation + (1 + treatment|site)",
                       icc=0.2, slope_variance=0.1, corr=0.3)
    model.set_effects("treatment=0.2, motivation=0.3")  # smaller than the tutorial's
    curve = model.find_sample_size(from_size=300, to_size=2000, by=340,
                                   target_test="treatment", print_results=False)
    assert list(curve.sizes) == [300, 640, 980, 1320, 1660, 2000]
    power = curve.power["treatment"]
    # with 30 sites the slope variance caps power: more observations help less and less
    gains = np.diff(power)
    assert power[-1] > power[0]
    assert gains[-1] < gains[0] + 0.05
    expected = [approx_slope_power(0.2, 0.1, 30, n / 30) for n in curve.sizes]
    for got, want in zip(power, expected, strict=True):
        assert within_mc_error(got, want, SIMS)
    required = curve.required_n["treatment"]
    reached = power >= curve.target_power
    if required is None:
        assert not reached.any()
        assert curve.max_power["treatment"][0] == pytest.approx(power.max())
    else:  # interpolated on the monotone fit: within the sizes, where power gets there
        assert curve.sizes[0] <= required <= curve.sizes[-1]
        assert reached[curve.sizes >= required].any()


def test_binary_treatment_with_random_slopes():
    model = site_model("outcome ~ treatment + age + (1 + treatment|site)", icc=0.15,
                       slope_variance=0.05, max_failed=0.20)
    model.set_variable_type("treatment=binary").set_effects("treatment=0.3, age=0.2")
    result = model.find_power(sample_size=1500, print_results=False)
    assert result.spec.predictors[0].kind == "binary"
    expected = approx_slope_power(0.3, 0.05, 30, 50, x_variance=0.25)
    assert within_mc_error(result.power["treatment"], expected, result.n_success)
    assert result.power["age"] > 0.97


# ------------------------------------------------------------------ the tutorial's own scripts
# Copies of shared/seed/examples with only the import changed, kept in the repository so the
# contract test runs in any fresh clone.
TUTORIAL_DIR = Path(__file__).resolve().parent / "data" / "tutorial"


def _tutorial_scripts() -> list[Path]:
    return sorted(TUTORIAL_DIR.glob("*.py"))


def test_all_eight_tutorial_scripts_are_here():
    assert [p.name[:2] for p in _tutorial_scripts()] == [f"{k:02d}" for k in range(1, 9)]


@pytest.mark.parametrize("script", _tutorial_scripts(), ids=lambda p: p.name)
def test_tutorial_script_runs_with_only_the_import_changed(script, capsys):
    source = script.read_text(encoding="utf-8")
    assert source.count(OUR_IMPORT) == 1, f"{script.name}: expected one '{OUR_IMPORT}'"
    original = SEED_DIR / script.name
    if original.is_file():  # the copy is the tutorial's script but for the import line
        assert original.read_text(encoding="utf-8").replace(ORIGINAL_IMPORT, OUR_IMPORT) == source
    namespace: dict[str, object] = {"__name__": "__main__", "__file__": str(script)}
    # run in-process as a script would run: its own globals, __name__ == "__main__"
    exec(compile(source, str(script), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "treatment" in printed
    assert "%" in printed
    assert isinstance(namespace["model"], MCPower)


# ------------------------------------------------------------------ against MCPower 1.4.1
# The tutorial's designs: its two tables (treatment = 0.15, ICC = 0.15, N = 900) and the
# examples' own designs.  With an ML fit and a Wald z on both sides, the same
# data-generating process must give the same power within Monte Carlo error.
_SLOPE = "score ~ treatment + (1 + treatment|cluster)"
_TABLE = dict(effects="treatment=0.15", n=900, types=None)
MCPOWER_DESIGNS = {
    **{f"table-sv-{sv}": dict(formula=_SLOPE, cluster=dict(
        ICC=0.15, n_clusters=30, random_slopes=["treatment"], slope_variance=sv), **_TABLE)
       for sv in (0.01, 0.05, 0.10, 0.15, 0.20, 0.30)},
    "table-sv-0": dict(formula="score ~ treatment + (1|cluster)",
                       cluster=dict(ICC=0.15, n_clusters=30), **_TABLE),
    **{f"table-clusters-{j}": dict(formula=_SLOPE, cluster=dict(
        ICC=0.15, n_clusters=j, random_slopes=["treatment"], slope_variance=0.10), **_TABLE)
       for j in (15, 20, 40, 50)},
    "example-full": dict(
        formula="outcome ~ treatment + motivation + (1 + treatment|site)",
        cluster=dict(ICC=0.2, n_clusters=30, random_slopes=["treatment"], slope_variance=0.1,
                     slope_intercept_corr=0.3),
        effects="treatment=0.5, motivation=0.3", n=500, types=None),
    "example-negative-corr": dict(
        formula="outcome ~ treatment + (1 + treatment|site)",
        cluster=dict(ICC=0.2, n_clusters=30, random_slopes=["treatment"], slope_variance=0.1,
                     slope_intercept_corr=-0.5),
        effects="treatment=0.2", n=600, types=None),
    "example-binary": dict(
        formula="outcome ~ treatment + age + (1 + treatment|site)",
        cluster=dict(ICC=0.15, n_clusters=30, random_slopes=["treatment"], slope_variance=0.05),
        effects="treatment=0.25, age=0.05", n=600, types="treatment=binary"),
}
MCPOWER_SIMS = 10_000
# At 15 clusters MCPower 1.4.1 is ~3 points lower than both this engine and lme4:
# lme4 (lmer, REML = FALSE, Wald z) on this design gave 43.9% +- 0.9% (3,000 simulations),
# this engine 44.0-44.2%, MCPower 41.0-41.5%.  The gap is MCPower's, so it is expected here.
MCPOWER_KNOWN_GAPS = {
    "table-clusters-15": "MCPower 1.4.1 is below lme4's ML + z power at 15 clusters",
}


def _configure(model, design: dict, grouping: str):
    model.set_simulations(MCPOWER_SIMS)
    model.set_cluster(grouping, **design["cluster"])
    if design["types"]:
        model.set_variable_type(design["types"])
    model.set_effects(design["effects"])
    model.set_max_failed_simulations(0.5)
    model.set_seed(20261125)
    return model


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(reason=MCPOWER_KNOWN_GAPS[name], strict=False))
    if name in MCPOWER_KNOWN_GAPS else name
    for name in sorted(MCPOWER_DESIGNS)
])
def test_ml_z_power_matches_mcpower_1_4_1(name):
    mcpower = pytest.importorskip("mcpower", reason="needs mcpower==1.4.1 (the bench extra)")
    if getattr(mcpower, "__version__", "") != "1.4.1":
        pytest.skip(f"needs mcpower 1.4.1, found {getattr(mcpower, '__version__', '?')}")
    design = MCPOWER_DESIGNS[name]
    grouping = design["formula"].rsplit("|", 1)[1].rstrip(")").strip()
    ours = _configure(MCPower(design["formula"]), design, grouping).find_power(
        design["n"], estimator="ml", df_method="z", print_results=False)
    theirs_model = _configure(mcpower.MCPower(design["formula"], family="lme"), design,
                              grouping)
    theirs = theirs_model.find_power(sample_size=design["n"], df_method="asymptotic",
                                     verbose=False, progress_callback=False)
    their_power = theirs["power_uncorrected"][0]
    assert len(their_power) == len(ours.tests)
    for test, p2 in zip(ours.tests, their_power, strict=True):
        p1 = ours.power[test]
        n2 = MCPOWER_SIMS * theirs["convergence_rate"][0]
        se = math.sqrt(max(p1 * (1 - p1), 1e-4) / ours.n_success
                       + max(p2 * (1 - p2), 1e-4) / n2)
        assert abs(p1 - p2) <= 3 * se, f"{name} {test}: ours {p1:.4f}, MCPower {p2:.4f}"
