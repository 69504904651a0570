"""Departures from the textbook model: distribution shapes, heteroskedasticity, scenarios.

A spec's ``residual_dist`` and ``random_effect_dist`` name a shape with the variance the
design sets (only the shape changes): ``"normal"`` (default), ``"t(df)"`` (Student t,
df > 2), ``"right_skewed(df)"`` / ``"left_skewed(df)"`` (a standardised chi-square with df
degrees of freedom: skewness sqrt(8/df)), ``"uniform"`` or ``"mixture(w)"`` (a contaminated
normal: weight w on a component with 3 times the SD).  MCPower 1.4.1's names are read too
(``"high_kurtosis"`` and ``"heavy_tailed"`` = t, ``"skewed"`` = right_skewed); a shape given
without its df takes the scenario's (``residual_df``, ``random_effect_df``; the optimistic
scenario's when there is none).

``heteroskedasticity`` is MCPower's variance ratio lambda >= 1: the residual variance of a
row is exp(gamma z) / exp(gamma^2 / 2), gamma = ln(lambda) / 4, z the standardised driver
(``heteroskedasticity_driver``, a predictor, or the linear predictor when None), so the
mean residual variance stays 1 and the variance at z = +2 is lambda times that at z = -2.

``scenario`` names one of MCPower 1.4.1's scenario sets (:data:`SCENARIOS`, or a custom one
in ``scenario_configs``).  A scenario changes only what the design left at its default:
an explicit non-normal ``residual_dist`` or ``random_effect_dist`` or a ratio other than 1
is kept.

Examples
--------
>>> check_distribution("T(5)"), check_distribution("high_kurtosis"), check_distribution("normal")
('t(5)', 't', 'normal')
>>> check_distribution("t(2)")
Traceback (most recent call last):
...
ValueError: residual_dist='t(2)' is not allowed: t needs df > 2 (a finite variance)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .factors import predictor_columns
from .variance_draws import engine_rows

if TYPE_CHECKING:
    from .spec import SimulationSpec

SHAPES = ("normal", "t", "right_skewed", "left_skewed", "uniform", "mixture")
ALIASES = {"high_kurtosis": "t", "heavy_tailed": "t", "skewed": "right_skewed"}
DEFAULT_MIXTURE_WEIGHT = 0.1
# MCPower 1.4.1's scenario sets (its configs/scenarios.json): what each perturbs and by how
# much.  heterogeneity: SD of each effect's per-study jitter, as a share of the effect;
# heteroskedasticity_ratio: lambda above; icc_noise_sd: SD of the per-study jitter of the
# random-intercept variance; residual_change_prob: the chance a study's residuals take one
# of residual_dists (with residual_df) instead; random_effect_dist / _df: the random
# effects' shape.  correlation_noise_sd, distribution_change_prob, new_distributions,
# sampled_factor_proportions and truth_start are accepted but not simulated here
# (docs/robustness.md).
SCENARIOS: dict[str, dict[str, Any]] = {
    "optimistic": {
        "heterogeneity": 0.0, "heteroskedasticity_ratio": 1.0, "correlation_noise_sd": 0.0,
        "sampled_factor_proportions": False, "truth_start": True,
        "distribution_change_prob": 0.0,
        "new_distributions": ("right_skewed", "left_skewed", "uniform"),
        "random_effect_dist": "normal", "random_effect_df": 5, "icc_noise_sd": 0.0,
        "residual_dists": ("high_kurtosis", "right_skewed"), "residual_change_prob": 0.0,
        "residual_df": 10},
    "realistic": {
        "heterogeneity": 0.2, "heteroskedasticity_ratio": 2.0, "correlation_noise_sd": 0.15,
        "sampled_factor_proportions": True, "truth_start": False,
        "distribution_change_prob": 0.5,
        "new_distributions": ("right_skewed", "left_skewed", "uniform"),
        "random_effect_dist": "heavy_tailed", "random_effect_df": 10, "icc_noise_sd": 0.15,
        "residual_dists": ("high_kurtosis", "right_skewed"), "residual_change_prob": 0.5,
        "residual_df": 8},
    "doomer": {
        "heterogeneity": 0.4, "heteroskedasticity_ratio": 4.0, "correlation_noise_sd": 0.3,
        "sampled_factor_proportions": True, "truth_start": False,
        "distribution_change_prob": 0.8,
        "new_distributions": ("right_skewed", "left_skewed", "uniform"),
        "random_effect_dist": "heavy_tailed", "random_effect_df": 5, "icc_noise_sd": 0.3,
        "residual_dists": ("high_kurtosis", "right_skewed"), "residual_change_prob": 0.8,
        "residual_df": 5},
}
NOT_SIMULATED = ("correlation_noise_sd", "distribution_change_prob", "new_distributions",
                 "sampled_factor_proportions", "truth_start")
_TEXT = re.compile(r"^\s*([a-z_]+)\s*(?:\(\s*([^)]*?)\s*\))?\s*$")

ScenarioConfigs = tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]


def parse_distribution(text: str) -> tuple[str, float | None]:
    """``(shape, parameter or None)`` of a normalised distribution text."""
    m = _TEXT.match(text)
    assert m is not None, text
    return m.group(1), None if m.group(2) is None else float(m.group(2))


def check_distribution(value: object, label: str = "residual_dist") -> str:
    """A distribution in its one spelling (``"t(5)"``, ``"t"``, ``"mixture(0.1)"``), or
    ``ValueError`` naming ``label``, the value and what is allowed."""
    allowed = ("use 'normal', 't(df)', 'right_skewed(df)', 'left_skewed(df)', 'uniform' or "
               "'mixture(w)' (also MCPower's 'high_kurtosis', 'heavy_tailed', 'skewed'; "
               "df left out: the scenario's)")
    m = _TEXT.match(value.lower()) if isinstance(value, str) else None
    shape = ALIASES.get(m.group(1), m.group(1)) if m else None
    if m is None or shape not in SHAPES:
        raise ValueError(f"{label}={value!r} is unknown: {allowed}")
    if m.group(2) is None:
        return shape
    if shape in ("normal", "uniform"):
        raise ValueError(f"{label}={value!r} is not allowed: {shape} takes no parameter")
    try:
        x = float(m.group(2))
    except ValueError:
        raise ValueError(f"{label}={value!r} is not allowed: {allowed}") from None
    if shape == "t" and not (math.isfinite(x) and x > 2):
        raise ValueError(f"{label}={value!r} is not allowed: t needs df > 2 (a finite variance)")
    if shape.endswith("skewed") and not (math.isfinite(x) and x > 0):
        raise ValueError(f"{label}={value!r} is not allowed: {shape} needs df > 0")
    if shape == "mixture" and not 0 < x < 1:
        raise ValueError(f"{label}={value!r} is not allowed: mixture needs a weight in (0, 1)")
    return f"{shape}({x:g})"


def scenario_config(name: str, custom: ScenarioConfigs = ()) -> dict[str, Any]:
    """The merged settings of scenario ``name``: MCPower 1.4.1's rule (a default's keys
    updated by the custom ones; a new name starts from ``optimistic`` with
    ``truth_start=False``)."""
    extra = dict(custom).get(name)
    if name not in SCENARIOS and extra is None:
        known = ", ".join([*SCENARIOS, *(n for n, _ in custom if n not in SCENARIOS)])
        raise ValueError(f"scenario={name!r} is unknown: use one of {known}")
    base = dict(SCENARIOS.get(name) or {**SCENARIOS["optimistic"], "truth_start": False})
    return {**base, **dict(extra or ())}


def check_scenario_configs(configs: object, custom: ScenarioConfigs = ()) -> ScenarioConfigs:
    """``set_scenario_configs``'s mapping ``{name: {key: value}}`` merged over ``custom``,
    checked (unknown keys refused) and frozen."""
    if not isinstance(configs, Mapping):
        raise ValueError(f"set_scenario_configs: {configs!r} is not a mapping of scenario "
                         "name -> {setting: value}")
    merged = {n: dict(c) for n, c in custom}
    keys = sorted(SCENARIOS["optimistic"])
    for name, cfg in configs.items():
        if not isinstance(name, str) or not isinstance(cfg, Mapping):
            raise ValueError(f"scenario config for {name!r} must be a dict, got {cfg!r}")
        for key, value in cfg.items():
            if key not in keys:
                raise ValueError(f"scenario {name!r}: unknown config key {key!r}; allowed: "
                                 f"{', '.join(keys)}")
            merged.setdefault(name, {})[key] = tuple(value) if isinstance(value, list) else value
    out = tuple((n, tuple(sorted(c.items()))) for n, c in merged.items())
    for name, _ in out:
        _check_config(name, scenario_config(name, out))
    return out


def _check_config(name: str, cfg: Mapping[str, Any]) -> None:
    for key in ("heterogeneity", "icc_noise_sd", "correlation_noise_sd"):
        if not (isinstance(cfg[key], (int, float)) and cfg[key] >= 0):
            raise ValueError(f"scenario {name!r}: {key}={cfg[key]!r} must be a number >= 0")
    for key in ("residual_change_prob", "distribution_change_prob"):
        if not (isinstance(cfg[key], (int, float)) and 0 <= cfg[key] <= 1):
            raise ValueError(f"scenario {name!r}: {key}={cfg[key]!r} must be in [0, 1]")
    if not (isinstance(cfg["heteroskedasticity_ratio"], (int, float))
            and cfg["heteroskedasticity_ratio"] >= 1):
        raise ValueError(f"scenario {name!r}: heteroskedasticity_ratio="
                         f"{cfg['heteroskedasticity_ratio']!r} must be a number >= 1")
    for key in ("residual_df", "random_effect_df"):
        if not (isinstance(cfg[key], (int, float)) and cfg[key] > 2):
            raise ValueError(f"scenario {name!r}: {key}={cfg[key]!r} must be a number > 2")
    for d in (*cfg["residual_dists"], cfg["random_effect_dist"]):
        check_distribution(d, f"scenario {name!r}: distribution")


def _shape(text: str, df: float) -> tuple[str, float]:
    shape, param = parse_distribution(check_distribution(text))
    if param is None:
        param = DEFAULT_MIXTURE_WEIGHT if shape == "mixture" else df
    return shape, param if shape not in ("normal", "uniform") else 0.0


def robustness(spec: SimulationSpec) -> dict[str, Any]:
    """The engine's robustness settings of ``spec`` (shapes by name; empty: none).

    >>> from mcpower_sweep import MCPower
    >>> m = MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.2, n_clusters=10)
    >>> robustness(m.to_spec(100)), robustness(m.to_spec(100).with_params(residual_dist="t(5)"))
    ({}, {'residual_shape': 't', 'residual_param': 5.0})
    """
    cfg = scenario_config(spec.scenario, spec.scenario_configs) if spec.scenario else None
    opt = cfg or SCENARIOS["optimistic"]
    out: dict[str, Any] = {}
    if spec.family != "lme":  # no residual: a scenario's residual settings do not apply
        cfg = cfg and {**cfg, "residual_change_prob": 0, "heteroskedasticity_ratio": 1.0}
    if spec.residual_dist != "normal":
        out["residual_shape"], out["residual_param"] = _shape(spec.residual_dist,
                                                              opt["residual_df"])
    elif cfg and cfg["residual_change_prob"] > 0:
        pool = [_shape(d, cfg["residual_df"]) for d in cfg["residual_dists"]]
        out["residual_change_prob"] = float(cfg["residual_change_prob"])
        out["residual_pool"] = [s for s, _ in pool]
        out["residual_pool_param"] = [p for _, p in pool]
    re_dist = (spec.random_effect_dist if spec.random_effect_dist != "normal"
               else cfg["random_effect_dist"] if cfg else "normal")
    if check_distribution(re_dist) != "normal":
        out["re_shape"], out["re_param"] = _shape(re_dist, opt["random_effect_df"])
    ratio = (spec.heteroskedasticity if spec.heteroskedasticity != 1.0
             else float(cfg["heteroskedasticity_ratio"]) if cfg else 1.0)
    driver = het_driver(spec) if ratio != 1.0 else None
    if driver is not None:  # a constant driver (no effect): homoskedastic, as MCPower
        weights, center, scale = driver
        out.update(het_gamma=math.log(ratio) / 4.0, het_weights=weights, het_center=center,
                   het_scale=scale)
    if cfg and cfg["heterogeneity"] > 0:
        out["effect_jitter"] = float(cfg["heterogeneity"])
    if cfg and cfg["icc_noise_sd"] > 0:
        out["icc_noise_sd"] = float(cfg["icc_noise_sd"])
    if spec.variance_draws:
        out["variance_draws"] = engine_rows(spec.variance_draws, len(spec.random_columns))
    return out


def het_driver(spec: SimulationSpec) -> tuple[list[float], float, float] | None:
    """Weights over the fixed columns, mean and SD of the heteroskedasticity driver: the
    named predictor (a main effect, not a factor) or the linear predictor (main effects;
    None when it is constant, all effects 0)."""
    cols = predictor_columns(spec.predictors)
    p = len(spec.term_names)
    name = spec.heteroskedasticity_driver
    if name is not None:
        index = [pr.name for pr in spec.predictors].index(name)
        col = cols.index((index, 0))
        weights = [0.0] * p
        weights[1 + spec.terms.index((col,))] = 1.0
        pr = spec.predictors[index]
        if pr.values:
            return weights, float(np.mean(pr.values)), float(np.std(pr.values)) or 1.0
        if pr.kind == "binary":
            return weights, pr.p, math.sqrt(pr.p * (1 - pr.p))
        return weights, 0.0, 1.0
    weights = [0.0, *spec.effects[1:]]
    if any(pr.values for pr in spec.predictors):
        raise ValueError("heteroskedasticity driven by the linear predictor needs drawn "
                         "predictors (a predictor has fixed values): name a predictor with "
                         "set_heteroskedasticity_driver")
    if any(len(t) > 1 and spec.effects[k + 1] for k, t in enumerate(spec.terms)):
        raise ValueError("heteroskedasticity driven by the linear predictor needs main effects "
                         "only (an interaction has an effect): name a predictor with "
                         "set_heteroskedasticity_driver")
    mean = np.zeros(len(cols))
    cov = np.zeros((len(cols), len(cols)))
    mix = spec.predictor_mix()
    for a, (i, lv) in enumerate(cols):
        pr = spec.predictors[i]
        if pr.kind == "normal":
            for b, (k, _) in enumerate(cols):
                if spec.predictors[k].kind == "normal":
                    cov[a, b] = (mix @ mix.T)[a, b] if mix is not None else float(a == b)
            continue
        pa = pr.proportions[lv - 1] if lv else pr.p
        mean[a] = pa
        for b, (k, lb) in enumerate(cols):
            if k == i:
                pb = pr.proportions[lb - 1] if lb else pr.p
                cov[a, b] = pa * (1 - pa) if a == b else -pa * pb
    w = np.zeros(len(cols))
    for k, t in enumerate(spec.terms):
        if len(t) == 1:
            w[t[0]] += spec.effects[k + 1]
    sd = float(np.sqrt(max(w @ cov @ w, 0.0)))
    return (weights, float(w @ mean), sd) if sd > 1e-12 else None


def check_robust(spec: SimulationSpec) -> None:
    """The robustness rules of a spec (``ValueError`` naming parameter, value and rule)."""
    check_distribution(spec.residual_dist, "residual_dist")
    check_distribution(spec.random_effect_dist, "random_effect_dist")
    if not (math.isfinite(spec.heteroskedasticity) and spec.heteroskedasticity >= 1):
        raise ValueError(f"heteroskedasticity={spec.heteroskedasticity!r} is not allowed: use "
                         "a variance ratio >= 1 (1: homoskedastic)")
    name = spec.heteroskedasticity_driver
    if name is not None:
        by_name = {pr.name: pr for pr in spec.predictors}
        cols = predictor_columns(spec.predictors)
        pr = by_name.get(name)
        if pr is None or pr.kind == "factor" or (
                (cols.index((list(by_name).index(name), 0)),) not in spec.terms):
            allowed = [p.name for i, p in enumerate(spec.predictors) if p.kind != "factor"
                       and (cols.index((i, 0)),) in spec.terms]
            raise ValueError(f"heteroskedasticity_driver={name!r} is not allowed: use a "
                             f"non-factor predictor with a main effect ({', '.join(allowed)}) "
                             "or None (the linear predictor)")
    if spec.scenario:
        scenario_config(spec.scenario, spec.scenario_configs)
    if spec.family != "lme" and (spec.residual_dist != "normal" or spec.heteroskedasticity != 1.0):
        what = ("residual_dist=" + repr(spec.residual_dist) if spec.residual_dist != "normal"
                else f"heteroskedasticity={spec.heteroskedasticity:g}")
        raise ValueError(f"{what} with family={spec.family!r}: a GLMM's outcome has no normal "
                         "residual to change; random-effect distributions and scenario sets "
                         "apply (their residual settings are for family='lme')")
