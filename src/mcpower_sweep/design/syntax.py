"""The syntax of lme4 formulas: tokens and a recursive-descent parser.

:func:`mcpower_sweep.design.formula.parse_formula` turns what this parser reads (terms as
written, random parts, positions for error carets) into a :class:`ParsedFormula`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations

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
class Token:
    kind: str  # "name", "number", "op", "end"
    text: str
    pos: int


# A term as written: the set of variable names multiplied together, and where it starts.
Term = tuple[frozenset[str], int]
# A random part as written: grouping token, terms, random intercept, uncorrelated ('||'),
# and the grouping's further factors with their operators: [('/', class)] for
# (1 | school/class) (nested), [(':', class)] for (1 | school:class) (their combination).
RandomPart = tuple[Token, list[Term], bool, bool, list[tuple[Token, Token]]]


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
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
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class Parser:
    """Recursive descent over the token list; every error carries a token position."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.in_random = False
        # variable names in order of first appearance, fixed part and random part
        self.seen: dict[bool, list[str]] = {False: [], True: []}

    # ---------------------------------------------------------------- helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, tok: Token | None = None) -> FormulaError:
        tok = tok if tok is not None else self.tok
        return FormulaError(message, self.text, tok.pos)

    def advance(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def at(self, text: str) -> bool:
        return self.tok.kind == "op" and self.tok.text == text

    def expect(self, text: str, what: str) -> Token:
        if not self.at(text):
            found = repr(self.tok.text) if self.tok.kind != "end" else "the end of the formula"
            raise self.error(f"expected {what}, found {found}")
        return self.advance()

    def name(self, what: str) -> Token:
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
    def formula(self) -> tuple[str, list[Term], bool, list[RandomPart]]:
        if self.tok.kind == "end":
            raise FormulaError("the formula is empty: write it as 'y ~ x + (1|g)'", self.text, 0)
        outcome = self.name("the outcome name before '~'").text
        self.expect("~", "'~' after the outcome")
        return (outcome, *self.rhs())

    def rhs(self) -> tuple[list[Term], bool, list[RandomPart]]:
        """Fixed terms, fixed intercept, random parts."""
        fixed: list[Term] = []
        intercept = True
        randoms: list[RandomPart] = []
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

    def product(self) -> list[Term]:
        """``a``, ``a:b`` or ``a*b*...`` (``*`` expands to all lower-order terms)."""
        factors = [self.interaction()]
        while self.at("*"):
            self.advance()
            if self.tok.kind == "number":
                raise self.error("a number cannot be part of an interaction")
            factors.append(self.interaction())
        if len(factors) == 1:
            return factors
        expanded: list[Term] = []
        for k in range(1, len(factors) + 1):
            for combo in combinations(factors, k):
                expanded.append((frozenset().union(*(f[0] for f in combo)), combo[0][1]))
        return expanded

    def interaction(self) -> Term:
        start = self.tok.pos
        names = [self.name("a variable name").text]
        while self.at(":"):
            self.advance()
            names.append(self.name("a variable name after ':'").text)
        seen = self.seen[self.in_random]
        seen.extend(n for n in names if n not in seen)
        return frozenset(names), start

    def random_part(self) -> RandomPart:
        open_tok = self.expect("(", "'('")
        if self.at("("):
            raise self.error("nested parentheses are not supported")
        self.in_random = True
        terms: list[Term] = []
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
        nesting: list[tuple[Token, Token]] = []
        while self.at("/") or self.at(":"):
            op = self.advance()
            nesting.append((op, self.name(f"a grouping factor after {op.text!r}")))
        if len({op.text for op, _ in nesting}) > 1:
            raise self.error("mixing '/' and ':' in one grouping is not supported: write "
                             "(1 | a/b) or (1 | a:b)", nesting[1][0])
        if self.at("+") or self.at("*"):
            raise self.error("only one grouping factor may follow '|'")
        self.expect(")", "')' closing the random part")
        self.in_random = False
        if not terms and not intercept:
            raise self.error("the random part has no random effects", open_tok)
        return group, terms, intercept, uncorrelated, nesting


def find_name(parser: Parser, name: str, *, skip_first: bool) -> int | None:
    hits = [t.pos for t in parser.tokens if t.kind == "name" and t.text == name]
    hits = hits[1:] if skip_first else hits
    return hits[0] if hits else None
