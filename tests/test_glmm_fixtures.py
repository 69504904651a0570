"""The engine's GLMM fits against lme4's glmer on the fixtures' models G1a, G1b, G1c, G2.

Data and reference fits: tests/data/fixtures2 (``G*.csv`` and ``glmm_reference.json``,
the GLMM part of the shared fixtures' reference.json; README there): logit random
intercept (G1a) and correlated random slope (G1b), probit (G1c) and Poisson (G2), each
by Laplace and (random intercepts) adaptive Gauss–Hermite quadrature with 10 nodes.

Adaptive quadrature is held to the fixtures' tolerances.  For the Laplace fits lme4
evaluates its own objective inexactly: PIRLS stops at a relative change of 1e-7 in the
penalised deviance (``tolPwrss``) and log det L comes from the weights of the iteration
before the last, so its reported log-likelihood sits up to 3e-4 below the exact Laplace
value at its own estimates (checked below) and its finite-difference Hessian, hence its
SEs, carries that error too.  The engine computes the Laplace approximation at the exact
conditional modes, so for Laplace fits it is held to looser, stated tolerances.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcpower_sweep import GLMMFit, engine, fit_glmm
from mcpower_sweep.fit import model_frame

DATA = Path(__file__).parent / "data" / "fixtures2"
FITS = json.loads((DATA / "glmm_reference.json").read_text())["fits"]
CASES = sorted(FITS)
# Tolerances for lme4's inexact Laplace values (see the module docstring).
LAPLACE_LOGLIK_RTOL = 2e-6
LAPLACE_SE_RTOL = 1e-2
LAPLACE_VC_RTOL = 2e-3


def _fit(key: str) -> tuple[GLMMFit, dict]:
    ref = FITS[key]
    data = pd.read_csv(DATA / f"{ref['dataset']}.csv")
    fit = fit_glmm(ref["formula"], data, family=ref["family"], link=ref["link"], nagq=ref["nAGQ"])
    return fit, ref


def _close(got: list[float], expected: list[float], rtol: float, unit: list[float]) -> None:
    """Within ``rtol`` relative, or ``rtol`` times the quantity's natural unit near 0."""
    g, e = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    bad = ~(np.abs(g - e) <= rtol * np.maximum(np.abs(e), unit))
    assert not bad.any(), f"got {g[bad]}, expected {e[bad]} (rtol {rtol})"


@pytest.mark.parametrize("key", CASES)
def test_matches_glmer(key: str) -> None:
    fit, ref = _fit(key)
    laplace = ref["nAGQ"] == 1
    assert fit.converged
    assert fit.singular == ref["singular"]
    assert fit.n_obs == ref["nobs"] and fit.nagq == ref["nAGQ"]
    names = list(fit.coef)
    assert names == list(ref["fixed"])
    se_ref = [ref["se"][t] for t in names]
    # The objective: never worse than glmer's best optimiser (to rounding).
    expected_ll = ref["logLik_full"]
    assert fit.loglik >= expected_ll - 1e-8 * abs(expected_ll)
    rtol_ll = LAPLACE_LOGLIK_RTOL if laplace else 1e-6
    assert fit.loglik == pytest.approx(expected_ll, rel=rtol_ll)
    assert fit.lme4_loglik == pytest.approx(ref["logLik"], rel=rtol_ll)
    _close([fit.coef[t] for t in names], [ref["fixed"][t] for t in names], 1e-3, se_ref)
    _close([fit.se[t] for t in names], se_ref, LAPLACE_SE_RTOL if laplace else 1e-3, se_ref)
    _close([fit.z[t] for t in names], [ref["z"][t] for t in names],
           LAPLACE_SE_RTOL if laplace else 1e-3, [1.0] * len(names))
    # The covariance conditional on theta (lme4's RX) is not affected by the Hessian.
    _close(np.sqrt(np.diag(fit.vcov_rx)), [ref["se_from_RX"][t] for t in names], 1e-3, se_ref)
    group = ref["varcorr"]["cluster"]
    assert list(fit.re_names) == group["terms"]
    rtol_vc = LAPLACE_VC_RTOL if laplace else 1e-3
    # Near zero, a variance's unit is 0.01 (small next to the logistic's latent pi^2 / 3).
    if ref["singular"]:
        # On the boundary only the variances are identified, not the correlation.
        _close(np.diag(fit.re_cov), np.diag(group["cov"]), rtol_vc, [0.01])
    else:
        _close(fit.re_cov.ravel(), np.ravel(group["cov"]), rtol_vc, [0.01])


@pytest.mark.parametrize("key", [k for k in CASES if FITS[k]["nAGQ"] == 1])
def test_lme4_laplace_values_are_inexact(key: str) -> None:
    """lme4's reported Laplace log-likelihood is at most the exact one at its own estimates."""
    ref = FITS[key]
    frame = model_frame(ref["formula"], pd.read_csv(DATA / f"{ref['dataset']}.csv"))
    beta = [ref["fixed"][t] for t in frame.names]
    dev = engine.glmm_deviance(
        frame.X, frame.y, frame.codes, frame.n_groups, frame.random_columns, ref["theta"],
        beta, family=ref["family"], link=ref["link"],
    )
    exact = -0.5 * dev
    assert exact >= ref["logLik"] - 1e-8 * abs(ref["logLik"])
    assert exact - ref["logLik"] <= 4e-4


def test_engine_wrapper_returns_the_native_fields() -> None:
    ref = FITS["G2_2/G2/Laplace"]
    frame = model_frame(ref["formula"], pd.read_csv(DATA / f"{ref['dataset']}.csv"))
    out = engine.fit_glmm_data(
        frame.X, frame.y, frame.codes, frame.n_groups, frame.random_columns,
        family="poisson", link="log",
    )
    assert out["modes"].shape == (frame.n_groups, 1)
    assert out["saturated_loglik"] < 0 and math.isfinite(out["minus_two_loglik"])
