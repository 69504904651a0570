"""MCPower 1.4.1's per-call keywords of find_power and find_sample_size (api/calls.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mcpower_sweep import MCPower
from mcpower_sweep.api.calls import RunCancelled


def _model() -> MCPower:
    return (MCPower("y ~ treatment + x + (1|school)")
            .set_cluster("school", ICC=0.1, n_clusters=12, cluster_level_vars=["treatment"])
            .set_variable_type("treatment=binary")
            .set_effects("treatment=0.5, x=0.2")
            .set_simulations(1000).set_seed(1).set_power(0.8))


def test_n_sims_and_seed_are_this_call_only() -> None:
    model = _model()
    per_call = model.find_power(240, n_sims=60, seed=5, verbose=False)
    set_first = _model().set_simulations(60).set_seed(5).find_power(240, print_results=False)
    assert per_call.n_simulations == 60 and per_call.seed == 5
    assert per_call.n_significant == set_first.n_significant
    assert (model.simulations, model.seed, model.target_power) == (1000, 1, 0.8)


def test_verbose_wins_over_print_results(capsys: pytest.CaptureFixture[str]) -> None:
    _model().find_power(240, n_sims=10, verbose=False)
    assert capsys.readouterr().out == ""
    _model().find_power(240, n_sims=10, print_results=False, verbose=True)
    assert "treatment" in capsys.readouterr().out


def test_progress_callback_sees_every_simulation_and_can_stop() -> None:
    seen: list[tuple[int, int]] = []
    result = _model().find_power(240, n_sims=45, verbose=False,
                                 progress_callback=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (45, 45) and all(t == 45 for _, t in seen)
    assert [d for d, _ in seen] == sorted({d for d, _ in seen}) and len(seen) > 5
    # Blocks never change a result: the same counts as one block.
    plain = _model().find_power(240, n_sims=45, verbose=False)
    assert result.n_significant == plain.n_significant
    with pytest.raises(RunCancelled, match="after 3 of 45 simulations"):
        _model().find_power(240, n_sims=45, verbose=False,
                            progress_callback=lambda done, total: False)


def test_progress_over_a_grid_counts_all_sizes() -> None:
    seen: list[tuple[int, int]] = []
    _model().find_sample_size(120, 360, by=120, n_sims=20, verbose=False,
                              progress_callback=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (60, 60) and np.all(np.diff([d for d, _ in seen]) > 0)


def test_progress_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    _model().find_power(240, n_sims=20, verbose=False, progress_callback=True)
    capsys.readouterr()  # a bar that finishes within a second is not drawn: no error only


def test_target_power_and_grid_modes() -> None:
    model = _model()
    grid = model.find_sample_size(120, 480, by=3, mode="log", target_power=70, n_sims=20,
                                  verbose=False)
    assert list(grid.sizes) == [120, 240, 480]
    assert grid.target_power == pytest.approx(0.7) and model.target_power == 0.8
    auto = model.find_sample_size(120, 1200, by="auto", n_sims=5, verbose=False)
    assert len(auto.sizes) == 12 and auto.sizes[0] == 120


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"n_sims": 0}, "n_sims"),
    ({"seed": -1}, "seed"),
    ({"wald_se": "sandwich"}, "wald_se='sandwich'"),
    ({"progress_callback": "yes"}, "progress_callback='yes'"),
])
def test_bad_keywords_are_named(kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        _model().find_power(240, verbose=False, **kwargs)


def test_bad_grid_keywords_are_named() -> None:
    with pytest.raises(ValueError, match="mode='exp'"):
        _model().find_sample_size(120, 480, by=3, mode="exp", verbose=False)
    with pytest.raises(ValueError, match="by='some'"):
        _model().find_sample_size(120, 480, by="some", verbose=False)
    with pytest.raises(ValueError, match="target_power"):
        _model().find_sample_size(120, 480, by=120, target_power=150, verbose=False)


def test_wald_se_rx_is_refused_for_a_glmm_only() -> None:
    _model().find_power(240, n_sims=5, verbose=False, wald_se="rx")  # an LMM: changes nothing
    logit = (MCPower("y ~ x + (1|g)", family="logit").set_baseline_probability(0.3)
             .set_cluster("g", ICC=0.1, n_clusters=10).set_effects("x=0.3"))
    with pytest.raises(ValueError, match="wald_se='rx'.*hessian"):
        logit.find_power(300, n_sims=5, verbose=False, wald_se="rx")
    assert logit.find_power(300, n_sims=5, verbose=False, wald_se="hessian").n_simulations == 5
