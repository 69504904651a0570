"""fit_lmm with several grouping factors against lme4 / lmerTest: the fixtures' L6 (pupils
in classes in schools, ``(1 | school/class)`` and ``(1 + x | school) + (1 | school:class)``)
and L7 (subjects x items, ``(1 | subject) + (1 | item)`` and a by-subject slope).

Data and reference fits: tests/data/fixtures2 (``L6_*.csv``, ``L7_*.csv``,
``reference_nested.json``: a copy of the shared fixtures, see the README there).
Tolerances are the fixtures' own, as for L1–L5 (tests/test_fixtures2.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcpower_sweep import LMMFit, MCPower, fit_lmm
from mcpower_sweep.design.formula import FormulaError, parse_formula, parse_mixed_formula

DATA = Path(__file__).parent / "data" / "fixtures2"
FITS = json.loads((DATA / "reference_nested.json").read_text())["fits"]
CASES = sorted(FITS)


def _fit(key: str) -> tuple[LMMFit, dict]:
    ref = FITS[key]
    data = pd.read_csv(DATA / f"{ref['dataset']}.csv")
    return fit_lmm(ref["formula"], data, estimator=ref["estimator"].lower()), ref


def _close(got, expected, rtol: float, unit) -> None:
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
    # lme4's groups, in lme4's order, with their levels and random effects.
    assert list(fit.varcorr) == list(ref["varcorr"])
    assert {g: v.n_levels for g, v in fit.varcorr.items()} == ref["ngrps"]
    for g, v in fit.varcorr.items():
        assert list(v.terms) == ref["varcorr"][g]["terms"]
    # The objective: never worse than lme4's best optimiser.
    assert fit.loglik >= ref["logLik"] - 1e-6 * abs(ref["logLik"])
    terms = list(ref["fixed"])
    assert list(fit.coef) == terms
    coef = np.array([fit.coef[t] for t in terms])
    ref_coef = np.array([ref["fixed"][t] for t in terms])
    ref_se = np.array([ref["se"][t] for t in terms])
    s2 = ref["residual_variance"]
    if ref["singular"]:
        _close(coef, ref_coef, 1e-3, ref_se)
        for g, v in fit.varcorr.items():
            zero = np.diag(ref["varcorr"][g]["cov"]) == 0
            np.testing.assert_allclose(np.diag(v.cov)[zero], 0, atol=1e-3 * s2)
        return
    np.testing.assert_allclose(fit.loglik, ref["logLik"], rtol=1e-6)
    _close(coef, ref_coef, 1e-4, ref_se)
    np.testing.assert_allclose([fit.se[t] for t in terms], ref_se, rtol=1e-4)
    np.testing.assert_allclose(
        [fit.df[t] for t in terms], [ref["df_satterthwaite"][t] for t in terms], rtol=0.01
    )
    np.testing.assert_allclose(fit.sigma2, s2, rtol=1e-3)
    for g, v in fit.varcorr.items():
        expected = np.array(ref["varcorr"][g]["cov"])
        _close(v.cov, expected, 1e-3, np.full(expected.shape, s2))
    _close(fit.theta, ref["theta"], 1e-3, 1.0)  # lme4's theta, in lme4's order


REML_CASES = [key for key in CASES if key.endswith("/REML")]


@pytest.mark.parametrize("key", REML_CASES)
def test_kenward_roger_matches_pbkrtest(key: str) -> None:
    """pbkrtest's adjusted SEs and df (lmerTest's ddf = "Kenward-Roger"), REML fits; the
    fixtures give them for singular fits too."""
    ref = FITS[key]
    data = pd.read_csv(DATA / f"{ref['dataset']}.csv")
    fit = fit_lmm(ref["formula"], data, df_method="kenward_roger")
    terms = list(ref["fixed"])
    _close([fit.se[t] for t in terms], [ref["se_kenward_roger"][t] for t in terms], 1e-4, 0)
    _close([fit.df[t] for t in terms], [ref["df_kenward_roger"][t] for t in terms], 0.01, 0)


def test_fixtures_cover_nested_crossed_and_singular() -> None:
    formulas = {ref["formula"] for ref in FITS.values()}
    assert any("/" in f for f in formulas) and any(":" in f for f in formulas)
    assert any("subject" in f and "item" in f for f in formulas)
    assert any(ref["singular"] for ref in FITS.values())
    assert len(CASES) == 24


def test_one_grouping_in_two_terms_is_the_uncorrelated_fit() -> None:
    """(1 | g) + (0 + x | g) is lme4's expansion of (1 + x || g): the general fit (two
    terms on one grouping) reproduces the one-grouping engine's optimum."""
    data = pd.read_csv(DATA / "L5_3.csv")
    general = fit_lmm("y ~ x + (1 | cluster) + (0 + x | cluster)", data)
    single = fit_lmm("y ~ x + (1 + x || cluster)", data)
    assert list(general.varcorr) == ["cluster", "cluster.1"]
    np.testing.assert_allclose(general.loglik, single.loglik, rtol=1e-9)
    np.testing.assert_allclose(list(general.coef.values()), list(single.coef.values()),
                               rtol=1e-6)
    np.testing.assert_allclose(list(general.se.values()), list(single.se.values()), rtol=1e-5)
    np.testing.assert_allclose(list(general.df.values()), list(single.df.values()), rtol=1e-4)
    np.testing.assert_allclose(np.diag(general.re_cov), np.diag(single.re_cov), rtol=1e-5)


