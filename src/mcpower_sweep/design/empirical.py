"""Predictors drawn from uploaded data, as MCPower 1.4.1's ``upload_data`` draws them.

Each uploaded column that names a predictor of the formula is typed from its values:

- **binary**: exactly two distinct values, coded 0/1 (the larger value 1);
- **factor**: text, or at most 7 distinct numbers with at least 15 rows per number; its
  levels are the values' labels (``4.0`` is ``"4"``) sorted as text, the first the
  reference, so the effects are ``cyl[6]``, ``origin[USA]``;
- **continuous**: anything else, standardised to mean 0 and population SD 1 (effects are
  per SD of the data, as for a simulated normal predictor).

The modes differ in how new rows are drawn:

- ``"none"``: each continuous column is an empirical distribution (``values_use=
  "quantile"``: a standard normal z becomes the type-7 quantile of the standardised values
  at Phi(z)); binary and factor columns are drawn like declared ones with the data's
  proportions; predictors are independent unless correlated by ``set_correlations``;
- ``"partial"``: the same, with the continuous columns' Spearman correlations rho
  installed as latent normal correlations 2 sin(pi rho / 6) (which the quantile map turns
  back into rho); ``set_correlations`` overrides any pair;
- ``"strict"``: whole uploaded rows are drawn with replacement (``values_use=
  "bootstrap"``), keeping every dependence among the uploaded predictors.

Columns that are not predictors (an id, the grouping, the outcome) are left out.

Examples
--------
>>> table = read_table({"x": [float(v) for v in range(30)], "g": ["a", "b", "c"] * 10})
>>> [column_type(table[c])[0] for c in table]
['continuous', 'factor']
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .factors import MAX_LEVELS
from .predictors import Predictor

MODES = ("none", "partial", "strict")
MIN_ROWS = 20  # fewer rows give an unreliable quantile map (MCPower 1.4.1's floor)
MAX_ROWS = 1_000_000
FACTOR_MAX_DISTINCT = 7  # a numeric column with at most this many values ...
FACTOR_MIN_ROWS_PER_VALUE = 15  # ... and at least this many rows per value is a factor


def read_table(data: Any, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The uploaded columns by name: from a DataFrame, a mapping of columns, a 2-D array or
    list of rows (with ``columns`` naming them) or a .csv / .tsv file's path.

    Numeric columns become float arrays, others object arrays of text.  Raises
    ``ValueError`` for ragged or empty data, too few or too many rows, NaN or Inf.

    Examples
    --------
    >>> t = read_table([[1.0, 2.0]] * 20, columns=["a", "b"])
    >>> sorted(t), t["a"].dtype.kind
    (['a', 'b'], 'f')
    """
    import pandas as pd

    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        frame = pd.read_csv(path, sep="\t" if path.lower().endswith(".tsv") else ",")
        if columns is not None:
            frame.columns = _names(columns, frame.shape[1])
    elif isinstance(data, pd.DataFrame):
        frame = data if columns is None else data.set_axis(_names(columns, data.shape[1]),
                                                             axis=1)
    elif isinstance(data, Mapping):
        lengths = {len(v) for v in data.values()}
        if len(lengths) > 1:
            raise ValueError(f"upload_data: the columns differ in length ({sorted(lengths)}): "
                             "give columns of one length")
        frame = pd.DataFrame({str(k): list(v) for k, v in data.items()})
    else:
        rows = np.asarray(data, dtype=object)
        if rows.ndim == 1:
            rows = rows[:, None]
        if rows.ndim != 2:
            raise ValueError("upload_data: data must be a DataFrame, a mapping of columns, "
                             "rows of values (with columns=) or a .csv/.tsv path")
        names = _names(columns, rows.shape[1]) if columns is not None else [
            f"column_{i + 1}" for i in range(rows.shape[1])]
        frame = pd.DataFrame(rows, columns=names)
    return _checked({str(name): _column(frame[name]) for name in frame.columns})


def _names(columns: Sequence[str], width: int) -> list[str]:
    if len(columns) != width:
        raise ValueError(f"upload_data: columns={list(columns)!r} names {len(columns)} "
                         f"columns; the data have {width}")
    return [str(c) for c in columns]


def _column(series: Any) -> np.ndarray:
    """A float array when every value is a number, else the values as text."""
    if series.dtype.kind in "biuf":
        return series.to_numpy(dtype=np.float64)
    values = series.to_numpy(dtype=object)
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([str(v) for v in values], dtype=object)


