"""The outcome's family: how MCPower 1.4.1's ``family=`` maps onto the engine and the link scale.

``"lme"`` is the linear mixed model (residual variance 1).  ``"logit"``, ``"probit"`` and
``"poisson"`` are generalised linear mixed models (fitted as lme4's ``glmer`` does, tested
by Wald z, or with ``df_method="between_within"`` by the Wald statistic on a t distribution
with SAS GLIMMIX's between-within df, the small-sample choice with few clusters).  Their
effects are on the link scale (log-odds, probit units, log-rates) and their intercept comes
from a baseline:

- logit: intercept = qlogis(p) = log(p / (1 - p)); probit: intercept = qnorm(p);
  poisson: intercept = log(rate), where p and rate are the outcome's probability and
  expected count when every predictor is 0;
- random-intercept variance from an ICC on the latent scale: tau^2 = ICC / (1 - ICC) x
  pi^2 / 3 (logit, the variance of the standard logistic), x 1 (probit), x 1 for lme
  (the residual variance); poisson has no latent residual, so it needs ``tau_squared``.

Examples
--------
>>> round(baseline_intercept("logit", 0.2), 6), round(baseline_intercept("poisson", 2.0), 6)
(-1.386294, 0.693147)
>>> round(intercept_variance("logit", 0.2), 6)
0.822467
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from scipy.special import expit, logit, ndtr, ndtri

from ..params import FAMILIES, PARAMS

if TYPE_CHECKING:
    from .spec import SimulationSpec

GLMM_FAMILIES = ("logit", "probit", "poisson")
# A GLMM's tests: Wald z (glmer's default, first) or the Wald statistic on t / F with SAS
# GLIMMIX's between-within df (DDFM=BW, MCPower 1.4.1's GLMM default), for few clusters.
GLMM_DF_METHODS = ("z", "between_within")
# The engine's (family, link) of each family.
ENGINE_FAMILY: dict[str, tuple[str, str]] = {
    "lme": ("gaussian", "identity"),
    "logit": ("binomial", "logit"),
    "probit": ("binomial", "probit"),
    "poisson": ("poisson", "log"),
}
# Variance of the latent residual: what an ICC is a share of (None: no latent scale).
LATENT_VARIANCE: dict[str, float | None] = {
    "lme": 1.0, "logit": math.pi ** 2 / 3, "probit": 1.0, "poisson": None}
# The baseline parameter of each GLMM family, and what exp(effect) is called.
BASELINE = {"logit": "baseline_probability", "probit": "baseline_probability",
            "poisson": "baseline_rate"}
RATIO = {"logit": "odds_ratio", "poisson": "rate_ratio"}
RATIO_LABEL = {"odds_ratio": "odds ratio", "rate_ratio": "rate ratio"}
# MCPower 1.4.1 names these; say what to do instead of "unknown".
OLS_MESSAGE = ("family='ols' is an ordinary regression without clusters: mcpower_sweep "
               "simulates mixed models; use family='lme' (or 'logit', 'probit', 'poisson') "
               "with a random part such as (1 | cluster)")
assert set(ENGINE_FAMILY) == set(FAMILIES)


def is_glmm(family: str) -> bool:
    """Whether ``family`` is a generalised linear mixed model (Wald z or between-within t)."""
    return family in GLMM_FAMILIES


def baseline_intercept(family: str, baseline: float) -> float:
    """The link-scale intercept of a baseline probability (logit, probit) or rate (poisson).

    >>> round(baseline_intercept("probit", 0.975), 4)
    1.96
    """
    if family == "logit":
        return float(logit(baseline))
    if family == "probit":
        return float(ndtri(baseline))
    if family == "poisson":
        return math.log(baseline)
    raise ValueError(f"family={family!r} has no baseline: use one of {GLMM_FAMILIES}")


def intercept_baseline(family: str, intercept: float) -> float:
    """The baseline probability or rate of a link-scale intercept (baseline_intercept's
    inverse).

    >>> round(intercept_baseline("logit", baseline_intercept("logit", 0.3)), 12)
    0.3
    """
    if family == "logit":
        return float(expit(intercept))
    if family == "probit":
        return float(ndtr(intercept))
    if family == "poisson":
        return math.exp(intercept)
    raise ValueError(f"family={family!r} has no baseline: use one of {GLMM_FAMILIES}")


def intercept_variance(family: str, icc: float) -> float:
    """Random-intercept variance tau^2 of an ICC on the latent scale (see the module).

    >>> intercept_variance("probit", 0.5)
    1.0
    """
    latent = LATENT_VARIANCE[family]
    if latent is None:
        raise ValueError(f"ICC={icc!r} with family={family!r}: a Poisson model has no latent "
                         "scale for an ICC; give tau_squared= (the random-intercept variance "
                         "on the log scale) instead")
    return icc / (1.0 - icc) * latent


def effect_ratio(family: str) -> str | None:
    """``"odds_ratio"`` (logit), ``"rate_ratio"`` (poisson) or None: what exp(effect) is."""
    return RATIO.get(family)


def effect_ratios(spec: SimulationSpec) -> dict[str, float]:
    """exp(effect) of each test (odds or rate ratio; NaN for a joint test), {} if none.

    >>> from mcpower_sweep import MCPower
    >>> m = (MCPower("y ~ x + (1|g)", family="poisson").set_baseline_rate(1.0)
    ...      .set_cluster("g", tau_squared=0.1, n_clusters=10).set_effects("x=0.5"))
    >>> effect_ratios(m.to_spec(100))
    {'x': 1.6487212707001282}
    """
    if effect_ratio(spec.family) is None:
        return {}
    ratios = dict(zip(spec.term_names[1:], map(math.exp, spec.effects[1:]), strict=True))
    return {t: ratios.get(t, math.nan) for t in spec.tests}


def model_text(spec: SimulationSpec) -> str:
    """``binomial GLMM, logit link, baseline probability 0.3 (intercept -0.847)``; "" for lme."""
    if not is_glmm(spec.family):
        return ""
    family, link = ENGINE_FAMILY[spec.family]
    base = BASELINE[spec.family]
    quad = (f", adaptive quadrature ({spec.nagq} nodes)" if spec.nagq > 1
            else ", Laplace")
    return (f"{family} GLMM, {link} link{quad}; {base.replace('_', ' ')} "
            f"{getattr(spec, base):g} (intercept {spec.intercept:.4g}); effects on the "
            f"{link} scale")


def family_params(spec: SimulationSpec) -> dict[str, Any]:
    """The family's provenance entries (only those in use: existing designs keep their hash)."""
    out: dict[str, Any] = {}
    if spec.tau_squared is not None:
        out["tau_squared"] = spec.tau_squared
    if not is_glmm(spec.family):
        return out
    out["family"] = spec.family
    base = BASELINE[spec.family]
    out[base] = getattr(spec, base)
    if spec.nagq != 1:
        out["nagq"] = spec.nagq
    return out


