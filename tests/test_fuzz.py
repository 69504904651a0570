"""Fuzzing with hypothesis: the formula parser and the engine over random valid designs.

The parser, given any text, returns a consistent :class:`ParsedFormula` or raises its own
:class:`FormulaError` (a ``ValueError``) -- never another exception.  The engine, given
any valid design, never crashes, never puts NaN into counts, and flags every failure:
a fit that did not converge has NaN estimates, a converged one finite estimates and
p-values in [0, 1].  The engine's spec, given any field values, is either refused with a
``ValueError`` when built or runs like a valid design.

The default runs are small (a few seconds); ``-m slow`` runs many more examples.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpower_sweep import _native, engine
from mcpower_sweep.api.model import MCPower
from mcpower_sweep.design.formula import FormulaError, ParsedFormula, parse_formula
from mcpower_sweep.design.spec import DF_METHODS, ESTIMATORS, Predictor, SimulationSpec

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENGINE_FAST = settings(max_examples=40, deadline=None,
                       suppress_health_check=[HealthCheck.too_slow])
ENGINE_SLOW = settings(max_examples=600, deadline=None,
                       suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------ the parser
NAMES = ["y", "x", "z", "a", "b", "g", "school", "x.1", "_w", "treatment"]
TOKENS = [*NAMES, "~", "+", "-", ":", "*", "|", "||", "(", ")", "/", "0", "1", "2", "1.5",
          " ", "  "]

# Characters a formula uses, plus some it must reject (unicode, tabs, quotes, operators).
formula_chars = st.text(
    alphabet=st.sampled_from(list("yxzabg ~+-:*|()/01._\t\n\"'^%é,;=#")), max_size=40
)
token_soup = st.lists(st.sampled_from(TOKENS), max_size=25).map("".join)


@st.composite
def near_valid(draw: st.DrawFn) -> str:
    """A valid formula from the grammar, then 0-3 token edits (delete, insert, swap)."""
    preds = draw(st.lists(st.sampled_from(["x", "z", "a", "b"]), min_size=1, max_size=3,
                          unique=True))
    fixed = [draw(st.sampled_from([p, *(f"{p}:{q}" for q in preds if q != p),
                                   *(f"{p}*{q}" for q in preds if q != p)])) for p in preds]
    if draw(st.booleans()):
        fixed.insert(0, draw(st.sampled_from(["0", "1"])))
    parts = ["y", "~", " + ".join(fixed)]
    if draw(st.booleans()):
        slopes = draw(st.lists(st.sampled_from(preds), max_size=2, unique=True))
        lead = draw(st.sampled_from(["1", "0", ""]))
        inner = " + ".join([t for t in [lead, *slopes] if t]) or "1"
        parts += ["+", "(", inner, "|", "g", ")"]
    tokens = " ".join(parts).split(" ")
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["delete", "insert", "swap"]))
        if op == "delete" and tokens:
            del tokens[draw(st.integers(0, len(tokens) - 1))]
        elif op == "insert":
            tokens.insert(draw(st.integers(0, len(tokens))), draw(st.sampled_from(TOKENS)))
        elif op == "swap" and len(tokens) > 1:
            i = draw(st.integers(0, len(tokens) - 2))
            tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    return " ".join(tokens)


def check_parse(text: str) -> ParsedFormula | None:
    """Parse ``text``: the result is consistent, or the error is the parser's own."""
    try:
        f = parse_formula(text)
    except FormulaError as err:
        assert isinstance(err, ValueError)
        assert err.formula == text
        assert err.position is None or 0 <= err.position <= len(text)
        assert err.reason and str(err)
        return None
    assert f.text == text
    assert f.outcome and f.outcome not in f.predictors
    n_pred, n_terms = len(f.predictors), len(f.term_names)
    for term in f.terms:
        assert term and list(term) == sorted(set(term))
        assert all(0 <= i < n_pred for i in term)
    assert n_terms == len(f.terms) + int(f.intercept)
    assert (f.term_names[0] == "(Intercept)") == f.intercept
    assert len(set(f.term_names)) == n_terms
    assert all(0 <= c < n_terms for c in f.random_columns)
    assert len(set(f.random_columns)) == len(f.random_columns)
    if f.grouping is None:
        assert not f.random_columns and not f.random_slopes
    else:
        assert f.random_columns and f.grouping not in f.predictors
        assert not f.random_intercept or f.intercept  # a random intercept needs a fixed one
        if f.intercept:
            assert (0 in f.random_columns) == f.random_intercept
        slopes = [f.term_names[c] for c in f.random_columns if f.term_names[c] != "(Intercept)"]
        assert tuple(slopes) == f.random_slopes
    return f