def _checked(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = len(next(iter(table.values()))) if table else 0
    if not MIN_ROWS <= n <= MAX_ROWS:
        raise ValueError(f"upload_data: the data have {n} rows: use {MIN_ROWS} to "
                         f"{MAX_ROWS:,} (fewer make the empirical quantiles unreliable)")
    bad = [name for name, v in table.items() if v.dtype.kind == "f" and not
           np.isfinite(v).all()]
    if bad:
        raise ValueError(f"upload_data: column(s) {', '.join(bad)} hold NaN or Inf values: "
                         "remove or impute them first")
    return table


def label(value: Any) -> str:
    """A level's label: whole numbers without a decimal point (``4.0`` is ``"4"``).

    Examples
    --------
    >>> label(4.0), label(2.5), label("USA")
    ('4', '2.5', 'USA')
    """
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else str(float(value))
    return str(value)


def column_type(values: np.ndarray) -> tuple[str, tuple[str, ...]]:
    """``("binary" | "factor" | "continuous", level labels)`` of an uploaded column.

    Examples
    --------
    >>> column_type(np.array([0.0, 1.0] * 10))
    ('binary', ())
    >>> column_type(np.array([4.0, 6.0, 8.0] * 15))
    ('factor', ('4', '6', '8'))
    """
    distinct = np.unique(values) if values.dtype.kind == "f" else np.unique(values.astype(str))
    if values.dtype.kind != "f":
        return "factor", tuple(sorted(str(v) for v in distinct))
    k = len(distinct)
    if k == 2:
        return "binary", ()
    if k <= FACTOR_MAX_DISTINCT and len(values) / k >= FACTOR_MIN_ROWS_PER_VALUE:
        return "factor", tuple(sorted(label(v) for v in distinct))
    return "continuous", ()


@dataclass(frozen=True)
class Upload:
    """What ``upload_data`` keeps: each matched predictor as simulated, the measured
    latent correlations (``"partial"``), the mode and the rows uploaded."""

    predictors: dict[str, Predictor]
    kinds: dict[str, str]
    correlations: dict[tuple[str, str], float]
    mode: str
    rows: int


def empirical_predictors(table: Mapping[str, np.ndarray], predictors: Sequence[str],
                         mode: str) -> Upload:
    """The formula's ``predictors`` found in ``table`` as simulated in ``mode``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> table = {"x": rng.normal(size=40), "z": rng.normal(size=40), "id": np.arange(40.0)}
    >>> up = empirical_predictors(table, ["x", "z"], "partial")
    >>> sorted(up.predictors), up.predictors["x"].values_use, list(up.correlations)
    (['x', 'z'], 'quantile', [('x', 'z')])
    """
    if mode not in MODES:
        raise ValueError(f"upload_data: mode={mode!r} is unknown: use one of {MODES}")
    out: dict[str, Predictor] = {}
    kinds: dict[str, str] = {}
    for name in predictors:
        if name not in table:
            continue
        values = table[name]
        if len(np.unique(values)) < 2:
            raise ValueError(f"upload_data: column {name!r} is constant: it cannot be a "
                             "predictor")
        kind, labels = column_type(values)
        kinds[name] = kind
        out[name] = _predictor(name, values, kind, labels, mode)
    continuous = [n for n in out if kinds[n] == "continuous"]
    corr = _latent_correlations(table, continuous) if mode == "partial" else {}
    return Upload(out, kinds, corr, mode, len(next(iter(table.values()))))


def _predictor(name: str, values: np.ndarray, kind: str, labels: tuple[str, ...],
               mode: str) -> Predictor:
    strict = mode == "strict"
    if kind == "binary":
        ones = (values == values.max()).astype(np.float64)
        return Predictor(name, "binary", float(ones.mean()),
                         values=tuple(ones.tolist()) if strict else (),
                         values_use="bootstrap" if strict else "cycle")
    if kind == "factor":
        if len(labels) > MAX_LEVELS:
            raise ValueError(f"upload_data: column {name!r} is a factor with {len(labels)} "
                             f"levels: at most {MAX_LEVELS}")
        index = {lab: k for k, lab in enumerate(labels)}
        codes = np.array([index[label(v)] for v in values], dtype=np.float64)
        shares = tuple(float(np.mean(codes == k)) for k in range(len(labels)))
        return Predictor(name, "factor", proportions=shares, labels=labels,
                         values=tuple(codes.tolist()) if strict else (),
                         values_use="bootstrap" if strict else "cycle")
    z = (values - values.mean()) / values.std()
    return Predictor(name, values=tuple((z if strict else np.sort(z)).tolist()),
                     values_use="bootstrap" if strict else "quantile")


def _latent_correlations(table: Mapping[str, np.ndarray], names: Sequence[str]
                         ) -> dict[tuple[str, str], float]:
    """Latent normal correlations 2 sin(pi rho / 6) from Spearman's rho (average ranks)."""
    from scipy.stats import rankdata

    ranks = {n: rankdata(table[n]) for n in names}
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            rho = float(np.corrcoef(ranks[a], ranks[b])[0, 1])
            out[(a, b)] = 2.0 * math.sin(math.pi * rho / 6.0)
    return out
