"""A formula's data as the engine needs it: the outcome, the fixed-effect matrix X with
lme4's coefficient names, and the columns of X that are random effects.

Shared by every fit of real data (:mod:`mcpower_sweep.fit`, :mod:`mcpower_sweep.glmm`,
:mod:`mcpower_sweep.fit_groupings`).

Examples
--------
>>> from mcpower_sweep.design.formula import parse_formula
>>> X, names, z, _ = fixed_matrix(parse_formula("y ~ x + (1 + x | g)"), {"x": [0.0, 1, 2]}, 3)
>>> names, z
(('(Intercept)', 'x'), (0, 1))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .design.formula import INTERCEPT, ParsedFormula
from .design.spec import MAX_FIXED_EFFECTS, MAX_RANDOM_EFFECTS

__all__ = [
    "check_data", "check_fixed", "column", "fixed_matrix", "grouping_codes", "kept_columns",
    "numeric", "predictor", "x_columns",
]


def column(data: Any, name: str) -> np.ndarray:
    try:
        values = data[name]
    except (KeyError, IndexError, TypeError):
        available = list(data.keys()) if hasattr(data, "keys") else []
        raise ValueError(
            f"data has no column {name!r} named in the formula; columns: {available}"
        ) from None
    return np.asarray(values)


def kept_columns(data: Any, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Copies of the named columns: what a fit keeps of its data."""
    return {name: np.array(column(data, name)) for name in names}


def numeric(data: Any, name: str) -> np.ndarray:
    raw = column(data, name)
    if raw.ndim != 1:
        raise ValueError(f"column {name!r} has shape {raw.shape}: expected a 1-d column")
    try:
        x = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"column {name!r} is not numeric (dtype {raw.dtype}); code factors as 0/1 columns"
        ) from None
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"column {name!r} has a missing or non-finite value at row {row}")
    return x


def predictor(data: Any, name: str, n: int) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """A numeric column, or a factor's dummy columns (n x levels-1) and its levels.

    Strings, booleans and pandas categoricals are factors, coded as R's treatment
    contrasts against the first level (a categorical's own order, else sorted, as R's
    ``factor()`` sorts).
    """
    raw = column(data, name)
    dtype = getattr(raw, "dtype", None)
    categories = getattr(getattr(data[name], "cat", None), "categories", None)
    if categories is None and dtype is not None and dtype.kind not in "OUSb":
        x = numeric(data, name)
        if x.shape != (n,):
            raise ValueError(f"column {name!r} has shape {x.shape}, expected ({n},)")
        return x, None
    if raw.shape != (n,):
        raise ValueError(f"column {name!r} has shape {raw.shape}, expected ({n},)")
    values = raw.tolist()
    if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in values):
        raise ValueError(f"factor column {name!r} has missing values")
    levels = [str(c) for c in categories] if categories is not None else sorted(
        {str(v) for v in values}
    )
    if len(levels) < 2:
        raise ValueError(f"factor {name!r} has {len(levels)} level(s): at least 2 needed")
    labels = np.array([str(v) for v in values])
    dummies = np.column_stack([(labels == lv).astype(np.float64) for lv in levels[1:]])
    return dummies, tuple(levels)


def fixed_matrix(
    parsed: ParsedFormula, data: Any, n: int
) -> tuple[np.ndarray, tuple[str, ...], tuple[int, ...], dict[str, tuple[int, int]]]:
    """X with one column per coefficient, lme4's coefficient names, Z's columns of X, and
    each term's (first column, number of columns).

    A factor term expands to its dummy columns, named ``<factor><level>`` (``groupb``);
    an interaction is the product of its predictors' columns, names joined by ``:``.
    """
    preds = {name: predictor(data, name, n) for name in parsed.predictors}
    factors = [p for p, (_, lv) in preds.items() if lv is not None]
    if factors and not parsed.intercept:
        raise ValueError(
            f"factor {factors[0]!r} in a model without a fixed intercept is not supported: "
            "keep the intercept (its first level is then the reference)"
        )
    cols: list[np.ndarray] = [np.ones(n)] if parsed.intercept else []
    names: list[str] = [INTERCEPT] if parsed.intercept else []
    first_column: dict[str, tuple[int, int]] = {}
    for term, label in zip(parsed.terms, parsed.tests, strict=True):
        parts: list[tuple[np.ndarray, list[str]]] = [(np.ones(n), [""])]
        for i in term:
            pname = parsed.predictors[i]
            x, levels = preds[pname]
            block = x[:, None] if levels is None else x
            labels = [pname] if levels is None else [pname + lv for lv in levels[1:]]
            parts = [
                (col * block[:, k], [*lab, labels[k]])
                for col, lab in parts
                for k in range(block.shape[1])
            ]
        first_column[label] = (len(cols), len(parts))
        for col, lab in parts:
            cols.append(col)
            names.append(":".join(x for x in lab if x))
    random_columns = x_columns(parsed, first_column, parsed.random_columns)
    return np.column_stack(cols), tuple(names), random_columns, first_column


