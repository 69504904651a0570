"""Every user-facing parameter, defined once: name, type, range, description and units.

The API setters, the scenario (YAML) checks, the sweep axes, the CLI options and the
results' attributes all take their rules and words from :data:`PARAMS`, so a range or a
description is changed in one place.  A fixed effect's size is the axis
``effect_<term>`` (:func:`effect_param`).

Examples
--------
>>> PARAMS["icc"].check(0.2)
0.2
>>> PARAMS["n_clusters"].check(1)
Traceback (most recent call last):
...
ValueError: n_clusters=1 is not allowed: use a whole number >= 2
>>> PARAMS["slope_variance"].attrs()["units"]
'outcome variance'
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, replace
from numbers import Integral, Real
from typing import Any

import numpy as np

ESTIMATORS = ("reml", "ml")
DF_METHODS = ("satterthwaite", "between_within", "residual", "z", "kenward_roger")
# Multiple-testing procedures over the tested effects of one simulation (stats.reject):
# none, family-wise (Bonferroni, Holm), false discovery rate (Benjamini-Hochberg).
CORRECTIONS = ("none", "bonferroni", "holm", "bh")
# MCPower 1.4.1's other spellings (compared case-insensitively, "-" and " " read as "_").
CORRECTION_ALIASES = {"fdr": "bh", "benjamini_hochberg": "bh"}
# MCPower 1.4.1's families that this package simulates: "lme" the linear mixed model, the
# others generalised linear mixed models (design/family.py); its "ols" has no clusters.
FAMILIES = ("lme", "logit", "probit", "poisson")
# What find_sample_size's sizes count (MCPower 1.4.1's unit=): N, clusters, or rows per cluster.
SIZE_UNITS = ("observations", "clusters", "cluster_size")
MIN_CLUSTER_SIZE = 5  # the engine's own floor for drawn sizes (_native.MIN_CLUSTER_SIZE)
MAX_CLUSTER_SIZE_CV = 2.0
# Beyond these a run would exhaust memory or time long before it finished: refuse up front.
MAX_SAMPLE_SIZE = 10_000_000
MAX_SIMULATIONS = 100_000_000
MAX_SEED = 2**64 - 1
MAX_THREADS = 1024
MAX_WORKERS = 100_000
MAX_GRID_POINTS = 1_000_000  # design points of one sweep
EFFECT_PREFIX = "effect_"


@dataclass(frozen=True)
class Param:
    """One parameter: its rule (``kind`` and range), its words and whether it is a sweep axis.

    Attributes
    ----------
    name
        The one spelling used by the YAML, the CLI, the sweep axes and the dataset.
    kind
        ``"int"``, ``"float"``, a tuple of allowed strings, ``"distribution"`` (a shape such
        as ``"t(5)"``, :func:`mcpower_sweep.design.robust.check_distribution`) or ``"name"``
        (any non-empty name, checked where it is used: a scenario set).
    description, units
        For humans and for CF attributes (``long_name``, ``units``; ``"1"`` = a ratio).
    low, high
        Bounds (None: unbounded); ``low_open`` / ``high_open`` exclude the bound itself.
    axis
        Whether a sweep may vary it.
    hint
        What is allowed, in words, where the range alone says it badly.
    """

    name: str
    kind: str | tuple[str, ...]
    description: str
    units: str = "1"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    axis: bool = False
    hint: str | None = None

    @property
    def allowed(self) -> str:
        """What is allowed, in words (``"a whole number >= 2"``, ``"a number in [0, 1)"``)."""
        if self.hint:
            return self.hint
        if isinstance(self.kind, tuple):
            return "one of " + ", ".join(self.kind)
        what = "a whole number" if self.kind == "int" else "a number"
        lo, hi = self.low, self.high
        if lo is not None and hi is not None and self.kind == "float":
            return (f"{what} in {'(' if self.low_open else '['}{lo:g}, "
                    f"{hi:g}{')' if self.high_open else ']'}")
        if lo is not None:
            return f"{what} {'>' if self.low_open else '>='} {lo:g}"
        if hi is not None:
            return f"{what} {'<' if self.high_open else '<='} {hi:g}"
        return f"a finite {what[2:]}" if self.kind == "float" else what

    def check(self, value: Any, label: str | None = None) -> int | float | str:
        """``value`` as a plain Python scalar of this parameter's type, or ``ValueError``.

        ``label`` is the spelling the user wrote (``"ICC"`` in ``set_cluster``), used in
        the message; it defaults to :attr:`name`.
        """
        label = label or self.name
        if isinstance(self.kind, tuple):
            if isinstance(value, str) and value in self.kind:
                return value
            raise ValueError(f"{label}={value!r} is unknown: use {self.allowed}")
        if self.kind == "distribution":
            from .design.robust import check_distribution

            return check_distribution(value, label)
        if self.kind == "name":
            if isinstance(value, str) and value.strip():
                return value.strip()
            raise ValueError(f"{label}={value!r} is not allowed: use {self.allowed}")
        number = _number(value, whole=self.kind == "int")
        if number is None:
            real = isinstance(value, Real) and not isinstance(value, (bool, np.bool_))
            problem = "is not allowed" if real else "is not a number"
            raise ValueError(f"{label}={value!r} {problem}: use {self.allowed}")
        lo, hi = self.low, self.high
        if lo is not None and (number < lo or (self.low_open and number == lo)):
            raise ValueError(f"{label}={value!r} is not allowed: use {self.allowed}")
        if hi is not None and (number > hi or (self.high_open and number == hi)):
            if self.kind == "int":
                limit = self.hint or f"at most {int(hi):,}"
                raise ValueError(f"{label}={value!r} is too large: {limit}")
            raise ValueError(f"{label}={value!r} is not allowed: use {self.allowed}")
        return number

    def attrs(self) -> dict[str, str]:
        """CF-style attributes of a coordinate or variable named after this parameter."""
        return {"long_name": self.description, "units": self.units}


def _number(value: Any, *, whole: bool) -> int | float | None:
    """A finite int (``whole``) or float from ``value``; None if it is not one.

    Booleans are refused; a float that is a whole number is accepted as an int.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        return None
    x = float(value)
    if not math.isfinite(x):
        return None
    if not whole:
        return x
    if isinstance(value, Integral):
        return int(value)
    return int(x) if x.is_integer() else None


