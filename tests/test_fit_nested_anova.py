"""F tests of fits with several grouping factors against lmerTest (Satterthwaite).

The engine's F test of a term is that all its coefficients are zero: lmerTest's
``contestMD`` with the identity rows of those coefficients, which is what lmerTest's
``anova`` (type III) reports when no factor is in an interaction.

Reference: tests/data/fixtures2/nested_anova.json, made by tests/data/make_nested_anova.R
from the fixtures' L6 / L7 data with factors derived from their columns (the same rule
here): ``xq`` cuts the pupils' x at -0.5 and 0.5, ``blk`` groups the items by number
modulo 3.  Multi-df terms: a pupil-level factor and its interaction with a class-level
treatment (nested), an item-level factor and its interaction with a within-subject
condition (crossed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcpower_sweep import fit_lmm

DATA = Path(__file__).parent / "data" / "fixtures2"
FITS = json.loads((DATA / "nested_anova.json").read_text())["fits"]


def _data(dataset: str) -> pd.DataFrame:
    d = pd.read_csv(DATA / f"{dataset}.csv")
    if "x" in d:
        d["xq"] = np.where(d["x"] < -0.5, "lo", np.where(d["x"] < 0.5, "mid", "hi"))
    if "item" in d:
        d["blk"] = np.array(["a", "b", "c"])[d["item"].str[1:].astype(int) % 3]
    return d


@pytest.mark.parametrize("key", sorted(FITS))
def test_anova_matches_lmertest(key: str) -> None:
    ref = FITS[key]
    fit = fit_lmm(ref["formula"], _data(ref["dataset"]), estimator=ref["estimator"].lower())
    assert fit.singular == ref["singular"]
    np.testing.assert_allclose(fit.loglik, ref["logLik"], rtol=1e-6)
    terms = list(ref["fixed"])
    assert list(fit.coef) == terms
    np.testing.assert_allclose([fit.df[t] for t in terms], [ref["df"][t] for t in terms],
                               rtol=0.01)
    assert list(fit.anova) == list(ref["contest"])
    if "*" not in ref["formula"]:
        for term, row in ref["contest"].items():
            assert ref["anova"][term] == pytest.approx(row, rel=1e-8)
    for term, row in ref["contest"].items():
        got = fit.anova[term]
        assert got["num_df"] == row["num_df"]
        np.testing.assert_allclose(got["F"], row["F"], rtol=1e-4)
        np.testing.assert_allclose(got["den_df"], row["den_df"], rtol=0.01)
        np.testing.assert_allclose(got["pvalue"], row["pvalue"], rtol=0.01, atol=1e-12)


def test_z_and_residual_f_tests_use_the_wald_statistic() -> None:
    ref = FITS["L7_3 / y ~ cond * blk + (1 + cond | subject) + (1 | item) / REML"]
    data = _data("L7_3")
    sat = fit_lmm(ref["formula"], data)
    z = fit_lmm(ref["formula"], data, df_method="z")
    res = fit_lmm(ref["formula"], data, df_method="residual")
    for term in sat.anova:
        assert z.anova[term]["den_df"] == np.inf
        assert res.anova[term]["den_df"] == z.n_obs - len(z.coef)
        # contestMD's F is the Wald F (the contrasts are an eigenbasis of Var(L b))
        np.testing.assert_allclose(z.anova[term]["F"], sat.anova[term]["F"], rtol=1e-10)


KR_CASES = sorted(k for k, ref in FITS.items() if ref["estimator"] == "REML")


@pytest.mark.parametrize("key", KR_CASES)
def test_kenward_roger_f_matches_lmertest(key: str) -> None:
    """pbkrtest's KRmodcomp F, as lmerTest's contestMD(ddf = "Kenward-Roger")."""
    ref = FITS[key]
    fit = fit_lmm(ref["formula"], _data(ref["dataset"]), df_method="kenward_roger")
    for term, row in ref["contest_kenward_roger"].items():
        got = fit.anova[term]
        assert got["num_df"] == row["num_df"]
        np.testing.assert_allclose(got["F"], row["F"], rtol=1e-4)
        np.testing.assert_allclose(got["den_df"], row["den_df"], rtol=0.01)
        np.testing.assert_allclose(got["pvalue"], row["pvalue"], rtol=0.01, atol=1e-12)
