"""Fit a generalised linear mixed model (lme4's ``glmer``) to real data.

``fit_glmm`` reads the formula and the data as :func:`~mcpower_sweep.fit_lmm` does
(:func:`~mcpower_sweep.fit.model_frame`), then the engine fits the model by the Laplace
approximation (``nagq=1``, glmer's default) or adaptive Gauss–Hermite quadrature, jointly
over the random-effect covariance and the fixed effects as glmer's final stage does, and
tests each fixed effect by glmer's Wald z test or, with ``df_method="between_within"``, by
the same statistic on a t distribution with SAS GLIMMIX's between-within df (DDFM=BW).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import stdtr

from . import engine_fits
from .design.family import GLMM_DF_METHODS
from .design.formula import MixedFormula, parse_mixed_formula
from .fit import model_frame
from .fit_groupings import VarCorr, several_frame
from .model_data import kept_columns
from .stats import norm_cdf

__all__ = ["FAMILIES", "GLMMFit", "MAX_NAGQ", "fit_glmm"]

# Each family's links, the default first (R's binomial() and poisson() defaults).
FAMILIES: dict[str, tuple[str, ...]] = {"binomial": ("logit", "probit"), "poisson": ("log",)}
MAX_NAGQ = 25  # lme4's limit on quadrature nodes


@dataclass(frozen=True)
class GLMMFit:
    """One fitted GLMM; dictionaries are keyed by fixed-effect name as in lme4.

    Attributes
    ----------
    coef, se, z, pvalue
        Fixed effects, standard errors (glmer's: from the Hessian of the deviance over
        the covariance parameters and the fixed effects), the Wald statistic
        estimate / se and two-sided p-values on ``df``.
    df
        ``inf`` for every effect with ``df_method="z"`` (the reference is the normal);
        with ``"between_within"``, clusters minus the number of cluster-level columns
        (intercept included) for a column constant within clusters, otherwise
        observations minus clusters minus the number of the other columns (SAS's
        DDFM=BW, the engine's one definition, shared with :func:`~mcpower_sweep.fit_lmm`).
    re_cov, re_names, theta
        Random-effect covariance (variance units, on the link scale), its row names, and
        lme4's relative covariance factor.
    loglik
        The log-likelihood at the optimum with all constants (Laplace, or quadrature for
        ``nagq > 1``); ``deviance = -2 * loglik``.  For ``nagq > 1`` lme4's ``logLik``
        reports ``loglik - loglik_saturated`` (:attr:`lme4_loglik`).
    vcov, vcov_rx
        Covariance of the fixed effects (the one ``se`` comes from), and the one
        conditional on the covariance parameters (lme4's ``vcov(use.hessian = FALSE)``).
    converged, singular
        Whether the optimiser converged to a finite optimum with a positive definite
        Hessian, and whether a variance is on its boundary (lme4's ``isSingular``).
    n_groups, grouping
        Levels and name of the grouping factor (several: of the first in lme4's order,
        the one with most levels).
    varcorr
        Several random-effect terms only: per lme4 group (``class:school``, ``school``),
        its :class:`~mcpower_sweep.fit_groupings.VarCorr`; ``re_cov`` is then block
        diagonal over the groups and ``re_names`` are ``"<group>.<effect>"``.
    data
        Copies of the predictor and grouping columns (for ``MCPower.from_fit``).
    anova
        Per term of the formula (a factor once, not per level), the Wald test that all its
        coefficients are zero, as the simulations test a factor: ``F`` = W / ``num_df``
        with W = b'V⁻¹b on ``vcov``; ``den_df`` ``inf`` (a chi-square(num_df) / num_df,
        e.g. ``car::Anova``'s Wald chi-square) under ``"z"``, the smallest between-within
        df of its columns under ``"between_within"``; ``pvalue``.
    """

    formula: str
    family: str
    link: str
    nagq: int
    df_method: str
    coef: dict[str, float]
    se: dict[str, float]
    z: dict[str, float]
    pvalue: dict[str, float]
    df: dict[str, float]
    re_cov: np.ndarray
    re_names: tuple[str, ...]
    loglik: float
    loglik_saturated: float
    deviance: float
    converged: bool
    singular: bool
    theta: np.ndarray
    vcov: np.ndarray
    vcov_rx: np.ndarray
    n_obs: int
    n_groups: int
    grouping: str
    anova: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    data: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    varcorr: dict[str, VarCorr] = field(default_factory=dict, repr=False)

    @property
    def lme4_loglik(self) -> float:
        """The log-likelihood as lme4's ``logLik`` prints it (nAGQ > 1: minus the saturated)."""
        return self.loglik - (self.loglik_saturated if self.nagq > 1 else 0.0)

    def __str__(self) -> str:
        how = "Laplace" if self.nagq == 1 else f"adaptive Gauss-Hermite ({self.nagq} nodes)"
        lines = [
            f"Generalised linear mixed model ({self.family}, {self.link} link) fit by {how}: "
            f"{self.formula}",
            f"  {self.n_obs} observations, {self.n_groups} levels of {self.grouping}; "
            f"logLik {self.loglik:.4f}; converged {self.converged}; singular {self.singular}",
            "  Random effects (variance):",
        ]
        for i, name in enumerate(self.re_names):
            lines.append(f"    {name:<16} {self.re_cov[i, i]:.6g}")
        test = ("Wald z" if self.df_method == "z" else "Wald t, between-within df")
        lines.append(f"  Fixed effects ({test}):")
        lines.append(f"    {'term':<16} {'estimate':>11} {'se':>10} {'z':>9} {'df':>7} "
                     f"{'p':>10}")
        for t in self.coef:
            lines.append(
                f"    {t:<16} {self.coef[t]:>11.5g} {self.se[t]:>10.4g} {self.z[t]:>9.4g} "
                f"{self.df[t]:>7.4g} {self.pvalue[t]:>10.3g}"
            )
        lines.append(f"  Wald tests of each term ({test.removeprefix('Wald ')}):")
        lines.append(f"    {'term':<16} {'F':>11} {'num df':>10} {'den df':>9} {'p':>10}")
        for t, row in self.anova.items():
            lines.append(f"    {t:<16} {row['F']:>11.5g} {row['num_df']:>10.4g} "
                         f"{row['den_df']:>9.4g} {row['pvalue']:>10.3g}")
        return "\n".join(lines)


def _check_options(family: str, link: str | None, nagq: int) -> tuple[str, str, int]:
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is not allowed: use one of {sorted(FAMILIES)}")
    links = FAMILIES[family]
    link = links[0] if link is None else link
    if link not in links:
        raise ValueError(
            f"link={link!r} is not allowed for family={family!r}: use one of {list(links)}"
        )
    if isinstance(nagq, bool) or not isinstance(nagq, int | np.integer) or not (
        1 <= nagq <= MAX_NAGQ
    ):
        raise ValueError(
            f"nagq={nagq!r} is not allowed: use an integer from 1 (the Laplace approximation) "
            f"to {MAX_NAGQ} (quadrature nodes per cluster, as lme4's nAGQ)"
        )
    return family, link, int(nagq)


def _check_outcome(name: str, y: np.ndarray, family: str) -> None:
    if family == "binomial":
        bad = ~((y == 0) | (y == 1))
        what = "0 or 1 (binomial outcomes are single trials)"
    else:
        bad = (y < 0) | (y != np.round(y))
        what = "a non-negative whole number (a Poisson count)"
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"outcome {name!r} = {float(y[row])!r} at row {row} is not allowed for "
            f"family={family!r}: each value must be {what}"
        )


def fit_glmm(
    formula: str,
    data: Mapping[str, Any] | Any,
    family: str = "binomial",
    link: str | None = None,
    nagq: int = 1,
    df_method: str = "z",
) -> GLMMFit:
    """Fit ``formula`` as a GLMM (glmer) and test each fixed effect by Wald z or t.

    Parameters
    ----------
    formula
        lme4 syntax, e.g. ``"y ~ treatment + (1 | cluster)"``, nested
        ``(1 | school/class)`` or crossed ``(1 | subject) + (1 | item)`` groupings;
        the formula and the data are read as :func:`~mcpower_sweep.fit_lmm` reads them.
    data
        A pandas DataFrame or a mapping of column name to 1-d array.
    family
        ``"binomial"`` (outcome 0/1) or ``"poisson"`` (counts).
    link
        ``"logit"`` (default) or ``"probit"`` for binomial; ``"log"`` for Poisson.
    nagq
        1 for the Laplace approximation (glmer's default), 2–25 for adaptive
        Gauss–Hermite quadrature with that many nodes (a random intercept only).
    df_method
        ``"z"`` (glmer's Wald z, the default) or ``"between_within"`` (the Wald statistic
        on t with SAS GLIMMIX's between-within df: honest with few clusters, see
        docs/calibration.md).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> g = np.repeat(np.arange(20), 30); x = rng.normal(size=600)
    >>> eta = -0.3 + 0.8 * x + rng.normal(scale=0.7, size=20)[g]
    >>> y = (rng.random(600) < 1 / (1 + np.exp(-eta))).astype(float)
    >>> fit = fit_glmm("y ~ x + (1 | g)", {"y": y, "x": x, "g": g})
    >>> fit.converged, fit.coef["x"] > 0.5, fit.pvalue["x"] < 0.001
    (True, True, True)
    >>> fit_glmm("y ~ x + (1 | g)", {"y": y, "x": x, "g": g},
    ...          df_method="between_within").df
    {'(Intercept)': 19.0, 'x': 579.0}

    Several grouping factors (Laplace only), nested or crossed as in lme4:

    >>> school = np.repeat(np.arange(20), 30); klass = np.tile(np.repeat([0, 1, 2], 10), 20)
    >>> fit = fit_glmm("y ~ x + (1 | school/klass)",
    ...                {"y": y, "x": x, "school": school, "klass": klass})
    >>> list(fit.varcorr), fit.converged
    (['klass:school', 'school'], True)
    """
    family, link, nagq = _check_options(family, link, nagq)
    if df_method not in GLMM_DF_METHODS:
        raise ValueError(f"df_method={df_method!r} is not allowed for a GLMM: use 'z' (Wald z, "
                         "glmer's) or 'between_within' (t on SAS GLIMMIX's between-within df)")
    mixed = parse_mixed_formula(formula)
    if mixed.random and not mixed.single:
        return _fit_several(formula, mixed, data, family, link, nagq, df_method)
    frame = model_frame(formula, data)
    if nagq > 1 and frame.random_columns != (0,):
        raise ValueError(
            f"nagq={nagq} (adaptive quadrature) needs a random intercept only, but {formula!r} "
            "has random slopes: use nagq=1 (the Laplace approximation)"
        )
    _check_outcome(frame.parsed.outcome, frame.y, family)
    out = engine_fits.fit_glmm_data(
        frame.X, frame.y, frame.codes, frame.n_groups, frame.random_columns, family=family,
        link=link, nagq=nagq, uncorrelated=frame.parsed.uncorrelated, df_method=df_method,
        joint_tests=[range(a, a + w) for a, w in frame.term_columns.values()],
    )
    names = frame.names
    p = len(names)
    converged = bool(out["converged"])
    beta = np.asarray(out["beta"]) if out["beta"].size == p else np.full(p, np.nan)
    vcov = np.asarray(out["vcov"]) if out["vcov"].size == p * p else np.full((p, p), np.nan)
    se = np.sqrt(np.diag(vcov))
    z = beta / se
    df = (np.asarray(out["between_within_df"]) if df_method == "between_within"
          else np.full(p, math.inf))
    pvalue = np.array([(2.0 * norm_cdf(-abs(v)) if math.isinf(d) else 2.0 * stdtr(d, -abs(v)))
                       if np.isfinite(v) else math.nan for v, d in zip(z, df, strict=True)])
    q = len(frame.random_columns)
    re_cov = np.asarray(out["re_cov"]) if out["re_cov"].size == q * q else np.full((q, q), np.nan)

    def by_name(arr: np.ndarray) -> dict[str, float]:
        return {t: float(v) for t, v in zip(names, arr, strict=True)}

    m2ll = float(out["minus_two_loglik"]) if out["theta"].size else math.nan
    return GLMMFit(
        formula=formula,
        family=family,
        link=link,
        nagq=nagq,
        df_method=df_method,
        coef=by_name(beta),
        se=by_name(se),
        z=by_name(z),
        pvalue=by_name(pvalue),
        df=by_name(df),
        re_cov=re_cov,
        re_names=tuple(names[c] for c in frame.random_columns),
        loglik=-0.5 * m2ll,
        loglik_saturated=float(out["saturated_loglik"]),
        deviance=m2ll,
        converged=converged and bool(np.all(np.isfinite(se))),
        singular=bool(out["singular"]),
        theta=np.asarray(out["theta"]),
        vcov=vcov,
        vcov_rx=np.asarray(out["vcov_rx"]),
        n_obs=frame.n_obs,
        n_groups=frame.n_groups,
        grouping=frame.grouping,
        anova={term: {k: float(v) for k, v in row.items()}
               for term, row in zip(frame.term_columns, out["joint"], strict=True)},
        data=kept_columns(data, (*frame.parsed.predictors, frame.grouping)),
    )


def _fit_several(formula: str, mixed: MixedFormula, data: Any, family: str, link: str, nagq: int,
                 df_method: str) -> GLMMFit:
    """fit_glmm with several random-effect terms: the Laplace fit on fit_lmm's frame."""
    if nagq != 1:
        raise ValueError(
            f"nagq={nagq} is not allowed with several random-effect terms ({formula!r}): use "
            "nagq=1 (the Laplace approximation; glmer refuses nAGQ > 1 there too)"
        )
    if df_method != "z":
        raise ValueError(
            f"df_method={df_method!r} is not available with several random-effect terms "
            f"({formula!r}): use 'z' (glmer's Wald z; the between-within df need one grouping)"
        )
    frame = several_frame(formula, mixed, data)
    _check_outcome(mixed.fixed.outcome, frame.y, family)
    out = engine_fits.fit_glmm_general_data(
        frame.X, frame.y, frame.codes, frame.n_levels, frame.z_columns, family=family,
        link=link, joint_tests=frame.joint_tests,
    )
    names = frame.names
    p = len(names)
    beta = np.asarray(out["beta"]) if out["beta"].size == p else np.full(p, np.nan)
    vcov = np.asarray(out["vcov"]) if out["vcov"].size == p * p else np.full((p, p), np.nan)
    vcov_rx = (np.asarray(out["vcov_rx"]) if out["vcov_rx"].size == p * p
               else np.full((p, p), np.nan))
    se = np.sqrt(np.diag(vcov))
    z = beta / se
    pvalue = np.array([2.0 * norm_cdf(-abs(v)) if np.isfinite(v) else math.nan for v in z])
    covs = (out["re_cov"] if len(out["re_cov"]) == len(frame.z_columns)
            else [np.full((len(zc), len(zc)), np.nan) for zc in frame.z_columns])
    re_cov, re_names, varcorr = frame.variance_components(covs)

    def by_name(arr: np.ndarray) -> dict[str, float]:
        return {t: float(v) for t, v in zip(names, arr, strict=True)}

    m2ll = float(out["minus_two_loglik"]) if out["theta"].size else math.nan
    return GLMMFit(
        formula=formula, family=family, link=link, nagq=nagq, df_method=df_method,
        coef=by_name(beta), se=by_name(se), z=by_name(z), pvalue=by_name(pvalue),
        df=by_name(np.full(p, math.inf)), re_cov=re_cov, re_names=re_names,
        loglik=-0.5 * m2ll, loglik_saturated=float(out["saturated_loglik"]), deviance=m2ll,
        converged=bool(out["converged"]) and bool(np.all(np.isfinite(se))),
        singular=bool(out["singular"]), theta=np.asarray(out["theta"]), vcov=vcov,
        vcov_rx=vcov_rx, n_obs=len(frame.y), n_groups=frame.n_levels[0],
        grouping=frame.groups[0],
        anova={term: {k: float(v) for k, v in row.items()}
               for term, row in zip(frame.term_columns, out["joint"], strict=True)},
        varcorr=varcorr,
    )
