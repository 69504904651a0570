"""Degenerate GLMM designs (benchmarks/glmm_degenerate.py's, a few hundred simulations
each): no crash, no NaN or infinity in any converged simulation's results, failures
flagged and counted, and the power results finite."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "glmm_degenerate.py"
_SPEC = importlib.util.spec_from_file_location("glmm_degenerate", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
degenerate = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(degenerate)
DESIGNS = degenerate.designs()


@pytest.mark.parametrize("df_method", ["z", "between_within"])
@pytest.mark.parametrize("name", list(DESIGNS))
def test_no_nan_and_failures_flagged(name: str, df_method: str) -> None:
    model, n = DESIGNS[name]
    c = degenerate.check(model, n, df_method, 200, 7)
    assert c["nan_in_results"] == 0
    assert c["failed_with_values"] == 0
    if "separation" in name:  # separated data sets: flagged as failed fits, not results
        assert c["failed"] > 0.9 * c["sims"]
    else:
        assert c["failed"] < c["sims"]


@pytest.mark.parametrize("name", list(DESIGNS))
def test_power_results_are_finite(name: str) -> None:
    """Through find_power (failures allowed here): counted, power and its interval finite."""
    model, n = DESIGNS[name]
    model.set_simulations(60).set_seed(5).set_max_failed_simulations(1.0)
    r = model.find_power(n, df_method="between_within", print_results=False)
    assert r.n_simulations == 60 and 0 < r.n_success <= 60
    for t, p in r.power.items():
        assert math.isfinite(p) and all(map(math.isfinite, r.ci[t])), t
