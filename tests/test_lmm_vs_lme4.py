"""The engine's fits against lme4 1.1.31 / lmerTest 3.1.3 on the reference data sets.

Data and reference fits: tests/data/lme4 (copied from the shared fixtures; README there).
Tolerances are the fixtures' own: fixed effects and SEs 1e-4 relative, variance
components 1e-3, Satterthwaite df 1%, log-likelihood 1e-6 relative; singular fits must be
flagged and reach an objective at least as good as lme4's best.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcpower_sweep import fit_lmm

DATA = Path(__file__).parent / "data" / "lme4"
REFERENCE = json.loads((DATA / "reference.json").read_text())
FORMULAS = {
    "slope": "y ~ treatment + motivation + (1 + treatment | cluster)",
    "intercept": "y ~ treatment + motivation + (1 | cluster)",
}
CASES = [
    (case, model, est)
    for case in sorted(REFERENCE)
    for model in FORMULAS
    for est in ("REML", "ML")
]


def _varcorr(ref: dict) -> dict[tuple[str | None, str | None], float]:
    return {(row["var1"], row["var2"]): row["vcov"] for row in ref["varcorr"]}


@pytest.mark.parametrize(("case", "model", "est"), CASES, ids=["-".join(c) for c in CASES])
def test_matches_lme4(case: str, model: str, est: str) -> None:
    ref = REFERENCE[case][f"{model}_{est}"]
    data = pd.read_csv(DATA / f"{case}.csv")
    fit = fit_lmm(FORMULAS[model], data, reml=(est == "REML"))
    assert fit.converged
    assert fit.singular == ref["singular"]
    # The objective: never worse than lme4's best optimum.
    assert fit.deviance <= ref["deviance_or_reml_crit"] * (1 + 1e-6)
    terms = list(ref["fixed"])
    coef = np.array([fit.coef[t] for t in terms])
    ref_coef = np.array([ref["fixed"][t] for t in terms])
    if ref["singular"]:
        np.testing.assert_allclose(coef, ref_coef, rtol=1e-3, atol=1e-6)
        return
    np.testing.assert_allclose(fit.loglik, ref["logLik"], rtol=1e-6)
    np.testing.assert_allclose(coef, ref_coef, rtol=1e-4)
    np.testing.assert_allclose([fit.se[t] for t in terms], [ref["se"][t] for t in terms], rtol=1e-4)
    np.testing.assert_allclose(
        [fit.df[t] for t in terms], [ref["df_satterthwaite"][t] for t in terms], rtol=0.01
    )
    np.testing.assert_allclose(
        [fit.pvalue[t] for t in terms], [ref["p_satterthwaite"][t] for t in terms], rtol=1e-2
    )
    vc = _varcorr(ref)
    np.testing.assert_allclose(fit.sigma2, vc[(None, None)], rtol=1e-3)
    names = fit.re_names
    for i, a in enumerate(names):
        np.testing.assert_allclose(fit.re_cov[i, i], vc[(a, None)], rtol=1e-3, atol=1e-8)
        for j in range(i):
            b = names[j]
            cov = vc.get((b, a), vc.get((a, b)))
            np.testing.assert_allclose(fit.re_cov[i, j], cov, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(fit.theta, ref["theta"], rtol=1e-3, atol=1e-5)


KR_CASES = [(case, model) for case in sorted(REFERENCE) for model in FORMULAS
            if not REFERENCE[case][f"{model}_REML"]["singular"]]


@pytest.mark.parametrize(("case", "model"), KR_CASES, ids=["-".join(c) for c in KR_CASES])
def test_kenward_roger_matches_pbkrtest(case: str, model: str) -> None:
    ref = REFERENCE[case][f"{model}_REML"]
    fit = fit_lmm(FORMULAS[model], pd.read_csv(DATA / f"{case}.csv"), df_method="kenward_roger")
    terms = list(ref["fixed"])
    np.testing.assert_allclose(
        [fit.se[t] for t in terms], [ref["se_kenward_roger"][t] for t in terms], rtol=1e-4
    )
    np.testing.assert_allclose(
        [fit.df[t] for t in terms], [ref["df_kenward_roger"][t] for t in terms], rtol=0.01
    )
    np.testing.assert_allclose(
        [fit.pvalue[t] for t in terms], [ref["p_kenward_roger"][t] for t in terms], rtol=1e-2
    )


def test_reference_has_hard_cases() -> None:
    assert {"c21", "c22"} <= set(REFERENCE)
    assert any(REFERENCE[c]["slope_REML"]["singular"] for c in REFERENCE)


@pytest.mark.parametrize("df_method", ["between_within", "residual", "z"])
def test_other_df_methods(df_method: str) -> None:
    data = pd.read_csv(DATA / "c04.csv")
    fit = fit_lmm(FORMULAS["slope"], data, df_method=df_method)
    n, j = len(data), data["cluster"].nunique()
    expected = {
        "between_within": {"(Intercept)": j - 1, "treatment": n - j - 2, "motivation": n - j - 2},
        "residual": dict.fromkeys(fit.coef, n - 3),
        "z": dict.fromkeys(fit.coef, np.inf),
    }[df_method]
    assert fit.df == pytest.approx(expected)
    sat = fit_lmm(FORMULAS["slope"], data)
    assert fit.coef == pytest.approx(sat.coef)


def test_pvalues_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    from mcpower_sweep import _native

    for t in (0.0, 0.3, 1.96, 4.0, 12.0):
        for df in (1.5, 3.0, 7.3, 29.0, 900.0, 1e6):
            expected = 2 * stats.t.sf(abs(t), df)
            assert _native.two_sided_p(t, df) == pytest.approx(expected, rel=1e-10, abs=1e-300)
        assert _native.two_sided_p(t, np.inf) == pytest.approx(2 * stats.norm.sf(t), rel=1e-10)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.assign(y=d["y"].where(d.index != 5)), "'y'.*row 5"),
        (lambda d: d.assign(cluster="only"), "1 level"),
        (lambda d: d.drop(columns="motivation"), "no column 'motivation'"),
    ],
    ids=["nan-in-outcome", "one-level", "missing-column"],
)
def test_bad_data_raises(mutate, match: str) -> None:
    data = mutate(pd.read_csv(DATA / "c01.csv"))
    with pytest.raises(ValueError, match=match):
        fit_lmm(FORMULAS["slope"], data)


def test_random_slope_not_in_fixed_part() -> None:
    data = pd.read_csv(DATA / "c01.csv")
    with pytest.raises(ValueError, match="motivation"):
        fit_lmm("y ~ treatment + (1 + motivation | cluster)", data)


def test_shape_mismatch() -> None:
    data = {"y": np.zeros(10), "x": np.zeros(9), "g": np.repeat([0, 1], 5)}
    with pytest.raises(ValueError, match="'x'"):
        fit_lmm("y ~ x + (1 | g)", data)