def test_slash_is_the_explicit_interaction() -> None:
    data = pd.read_csv(DATA / "L6_2.csv")
    nested = fit_lmm("y ~ treatment + x + (1 | school/class)", data, reml=False)
    explicit = fit_lmm("y ~ treatment + x + (1 | school) + (1 | school:class)", data, reml=False)
    assert list(explicit.varcorr) == ["school:class", "school"]  # lme4 orders by levels
    np.testing.assert_allclose(nested.loglik, explicit.loglik, rtol=1e-12)
    assert nested.coef == pytest.approx(explicit.coef, rel=1e-9)


@pytest.mark.parametrize(
    ("formula", "groups"),
    [
        ("y ~ x + (1 | a/b)", [("b:a", ("a", "b"), (0,)), ("a", ("a",), (0,))]),
        ("y ~ x + (1 | a/b/c)", [("c:(b:a)", ("a", "b", "c"), (0,)), ("b:a", ("a", "b"), (0,)),
                                 ("a", ("a",), (0,))]),
        ("y ~ x + (1 + x || a/b)", [("b:a", ("a", "b"), (0,)), ("a", ("a",), (0,)),
                                    ("b:a", ("a", "b"), (1,)), ("a", ("a",), (1,))]),
        ("y ~ x + (1 + x | s) + (1 | i)", [("s", ("s",), (0, 1)), ("i", ("i",), (0,))]),
        ("y ~ x + (0 + x | s) + (1 | s:k)", [("s", ("s",), (1,)), ("s:k", ("s", "k"), (0,))]),
    ],
)
def test_random_terms_in_findbars_order(formula: str, groups: list) -> None:
    parsed = parse_mixed_formula(formula)
    assert [(t.name, t.factors, t.columns) for t in parsed.random] == groups
    assert not parsed.single
    assert parse_mixed_formula("y ~ x + (1 + x || g)").single


@pytest.mark.parametrize(
    ("formula", "token"),
    [("y ~ x + (1 | school/class)", "/"), ("y ~ x + (1 | school) + (1 | item)", "item")],
)
def test_one_grouping_parser_refuses_several_groupings(formula: str, token: str) -> None:
    """parse_formula reads one grouping factor; MCPower takes several (tests/
    test_groupings_sim.py)."""
    with pytest.raises(FormulaError, match="not supported yet in simulations") as info:
        parse_formula(formula)
    assert formula[info.value.position:].startswith(token)
    assert MCPower(formula).tests == ("x",)


@pytest.mark.parametrize(
    ("formula", "kwargs", "match"),
    [
        ("y ~ cond + (1 | subject) + (1 | item)", {"df_method": "between_within"},
         "not available with several random-effect terms"),
        ("y ~ cond + (1 | subject) + (1 | item)", {"df_method": "kenward_roger", "reml": False},
         "needs the REML estimator"),
        ("y ~ cond + (1 | subject:item) + (1 | item)", {}, "fewer levels than rows"),
        ("y ~ cond + (1 | subject) + (1 | cond)", {}, "also appears as a predictor"),
        ("y ~ cond + (1 | subject/item:cond)", {}, "mixing '/' and ':'"),
        ("y ~ cond + (1 | subject) + (1 | room)", {}, "no column 'room'"),
    ],
)
def test_bad_input(formula: str, kwargs: dict, match: str) -> None:
    data = pd.read_csv(DATA / "L7_1.csv")
    with pytest.raises(ValueError, match=match):
        fit_lmm(formula, data, **kwargs)


def test_an_interaction_grouping_is_the_combined_column() -> None:
    """(1 + x | school:class) alone goes through the general fit (one blocked term with a
    correlated slope) and equals the one-grouping engine on the combined column."""
    data = pd.read_csv(DATA / "L6_2.csv")
    general = fit_lmm("y ~ treatment + x + (1 + x | school:class)", data)
    data["sc"] = data["school"] + "_" + data["class"]
    single = fit_lmm("y ~ treatment + x + (1 + x | sc)", data)
    assert list(general.varcorr) == ["school:class"]
    np.testing.assert_allclose(general.loglik, single.loglik, rtol=1e-12)
    assert general.coef == pytest.approx(single.coef, rel=1e-6)
    assert general.df == pytest.approx(single.df, rel=1e-5)
    np.testing.assert_allclose(general.re_cov, single.re_cov, rtol=1e-5, atol=1e-8)
