"""The tutorial's text inputs: ``"a=0.5, b=0.3"``, variable types and effect sizes.

Pure functions that turn what a user typed into checked values, with messages that
name the setter, the entry and what is allowed.

Examples
--------
>>> items("set_effects", "treatment=0.5, x:z=0.2")
[('treatment', '0.5'), ('x:z', '0.2')]
>>> variable_type("treatment", "binary(0.3)")
Predictor(name='treatment', kind='binary', p=0.3)
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence

from ..design.spec import Predictor

_BINARY = re.compile(r"binary\s*(?:\(\s*(?P<p>[^)]*?)\s*\))?", re.IGNORECASE)


def items(setter: str, text: object) -> list[tuple[str, str]]:
    """Split ``"a=1, b=2"`` into ``[("a", "1"), ("b", "2")]``, checking the shape.

    Commas inside parentheses (``binary(0.3)``) do not split.
    """
    if not isinstance(text, str):
        raise ValueError(f"{setter}: {text!r} is not a string such as \"a=0.5, b=0.3\"")
    parts = [p.strip() for p in re.split(r",(?![^()]*\))", text)]
    if not any(parts):
        raise ValueError(f"{setter}: {text!r} is empty: write it as \"a=0.5, b=0.3\"")
    out = []
    for part in parts:
        if not part:
            raise ValueError(f"{setter}: {text!r} has an empty entry between commas")
        name, eq, value = (s.strip() for s in part.partition("="))
        if not eq or not name:
            raise ValueError(f"{setter}: {part!r} is not of the form name=value")
        if not value:
            raise ValueError(f"{setter}: missing value for {name!r} in {part!r}")
        out.append((name, value))
    return out


def variable_type(name: str, text: str) -> Predictor:
    """``normal``, ``binary`` or ``binary(p)`` as a :class:`Predictor`."""
    if text.lower() == "normal":
        return Predictor(name, "normal")
    m = _BINARY.fullmatch(text)
    if m is None:
        raise ValueError(f"set_variable_type: unknown variable type {text!r} for {name!r}: "
                         "use normal, binary or binary(p) with 0 < p < 1")
    p_text = m.group("p")
    if p_text is None:
        return Predictor(name, "binary", 0.5)
    try:
        p = float(p_text)
    except ValueError:
        p = math.nan
    if not 0.0 < p < 1.0:
        raise ValueError(f"set_variable_type: {name}={text} is not allowed: binary(p) needs "
                         "a proportion 0 < p < 1")
    return Predictor(name, "binary", p)


def effect_value(name: str, raw: object) -> float:
    """One effect size from ``set_effects``: a finite number (or its text).

    Examples
    --------
    >>> effect_value("x", "0.25")
    0.25
    """
    if isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"set_effects: {name}={raw!r} is not a number: use e.g. "
                             f"{name}=0.3") from None
    elif isinstance(raw, numbers.Real) and not isinstance(raw, bool):
        value = float(raw)
    else:
        raise ValueError(f"set_effects: {name}={raw!r} is not a number: use e.g. {name}=0.3")
    if not math.isfinite(value):
        raise ValueError(f"set_effects: {name}={raw!r} is not allowed: use a finite number")
    return value


def term_name(name: str, terms: tuple[str, ...] | list[str]) -> str | None:
    """The canonical name of a fixed effect (``"b:a"`` -> ``"a:b"``), or None.

    Examples
    --------
    >>> term_name("b:a", ["a", "b", "a:b"])
    'a:b'
    """
    if name in terms:
        return name
    wanted = {part.strip() for part in name.split(":")}
    for term in terms:
        if set(term.split(":")) == wanted:
            return term
    return None


def targets(target_test: str | Sequence[str], tests: tuple[str, ...]) -> tuple[str, ...]:
    """``"all"``, one test, ``"a, b"`` or a list of tests -> canonical test names.

    Examples
    --------
    >>> targets("b:a, a", ("a", "b", "a:b"))
    ('a:b', 'a')
    """
    if isinstance(target_test, str):
        if target_test.strip() == "all":
            return tests
        names = [t.strip() for t in target_test.split(",")]
    else:
        names = list(target_test)
    out: list[str] = []
    for name in names:
        term = term_name(name, tests) if isinstance(name, str) else None
        if term is None:
            raise ValueError(
                f"target_test={target_test!r}: {name!r} is not a fixed effect of the "
                f"formula; use 'all' or some of {', '.join(tests)}"
            )
        if term not in out:
            out.append(term)
    if not out:
        raise ValueError(f"target_test={target_test!r} names no test: use 'all' or "
                         f"some of {', '.join(tests)}")
    return tuple(out)
