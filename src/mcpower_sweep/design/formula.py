"""Parse lme4-style mixed-model formulas into the pieces a :class:`SimulationSpec` needs.

The supported language is the part of lme4's syntax that describes one grouping factor
with a random intercept and random slopes::

    y ~ a + b                 main effects (intercept implied)
    y ~ a:b, y ~ a*b          interaction; ``a*b`` is ``a + b + a:b``
    y ~ 0 + a, y ~ a - 1      no fixed intercept
    (1 | g)                   random intercept
    (1 + a | g), (a | g)      correlated random intercept and slope
    (0 + a | g)               random slope without random intercept
    (1 + a || g)              uncorrelated random intercept and slope (lme4's ``||``)

Anything else raises :class:`FormulaError`, whose message quotes the formula with a caret
under the offending token.  Terms are ordered as R orders them (by degree, then by first
appearance), so names and order match lme4's ``fixef()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .syntax import FormulaError, Parser, Term, Token, find_name

__all__ = ["FormulaError", "ParsedFormula", "parse_formula"]

INTERCEPT = "(Intercept)"


@dataclass(frozen=True)
class ParsedFormula:
    """A parsed formula (see ``docs/contracts.md``).

    Examples
    --------
    >>> f = parse_formula("y ~ a*b + (1 + a|g)")
    >>> f.term_names
    ('(Intercept)', 'a', 'b', 'a:b')
    >>> f.random_columns
    (0, 1)
    >>> parse_formula("y ~ a + (1 + a || g)").uncorrelated
    True
    """

    text: str
    outcome: str
    predictors: tuple[str, ...]
    terms: tuple[tuple[int, ...], ...]
    term_names: tuple[str, ...]
    intercept: bool
    grouping: str | None
    random_intercept: bool
    random_slopes: tuple[str, ...]
    random_columns: tuple[int, ...]
    # ``||``: the random effects are uncorrelated (a diagonal covariance matrix).
    uncorrelated: bool = False

    @property
    def tests(self) -> tuple[str, ...]:
        """The fixed effects that are tested: every term but the intercept."""
        return self.term_names[1:] if self.intercept else self.term_names

    @property
    def has_random_part(self) -> bool:
        return self.grouping is not None


def _degree_order(terms: list[Term]) -> list[Term]:
    """Drop repeated terms (first occurrence wins), then order by degree as R does."""
    seen: dict[frozenset[str], Term] = {}
    for t in terms:
        seen.setdefault(t[0], t)
    return sorted(seen.values(), key=lambda t: len(t[0]))  # stable: keeps written order


def parse_formula(text: str) -> ParsedFormula:
    """Parse an lme4-style formula with at most one grouping factor.

    Parameters
    ----------
    text
        The formula, e.g. ``"y ~ treatment + motivation + (1 + treatment|site)"``.

    Returns
    -------
    ParsedFormula

    Raises
    ------
    FormulaError
        For anything outside the supported syntax, with the formula quoted and a caret
        under the offending token.

    Examples
    --------
    >>> f = parse_formula("outcome ~ treatment + motivation + (1 + treatment|site)")
    >>> f.term_names, f.grouping, f.random_slopes
    (('(Intercept)', 'treatment', 'motivation'), 'site', ('treatment',))
    """
    if not isinstance(text, str):
        raise TypeError(f"formula={text!r} must be a string such as 'y ~ x + (1|g)'")
    parser = Parser(text)
    outcome, fixed_raw, intercept, randoms = parser.formula()

    if len(randoms) > 1:
        first, second = randoms[0][0], randoms[1][0]
        if first.text == second.text:
            raise FormulaError(
                f"more than one random-effect term for {second.text!r}: put all random "
                f"effects in one term, e.g. (1 + x | {second.text})",
                text,
                second.pos,
            )
        raise FormulaError(
            f"more than one grouping factor ({first.text!r} and {second.text!r}): crossed and "
            "nested random effects are not supported yet; use one grouping factor",
            text,
            second.pos,
        )

    fixed = _degree_order(fixed_raw)
    if not fixed and not intercept:
        raise FormulaError("the fixed part has no terms and no intercept", text, None)

    predictors = list(parser.seen[False])
    predictors += [n for n in parser.seen[True] if n not in predictors]
    in_terms = set(predictors)
    random_terms: list[Term] = []
    grouping_tok: Token | None = None
    random_intercept = uncorrelated = False
    if randoms:
        grouping_tok, random_terms, random_intercept, uncorrelated = randoms[0]

    if outcome in in_terms:
        pos = find_name(parser, outcome, skip_first=True)
        raise FormulaError(f"the outcome {outcome!r} also appears as a predictor", text, pos)
    if grouping_tok is not None and grouping_tok.text in in_terms:
        raise FormulaError(
            f"the grouping factor {grouping_tok.text!r} also appears as a predictor",
            text,
            grouping_tok.pos,
        )
    if grouping_tok is not None and grouping_tok.text == outcome:
        raise FormulaError(f"the grouping factor {outcome!r} is the outcome", text,
                           grouping_tok.pos)

    index = {p: k for k, p in enumerate(predictors)}

    def columns(names: frozenset[str]) -> tuple[int, ...]:
        return tuple(sorted(index[n] for n in names))

    def label(cols: tuple[int, ...]) -> str:
        return ":".join(predictors[c] for c in cols)

    terms = tuple(columns(names) for names, _ in fixed)
    term_names = ((INTERCEPT,) if intercept else ()) + tuple(label(t) for t in terms)

    random_columns: list[int] = []
    random_slopes: list[str] = []
    if grouping_tok is not None:
        if random_intercept:
            if not intercept:
                raise FormulaError(
                    "a random intercept without a fixed intercept is not supported: remove "
                    "'0 +' / '- 1' from the fixed part or write (0 + x | g)",
                    text,
                    grouping_tok.pos,
                )
            random_columns.append(0)
        for names, pos in _degree_order(random_terms):
            name = label(columns(names))
            if name not in term_names:
                raise FormulaError(
                    f"the random slope {name!r} is not in the fixed part: add it as a fixed "
                    f"effect too (the fixed effect is the slope's average)",
                    text,
                    pos,
                )
            random_columns.append(term_names.index(name))
            random_slopes.append(name)

    return ParsedFormula(
        text=text,
        outcome=outcome,
        predictors=tuple(predictors),
        terms=terms,
        term_names=term_names,
        intercept=intercept,
        grouping=grouping_tok.text if grouping_tok is not None else None,
        random_intercept=random_intercept,
        random_slopes=tuple(random_slopes),
        random_columns=tuple(random_columns),
        uncorrelated=uncorrelated,
    )