def check_model(text: str) -> None:
    """The API's entry point: MCPower(text) raises only the parser's or its own ValueError."""
    try:
        MCPower(text)
    except ValueError:
        pass


@FAST
@given(formula_chars)
def test_parser_random_characters(text: str) -> None:
    check_parse(text)
    check_model(text)


@FAST
@given(token_soup)
def test_parser_random_tokens(text: str) -> None:
    check_parse(text)
    check_model(text)


@FAST
@given(near_valid())
def test_parser_near_valid_formulas(text: str) -> None:
    check_parse(text)
    check_model(text)


@FAST
@given(st.text(max_size=60))
def test_parser_any_unicode(text: str) -> None:
    check_parse(text)


@pytest.mark.slow
@SLOW
@given(st.one_of(formula_chars, token_soup, near_valid(), st.text(max_size=80)))
def test_parser_many_examples(text: str) -> None:
    check_parse(text)
    check_model(text)


def test_parser_non_strings_are_type_errors() -> None:
    for value in (None, 5, b"y ~ x", ["y ~ x"]):
        with pytest.raises(TypeError, match="must be a string"):
            parse_formula(value)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the engine
@st.composite
def designs(draw: st.DrawFn) -> tuple[SimulationSpec, int, int]:
    """A small valid design (2-8 clusters of 5-12 rows), a seed and a start index."""
    n_pred = draw(st.integers(1, 3))
    names = ["x", "z", "w"][:n_pred]
    predictors = []
    for name in names:
        if draw(st.booleans()):
            p = draw(st.floats(0.02, 0.98))
            predictors.append(Predictor(name, "binary", p))
        else:
            predictors.append(Predictor(name))
    terms: list[tuple[int, ...]] = [(i,) for i in range(n_pred)]
    if n_pred >= 2 and draw(st.booleans()):
        terms.append((0, 1))
    term_names = ("(Intercept)", *(":".join(names[i] for i in t) for t in terms))
    slope_cols = draw(st.lists(st.integers(1, len(terms)), max_size=2, unique=True))
    intercept = draw(st.booleans()) or not slope_cols
    random_columns = tuple(([0] if intercept else []) + sorted(slope_cols))
    n_slopes = len(slope_cols)
    icc = draw(st.sampled_from([0.0, 0.05, 0.2, 0.5, 0.9])) if intercept else 0.0
    slope_variance = draw(st.sampled_from([0.0, 0.01, 0.1, 0.5])) if n_slopes else 0.0
    corr = 0.0
    if intercept and n_slopes:
        bound = 1.0 / math.sqrt(n_slopes) if n_slopes > 1 else 1.0
        corr = draw(st.floats(-bound, bound))
    n_clusters = draw(st.integers(2, 8))
    sample_size = draw(st.integers(5 * n_clusters, 12 * n_clusters))
    spec = SimulationSpec(
        formula="fuzz",
        outcome="y",
        predictors=tuple(predictors),
        terms=tuple(terms),
        term_names=term_names,
        effects=(0.0, *(draw(st.floats(-2, 2)) for _ in terms)),
        grouping="g",
        random_columns=random_columns,
        icc=icc,
        slope_variance=slope_variance,
        slope_intercept_corr=corr,
        n_clusters=n_clusters,
        sample_size=sample_size,
        estimator=draw(st.sampled_from(ESTIMATORS)),
        df_method=draw(st.sampled_from(DF_METHODS)),
        alpha=draw(st.sampled_from([0.01, 0.05, 0.2])),
    )
    try:
        spec.validate()
    except ValueError:
        from hypothesis import reject

        reject()  # e.g. too few rows for the fixed effects: not a valid design
    return spec, draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 10**12))


