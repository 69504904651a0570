"""A misspecified analysis: the model fitted to the data is not the one that made them.

``find_power(..., test_formula=...)`` generates every data set from the model's formula
and fits ``test_formula`` instead, so one can see what a wrong analysis does to the type-I
error and the power (for example a random slope left out of the analysis). The analysis
must be a sub-model of the true model: some fixed terms and random slopes dropped, the same
outcome and grouping. Two spellings are accepted:

- MCPower 1.4.1's: fixed effects only (``"score ~ treatment"``, or as MCPower 1.4.1 also
  takes them ``"treatment"`` and ``"score = treatment"``); the analysis keeps the true
  model's random part, as MCPower 1.4.1 does;
- with a random part (``"y ~ x + (1|g)"`` when the truth is ``(1 + x|g)``).

Examples
--------
>>> from mcpower_sweep import MCPower
>>> spec = (MCPower("y ~ x + z + (1 + x|g)").set_effects("x=0.2, z=0.3")
...         .set_cluster("g", ICC=0.2, n_clusters=10, random_slopes=["x"], slope_variance=0.1)
...         .to_spec(200))
>>> a = analysis_of("y ~ x + (1|g)", spec)
>>> a.columns, a.random_columns
((0, 1), (0,))
>>> analysis_of("y ~ x + z + (1 + x|g)", spec) is None  # the true model itself
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .factors import predictor_columns
from .formula import FormulaError, parse_formula

if TYPE_CHECKING:
    from .spec import SimulationSpec

__all__ = ["Analysis", "analysis_of", "with_analysis"]

ALLOWED = ("a sub-model of the model's formula with the same outcome: drop fixed terms "
           "and/or random slopes, keep the grouping factor (a fixed-effects formula such as "
           "'y ~ x' keeps the model's random part; ignoring the clustering altogether, an "
           "OLS analysis, is not supported)")


@dataclass(frozen=True)
class Analysis:
    """The fitted model as columns of the true model.

    ``columns``: the true model's fixed columns that are fitted (0, the intercept, first);
    ``random_columns``: the true fixed columns with a random effect in the analysis (each
    one of ``columns``); ``joint_tests``: the F tests of the analysis, as ``(name,
    positions in columns)``; ``formula``: ``test_formula`` (with its outcome and ``~``).
    """

    formula: str
    columns: tuple[int, ...]
    random_columns: tuple[int, ...]
    joint_tests: tuple[tuple[str, tuple[int, ...]], ...]


def _refuse(test_formula: str, what: str) -> ValueError:
    return ValueError(f"test_formula={test_formula!r}: {what}; allowed is {ALLOWED}")


def _column_variables(spec: SimulationSpec) -> list[frozenset[str]]:
    """The variables of each of the true model's fixed columns (empty for the intercept)."""
    index = predictor_columns(spec.predictors)
    return [frozenset()] + [frozenset(spec.predictors[index[v][0]].name for v in term)
                            for term in spec.terms]


def analysis_of(test_formula: str, spec: SimulationSpec) -> Analysis | None:
    """Check ``test_formula`` against the true model ``spec``; None when it is that model.

    Raises
    ------
    ValueError
        Naming ``test_formula``, the offending term and what is allowed.
    """
    if not isinstance(test_formula, str):
        raise _refuse(test_formula, "is not a formula string")
    if "~" not in test_formula:  # MCPower 1.4.1 also takes "x + z" and "y = x + z"
        lhs, _, rhs = test_formula.rpartition("=")
        test_formula = f"{lhs.strip() or spec.outcome} ~ {rhs.strip()}"
    try:
        f = parse_formula(test_formula)
    except FormulaError as e:
        raise ValueError(f"test_formula: {e}") from None
    if f.outcome != spec.outcome:
        raise _refuse(test_formula, f"its outcome {f.outcome!r} is not the model's "
                                    f"{spec.outcome!r}")
    if not f.intercept:
        raise _refuse(test_formula, "it has no fixed intercept ('0 +' or '- 1')")
    if f.uncorrelated:
        raise _refuse(test_formula, "uncorrelated random effects ('||') are not supported")
    variables = _column_variables(spec)

    def columns_of(names: frozenset[str], term: str, where: str) -> list[int]:
        cols = [c for c, v in enumerate(variables) if c and v == names]
        if not cols:
            raise _refuse(test_formula, f"the {where} {term!r} is not a term of the model "
                                        f"{spec.formula!r}")
        return cols

    kept = {0}
    for term, name in zip(f.terms, f.tests, strict=True):
        kept.update(columns_of(frozenset(f.predictors[i] for i in term), name, "fixed term"))
    columns = tuple(sorted(kept))
    if f.has_random_part:
        if f.grouping != spec.grouping:
            raise _refuse(test_formula, f"its grouping factor {f.grouping!r} is not the "
                                        f"model's {spec.grouping!r}")
        wanted = [0] if f.random_intercept else []
        for name in f.random_slopes:
            wanted += columns_of(frozenset(name.split(":")), name, "random slope")
        for c in wanted:
            if c not in spec.random_columns:
                what = "random intercept" if c == 0 else f"random slope {spec.term_names[c]!r}"
                raise _refuse(test_formula, f"the {what} is not in the model {spec.formula!r}")
    else:
        wanted = list(spec.random_columns)
    for c in wanted:
        if c not in kept:
            raise _refuse(test_formula, f"the random slope {spec.term_names[c]!r} needs its "
                                        "fixed term in the analysis: keep the term or drop "
                                        "the slope (write the random part, e.g. "
                                        f"'(1|{spec.grouping})')")
    random_columns = tuple(c for c in spec.random_columns if c in wanted)
    if columns == tuple(range(len(spec.term_names))) and random_columns == spec.random_columns:
        return None
    position = {c: k for k, c in enumerate(columns)}
    joint = tuple((name, tuple(position[c] for c in cols)) for name, cols in spec.joint_tests
                  if all(c in position for c in cols))
    return Analysis(test_formula, columns, random_columns, joint)


def with_analysis(spec: SimulationSpec, test_formula: str | None) -> SimulationSpec:
    """``spec`` fitted with ``test_formula`` (None, or the true model: ``spec`` itself)."""
    if test_formula is None:
        return spec
    return replace(spec, analysis=analysis_of(test_formula, spec))
