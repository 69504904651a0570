"""The lme4 formula parser: supported syntax and pointed errors."""

from __future__ import annotations

import pytest

from mcpower_sweep.design.formula import FormulaError, parse_formula


def test_main_effects_with_random_intercept_and_slope():
    f = parse_formula("outcome ~ treatment + motivation + (1 + treatment|site)")
    assert f.outcome == "outcome"
    assert f.predictors == ("treatment", "motivation")
    assert f.terms == ((0,), (1,))
    assert f.term_names == ("(Intercept)", "treatment", "motivation")
    assert f.intercept
    assert f.grouping == "site"
    assert f.random_intercept
    assert f.random_slopes == ("treatment",)
    assert f.random_columns == (0, 1)
    assert f.tests == ("treatment", "motivation")


def test_no_random_part():
    f = parse_formula("y ~ a + b")
    assert f.grouping is None
    assert not f.has_random_part
    assert f.random_columns == ()
    assert f.term_names == ("(Intercept)", "a", "b")


@pytest.mark.parametrize(
    "text", ["y ~ a + (a|g)", "y ~ a + (1 + a|g)", "y ~ a + (a + 1|g)", "y~a+(1+a|g)"]
)
def test_random_intercept_is_implied_or_explicit(text):
    f = parse_formula(text)
    assert f.random_intercept
    assert f.random_columns == (0, 1)


@pytest.mark.parametrize("text", ["y ~ a + (0 + a|g)", "y ~ a + (a - 1|g)"])
def test_random_slope_without_random_intercept(text):
    f = parse_formula(text)
    assert not f.random_intercept
    assert f.random_slopes == ("a",)
    assert f.random_columns == (1,)


def test_random_intercept_only():
    f = parse_formula("y ~ x + (1|g)")
    assert f.random_intercept
    assert f.random_slopes == ()
    assert f.random_columns == (0,)


def test_star_expands_to_main_effects_and_interaction():
    f = parse_formula("y ~ a*b + (1|g)")
    assert f.term_names == ("(Intercept)", "a", "b", "a:b")
    assert f.terms == ((0,), (1,), (0, 1))


def test_three_way_star_orders_terms_by_degree_like_r():
    f = parse_formula("y ~ a*b*c")
    assert f.term_names[1:] == ("a", "b", "c", "a:b", "a:c", "b:c", "a:b:c")


def test_interaction_alone_and_degree_ordering():
    f = parse_formula("y ~ a:b + c")
    assert f.term_names == ("(Intercept)", "c", "a:b")
    assert f.predictors == ("a", "b", "c")
    assert f.terms == ((2,), (0, 1))


def test_interaction_named_in_order_of_first_appearance():
    f = parse_formula("y ~ b:a + a + (0 + a|g)")
    assert f.predictors == ("b", "a")
    assert f.term_names == ("(Intercept)", "a", "b:a")
    assert f.terms == ((1,), (0, 1))


def test_interaction_random_slope():
    f = parse_formula("y ~ a*b + (1 + a:b|g)")
    assert f.random_slopes == ("a:b",)
    assert f.random_columns == (0, 3)


@pytest.mark.parametrize(
    ("text", "uncorrelated"),
    [("y ~ x + (1 + x || g)", True), ("y ~ x + (1 + x | g)", False), ("y ~ x + (1 || g)", True)],
)
def test_double_bar_means_uncorrelated_random_effects(text, uncorrelated):
    f = parse_formula(text)
    assert f.uncorrelated is uncorrelated
    assert f.grouping == "g"
    assert f.random_columns == ((0, 1) if "1 + x" in text else (0,))


def test_repeated_terms_are_dropped():
    f = parse_formula("y ~ a + a + a:a + (1|g)")
    assert f.term_names == ("(Intercept)", "a")


def test_predictors_fixed_part_first():
    f = parse_formula("y ~ (1 + b|g) + a + b")
    assert f.predictors == ("a", "b")
    assert f.random_columns == (0, 2)


@pytest.mark.parametrize("text", ["y ~ 0 + a", "y ~ a - 1", "y ~ -1 + a", "y ~ a + 0"])
def test_fixed_intercept_removed(text):
    f = parse_formula(text)
    assert not f.intercept
    assert f.term_names == ("a",)
    assert f.tests == ("a",)


def test_explicit_fixed_intercept():
    assert parse_formula("y ~ 1 + a").term_names == ("(Intercept)", "a")


def test_names_with_dots_and_underscores():
    f = parse_formula("y.score ~ x_1 + pre.test + (1|school_id)")
    assert f.predictors == ("x_1", "pre.test")
    assert f.grouping == "school_id"


# ------------------------------------------------------------------ errors
def _caret_column(err: FormulaError) -> int:
    """Column of the caret relative to the quoted formula line."""
    lines = str(err).splitlines()
    formula_line, caret_line = lines[-2], lines[-1]
    indent = len(formula_line) - len(formula_line.lstrip())
    assert formula_line[indent:] == err.formula
    return caret_line.index("^") - indent


@pytest.mark.parametrize(
    ("text", "token", "words"),
    [
        ("y ~ a^2", "^", "unexpected character"),
        ("y ~ log(a)", "(", "function calls"),
        ("y ~ a + (1|g) + (1|h)", "h", "not supported yet"),
        ("y ~ a + (1|g/h)", "/", "nested"),
        ("y ~ a + (1|g:h)", ":", "nested"),
        ("y ~ a + (b|g)", "b", "not in the fixed part"),
        ("y ~ a + 2", "2", "only 0 and 1"),
        ("y ~ a - b", "b", "- 1"),
        ("y ~ a b", "b", "joined by '+'"),
        ("~ a", "~", "outcome"),
        ("y ~ y + a", "y + a", "outcome"),
        ("y ~ a + (1|a)", "a)", "grouping factor"),
        ("y ~ a + (1 + a|g) + (0 + a|g)", "g)", "more than one random-effect term"),
        ("y ~ (a + b)", ")", "random parts"),
        ("y ~ a*2", "2", "interaction"),
    ],
)
def test_errors_point_at_the_offending_token(text, token, words):
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert words in str(err)
    assert text in str(err)
    col = _caret_column(err)
    assert err.position == col
    # the caret sits on the token (search from the right for repeated names)
    assert text[col:].startswith(token) or text.rindex(token) == col


def test_more_than_one_grouping_factor_says_crossed_or_nested_not_supported():
    with pytest.raises(FormulaError, match="crossed and nested"):
        parse_formula("y ~ a + (1|school) + (1|class)")


@pytest.mark.parametrize(
    "text",
    ["", "y", "y ~", "y ~ 0", "y ~ a + (0|g)", "y ~ a + (|g)", "y ~ a + (1|g", "y ~ a + (1 + a",
     "y ~ a + (1|g + h)", "y ~ 0 + a + (1|g)", "y ~ a + (1 a|g)"],
)
def test_other_malformed_formulas(text):
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    assert text in str(info.value)


def test_non_string_formula():
    with pytest.raises(TypeError, match="formula"):
        parse_formula(42)  # type: ignore[arg-type]