PARAMS: dict[str, Param] = {p.name: p for p in (
    # Sizes of the simulated study.
    Param("sample_size", "int", "total number of observations N", "observations", low=1,
          high=MAX_SAMPLE_SIZE, axis=True),
    Param("n_clusters", "int", "number of clusters", "clusters", low=2,
          high=MAX_SAMPLE_SIZE // MIN_CLUSTER_SIZE, axis=True),
    Param("cluster_size", "int", "observations per cluster", "observations",
          low=MIN_CLUSTER_SIZE, high=MAX_SAMPLE_SIZE // 2, axis=True),
    Param("n_per_parent", "int", "units of a nested grouping in each unit of its parent "
          "(classes per school)", "units", low=2, high=MAX_SAMPLE_SIZE // 2, axis=True),
    Param("cluster_size_cv", "float",
          "coefficient of variation of the cluster sizes (drawn for each simulation)",
          low=0.0, high=MAX_CLUSTER_SIZE_CV, axis=True),
    # The random-effects covariance (residual variance 1).
    Param("icc", "float", "intra-class correlation of the outcome (random intercept)",
          low=0.0, high=1.0, high_open=True, axis=True),
    Param("slope_variance", "float", "variance of each random slope (residual variance = 1)",
          "outcome variance", low=0.0, axis=True),
    Param("slope_intercept_corr", "float",
          "correlation between each random slope and the random intercept", low=-1.0,
          high=1.0, axis=True),
    # The model.
    Param("family", FAMILIES, "model family (lme: linear mixed model; logit, probit, "
          "poisson: generalised linear mixed models)", "",
          hint="'lme' (linear mixed model), 'logit' or 'probit' (binary outcome) or "
               "'poisson' (count outcome)"),
    Param("baseline_probability", "float",
          "probability of the outcome when every predictor is 0 (logit, probit)", low=0.0,
          high=1.0, low_open=True, high_open=True, axis=True),
    Param("baseline_rate", "float", "expected count when every predictor is 0 (poisson)",
          "events", low=0.0, low_open=True, axis=True),
    # Departures from the textbook model (design/robust.py, docs/robustness.md).
    Param("residual_dist", "distribution",
          "shape of the residuals (their variance unchanged)", "", axis=True,
          hint="'normal', 't(df)', 'right_skewed(df)', 'left_skewed(df)', 'uniform' or "
               "'mixture(w)'"),
    Param("random_effect_dist", "distribution",
          "shape of the random effects (their variances unchanged)", "", axis=True,
          hint="'normal', 't(df)', 'right_skewed(df)', 'left_skewed(df)', 'uniform' or "
               "'mixture(w)'"),
    Param("heteroskedasticity", "float",
          "residual variance ratio between driver values 4 SD apart (1: homoskedastic)",
          low=1.0, axis=True),
    Param("scenario", "name",
          "scenario set of perturbed assumptions (MCPower 1.4.1's optimistic, realistic, "
          "doomer or a custom one)", "", axis=True,
          hint="'optimistic', 'realistic', 'doomer' or a name given to set_scenario_configs"),
    Param("tau_squared", "float", "random-intercept variance on the link scale", "link scale",
          low=0.0),
    Param("unit", SIZE_UNITS, "what find_sample_size's sizes count", "",
          hint="'observations' (N), 'clusters' (with a fixed cluster_size) or 'cluster_size' "
               "(with a fixed n_clusters)"),
    # The test.
    Param("alpha", "float", "significance level of each test", low=0.0, high=1.0,
          low_open=True, high_open=True, axis=True),
    Param("df_method", DF_METHODS, "reference distribution (df) of the Wald t test", "",
          axis=True),
    Param("estimator", ESTIMATORS, "fit criterion of the mixed model", "", axis=True),
    Param("correction", CORRECTIONS, "multiple-testing correction over the tested effects", "",
          hint="None or one of 'none', 'bonferroni', 'holm', 'bh' (also 'fdr', "
               "'Benjamini-Hochberg'), in any case"),
    # How a run is made.
    Param("simulations", "int", "simulated studies per design point", "simulations", low=1,
          high=MAX_SIMULATIONS),
    Param("seed", "int", "master seed of the random numbers", "", low=0, high=MAX_SEED,
          hint="a whole number 0 <= seed < 2**64"),
    Param("target_power", "float", "power the design should reach", low=0.0, high=1.0,
          low_open=True, high_open=True),
    Param("max_failed", "float", "largest share of failed fits accepted", low=0.0, high=1.0),
    Param("chunk_size", "int", "simulations per task", "simulations", low=1,
          high=MAX_SIMULATIONS),
    Param("workers", "int", "Dask workers", "workers", low=1, high=MAX_WORKERS),
    Param("n_threads", "int", "engine threads of one process", "threads", low=1,
          high=MAX_THREADS),
)}

AXES: tuple[str, ...] = tuple(name for name, p in PARAMS.items() if p.axis)
# Per-grouping axes of designs with several grouping factors, named "<param>[<grouping>]"
# (n_clusters[item], icc[school:class]; design/groupings.py).
GROUPING_AXES = ("n_clusters", "n_per_parent", "icc", "slope_variance")


def grouping_axis(name: str) -> tuple[str, str] | None:
    """``(parameter, grouping)`` of a per-grouping axis name, or None.

    >>> grouping_axis("icc[school:class]"), grouping_axis("icc")
    (('icc', 'school:class'), None)
    """
    m = re.fullmatch(r"(\w+)\[(.+)\]", name)
    return (m[1], m[2]) if m and m[1] in GROUPING_AXES else None


def effect_param(term: str) -> Param:
    """The sweep axis ``effect_<term>``: the standardised size of a fixed effect."""
    return Param(EFFECT_PREFIX + term, "float", f"standardised fixed effect of {term}",
                 "outcome SD", axis=True)


def param(name: str) -> Param:
    """The :class:`Param` called ``name`` (``effect_<term>`` and ``<param>[<grouping>]``
    included), or ``KeyError``."""
    if name.startswith(EFFECT_PREFIX) and len(name) > len(EFFECT_PREFIX):
        return effect_param(name[len(EFFECT_PREFIX):])
    if (split := grouping_axis(name)) is not None:
        base = PARAMS[split[0]]
        return replace(base, name=name, description=f"{base.description}, {split[1]}")
    return PARAMS[name]


def check_correction(value: Any, label: str = "correction") -> str:
    """A multiple-testing correction in its one spelling (:data:`CORRECTIONS`).

    Accepts MCPower 1.4.1's spellings: None (no correction), any case, ``"fdr"`` and
    ``"Benjamini-Hochberg"`` for ``"bh"``.

    >>> check_correction("Holm"), check_correction(None), check_correction("FDR")
    ('holm', 'none', 'bh')
    """
    if value is None:
        return "none"
    name = value.lower().replace("-", "_").replace(" ", "_") if isinstance(value, str) else None
    name = CORRECTION_ALIASES.get(name, name)
    if name in CORRECTIONS:
        return name
    raise ValueError(f"{label}={value!r} is unknown: use {PARAMS['correction'].allowed}")


def draw_seed() -> int:
    """A fresh 63-bit master seed from the operating system's entropy (recorded with results)."""
    return secrets.randbits(63)
