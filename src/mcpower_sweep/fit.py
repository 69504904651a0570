"""Fit a linear mixed model to real data with the engine the simulations use.

``fit_lmm`` parses an lme4 formula, builds the fixed-effect matrix and the grouping
codes, and hands them to the same native fit (profiled REML/ML, Newton on theta) and
the same Wald tests that every simulated data set goes through.  It is how the engine
is checked against lme4/lmerTest, and useful on pilot data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import engine
from .design.formula import INTERCEPT, ParsedFormula, parse_formula
from .design.spec import MAX_FIXED_EFFECTS, MAX_RANDOM_EFFECTS
from .params import PARAMS

__all__ = ["LMMFit", "ModelFrame", "fit_lmm", "model_frame"]


@dataclass(frozen=True)
class LMMFit:
    """One fitted model; dictionaries are keyed by fixed-effect name as in lme4.

    Attributes
    ----------
    coef, se, df, pvalue
        Fixed effects, their standard errors (Kenward–Roger's adjusted ones for
        ``df_method="kenward_roger"``), the test's degrees of freedom (``inf`` for
        ``df_method="z"``) and two-sided p-values.
    sigma2
        Residual variance.
    re_cov, re_names
        Random-effect covariance matrix (variance units) and its row names.
    loglik
        Log-likelihood at the optimum (the REML log-likelihood for REML fits, as
        lme4's ``logLik``); ``deviance`` is ``-2 * loglik`` (lme4's REML criterion or
        deviance).
    converged, singular
        Whether the optimiser converged, and whether a variance component is on its
        boundary (lme4's ``isSingular``).
    anova
        Per term of the formula (a factor once, not per level), the F test that all its
        coefficients are zero, as lmerTest's ``anova``: ``F``, ``num_df``, ``den_df``,
        ``pvalue`` (Satterthwaite's or Kenward–Roger's F as ``df_method``; between-within
        and residual: F on the coefficients' df; z: chi-square / num_df, ``den_df = inf``).
    """

    formula: str
    estimator: str
    df_method: str
    coef: dict[str, float]
    se: dict[str, float]
    df: dict[str, float]
    pvalue: dict[str, float]
    sigma2: float
    re_cov: np.ndarray
    re_names: tuple[str, ...]
    loglik: float
    deviance: float
    converged: bool
    singular: bool
    theta: np.ndarray
    vcov: np.ndarray
    n_obs: int
    n_groups: int
    grouping: str
    anova: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        lines = [
            f"Linear mixed model fit by {self.estimator.upper()}: {self.formula}",
            f"  {self.n_obs} observations, {self.n_groups} levels of {self.grouping}; "
            f"logLik {self.loglik:.4f}; converged {self.converged}; singular {self.singular}",
            "  Random effects (variance):",
        ]
        for i, name in enumerate(self.re_names):
            lines.append(f"    {name:<16} {self.re_cov[i, i]:.6g}")
        lines.append(f"    {'Residual':<16} {self.sigma2:.6g}")
        lines.append(f"  Fixed effects ({self.df_method} df):")
        lines.append(f"    {'term':<16} {'estimate':>11} {'se':>10} {'df':>9} {'p':>10}")
        for t in self.coef:
            lines.append(
                f"    {t:<16} {self.coef[t]:>11.5g} {self.se[t]:>10.4g} {self.df[t]:>9.4g} "
                f"{self.pvalue[t]:>10.3g}"
            )
        lines.append(f"  F tests ({self.df_method} df):")
        lines.append(f"    {'term':<16} {'F':>11} {'num df':>10} {'den df':>9} {'p':>10}")
        for t, row in self.anova.items():
            lines.append(f"    {t:<16} {row['F']:>11.5g} {row['num_df']:>10.4g} "
                         f"{row['den_df']:>9.4g} {row['pvalue']:>10.3g}")
        return "\n".join(lines)


def _column(data: Any, name: str) -> np.ndarray:
    try:
        values = data[name]
    except (KeyError, IndexError, TypeError):
        available = list(data.keys()) if hasattr(data, "keys") else []
        raise ValueError(
            f"data has no column {name!r} named in the formula; columns: {available}"
        ) from None
    return np.asarray(values)


def _numeric(data: Any, name: str) -> np.ndarray:
    raw = _column(data, name)
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


def _predictor(data: Any, name: str, n: int) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """A numeric column, or a factor's dummy columns (n x levels-1) and its levels.

    Strings, booleans and pandas categoricals are factors, coded as R's treatment
    contrasts against the first level (a categorical's own order, else sorted, as R's
    ``factor()`` sorts).
    """
    raw = _column(data, name)
    dtype = getattr(raw, "dtype", None)
    categories = getattr(getattr(data[name], "cat", None), "categories", None)
    if categories is None and dtype is not None and dtype.kind not in "OUSb":
        x = _numeric(data, name)
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


def _fixed_matrix(
    parsed: ParsedFormula, data: Any, n: int
) -> tuple[np.ndarray, tuple[str, ...], tuple[int, ...], dict[str, tuple[int, int]]]:
    """X with one column per coefficient, lme4's coefficient names, Z's columns of X, and
    each term's (first column, number of columns).

    A factor term expands to its dummy columns, named ``<factor><level>`` (``groupb``);
    an interaction is the product of its predictors' columns, names joined by ``:``.
    """
    preds = {name: _predictor(data, name, n) for name in parsed.predictors}
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
    random_columns: list[int] = []
    for c in parsed.random_columns:
        if c == 0 and parsed.intercept:
            random_columns.append(0)
            continue
        start, width = first_column[parsed.term_names[c]]
        if width != 1:
            raise ValueError(
                f"a random slope of factor term {parsed.term_names[c]!r} is not supported"
            )
        random_columns.append(start)
    return np.column_stack(cols), tuple(names), tuple(random_columns), first_column


@dataclass(frozen=True)
class ModelFrame:
    """A formula's data, checked and coded for the engine (shared by every fit).

    ``X`` has one column per fixed effect (``names``, lme4's), the random effects are
    the columns ``random_columns`` of X, and ``codes`` are the rows' levels of the
    grouping factor (``0 .. n_groups - 1``).
    """

    parsed: ParsedFormula
    y: np.ndarray
    X: np.ndarray
    names: tuple[str, ...]
    random_columns: tuple[int, ...]
    codes: np.ndarray
    n_groups: int
    term_columns: dict[str, tuple[int, int]]  # formula term -> (first column, width)

    @property
    def n_obs(self) -> int:
        return int(self.y.shape[0])

    @property
    def grouping(self) -> str:
        return str(self.parsed.grouping)


def model_frame(formula: str, data: Mapping[str, Any] | Any) -> ModelFrame:
    """Parse ``formula`` and build its outcome, fixed-effect matrix and grouping codes.

    Examples
    --------
    >>> frame = model_frame("y ~ x + (1 | g)", {"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 2],
    ...                                          "g": ["a", "a", "b", "b"]})
    >>> frame.names, frame.codes.tolist(), frame.n_groups
    (('(Intercept)', 'x'), [0, 0, 1, 1], 2)
    """
    if not (isinstance(data, Mapping) or hasattr(data, "columns")):
        raise ValueError(
            f"data of type {type(data).__name__} is not allowed: use a pandas DataFrame or a "
            "dict of column name -> 1-d array"
        )
    parsed = parse_formula(formula)
    if parsed.grouping is None:
        raise ValueError(
            f"formula {formula!r} has no random part: add one such as (1 | cluster)"
        )
    y = _numeric(data, parsed.outcome)
    n = y.shape[0]
    X, names, random_columns, term_columns = _fixed_matrix(parsed, data, n)
    n_fixed, n_random = X.shape[1], len(random_columns)
    if n_fixed > MAX_FIXED_EFFECTS or n_random > MAX_RANDOM_EFFECTS:
        raise ValueError(
            f"formula {formula!r} has {n_fixed} fixed and {n_random} random effects: the "
            f"engine fits at most {MAX_FIXED_EFFECTS} and {MAX_RANDOM_EFFECTS}"
        )
    if n <= X.shape[1]:
        raise ValueError(
            f"data has {n} rows for {X.shape[1]} fixed effects of {formula!r}: need more rows "
            "than fixed effects"
        )
    norms = np.linalg.norm(X, axis=0)
    scaled = X / np.where(norms > 0, norms, 1.0)  # rank of the columns, not of their units
    for k in range(1, X.shape[1] + 1) if np.linalg.matrix_rank(scaled) < X.shape[1] else ():
        if np.linalg.matrix_rank(scaled[:, :k]) < k:
            raise ValueError(
                f"fixed effect {names[k - 1]!r} of {formula!r} is a linear "
                "combination of the terms before it (collinear, or constant) in this data: "
                "drop it or recode"
            )
    groups_raw = _column(data, parsed.grouping)
    if groups_raw.shape != (n,):
        raise ValueError(
            f"grouping column {parsed.grouping!r} has shape {groups_raw.shape}, expected ({n},)"
        )
    missing = [
        i for i, g in enumerate(groups_raw.tolist())
        if g is None or (isinstance(g, float) and np.isnan(g))
    ] if groups_raw.dtype.kind in "fO" else []
    if missing:
        raise ValueError(
            f"grouping column {parsed.grouping!r} has missing values (first at row {missing[0]})"
        )
    try:
        levels, codes = np.unique(groups_raw, return_inverse=True)
    except TypeError:
        raise ValueError(
            f"grouping column {parsed.grouping!r} mixes value types "
            f"({sorted({type(g).__name__ for g in groups_raw.tolist()})}): use one type of label"
        ) from None
    if len(levels) < 2:
        raise ValueError(
            f"grouping factor {parsed.grouping!r} has {len(levels)} level(s): at least 2 needed"
        )
    return ModelFrame(
        parsed=parsed, y=y, X=X, names=names, random_columns=random_columns,
        codes=codes.astype(np.int64), n_groups=len(levels), term_columns=term_columns,
    )


def fit_lmm(
    formula: str,
    data: Mapping[str, Any] | Any,
    reml: bool | None = None,
    df_method: str = "satterthwaite",
    *,
    estimator: str | None = None,
) -> LMMFit:
    """Fit ``formula`` to ``data`` by REML (default) or ML and test each fixed effect.

    Parameters
    ----------
    formula
        lme4 syntax with one grouping factor, e.g. ``"y ~ x + (1 + x | g)"``, or
        ``(1 + x || g)`` for uncorrelated random effects.  String, boolean and
        categorical columns are factors (treatment contrasts against the first level,
        coefficients named as lme4 names them, e.g. ``groupb``).
    data
        A pandas DataFrame or a mapping of column name to 1-d array.
    reml
        lme4's spelling of the estimator (``REML = TRUE``): True for REML, False for ML.
    df_method
        ``"satterthwaite"`` (lmerTest's default), ``"kenward_roger"`` (pbkrtest's, as
        lmerTest's ``ddf = "Kenward-Roger"``; REML fits only), ``"between_within"``,
        ``"residual"`` or ``"z"``.
    estimator
        ``"reml"`` (default) or ``"ml"``: the package's spelling, as in ``find_power``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(10), 20); x = rng.normal(size=200)
    >>> y = 0.3 * x + rng.normal(size=10)[g] + rng.normal(size=200)
    >>> fit = fit_lmm("y ~ x + (1 | g)", {"y": y, "x": x, "g": g})
    >>> round(fit.coef["x"], 2) > 0
    True
    """
    df_method = PARAMS["df_method"].check(df_method)
    if reml is not None and not isinstance(reml, bool | np.bool_):
        raise ValueError(f"reml={reml!r} must be True or False (or use estimator='reml'|'ml')")
    if estimator is None:
        estimator = "ml" if reml is False else "reml"
    estimator = PARAMS["estimator"].check(estimator)
    if reml is not None and bool(reml) != (estimator == "reml"):
        raise ValueError(f"reml={reml!r} contradicts estimator={estimator!r}: give one of them")
    if df_method == "kenward_roger" and estimator != "reml":
        raise ValueError(
            "df_method='kenward_roger' needs the REML estimator (pbkrtest's definition), not "
            f"estimator={estimator!r}: fit by REML or choose another df_method"
        )
    frame = model_frame(formula, data)
    out = engine.fit_data(
        frame.X, frame.y, frame.codes, frame.n_groups, frame.random_columns,
        uncorrelated=frame.parsed.uncorrelated, estimator=estimator, df_method=df_method,
        joint_tests=[range(a, a + w) for a, w in frame.term_columns.values()],
    )
    names = frame.names
    re_names = tuple(names[c] for c in frame.random_columns)

    def by_name(arr: np.ndarray) -> dict[str, float]:
        return {t: float(v) for t, v in zip(names, arr, strict=True)}

    return LMMFit(
        formula=formula,
        estimator=estimator,
        df_method=df_method,
        coef=by_name(out["beta"]),
        se=by_name(out["se"]),
        df=by_name(out["df"]),
        pvalue=by_name(out["pvalue"]),
        sigma2=float(out["sigma2"]),
        re_cov=np.asarray(out["re_cov"]),
        re_names=re_names,
        loglik=-0.5 * float(out["deviance"]),
        deviance=float(out["deviance"]),
        converged=bool(out["converged"]),
        singular=bool(out["singular"]),
        theta=np.asarray(out["theta"]),
        vcov=np.asarray(out["vcov"]),
        n_obs=frame.n_obs,
        n_groups=frame.n_groups,
        grouping=frame.grouping,
        anova={term: {k: float(v) for k, v in row.items()}
               for term, row in zip(frame.term_columns, out["joint"], strict=True)},
    )

