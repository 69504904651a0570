"""Factor predictors: their levels, dummy columns, and the joint test of each factor term.

A factor with K levels enters the model as K - 1 dummy columns coded against its first
level (R's treatment contrasts), named as MCPower 1.4.1 names them: ``group[2]``,
``group[3]``, and ``group[2]:x`` in an interaction.  Besides each dummy's own t test, a
factor term gets a joint F test of all its dummies, named as the formula writes the term
(``group``, ``group:x``); a 2-level factor has one dummy, whose t test is that test.

:func:`expand` turns a parsed formula and the predictors' types into the fixed-effect
columns the engine simulates: each term a tuple of *predictor columns* (a normal or
binary predictor is one column, a factor its dummies), in the formula's order.

Examples
--------
>>> from mcpower_sweep.design.formula import parse_formula
>>> from mcpower_sweep.design.predictors import Predictor
>>> f = parse_formula("y ~ group*x + (1|g)")
>>> types = {"group": Predictor("group", "factor", proportions=(0.5, 0.3, 0.2)),
...          "x": Predictor("x")}
>>> e = expand(f, types)
>>> e.term_names
('(Intercept)', 'group[2]', 'group[3]', 'x', 'group[2]:x', 'group[3]:x')
>>> e.joint_tests
(('group', (1, 2)), ('group:x', (4, 5)))
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

from .formula import INTERCEPT, FormulaError, ParsedFormula
from .predictors import Predictor

# MCPower 1.4.1 accepts 2 to 20 levels; so do we.
MIN_LEVELS, MAX_LEVELS = 2, 20
# Proportions must add up to 1 within this (so 0.2, 0.3, 0.5 typed by hand pass).
SUM_TOLERANCE = 1e-6


def level_name(factor: str, level: int, labels: tuple[str, ...] = ()) -> str:
    """The dummy column of ``level`` (1-based; level 1 is the reference): ``group[2]``, or
    with the levels' ``labels`` (from data) the level's label, ``cyl[6]``."""
    return f"{factor}[{labels[level - 1] if labels else level}]"


def check_proportions(name: str, proportions: tuple[float, ...], text: str) -> tuple[float, ...]:
    """Positive level proportions adding up to 1, 2 to 20 of them (error naming them).

    Examples
    --------
    >>> check_proportions("g", (0.5, 0.3, 0.2), "factor(0.5, 0.3, 0.2)")
    (0.5, 0.3, 0.2)
    >>> check_proportions("g", (0.5, 0.3, 0.3), "(factor,0.5,0.3,0.3)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: set_variable_type: g=(factor,0.5,0.3,0.3): ... add up to 1.1, not 1: ...
    """
    k = len(proportions)
    if not MIN_LEVELS <= k <= MAX_LEVELS:
        raise ValueError(f"set_variable_type: {name}={text} has {k} level(s): a factor needs "
                         f"{MIN_LEVELS} to {MAX_LEVELS} levels")
    if not all(math.isfinite(p) and p > 0.0 for p in proportions):
        raise ValueError(f"set_variable_type: {name}={text}: every level proportion must be "
                         f"positive, got {', '.join(f'{p:g}' for p in proportions)}")
    total = math.fsum(proportions)
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"set_variable_type: {name}={text}: the level proportions "
                         f"{', '.join(f'{p:g}' for p in proportions)} add up to {total:g}, "
                         "not 1: give proportions that sum to 1, or factor(k) for k equal "
                         "levels")
    return tuple(float(p) for p in proportions)


def balanced_counts(proportions: tuple[float, ...], n: int) -> tuple[int, ...]:
    """Units per level of a balanced factor among ``n``: round(p_k n) (halves up) for
    levels 2..K, the rest to level 1 (the engine's rule, ``native/simulate.cpp``).

    Examples
    --------
    >>> balanced_counts((0.5, 0.3, 0.2), 10), balanced_counts((0.5, 0.25, 0.25), 6)
    ((5, 3, 2), (2, 2, 2))
    """
    rest = [math.floor(p * n + 0.5) for p in proportions[1:]]
    return (n - sum(rest), *rest)


def check_balanced_factor(p: Predictor, units: list[int], what: str) -> None:
    """Refuse a balanced factor that leaves a level without units somewhere.

    Examples
    --------
    >>> g = Predictor("g", "factor", allocation="balanced", proportions=(0.8, 0.1, 0.1))
    >>> check_balanced_factor(g, [4], "observations in a cluster")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: set_variable_type: g=factor(0.8, 0.1, 0.1, balanced) gives 4, 0, 0 of 4 ...
    """
    for n in units:
        counts = balanced_counts(p.proportions, n)
        if min(counts) < 1:
            raise ValueError(
                f"set_variable_type: {p.name}={p.type_text()} gives "
                f"{', '.join(map(str, counts))} of {n} {what} to its levels, so a level is "
                f"never observed there: use proportions with round(p x {n}) >= 1 for every "
                "level, or larger units")


@dataclass(frozen=True)
class Expanded:
    """The fixed-effect columns of a formula with its factors expanded.

    ``terms[t]`` are predictor-column indices (see :func:`predictor_columns`) whose
    product is fixed column ``t + 1``; ``random_columns`` index ``term_names``;
    ``joint_tests`` are ``(name, fixed columns)`` of every term with several columns.
    """

    terms: tuple[tuple[int, ...], ...]
    term_names: tuple[str, ...]
    random_columns: tuple[int, ...]
    joint_tests: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def tests(self) -> tuple[str, ...]:
        """Every test: each fixed effect but the intercept, then the joint ones."""
        return self.term_names[1:] + tuple(name for name, _ in self.joint_tests)


def predictor_columns(predictors: tuple[Predictor, ...] | list[Predictor]
                      ) -> list[tuple[int, int]]:
    """``(predictor index, level)`` of each predictor column: level 0 for a normal or
    binary predictor, 2..K for a factor's dummies.

    Examples
    --------
    >>> predictor_columns([Predictor("x"), Predictor("g", "factor", proportions=(.5, .5))])
    [(0, 0), (1, 2)]
    """
    out = []
    for i, p in enumerate(predictors):
        out += [(i, lv) for lv in range(2, len(p.proportions) + 1)] if p.kind == "factor" \
            else [(i, 0)]
    return out


def column_names(predictors: tuple[Predictor, ...] | list[Predictor]) -> list[str]:
    """The name of each predictor column (a factor's dummies as ``group[2]``).

    Examples
    --------
    >>> column_names([Predictor("x"), Predictor("g", "factor", proportions=(.5, .3, .2))])
    ['x', 'g[2]', 'g[3]']
    """
    return [level_name(predictors[i].name, lv, predictors[i].labels) if lv else predictors[i].name
            for i, lv in predictor_columns(predictors)]


def expand(f: ParsedFormula, types: Mapping[str, Predictor]) -> Expanded:
    """The formula's fixed-effect columns with each factor as its dummies.

    Without factors this is the formula's own terms and names.  A random slope of a
    factor term is refused (not supported yet).
    """
    preds = [types[name] for name in f.predictors]
    first: list[int] = []  # each predictor's first column
    n_columns = 0
    for p in preds:
        first.append(n_columns)
        n_columns += len(p.proportions) - 1 if p.kind == "factor" else 1
    terms: list[tuple[int, ...]] = []
    names: list[str] = [INTERCEPT] if f.intercept else []
    start: dict[int, tuple[int, int]] = {}  # formula term -> (first fixed column, width)
    joint: list[tuple[str, tuple[int, ...]]] = []
    offset = len(names)
    for k, (term, label) in enumerate(zip(f.terms, f.tests, strict=True)):
        options = [range(2, len(preds[i].proportions) + 1) if preds[i].kind == "factor"
                   else (0,) for i in term]
        columns = list(itertools.product(*options))
        start[k + offset] = (len(names), len(columns))
        if len(columns) > 1:
            joint.append((label, tuple(range(len(names), len(names) + len(columns)))))
        for levels in columns:
            terms.append(tuple(first[i] + (lv - 2 if lv else 0) for i, lv in zip(term, levels,
                                                                                  strict=True)))
            names.append(":".join(level_name(preds[i].name, lv, preds[i].labels) if lv
                                  else preds[i].name
                                  for i, lv in zip(term, levels, strict=True)))
    random_columns = []
    for c in f.random_columns:
        if c == 0:
            random_columns.append(0)
            continue
        col, _ = start[c]
        if any(preds[i].kind == "factor" for i in f.terms[c - offset]):
            raise FormulaError(f"a random slope of the factor term {f.term_names[c]!r} is not "
                               "supported yet: remove it from the random part", f.text)
        random_columns.append(col)
    return Expanded(tuple(terms), tuple(names), tuple(random_columns), tuple(joint))