def check_family(spec: SimulationSpec) -> None:
    """Refuse a family's settings that do not fit together (message: parameter, value, rule)."""
    family = PARAMS["family"].check(spec.family)
    if spec.tau_squared is not None:
        PARAMS["tau_squared"].check(spec.tau_squared)
        if spec.icc:
            raise ValueError(f"ICC={spec.icc!r} and tau_squared={spec.tau_squared!r}: give "
                             "exactly one of them for the random-intercept variance")
    if not is_glmm(family):
        for name in ("baseline_probability", "baseline_rate"):
            if getattr(spec, name) is not None:
                raise ValueError(f"{name}={getattr(spec, name)!r} is for generalised models: "
                                 f"family={family!r} has no baseline (use family='logit', "
                                 "'probit' or 'poisson')")
        if spec.nagq != 1:
            raise ValueError(f"nagq={spec.nagq!r} is for generalised models (family='logit', "
                             "'probit' or 'poisson'); a linear mixed model has no quadrature")
        return
    base = BASELINE[family]
    other = "baseline_rate" if base == "baseline_probability" else "baseline_probability"
    setter = f"set_{base}"
    if getattr(spec, other) is not None:
        raise ValueError(f"{other}={getattr(spec, other)!r} does not apply to family="
                         f"{family!r}: it takes {setter}(...)")
    if getattr(spec, base) is None:
        raise ValueError(f"family={family!r} needs a baseline: call {setter}(...) (the "
                         f"{PARAMS[base].description})")
    PARAMS[base].check(getattr(spec, base))
    if family == "poisson" and spec.icc:
        intercept_variance(family, spec.icc)  # raises: Poisson takes tau_squared
    if spec.estimator != "ml":
        raise ValueError(f"estimator={spec.estimator!r} is for linear mixed models: "
                         f"family={family!r} is fitted by maximum likelihood (Laplace) as "
                         "glmer does; use estimator='ml'")
    if spec.df_method not in GLMM_DF_METHODS:
        raise ValueError(f"df_method={spec.df_method!r} is for linear mixed models: "
                         f"family={family!r} is tested by Wald z as glmer does "
                         "(df_method='z') or by t on SAS GLIMMIX's between-within df "
                         "(df_method='between_within')")
    if not (isinstance(spec.nagq, int) and not isinstance(spec.nagq, bool)
            and (spec.nagq == 1 or (spec.nagq % 2 and 3 <= spec.nagq <= 25))):
        raise ValueError(f"agq={spec.nagq!r} is not allowed: use 1 (Laplace) or an odd whole "
                         "number from 3 to 25 (adaptive Gauss-Hermite quadrature)")
    if spec.nagq > 1 and tuple(spec.random_columns) != (0,):
        raise ValueError(f"agq={spec.nagq!r}: adaptive quadrature needs a random intercept "
                         "only (as glmer's nAGQ); use agq=1 (Laplace) with random slopes")
