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

from .syntax import FormulaError, Parser, RandomPart, Term, Token, find_name

__all__ = [
    "FormulaError", "MixedFormula", "ParsedFormula", "RandomTerm", "parse_formula",
    "parse_mixed_formula",
]

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
        if _grouping_text(randoms[0]) == _grouping_text(randoms[1]):
            raise FormulaError(
                f"more than one random-effect term for {second.text!r}: put all random "
                f"effects in one term, e.g. (1 + x | {second.text})",
                text,
                second.pos,
            )
        raise FormulaError(
            f"more than one grouping factor ({first.text!r} and {second.text!r}): crossed and "
            "nested random effects are not supported yet in simulations (fit_lmm fits them); "
            "use one grouping factor",
            text,
            second.pos,
        )
    if randoms and randoms[0][4]:
        op = randoms[0][4][0][0]
        raise FormulaError(
            "nested grouping factors (g1/g2, g1:g2) are not supported yet in simulations "
            "(fit_lmm fits them); use one grouping factor",
            text,
            op.pos,
        )
    return _assemble(text, parser, outcome, fixed_raw, intercept, randoms[0] if randoms else None)


def _grouping_text(part: RandomPart) -> str:
    return part[0].text + "".join(op.text + tok.text for op, tok in part[4])


def _assemble(
    text: str,
    parser: Parser,
    outcome: str,
    fixed_raw: list[Term],
    intercept: bool,
    part: RandomPart | None,
) -> ParsedFormula:
    """The fixed part and (at most) one random part, checked, in R's term order."""
    fixed = _degree_order(fixed_raw)
    if not fixed and not intercept:
        raise FormulaError("the fixed part has no terms and no intercept", text, None)

    predictors = list(parser.seen[False])
    predictors += [n for n in parser.seen[True] if n not in predictors]
    in_terms = set(predictors)
    random_terms: list[Term] = []
    grouping_tok: Token | None = None
    random_intercept = uncorrelated = False
    group_tokens: list[Token] = []
    if part is not None:
        grouping_tok, random_terms, random_intercept, uncorrelated, nesting = part
        group_tokens = [grouping_tok] + [tok for _, tok in nesting]

    if outcome in in_terms:
        pos = find_name(parser, outcome, skip_first=True)
        raise FormulaError(f"the outcome {outcome!r} also appears as a predictor", text, pos)
    for tok in group_tokens:
        if tok.text in in_terms:
            raise FormulaError(
                f"the grouping factor {tok.text!r} also appears as a predictor", text, tok.pos
            )
        if tok.text == outcome:
            raise FormulaError(f"the grouping factor {outcome!r} is the outcome", text, tok.pos)

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




@dataclass(frozen=True)
class RandomTerm:
    """One random-effect term ``(columns | grouping)`` as lme4 builds it.

    ``factors`` are the data columns whose combination of values is the grouping
    (``("school", "class")`` for ``school:class``), ``name`` lme4's name of the group
    (``class:school`` for the inner term of ``school/class``) and ``columns`` the random
    effects, as indices into the fixed part's ``term_names``.
    """

    factors: tuple[str, ...]
    name: str
    columns: tuple[int, ...]


@dataclass(frozen=True)
class MixedFormula:
    """A formula with any number of random-effect terms (for :func:`fit_lmm`).

    ``fixed`` is the fixed part (its ``grouping`` is None) and ``random`` the terms in
    lme4's ``findbars`` order: ``a/b`` is ``b:a`` then ``a``, and ``(1 + x || g)`` is
    ``(1 | g)`` then ``(0 + x | g)``.

    Examples
    --------
    >>> f = parse_mixed_formula("y ~ x + (1 | school/class)")
    >>> [(t.name, t.factors, t.columns) for t in f.random]
    [('class:school', ('school', 'class'), (0,)), ('school', ('school',), (0,))]
    >>> [t.name for t in parse_mixed_formula("y ~ c + (1 + c | subj) + (1 | item)").random]
    ['subj', 'item']
    """

    fixed: ParsedFormula
    random: tuple[RandomTerm, ...]
    # One random part on one plain grouping factor: what parse_formula accepts.
    single: bool


def parse_mixed_formula(text: str) -> MixedFormula:
    """Parse an lme4 formula with nested (``a/b``, ``a:b``) and crossed groupings.

    Raises
    ------
    FormulaError
        As :func:`parse_formula`, for each random part on its own.
    """
    if not isinstance(text, str):
        raise TypeError(f"formula={text!r} must be a string such as 'y ~ x + (1|g)'")
    parser = Parser(text)
    outcome, fixed_raw, intercept, randoms = parser.formula()
    fixed = _assemble(text, parser, outcome, fixed_raw, intercept, None)
    terms: list[RandomTerm] = []
    for part in randoms:
        one = _assemble(text, parser, outcome, fixed_raw, intercept, part)
        factors = [part[0].text] + [tok.text for _, tok in part[4]]
        if part[4] and part[4][0][0].text == "/":
            names = [factors[0]]  # lme4's names: b:a, c:(b:a), ...
            for f in factors[1:]:
                names.append(f"{f}:{names[-1]}" if ":" not in names[-1] else f"{f}:({names[-1]})")
            groupings = [(tuple(factors[: i + 1]), names[i]) for i in reversed(range(len(factors)))]
        else:
            groupings = [(tuple(factors), ":".join(factors))]
        cols = one.random_columns
        for cs in [(c,) for c in cols] if one.uncorrelated else [cols]:
            terms.extend(RandomTerm(fs, name, cs) for fs, name in groupings)
    single = len(randoms) == 1 and not randoms[0][4]
    return MixedFormula(fixed=fixed, random=tuple(terms), single=single)
