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

from . import engine_fits
from .design.formula import ParsedFormula, parse_formula, parse_mixed_formula
from .fit_groupings import VarCorr, fit_several
from .model_data import (
    check_data,
    check_fixed,
    fixed_matrix,
    grouping_codes,
    kept_columns,
    numeric,
)
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
    n_groups, grouping
        Levels and name of the grouping factor (several: of the first in lme4's order,
        the one with most levels).
    varcorr
        Several random-effect terms only: per lme4 group (``class:school``, ``school``),
        its :class:`~mcpower_sweep.fit_groupings.VarCorr`; ``re_cov`` is then block
        diagonal over them with ``re_names`` ``"<group>.<effect>"``.
    data
        One grouping factor: copies of the predictor and grouping columns fitted (what
        :meth:`MCPower.from_fit <mcpower_sweep.api.pilot.Pilot.from_fit>` reads).
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
    varcorr: dict[str, VarCorr] = field(default_factory=dict, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    data: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __str__(self) -> str:
        levels = ", ".join(f"{v.n_levels} levels of {g}" for g, v in self.varcorr.items()) or (
            f"{self.n_groups} levels of {self.grouping}"
        )
        lines = [
            f"Linear mixed model fit by {self.estimator.upper()}: {self.formula}",
            f"  {self.n_obs} observations, {levels}; "
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
    check_data(data)
    parsed = parse_formula(formula)
    if parsed.grouping is None:
        raise ValueError(
            f"formula {formula!r} has no random part: add one such as (1 | cluster)"
        )
    y = numeric(data, parsed.outcome)
    n = y.shape[0]
    X, names, random_columns, term_columns = fixed_matrix(parsed, data, n)
    check_fixed(formula, X, names, len(random_columns))
    codes, n_groups = grouping_codes(data, (parsed.grouping,), n, parsed.grouping)
    return ModelFrame(
        parsed=parsed, y=y, X=X, names=names, random_columns=random_columns,
        codes=codes, n_groups=n_groups, term_columns=term_columns,
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
        lme4 syntax, e.g. ``"y ~ x + (1 + x | g)"``, ``(1 + x || g)`` for uncorrelated
        random effects, nested ``(1 | school/class)`` (= ``(1 | school) +
        (1 | school:class)``) or crossed ``(1 | subject) + (1 | item)`` groupings.
        String, boolean and categorical columns are factors (treatment contrasts against
        the first level, coefficients named as lme4 names them, e.g. ``groupb``).
    data
        A pandas DataFrame or a mapping of column name to 1-d array.
    reml
        lme4's spelling of the estimator (``REML = TRUE``): True for REML, False for ML.
    df_method
        ``"satterthwaite"`` (lmerTest's default), ``"kenward_roger"`` (pbkrtest's, as
        lmerTest's ``ddf = "Kenward-Roger"``; REML fits only), ``"between_within"``,
        ``"residual"`` or ``"z"`` (several random-effect terms: all but
        ``"between_within"``).
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
    mixed = parse_mixed_formula(formula)
    if mixed.random and not mixed.single:
        return LMMFit(formula=formula, estimator=estimator, df_method=df_method,
                      **fit_several(formula, mixed, data, estimator, df_method))
    frame = model_frame(formula, data)
    out = engine_fits.fit_data(
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
        data=kept_columns(data, (*frame.parsed.predictors, frame.grouping)),
    )

