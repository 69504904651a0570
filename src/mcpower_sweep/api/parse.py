"""The tutorial's text inputs: ``"a=0.5, b=0.3"``, variable types and effect sizes.

Pure functions that turn what a user typed into checked values, with messages that
name the setter, the entry and what is allowed.

Examples
--------
>>> items("set_effects", "treatment=0.5, x:z=0.2")
[('treatment', '0.5'), ('x:z', '0.2')]
>>> variable_type("treatment", "binary(0.3)")
Predictor(name='treatment', kind='binary', p=0.3, allocation='independent', level='observation')
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence

import numpy as np

from ..design.factors import check_proportions
from ..design.formula import ParsedFormula
from ..design.spec import Predictor
from ..params import PARAMS

_BINARY = re.compile(r"binary\s*(?:\(\s*(?P<p>[^),]*?)\s*(?:,\s*(?P<how>[^)]*?)\s*)?\))?",
                     re.IGNORECASE)
# MCPower 1.4.1's spelling "(binary, 0.3)" of binary(0.3)
_TUPLE = re.compile(r"\(\s*binary\s*(?:,\s*(?P<args>.*?))?\s*\)", re.IGNORECASE)
# factor, factor(k), factor(p1, ..., pk) and MCPower 1.4.1's (factor,k), (factor,p1,...,pk);
# a last argument "balanced" asks for exact counts per level
_FACTOR = re.compile(r"factor\s*(?:\((?P<args>[^()]*)\))?"
                     r"|\(\s*factor\s*(?:,(?P<targs>[^()]*))?\)", re.IGNORECASE)
_TYPES = ("normal, binary, binary(p) or binary(p, balanced) with 0 < p < 1, factor(k) or "
          "factor(p1, ..., pk) (optionally with ', balanced')")


def target_power(power: object, label: str = "power") -> float:
    """A target power given as a fraction (0.8) or a percentage (80: values above 1).

    Examples
    --------
    >>> target_power(80), target_power(0.9)
    (0.8, 0.9)
    """
    allowed = "a number in (0, 1) as a fraction or in (1, 100) as a percentage"
    real = isinstance(power, numbers.Real) and not isinstance(power, bool)
    try:
        return PARAMS["target_power"].check(power / 100.0 if real and power > 1.0 else power)
    except ValueError:
        problem = "is not allowed" if real else "is not a number"
        raise ValueError(f"{label}={power!r} {problem}: use {allowed}") from None


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
    """``normal``, ``binary``, ``binary(p)`` or ``binary(p, balanced)`` as a :class:`Predictor`.

    ``balanced`` places exactly round(p n) ones among the n units of the predictor's level
    (the rows of each cluster, or the clusters for a cluster-level predictor); MCPower
    1.4.1's ``(binary, p)`` is read as ``binary(p)``.

    Examples
    --------
    >>> variable_type("t", "binary(0.5, balanced)").allocation
    'balanced'
    >>> variable_type("t", "(binary, 0.3)").p
    0.3
    """
    if text.lower() == "normal":
        return Predictor(name, "normal")
    factor = _FACTOR.fullmatch(text)
    if factor:
        return _factor_type(name, text, factor.group("args") or factor.group("targs") or "")
    mcpower = _TUPLE.fullmatch(text)
    m = _BINARY.fullmatch(f"binary({mcpower.group('args')})" if mcpower and mcpower.group(
        "args") else "binary" if mcpower else text)
    if m is None:
        raise ValueError(f"set_variable_type: unknown variable type {text!r} for {name!r}: "
                         f"use {_TYPES}")
    how = (m.group("how") or "").lower()
    if how not in ("", "balanced"):
        raise ValueError(f"set_variable_type: {name}={text}: {m.group('how')!r} is not an "
                         "allocation: write binary(p, balanced) or binary(p)")
    allocation = "balanced" if how else "independent"
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
    return Predictor(name, "binary", p, allocation)


def _factor_type(name: str, text: str, args: str) -> Predictor:
    """A factor from its arguments: none (3 equal levels, MCPower's default), ``k`` equal
    levels, or the level proportions; ``balanced`` last for exact counts per level.

    Examples
    --------
    >>> _factor_type("g", "factor(3)", "3").proportions == (1 / 3,) * 3
    True
    >>> _factor_type("g", "(factor,0.5,0.3,0.2,balanced)", "0.5,0.3,0.2,balanced").allocation
    'balanced'
    """
    parts = [a.strip() for a in args.split(",")] if args.strip() else []
    allocation = "independent"
    if parts and parts[-1].lower() == "balanced":
        allocation = "balanced"
        parts = parts[:-1]
    try:
        numbers_ = [float(a) for a in parts]
    except ValueError:
        raise ValueError(f"set_variable_type: {name}={text} is not a factor type: use "
                         "factor(k) with k levels, or factor(p1, ..., pk) with level "
                         "proportions, optionally followed by ', balanced'") from None
    if len(numbers_) <= 1:
        k = numbers_[0] if numbers_ else 3.0
        if k != int(k) or not (1 <= k <= 10_000):
            raise ValueError(f"set_variable_type: {name}={text}: factor(k) needs a whole "
                             "number of levels k, e.g. factor(3)")
        proportions = (1.0 / k,) * int(k)
    else:
        proportions = tuple(numbers_)
    return Predictor(name, "factor", allocation=allocation,
                     proportions=check_proportions(name, proportions, text))


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


def effects(given: str | Mapping[str, object], f: ParsedFormula,
            names: tuple[str, ...] | None = None) -> dict[str, float]:
    """``set_effects``' argument as ``{term: effect}`` with canonical term names.

    ``names`` are the fixed effects (default the formula's); a factor level of a
    predictor not yet typed as a factor (``group[2]``) is kept as written, to be
    resolved once its type is set.

    Examples
    --------
    >>> from mcpower_sweep.design.formula import parse_formula
    >>> effects("b:a=0.2, a=0.5", parse_formula("y ~ a*b + (1|g)"))
    {'a:b': 0.2, 'a': 0.5}
    >>> effects("g[2]=0.3", parse_formula("y ~ g + (1|site)"))
    {'g[2]': 0.3}
    """
    names = f.tests if names is None else names
    pairs = ([(str(k), v) for k, v in given.items()] if isinstance(given, Mapping)
             else items("set_effects", given))
    out: dict[str, float] = {}
    for name, raw in pairs:
        term = term_name(name, names) or (name if _names_levels(name, f) else None)
        if term is None:
            raise ValueError(f"set_effects: {name!r} is not a fixed effect of the formula "
                             f"{f.text!r}; its fixed effects are {', '.join(names)}")
        if term in out:
            raise ValueError(f"set_effects: {name!r} is given twice")
        out[term] = effect_value(name, raw)
    return out


_LEVEL = re.compile(r"(?P<base>[^\[\]]+)\[[^\[\]]+\]")  # group[2], cyl[6], origin[USA]


def _names_levels(name: str, f: ParsedFormula) -> bool:
    """Whether ``name`` is a factor level (or an interaction with one) of f's predictors."""
    parts = [p.strip() for p in name.split(":")]
    levels = [_LEVEL.fullmatch(p) for p in parts]
    return any(levels) and all(m["base"].strip() in f.predictors if m else p in f.predictors
                               for p, m in zip(parts, levels, strict=True))


def variable_types(given: str | Mapping[str, str], f: ParsedFormula) -> dict[str, Predictor]:
    """``set_variable_type``'s argument as ``{predictor: Predictor}``.

    Examples
    --------
    >>> from mcpower_sweep.design.formula import parse_formula
    >>> variable_types("x=binary", parse_formula("y ~ x + (1|g)"))["x"].kind
    'binary'
    """
    pairs = (list(given.items()) if isinstance(given, Mapping)
             else items("set_variable_type", given))
    out: dict[str, Predictor] = {}
    for name, kind in pairs:
        if name not in f.predictors:
            raise ValueError(f"set_variable_type: {name!r} is not a predictor of the formula "
                             f"{f.text!r}; its predictors are {', '.join(f.predictors)}")
        if not isinstance(kind, str):
            raise ValueError(f"set_variable_type: {name}={kind!r}: use {_TYPES}")
        out[name] = variable_type(name, kind.strip())
    return out


_CORR = re.compile(r"corr\(\s*([^,()\s]+)\s*,\s*([^,()\s]+)\s*\)", re.IGNORECASE)


def correlations(given: object, f: ParsedFormula) -> dict[tuple[str, str], float]:
    """``set_correlations``' argument as ``{(a, b): r}``, ``a`` before ``b`` in the formula.

    ``"corr(x1,x2)=0.4, corr(x1,x3)=0.2"`` (MCPower 1.4.1's spelling), a mapping of such
    names (or of pairs) to numbers, or a full matrix over the formula's predictors in order.

    Examples
    --------
    >>> from mcpower_sweep.design.formula import parse_formula
    >>> correlations("corr(z, x)=0.4", parse_formula("y ~ x + z + (1|g)"))
    {('x', 'z'): 0.4}
    """
    names = list(f.predictors)
    if isinstance(given, str) or isinstance(given, Mapping):
        pairs = (items("set_correlations", given) if isinstance(given, str)
                 else list(given.items()))
        raw = []
        for key, value in pairs:
            m = _CORR.fullmatch(key.strip()) if isinstance(key, str) else None
            pair = m.groups() if m else key if isinstance(key, tuple) and len(key) == 2 else None
            if pair is None:
                raise ValueError(f"set_correlations: {key!r} is not of the form corr(a,b), "
                                 "e.g. \"corr(x1,x2)=0.4\"")
            raw.append((pair, key, value))
    else:
        try:
            matrix = np.asarray(given, dtype=float)
        except (TypeError, ValueError):
            matrix = np.empty(0)
        k = len(names)
        if matrix.shape != (k, k) or not np.allclose(matrix, matrix.T) or not np.allclose(
                np.diag(matrix), 1.0):
            raise ValueError(
                f"set_correlations: {given!r} is not a correlation matrix over the formula's "
                f"predictors ({', '.join(names)}): use a symmetric {k} x {k} matrix with 1 "
                "on the diagonal, or \"corr(a,b)=r\""
            )
        raw = [((names[i], names[j]), f"corr({names[i]},{names[j]})", matrix[i, j])
               for i in range(k) for j in range(i + 1, k) if matrix[i, j] != 0.0]
    out: dict[tuple[str, str], float] = {}
    for (a, b), key, value in raw:
        for name in (a, b):
            if name not in names:
                raise ValueError(f"set_correlations: {key!r}: {name!r} is not a predictor of "
                                 f"the formula; its predictors are {', '.join(names)}")
        if a == b:
            raise ValueError(f"set_correlations: {key!r} pairs {a!r} with itself")
        r = effect_value(str(key), value) if isinstance(value, str) else value
        if not (isinstance(r, numbers.Real) and not isinstance(r, bool) and -1.0 < r < 1.0):
            raise ValueError(f"set_correlations: {key}={value!r} is not allowed: use a "
                             "correlation -1 < r < 1")
        pair = (a, b) if names.index(a) < names.index(b) else (b, a)
        out[pair] = float(r)
    return out
