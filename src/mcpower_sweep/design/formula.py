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

import re
from dataclasses import dataclass
from itertools import combinations

__all__ = ["FormulaError", "ParsedFormula", "parse_formula"]

INTERCEPT = "(Intercept)"

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<name>[A-Za-z_.][A-Za-z0-9_.]*)
  | (?P<number>[0-9]+(?:\.[0-9]*)?)
  | (?P<op>\|\||[~+\-:*|()/])
    """,
    re.VERBOSE,
)


class FormulaError(ValueError):
    """A formula that cannot be parsed; the message points at the offending token.

    Attributes
    ----------
    formula
        The formula text.
    position
        Column (0-based) of the offending token, or ``None`` for whole-formula problems.
    """

    def __init__(self, message: str, formula: str, position: int | None = None) -> None:
        self.formula = formula
        self.position = position
        self.reason = message
        text = f"{message}\n    {formula}"
        if position is not None:
            text += "\n    " + " " * position + "^"
        super().__init__(text)


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


@dataclass(frozen=True)
class _Token:
    kind: str  # "name", "number", "op", "end"
    text: str
    pos: int


# A term as written: the set of variable names multiplied together, and where it starts.
_Term = tuple[frozenset[str], int]
# A random part as written: grouping token, terms, random intercept, uncorrelated ('||').
_RandomPart = tuple[_Token, list[_Term], bool, bool]


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FormulaError(
                f"unexpected character {text[pos]!r}: only names, numbers 0 and 1, "
                "'~', '+', '-', ':', '*', '|' and parentheses are supported",
                text,
                pos,
            )
        kind = m.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append(_Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the token list; every error carries a token position."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.in_random = False
        # variable names in order of first appearance, fixed part and random part
        self.seen: dict[bool, list[str]] = {False: [], True: []}

    # ---------------------------------------------------------------- helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def error(self, message: str, tok: _Token | None = None) -> FormulaError:
        tok = tok if tok is not None else self.tok
        return FormulaError(message, self.text, tok.pos)

    def advance(self) -> _Token:
        tok = self.tok
        self.i += 1
        return tok

    def at(self, text: str) -> bool:
        return self.tok.kind == "op" and self.tok.text == text

    def expect(self, text: str, what: str) -> _Token:
        if not self.at(text):
            found = repr(self.tok.text) if self.tok.kind != "end" else "the end of the formula"
            raise self.error(f"expected {what}, found {found}")
        return self.advance()

    def name(self, what: str) -> _Token:
        tok = self.tok
        if tok.kind != "name":
            found = repr(tok.text) if tok.kind != "end" else "the end of the formula"
            raise self.error(f"expected {what}, found {found}")
        self.advance()
        if self.at("("):
            raise self.error(
                f"function calls such as {tok.text}(...) are not supported: "
                "use a plain variable name"
            )
        return tok

    # ---------------------------------------------------------------- grammar
    def formula(self) -> tuple[str, list[_Term], bool, list[_RandomPart]]:
        if self.tok.kind == "end":
            raise FormulaError("the formula is empty: write it as 'y ~ x + (1|g)'", self.text, 0)
        outcome = self.name("the outcome name before '~'").text
        self.expect("~", "'~' after the outcome")
        return (outcome, *self.rhs())

    def rhs(self) -> tuple[list[_Term], bool, list[_RandomPart]]:
        """Fixed terms, fixed intercept, random parts."""
        fixed: list[_Term] = []
        intercept = True
        randoms: list[_RandomPart] = []
        first = True
        while True:
            if self.tok.kind == "end" and first:
                raise self.error("nothing after '~': add at least one term, e.g. 'y ~ x'")
            if self.at("-"):
                self.minus_one()
                intercept = False
            else:
                if not first:
                    self.expect("+", "'+' between terms")
                if self.at("-"):
                    raise self.error("'+ -' is not valid: write '- 1' to drop the intercept")
                if self.at("("):
                    randoms.append(self.random_part())
                else:
                    const = self.constant()
                    if const is not None:
                        intercept = const
                    else:
                        fixed.extend(self.product())
            first = False
            if self.tok.kind == "end":
                return fixed, intercept, randoms
            if not (self.at("+") or self.at("-")):
                raise self.error(f"unexpected {self.tok.text!r}: terms are joined by '+'")

    def minus_one(self) -> None:
        self.expect("-", "'-'")
        tok = self.tok
        if tok.kind == "number" and tok.text in ("1", "1.0"):
            self.advance()
            return
        raise self.error("only '- 1' (drop the intercept) may follow '-'; removing terms "
                         "is not supported", tok)

    def constant(self) -> bool | None:
        """``1`` (keep the intercept) or ``0`` (drop it); ``None`` if not a number."""
        tok = self.tok
        if tok.kind != "number":
            return None
        self.advance()
        if float(tok.text) == 1.0:
            return True
        if float(tok.text) == 0.0:
            return False
        raise self.error(f"the number {tok.text} is not a term: only 0 and 1 are allowed", tok)

    def product(self) -> list[_Term]:
        """``a``, ``a:b`` or ``a*b*...`` (``*`` expands to all lower-order terms)."""
        factors = [self.interaction()]
        while self.at("*"):
            self.advance()
            if self.tok.kind == "number":
                raise self.error("a number cannot be part of an interaction")
            factors.append(self.interaction())
        if len(factors) == 1:
            return factors
        expanded: list[_Term] = []
        for k in range(1, len(factors) + 1):
            for combo in combinations(factors, k):
                expanded.append((frozenset().union(*(f[0] for f in combo)), combo[0][1]))
        return expanded

    def interaction(self) -> _Term:
        start = self.tok.pos
        names = [self.name("a variable name").text]
        while self.at(":"):
            self.advance()
            names.append(self.name("a variable name after ':'").text)
        seen = self.seen[self.in_random]
        seen.extend(n for n in names if n not in seen)
        return frozenset(names), start

    def random_part(self) -> _RandomPart:
        open_tok = self.expect("(", "'('")
        if self.at("("):
            raise self.error("nested parentheses are not supported")
        self.in_random = True
        terms: list[_Term] = []
        intercept = True
        first = True
        while not self.at("|"):
            if self.tok.kind == "end":
                raise self.error("missing '| group' and ')' in the random part", open_tok)
            if self.at("||"):
                break
            if self.at("-"):
                self.minus_one()
                intercept = False
            else:
                if not first:
                    self.expect("+", "'+' or '|'")
                const = self.constant()
                if const is not None:
                    intercept = const
                else:
                    terms.extend(self.product())
            first = False
            if not (self.at("+") or self.at("-") or self.at("|") or self.at("||")):
                if self.at(")"):
                    raise self.error("parentheses only enclose random parts such as "
                                     "(1 + x | group); this one has no '|'")
                if self.tok.kind == "end":
                    raise self.error("missing '| group' and ')' in the random part", open_tok)
                raise self.error(f"unexpected {self.tok.text!r} in the random part: "
                                 "write it as (1 + x | group)")
        if first:
            raise self.error("the random part has no terms before '|': write (1 | group)")
        uncorrelated = self.at("||")
        self.advance()
        group = self.name("the grouping factor after '|'")
        if self.at("/") or self.at(":"):
            raise self.error("nested grouping factors (g1/g2, g1:g2) are not supported yet: "
                             "use one grouping factor")
        if self.at("+") or self.at("*"):
            raise self.error("only one grouping factor may follow '|'")
        self.expect(")", "')' closing the random part")
        self.in_random = False
        if not terms and not intercept:
            raise self.error("the random part has no random effects", open_tok)
        return group, terms, intercept, uncorrelated


def _degree_order(terms: list[_Term]) -> list[_Term]:
    """Drop repeated terms (first occurrence wins), then order by degree as R does."""
    seen: dict[frozenset[str], _Term] = {}
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
    parser = _Parser(text)
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
    random_terms: list[_Term] = []
    grouping_tok: _Token | None = None
    random_intercept = uncorrelated = False
    if randoms:
        grouping_tok, random_terms, random_intercept, uncorrelated = randoms[0]

    if outcome in in_terms:
        pos = _find_name(parser, outcome, skip_first=True)
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


def _find_name(parser: _Parser, name: str, *, skip_first: bool) -> int | None:
    hits = [t.pos for t in parser.tokens if t.kind == "name" and t.text == name]
    hits = hits[1:] if skip_first else hits
    return hits[0] if hits else None
