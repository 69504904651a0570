"""Building blocks of the scenario checks: the error, its one message shape, value checks.

Every message is one line, ``<file>: <key path>: <problem>``.  A value with a rule in
:data:`~mcpower_sweep.params.PARAMS` is checked by that rule (:func:`rule`), whose message
names the key as written, the value and what is allowed; the structural checks here add
``(got <value>)``.  A check is a function ``(source, path, value) -> value``; a schema is a
dict ``{key: (required, check)}``, itself a check through :func:`mapping`.

Examples
--------
>>> from mcpower_sweep.params import PARAMS
>>> try:
...     rule(PARAMS["alpha"])(Source("s.yaml"), "alpha", 2)
... except ScenarioError as err:
...     print(err)
s.yaml: alpha: alpha=2 is not allowed: use a number in (0, 1)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..params import Param


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message names file, key path and value."""


class Source:
    """The file being checked, so that every message names it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def where(self, path: str) -> str:
        return f"{self.name}: {path}" if path else self.name

    def fail(self, path: str, value: Any, problem: str) -> ScenarioError:
        """``<file>: <path>: <problem> (got <value>)``."""
        return ScenarioError(f"{self.where(path)}: {problem} (got {show(value)})")

    def error(self, path: str, err: Exception | str, value: Any = None, *,
              show_value: bool = False) -> ScenarioError:
        """An error raised by a rule or a setter, on one line, at ``path``.

        Rules name the value themselves; a setter's value is added when ``show_value``.
        """
        got = f" (got {show(value)})" if show_value else ""
        return ScenarioError(f"{self.where(path)}: {one_line(err)}{got}")


Check = Callable[[Source, str, Any], Any]
Schema = Mapping[str, tuple[bool, Check]]


def show(value: Any) -> str:
    """``repr`` of a value, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def one_line(err: Exception | str) -> str:
    """An error's message on one line (a formula error's caret becomes a column)."""
    reason, position = getattr(err, "reason", None), getattr(err, "position", None)
    if reason is not None:
        return reason + (f" (at column {position + 1})" if position is not None else "")
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip(" ^"))


def suggest(word: str, valid: tuple[str, ...] | list[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``valid`` (or the same word in another
    case), else ``""``.

    Examples
    --------
    >>> suggest("satterwhite", ("satterthwaite", "z"))
    "; did you mean 'satterthwaite'?"
    """
    close = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.5)
    if not close:
        lowered = {v.lower(): v for v in valid}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f"; did you mean {close[0]!r}?" if close else ""


def label_of(path: str) -> str:
    """The key a path ends with, as the user wrote it, without a list index.

    >>> label_of("sweep.n_clusters[1]"), label_of("sweep.icc[school:class][0]")
    ('n_clusters', 'icc[school:class]')
    """
    return re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])


def rule(p: Param) -> Check:
    """Check a value by a parameter's rule; the message names the key as written."""

    def check(src: Source, path: str, value: Any) -> Any:
        try:
            return p.check(value, label_of(path))
        except ValueError as err:
            hint = ""
            if isinstance(p.kind, tuple) and isinstance(value, str):
                hint = suggest(value, p.kind)
            raise src.error(path, f"{err}{hint}") from None

    return check


def per_slope(p: Param) -> Check:
    """One number by the parameter's rule, or a mapping ``{slope: number}`` of them."""
    one = rule(p)

    def check(src: Source, path: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: one(src, f"{path}.{k}", v) for k, v in value.items()}
        return one(src, path, value)

    return check


def text(src: Source, path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise src.fail(path, value, "must be a string")
    return value


def optional(check: Check) -> Check:
    """``null`` allowed (and kept as None), else ``check``."""

    def wrapped(src: Source, path: str, value: Any) -> Any:
        return None if value is None else check(src, path, value)

    return wrapped


def name_list(src: Source, path: str, value: Any) -> list[str]:
    """A list of variable names (one name alone is a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise src.fail(path, value, "must be a list of variable names")
    return list(value)


def number_list(src: Source, path: str, value: Any) -> list[Any]:
    """A list of numbers (their meaning is the setter's to judge)."""
    if not isinstance(value, list) or not value or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise src.fail(path, value, "must be a list of numbers, e.g. [20, 35, 12]")
    return list(value)


def assignments(what: str) -> Check:
    """A non-empty mapping ``{name: value}`` or the API's text ``"a=0.5, b=0.3"``.

    Only the shape is checked: names and values are the model setter's to judge.
    """

    def check(src: Source, path: str, value: Any) -> dict[str, Any] | str:
        if isinstance(value, str) and value.strip():
            return value
        if not isinstance(value, Mapping) or not value:
            raise src.fail(path, value, f"must be a non-empty mapping of {what} or "
                           "'name=value, ...'")
        for name in value:
            if not isinstance(name, str):
                raise src.fail(path, name, "names must be strings")
        return dict(value)

    return check


def mapping(schema: Schema, aliases: Mapping[str, str] | None = None) -> Check:
    """Check a mapping against ``schema``; keys are kept as written.

    ``aliases`` maps an accepted second spelling to its key in ``schema`` (``ICC`` ->
    ``icc``); giving both is an error.  Unknown keys get the closest valid one suggested.
    """
    aliases = aliases or {}

    def check(src: Source, path: str, value: Any) -> dict[str, Any]:
        return _check_mapping(src, path, value, schema, aliases)

    return check


def _check_mapping(src: Source, path: str, value: Any, schema: Schema,
                   aliases: Mapping[str, str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise src.fail(path, value, "must be a mapping of keys to values")
    out: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for key, v in value.items():
        sub = f"{path}.{key}" if path else str(key)
        canonical = aliases.get(key, key)
        if canonical not in schema:
            valid = ", ".join(k + "".join(f" (or {a})" for a, c in aliases.items() if c == k)
                              for k in schema)
            hint = suggest(str(key), [*schema, *aliases])
            raise src.fail(sub, key, f"unknown key{hint} (valid keys here: {valid})")
        if canonical in seen:
            raise src.fail(sub, key, f"give {seen[canonical]} or {key}, not both")
        seen[canonical] = key
        out[key] = schema[canonical][1](src, sub, v)
    for key, (required, _) in schema.items():
        if required and key not in seen:
            raise src.fail(f"{path}.{key}" if path else key, None, "this key is required")
    return out
