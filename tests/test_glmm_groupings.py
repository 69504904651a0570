"""fit_glmm with several grouping factors against glmer (Laplace, nAGQ = 1).

The references are tests/data/make_glmm_groupings.R's: five simulated data sets (logit
nested school/class, logit crossed subject x item, logit crossed with a correlated random
slope, Poisson nested, logit nested without cluster variation), two small crossed designs
whose random-slope fit is singular inside the term, and nine models (also probit, and
uncorrelated slopes ``||``), each fitted by glmer with bobyqa and Nelder_Mead at tolPwrss =
1e-12, the higher log-likelihood kept.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcpower_sweep import engine_fits, fit_glmm
from mcpower_sweep._native import GlmFamily, GlmLink, glmm_general_deviance
from mcpower_sweep.design.formula import parse_mixed_formula
from mcpower_sweep.fit_groupings import several_frame

DATA = Path(__file__).parent / "data" / "glmm_groupings"
REF = json.loads((DATA / "reference.json").read_text())
FORMULAS = {
    "nested_logit": "y ~ x + treat + (1 | school/class)",
    "crossed_logit": "y ~ cond + (1 | subject) + (1 | item)",
    "crossed_slope": "y ~ x + (1 + x | subject) + (1 | item)",
    "nested_poisson": "y ~ x + (1 | school/class)",
    "nested_probit": "y ~ x + treat + (1 | school/class)",
    "crossed_uncorrelated": "y ~ x + (1 + x || subject) + (1 | item)",
    "nested_null": "y ~ x + (1 | school/class)",
    "slope_singular": "y ~ condition + (1 + condition | subject) + (1 | item)",
    "slope_flip": "y ~ condition + (1 + condition | subject) + (1 | item)",
}
# glmer's best optimiser stops short of a boundary on a flat ridge here: its theta of
# subject.condition is 0.005 where 0 is better (test_glmer_stops_short_of_the_boundary);
# ours is at 0, so singular.  Everything else is compared as for the other fits.
FLAT = {"slope_flip": "subject.condition"}


def load(name: str) -> pd.DataFrame:
    """The data of reference ``name`` (or of a data set by its file name)."""
    return pd.read_csv(DATA / f"{REF[name]['data'] if name in REF else name}.csv")


@pytest.fixture(scope="module", params=list(FORMULAS))
def case(request):
    name = request.param
    ref = REF[name]
    fit = fit_glmm(FORMULAS[name], load(name), family=ref["family"], link=ref["link"])
    return name, ref["best"], fit


def test_formulas_match_the_r_script():
    for name, formula in FORMULAS.items():
        assert REF[name]["formula"].replace(" ", "") == formula.replace(" ", "")


def test_fixed_effects_and_standard_errors(case):
    name, ref, fit = case
    assert fit.converged and fit.singular == (ref["singular"] or name in FLAT)
    for term, value in ref["fixed"].items():
        assert fit.coef[term] == pytest.approx(value, rel=1e-3, abs=1e-5)
        assert fit.se[term] == pytest.approx(ref["se"][term], rel=1e-3)
        assert fit.pvalue[term] == pytest.approx(2 * (1 - _phi(abs(value / ref["se"][term]))),
                                                 rel=2e-2, abs=1e-8)
    # use.hessian = FALSE: the covariance conditional on theta (RX's)
    assert np.allclose(fit.vcov_rx, np.array(ref["vcov_rx"]), rtol=1e-3, atol=1e-9)


def test_loglik_and_variance_components(case):
    name, ref, fit = case
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    assert fit.lme4_loglik >= ref["logLik"] - 1e-7  # never worse than glmer's best
    assert list(fit.varcorr) == list(ref["varcorr"])
    for group, vc in ref["varcorr"].items():
        ours = fit.varcorr[group]
        assert list(ours.terms) == list(vc["terms"])
        assert np.allclose(ours.cov, np.array(vc["cov"]), rtol=1e-3, atol=1e-6)
    keep = [k != FLAT.get(name) for k in ref["theta"]]
    assert np.allclose(fit.theta[keep], np.array(list(ref["theta"].values()))[keep], rtol=1e-3,
                       atol=1e-5)
    assert fit.re_names == tuple(f"{g}.{t}" for g, vc in ref["varcorr"].items()
                                 for t in vc["terms"])


def test_objective_is_glmers_at_its_optimum(case):
    """The Laplace deviance at glmer's (theta, beta) is glmer's -2 logLik (same function).

    Up to glmer's inexact value: its PIRLS stops at tolPwrss and log det L comes from the
    previous iteration's weights (nested_probit: ours 4.4e-6 higher; the others < 2e-7).
    """
    name, ref, fit = case
    frame = several_frame(FORMULAS[name], parse_mixed_formula(FORMULAS[name]), load(name))
    family = GlmFamily.__members__[REF[name]["family"]]
    link = GlmLink.__members__[REF[name]["link"]]
    dev = glmm_general_deviance(frame.X, frame.y, frame.codes, frame.n_levels, frame.z_columns,
                                list(ref["theta"].values()), list(ref["fixed"].values()),
                                family=family, link=link)
    assert -0.5 * dev == pytest.approx(ref["logLik"], rel=2e-8)
    assert fit.deviance <= dev + 1e-8


def test_glmer_stops_short_of_the_boundary():
    """slope_flip: glmer's theta with subject.condition moved from 0.005 to 0 (ours) has
    the higher Laplace log-likelihood, so the boundary is the optimum."""
    name = "slope_flip"
    ref = REF[name]["best"]
    frame = several_frame(FORMULAS[name], parse_mixed_formula(FORMULAS[name]), load(name))
    theta = dict(ref["theta"])
    assert 0.001 < theta[FLAT[name]] < 0.01
    at = {}
    for value in (theta[FLAT[name]], 0.0):
        theta[FLAT[name]] = value
        at[value] = -0.5 * glmm_general_deviance(
            frame.X, frame.y, frame.codes, frame.n_levels, frame.z_columns, list(theta.values()),
            list(ref["fixed"].values()), family=GlmFamily.binomial, link=GlmLink.logit)
    assert at[0.0] > max(at.values()) - 1e-12
    fit = fit_glmm(FORMULAS[name], load(name))
    assert fit.theta[list(ref["theta"]).index(FLAT[name])] == 0.0
    assert fit.loglik >= at[0.0] - 1e-9


def test_one_term_agrees_with_the_one_grouping_fit():
    """The general engine given one term reproduces the one-grouping fit (glmm_fit.cpp)."""
    d = load("crossed_slope")
    one = fit_glmm("y ~ x + (1 + x | subject)", d)
    frame = several_frame("y ~ x + (1 + x | subject)",
                          parse_mixed_formula("y ~ x + (1 + x | subject)"), d)
    out = engine_fits.fit_glmm_general_data(frame.X, frame.y, frame.codes, frame.n_levels,
                                       frame.z_columns, family="binomial", link="logit")
    assert -0.5 * out["minus_two_loglik"] == pytest.approx(one.loglik, rel=1e-9)
    assert np.allclose(out["beta"], list(one.coef.values()), rtol=1e-4)
    assert np.allclose(np.sqrt(np.diag(out["vcov"])), list(one.se.values()), rtol=1e-4)


def test_separation_and_constant_outcomes_fail_without_nan_estimates():
    """An outcome that never varies, or a predictor that separates it: flagged, not a crash."""
    d = load("nested_logit")
    for y in (np.zeros(len(d)), d["treat"].to_numpy(float)):
        fit = fit_glmm(FORMULAS["nested_logit"], d.assign(y=y))
        assert not fit.converged
        assert all(np.isfinite(v) for v in fit.coef.values())


def test_unsupported_options_name_the_parameter():
    d = load("nested_logit")
    with pytest.raises(ValueError, match=r"nagq=5 is not allowed with several"):
        fit_glmm(FORMULAS["nested_logit"], d, nagq=5)
    with pytest.raises(ValueError, match=r"df_method='between_within' is not available"):
        fit_glmm(FORMULAS["nested_logit"], d, df_method="between_within")
    bad = d.assign(y=d["y"] * 2)
    with pytest.raises(ValueError, match=r"outcome 'y' = 2.0"):
        fit_glmm(FORMULAS["nested_logit"], bad)


def test_anova_and_str(case):
    """One Wald test per fixed term; a one-column term's F is its z squared."""
    name, _, fit = case
    frame = several_frame(FORMULAS[name], parse_mixed_formula(FORMULAS[name]), load(name))
    assert list(fit.anova) == list(frame.term_columns)
    for term, row in fit.anova.items():
        assert math.isinf(row["den_df"]) and row["num_df"] == 1
        assert row["F"] == pytest.approx(fit.z[term] ** 2, rel=1e-9)
        assert row["pvalue"] == pytest.approx(fit.pvalue[term], rel=1e-6)
    text = str(fit)
    assert "Laplace" in text and fit.grouping in text


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))