def x_columns(
    parsed: ParsedFormula, first_column: dict[str, tuple[int, int]], terms: tuple[int, ...]
) -> tuple[int, ...]:
    """The columns of X of random effects given as indices into ``parsed.term_names``."""
    out: list[int] = []
    for c in terms:
        if c == 0 and parsed.intercept:
            out.append(0)
            continue
        start, width = first_column[parsed.term_names[c]]
        if width != 1:
            raise ValueError(
                f"a random slope of factor term {parsed.term_names[c]!r} is not supported"
            )
        out.append(start)
    return tuple(out)


def check_fixed(formula: str, X: np.ndarray, names: tuple[str, ...], n_random: int) -> None:
    """Sizes the engine fits, more rows than fixed effects, and X of full column rank."""
    n, n_fixed = X.shape
    if n_fixed > MAX_FIXED_EFFECTS or n_random > MAX_RANDOM_EFFECTS:
        raise ValueError(
            f"formula {formula!r} has {n_fixed} fixed and {n_random} random effects: the "
            f"engine fits at most {MAX_FIXED_EFFECTS} and {MAX_RANDOM_EFFECTS}"
        )
    if n <= n_fixed:
        raise ValueError(
            f"data has {n} rows for {n_fixed} fixed effects of {formula!r}: need more rows "
            "than fixed effects"
        )
    norms = np.linalg.norm(X, axis=0)
    scaled = X / np.where(norms > 0, norms, 1.0)  # rank of the columns, not of their units
    for k in range(1, n_fixed + 1) if np.linalg.matrix_rank(scaled) < n_fixed else ():
        if np.linalg.matrix_rank(scaled[:, :k]) < k:
            raise ValueError(
                f"fixed effect {names[k - 1]!r} of {formula!r} is a linear "
                "combination of the terms before it (collinear, or constant) in this data: "
                "drop it or recode"
            )


def check_data(data: Any) -> None:
    """A pandas DataFrame or a mapping of column name to 1-d array."""
    if not (isinstance(data, Mapping) or hasattr(data, "columns")):
        raise ValueError(
            f"data of type {type(data).__name__} is not allowed: use a pandas DataFrame or a "
            "dict of column name -> 1-d array"
        )


def grouping_codes(
    data: Any, factors: tuple[str, ...], n: int, label: str
) -> tuple[np.ndarray, int]:
    """Level codes ``0 .. levels - 1`` of the grouping that is the combination of the
    values of the columns ``factors`` (``("school", "class")`` for ``school:class``), and
    the number of levels; ``label`` names the grouping in messages.

    Examples
    --------
    >>> data = {"s": ["a", "a", "b", "b"], "k": [1, 2, 1, 1]}
    >>> codes, levels = grouping_codes(data, ("s", "k"), 4, "s:k")
    >>> codes.tolist(), levels
    ([0, 1, 2, 2], 3)
    """
    per_factor: list[np.ndarray] = []
    for name in factors:
        raw = column(data, name)
        if raw.shape != (n,):
            raise ValueError(f"grouping column {name!r} has shape {raw.shape}, expected ({n},)")
        missing = [
            i for i, g in enumerate(raw.tolist())
            if g is None or (isinstance(g, float) and np.isnan(g))
        ] if raw.dtype.kind in "fO" else []
        if missing:
            raise ValueError(
                f"grouping column {name!r} has missing values (first at row {missing[0]})"
            )
        try:
            _, codes = np.unique(raw, return_inverse=True)
        except TypeError:
            raise ValueError(
                f"grouping column {name!r} mixes value types "
                f"({sorted({type(g).__name__ for g in raw.tolist()})}): use one type of label"
            ) from None
        per_factor.append(codes.ravel())
    codes = per_factor[0]
    if len(per_factor) > 1:
        _, codes = np.unique(np.column_stack(per_factor), axis=0, return_inverse=True)
    levels = int(codes.max()) + 1
    if levels < 2:
        raise ValueError(f"grouping factor {label!r} has {levels} level(s): at least 2 needed")
    return codes.ravel().astype(np.int64), levels
