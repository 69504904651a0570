"""The engine's fits against lme4 / lmerTest / pbkrtest on the fixtures' models L1–L5.

Data and reference fits: tests/data/fixtures2 (a copy of the shared fixtures; README
there): a cluster-level treatment and covariate (L1, L2), a factor from a string column
(L3), three correlated random effects (L4) and uncorrelated ones, ``||`` (L5), with
unequal cluster sizes.  Tolerances are the fixtures' own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcpower_sweep import LMMFit, fit_lmm

DATA = Path(__file__).parent / "data" / "fixtures2"
FITS = json.loads((DATA / "reference.json").read_text())["fits"]
CASES = sorted(FITS)


def _fit(key: str, df_method: str = "satterthwaite") -> tuple[LMMFit, dict]:
    ref = FITS[key]
    data = pd.read_csv(DATA / f"{ref['dataset']}.csv")
    fit = fit_lmm(ref["formula"], data, estimator=ref["estimator"].lower(), df_method=df_method)
    return fit, ref


def _re_cov(fit: LMMFit, ref: dict) -> tuple[np.ndarray, np.ndarray]:
    """The engine's random-effect covariance and lme4's, both in the engine's term order.

    lme4 splits ``(1 + x || g)`` into one group per term (``cluster``, ``cluster.1``); the
    blocks are put together into one (diagonal) matrix.
    """
    names = list(fit.re_names)
    expected = np.zeros((len(names), len(names)))
    for group in ref["varcorr"].values():
        idx = [names.index(t) for t in group["terms"]]
        expected[np.ix_(idx, idx)] = group["cov"]
    return fit.re_cov, expected


def _close(got: np.ndarray, expected: np.ndarray, rtol: float, unit: np.ndarray) -> None:
    """Within ``rtol`` relative, or ``rtol`` times the quantity's natural unit near 0."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    bound = rtol * np.maximum(np.abs(expected), unit)
    bad = ~(np.abs(got - expected) <= bound)
    assert not bad.any(), f"got {got[bad]}, expected {expected[bad]} (rtol {rtol})"


@pytest.mark.parametrize("key", CASES)
def test_matches_lme4(key: str) -> None:
    fit, ref = _fit(key)
    assert fit.converged
    assert fit.singular == ref["singular"]
    assert fit.n_obs == ref["nobs"]
    # The objective: never worse than lme4's best optimiser.
    assert fit.loglik >= ref["logLik"] - 1e-6 * abs(ref["logLik"])
    terms = list(ref["fixed"])
    assert list(fit.coef) == terms  # lme4's names and order, factor levels included
    coef = np.array([fit.coef[t] for t in terms])
    ref_coef = np.array([ref["fixed"][t] for t in terms])
    ref_se = np.array([ref["se"][t] for t in terms])
    s2 = ref["residual_variance"]
    got, expected = _re_cov(fit, ref)
    if ref["singular"]:
        _close(coef, ref_coef, 1e-3, ref_se)
        zero = np.diag(expected) == 0
        np.testing.assert_allclose(np.diag(got)[zero], 0, atol=1e-3 * s2)
        return
    np.testing.assert_allclose(fit.loglik, ref["logLik"], rtol=1e-6)
    _close(coef, ref_coef, 1e-4, ref_se)
    np.testing.assert_allclose([fit.se[t] for t in terms], ref_se, rtol=1e-4)
    np.testing.assert_allclose(
        [fit.df[t] for t in terms], [ref["df_satterthwaite"][t] for t in terms], rtol=0.01
    )
    np.testing.assert_allclose(fit.sigma2, s2, rtol=1e-3)
    _close(got, expected, 1e-3, np.full(expected.shape, s2))


REML_CASES = [key for key in CASES if key.endswith("/REML")]


@pytest.mark.parametrize("key", REML_CASES)
def test_kenward_roger_matches_pbkrtest(key: str) -> None:
    """pbkrtest's adjusted SEs and df (lmerTest's ddf = "Kenward-Roger"), REML fits."""
    fit, ref = _fit(key, "kenward_roger")
    terms = list(ref["fixed"])
    assert all(np.isfinite(fit.df[t]) and fit.df[t] > 0 for t in terms)
    if ref["singular"]:  # the fixtures' rule: no df or SE targets at a boundary
        return
    _close([fit.se[t] for t in terms], [ref["se_kenward_roger"][t] for t in terms], 1e-4, 0)
    _close([fit.df[t] for t in terms], [ref["df_kenward_roger"][t] for t in terms], 0.01, 0)
    sat, _ = _fit(key)
    assert fit.coef == sat.coef  # the same fit, another test


def test_kenward_roger_needs_reml() -> None:
    data = pd.read_csv(DATA / "L1_1.csv")
    with pytest.raises(ValueError, match="kenward_roger' needs the REML estimator"):
        fit_lmm("y ~ treatment + x + (1 | cluster)", data, reml=False, df_method="kenward_roger")


def test_fixtures_cover_the_model_class() -> None:
    formulas = {ref["formula"] for ref in FITS.values()}
    assert any("||" in f for f in formulas)
    assert any("group" in f for f in formulas)
    assert any(ref["singular"] for ref in FITS.values())
    assert {ref["estimator"] for ref in FITS.values()} == {"REML", "ML"}


def test_factor_levels_from_a_categorical_column() -> None:
    """A categorical's own level order sets the reference level, as R's factor() does."""
    data = pd.read_csv(DATA / "L3_2.csv")
    fit = fit_lmm("y ~ group + x + (1 | cluster)", data)
    data["group"] = pd.Categorical(data["group"], categories=["c", "a", "b"])
    recoded = fit_lmm("y ~ group + x + (1 | cluster)", data)
    assert list(recoded.coef) == ["(Intercept)", "groupa", "groupb", "x"]
    assert recoded.coef["groupa"] == pytest.approx(-fit.coef["groupc"], rel=1e-6)
    assert recoded.loglik == pytest.approx(fit.loglik, rel=1e-10)


def test_uncorrelated_random_effects_have_zero_covariance() -> None:
    data = pd.read_csv(DATA / "L5_3.csv")
    fit = fit_lmm("y ~ x + (1 + x || cluster)", data)
    correlated = fit_lmm("y ~ x + (1 + x | cluster)", data)
    assert fit.re_cov[0, 1] == 0.0 and fit.re_cov[1, 0] == 0.0
    # The uncorrelated model is the correlated one restricted: it cannot fit better.
    assert fit.loglik <= correlated.loglik + 1e-8


@pytest.mark.parametrize(
    ("formula", "match"),
    [
        ("y ~ 0 + group + x + (1 | cluster)", "without a fixed intercept"),
        ("y ~ group + x + (1 + group | cluster)", "random slope of factor"),
    ],
)
def test_unsupported_factor_uses(formula: str, match: str) -> None:
    data = pd.read_csv(DATA / "L3_1.csv")
    with pytest.raises(ValueError, match=match):
        fit_lmm(formula, data)
