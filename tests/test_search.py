"""The required N with its interval and the adaptive searches (issue 15), fast checks.

Small balanced cluster-randomised trials (treatment at the cluster level, J/2 clusters
treated) whose exact power is the noncentral t of ``docs/exact_power.py``;
``tests/test_search_coverage.py`` (slow) checks the intervals' coverage.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from mcpower_sweep import MCPower
from mcpower_sweep.api import run
from mcpower_sweep.crossing import probit_crossing, required_n
from mcpower_sweep.search.adaptive import batch_seed
from mcpower_sweep.stats import two_sided_power

ICC, SIZE, BETA = 0.15, 10, 0.5


def crt(seed: int = 7, beta: float = BETA, **cluster: int) -> MCPower:
    sizing = cluster or {"cluster_size": SIZE}
    return (MCPower("y ~ treatment + z + (1|school)")
            .set_variable_type("treatment=binary(0.5, balanced)")
            .set_cluster("school", ICC=ICC, cluster_level_vars=["treatment"], **sizing)
            .set_effects({"treatment": beta, "z": 0.1}).set_seed(seed)
            .set_max_failed_simulations(0.2))


def exact_clusters(beta: float = BETA) -> float:
    """Continuous J where the exact power of the CRT reaches 80% (df = J - 2; the z
    predictor costs one more df, ignored: the search's interval is wider than that)."""
    def power(j: float) -> float:
        se = math.sqrt((ICC / (1 - ICC) + 1 / SIZE) / (0.25 * j))
        return two_sided_power(beta / se, j - 2, 0.05)
    return optimize.brentq(lambda j: power(j) - 0.8, 4, 1000)


def search(model: MCPower, lo: int = 6, hi: int = 120, **kw: object):
    return model.find_sample_size(lo, hi, target_test="treatment", unit="clusters",
                                  print_results=False, **{"precision": 0.1, **kw})


# ------------------------------------------------------------------ statistics
def test_probit_crossing_recovers_a_known_curve() -> None:
    rng = np.random.default_rng(1)
    sizes = np.array([20, 30, 40, 50, 60, 80])
    truth = 0.5 + 1.5 * (np.log(sizes) - np.log(40))  # crosses 0.8 at 40 exp(0.56)
    n = np.full(sizes.size, 2000)
    k = rng.binomial(n, _phi(truth))
    c = probit_crossing(sizes, k, n, 0.8)
    want = 40 * math.exp((0.8416 - 0.5) / 1.5)
    assert c.low < want < c.high and abs(c.estimate - want) < 0.05 * want
    # paired outcomes that are in fact independent: the sandwich agrees with the model
    y = (rng.random((2000, sizes.size)) < _phi(truth)).astype(float)
    a = probit_crossing(sizes, y.sum(0), n, 0.8)
    b = probit_crossing(sizes, y.sum(0), n, 0.8, paired=y)
    assert b.estimate == a.estimate
    assert (b.high - b.low) == pytest.approx(a.high - a.low, rel=0.15)
    # perfectly paired outcomes (one draw per simulation): the interval widens
    u = rng.random((2000, 1))
    y = (u < _phi(truth)).astype(float)
    a = probit_crossing(sizes, y.sum(0), n, 0.8)
    b = probit_crossing(sizes, y.sum(0), n, 0.8, paired=y)
    assert (b.high - b.low) > 1.5 * (a.high - a.low)


def _phi(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr
    return ndtr(x)


def test_no_increasing_fit_gives_no_crossing() -> None:
    assert probit_crossing([10, 20], [0, 0], [50, 50], 0.8).estimate is None
    assert probit_crossing([10, 20], [50, 50], [50, 50], 0.8).estimate is None
    assert probit_crossing([10, 20], [40, 10], [50, 50], 0.8).estimate is None


def test_required_n_with_outcomes_uses_the_joint_fit() -> None:
    sizes = [300, 600, 900]
    rng = np.random.default_rng(3)
    y = (rng.random((1000, 3)) < [0.3, 0.6, 0.9]).astype(float)
    plain = required_n(sizes, y.sum(0), [1000] * 3, 0.7)
    joint = required_n(sizes, y.sum(0), [1000] * 3, 0.7, outcomes=y)
    assert plain.status == joint.status == "reached"
    assert joint.low < joint.estimate < joint.high
    assert joint.high - joint.low < plain.high - plain.low


# ------------------------------------------------------------------ grid
def test_grid_below_range_says_start_lower(capsys: pytest.CaptureFixture[str]) -> None:
    model = crt(beta=1.5).set_simulations(60)
    result = model.find_sample_size(40, 60, by=10, target_test="treatment", unit="clusters")
    out = capsys.readouterr().out
    assert result.curve("treatment").status == "below range"
    assert "start lower: already 100.0%" in out and "first reached" not in out


def test_grid_outcomes_are_the_counts() -> None:
    result = crt().set_simulations(50).find_sample_size(
        10, 30, by=10, target_test="treatment", unit="clusters", correction="holm",
        print_results=False)
    outcomes = result.outcomes[:, :, 0]
    for i, p in enumerate(result.points):
        assert int((outcomes[i] == 1).sum()) == p.significant["treatment"]
        assert int((outcomes[i] >= 0).sum()) == p.n_success
    assert "95% CI" in str(result)


# ------------------------------------------------------------------ adaptive search
def test_search_finds_the_required_clusters() -> None:
    result = search(crt())
    lo, hi = result.required_units_ci["treatment"]
    assert result.status == "reached" and result.found.precise
    assert lo <= result.required_units["treatment"] <= hi
    assert lo <= exact_clusters() <= hi
    assert result.required_n["treatment"] == result.required_units["treatment"] * SIZE
    assert (hi - lo) / 2 <= 0.1 * result.required_units["treatment"] + 1
    assert result.n_simulations <= 20_000
    text = str(result)
    assert "needs" in text and "95% CI" in text and "clusters" in text


def test_search_statuses() -> None:
    below = search(crt(), lo=80, hi=120)
    assert below.status == "below range" and below.required_n["treatment"] is None
    assert "start lower: already" in str(below)
    beyond = search(crt(), lo=4, hi=12)
    assert beyond.status == "not reached" and beyond.required_n["treatment"] is None
    assert "not reached by 12 clusters" in str(beyond)
    short = search(crt(), precision=0.01, max_simulations=1000)
    assert not short.found.precise and short.n_simulations <= 1000 + 200
    assert "did not reach ±1%" in str(short)


def test_search_is_reproducible_whatever_the_threads_or_blocks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = search(crt(seed=11))
    again = search(crt(seed=11).set_parallel(True, 2))
    monkeypatch.setattr(run, "RUN_BLOCK", 7)
    blocks = search(crt(seed=11))
    for other in (again, blocks):
        assert other.required_n_ci == first.required_n_ci
        assert [(s.batch, s.value, s.result.n_significant) for s in other.found.steps] == \
            [(s.batch, s.value, s.result.n_significant) for s in first.found.steps]
    assert search(crt(seed=12)).found.steps != first.found.steps
    assert batch_seed(11, 1, 30) != batch_seed(11, 1, 31) != batch_seed(12, 1, 31)


def test_effect_size_search_finds_the_mde() -> None:
    model = crt(n_clusters=30)
    result = model.find_effect_size("treatment", 300, 0.05, 2.0, precision=0.1,
                                    print_results=False)
    se = math.sqrt((ICC / (1 - ICC) + 1 / SIZE) / (0.25 * 30))
    mde = optimize.brentq(lambda b: two_sided_power(b / se, 28, 0.05) - 0.8, 0.01, 5)
    lo, hi = result.mde_ci["treatment"]
    assert result.status == "reached" and lo <= mde <= hi
    assert "needs an effect of" in str(result)
    negative = model.find_effect_size("treatment", 300, -0.05, -2.0, precision=0.1,
                                      print_results=False)
    lo, hi = negative.mde_ci["treatment"]
    assert lo <= -mde <= hi and negative.mde["treatment"] < 0


@pytest.mark.parametrize(("call", "words"), [
    (lambda m: search(m, precision=0), ["precision=0", "fraction in (0, 1)"]),
    (lambda m: search(m, precision=1.5), ["precision=1.5", "whole number >= 1"]),
    (lambda m: search(m, max_simulations=10), ["max_simulations=10", "500"]),
    (lambda m: m.find_sample_size(6, 60, unit="clusters"), ["target_test='treatment, z'",
                                                             "name one of treatment, z"]),
    (lambda m: search(m, lo=20, hi=20), ["from_size=20", "to_size=20", "from_size < to_size"]),
    (lambda m: m.find_effect_size("treatment", 300, 0.5, -1.0),
     ["from_effect=0.5", "to_effect=-1", "same sign"]),
    (lambda m: m.find_effect_size("w", 300), ["target_test='w'"]),
    (lambda m: search(m, scenarios=True), ["scenarios=True", "give by="]),
    (lambda m: m.find_effect_size("treatment", 300, target_power=1.5), ["target_power=1.5"]),
])
def test_bad_search_input_is_named(call, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        call(crt(n_clusters=30) if "effect" in str(words) or "target_power" in str(words)
             else crt())
    for word in words:
        assert word in str(err.value)


# ------------------------------------------------------------------ cheapest design
def test_cheapest_design_for_a_target_and_for_a_budget() -> None:
    # Optimal Design's optimum: n = sqrt(cost ratio (1 - ICC) / ICC) = sqrt(30 * 5.67) = 13
    model = crt(beta=0.6)
    best = model.find_cheapest_design(300, 10, cluster_sizes=(5, 13, 40), precision=0.1,
                                      target_test="treatment", print_results=False)
    assert best.best is not None and best.best.cluster_size == 13
    for o in best.options:
        assert o.status == "reached" and o.cost == o.clusters * (300 + 10 * o.cluster_size)
        assert o.cost_ci[0] <= o.cost <= o.cost_ci[1]
    again = crt(beta=0.6).find_cheapest_design(300, 10, cluster_sizes=(5, 13, 40),
                                               precision=0.1, target_test="treatment",
                                               print_results=False)
    assert again.options == best.options
    spent = model.set_simulations(200).find_cheapest_design(
        300, 10, budget=12_000, cluster_sizes=(5, 13, 40), target_test="treatment",
        print_results=False)
    assert [o.clusters for o in spent.options] == [34, 27, 17]
    assert spent.best is not None and "budget of 12,000" in str(spent)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"cost_per_cluster": -1, "cost_per_observation": 1}, ["cost_per_cluster=-1", ">= 0"]),
    ({"cost_per_cluster": 1, "cost_per_observation": 1, "budget": "lots"}, ["budget='lots'"]),
    ({"cost_per_cluster": 1, "cost_per_observation": 1, "cluster_sizes": (0,)},
     ["cluster_sizes=0"]),
])
def test_bad_cost_input_is_named(kwargs: dict[str, object], words: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        crt().find_cheapest_design(**kwargs, print_results=False)
    for word in words:
        assert word in str(err.value)


def test_tutorial_example_07_says_start_lower(capsys: pytest.CaptureFixture[str]) -> None:
    """MCPower's example 07 (only the import changed): 100% power from the first size on."""
    import runpy
    from pathlib import Path

    script = Path(__file__).parent / "data" / "tutorial" / "07_find_sample_size.py"
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "start lower: already 100.0% (95% CI 99.0%–100.0%) at N = 500" in out
    assert "the required N is below it" in out and "first reached" not in out


def test_search_results_export_their_counts_and_answer() -> None:
    result = search(crt())
    ds = result.to_xarray()
    assert int(ds.n_sims.sum()) == result.n_simulations
    assert ds.n_clusters.dtype.kind == "i" and ds.n_clusters.attrs["units"] == "clusters"
    lo, hi = result.required_n_ci["treatment"]
    assert float(ds.required_n_lower.sel(test="treatment")) == lo
    assert float(ds.required_n_upper.sel(test="treatment")) == hi
    assert ds.attrs["search_status"] == "reached"
    mde = crt(n_clusters=30).find_effect_size("treatment", 300, -0.05, -2.0, precision=0.1,
                                               print_results=False).to_xarray()
    assert (mde["effect_treatment"] < 0).all() and float(mde.mde[0]) < 0
    assert "<table>" in result._repr_html_()