def check_engine(spec: SimulationSpec, seed: int, start: int, count: int = 6) -> None:
    r = engine.run_chunk(spec, seed, start, count, n_threads=1)
    p = len(spec.term_names)
    assert r.estimate.shape == r.se.shape == r.df.shape == r.pvalue.shape == (count, p)
    ok = r.converged
    assert not (r.singular & ~ok).any(), "a failed fit is flagged singular"
    for arr in (r.estimate, r.se, r.pvalue):
        assert np.isfinite(arr[ok]).all(), "a converged fit has a non-finite result"
        assert np.isnan(arr[~ok]).all(), "a failed fit has a non-NaN result"
    assert not np.isnan(r.df[ok]).any()
    assert ((r.pvalue[ok] >= 0) & (r.pvalue[ok] <= 1)).all()
    assert (r.se[ok] > 0).all()
    counts = engine.count_chunk(r, spec.alpha)
    assert counts.n_sims == count and 0 <= counts.n_success <= count
    assert 0 <= counts.n_singular <= counts.n_success
    assert counts.n_significant.dtype.kind == "i"
    assert ((counts.n_significant >= 0) & (counts.n_significant <= counts.n_success)).all()
    # the same simulations again, on two threads and as two chunks: identical
    again = engine.run_chunk(spec, seed, start, count, n_threads=2)
    np.testing.assert_array_equal(again.converged, r.converged)
    np.testing.assert_array_equal(again.estimate, r.estimate)
    tail = engine.run_chunk(spec, seed, start + 2, count - 2)
    np.testing.assert_array_equal(tail.pvalue, r.pvalue[2:])


@ENGINE_FAST
@given(designs())
def test_engine_random_designs(design: tuple[SimulationSpec, int, int]) -> None:
    check_engine(*design)


@pytest.mark.slow
@ENGINE_SLOW
@given(designs())
def test_engine_many_random_designs(design: tuple[SimulationSpec, int, int]) -> None:
    check_engine(*design, count=20)


# ------------------------------------------------------------------ the engine's spec
VALID_FIELDS = dict(
    predictor_binary=[False, True], predictor_p=[0.5, 0.3], terms=[[0], [1]],
    beta=[0.0, 0.3, 0.2], z_columns=[0, 1], re_cov=[0.2, 0.05, 0.05, 0.1],
    cluster_sizes=[6, 5, 7, 6], estimator=_native.Estimator.reml,
    df_method=_native.DfMethod.satterthwaite,
)
ints = st.integers(-2, 9)
FIELD_VALUES = {
    "predictor_binary": st.lists(st.booleans(), max_size=4),
    "predictor_p": st.lists(st.floats(-0.5, 1.5) | st.just(math.nan), max_size=4),
    "terms": st.lists(st.lists(ints, max_size=3), max_size=4),
    "beta": st.lists(st.floats(-1e3, 1e3), max_size=5),
    "z_columns": st.lists(ints, max_size=4),
    "re_cov": st.lists(st.floats(-1, 2) | st.just(math.nan), max_size=9),
    "cluster_sizes": st.lists(st.integers(-1, 8), max_size=6),
    "estimator": st.integers(-1, 3).map(_native.Estimator),
    "df_method": st.integers(-1, 5).map(_native.DfMethod),
}


@st.composite
def engine_fields(draw: st.DrawFn) -> dict[str, object]:
    """A valid design with one to three of its fields replaced by arbitrary values."""
    names = draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), min_size=1, max_size=3,
                          unique=True))
    return {**VALID_FIELDS, **{name: draw(FIELD_VALUES[name]) for name in names}}


@ENGINE_FAST
@given(engine_fields())
def test_engine_spec_refuses_or_runs(kw: dict[str, object]) -> None:
    try:
        es = _native.EngineSpec(**kw)
    except ValueError:
        return
    out = _native.run_chunk(es, 7, 0, 4)
    ok = out["converged"]
    assert np.isfinite(out["estimate"][ok]).all()
    assert np.isnan(out["estimate"][~ok]).all()
    assert ((out["pvalue"][ok] >= 0) & (out["pvalue"][ok] <= 1)).all()
