"""The tutorial's API: configure a multilevel design step by step, then ask for power.

Every setter checks its input where it enters, with a message that names the parameter,
the value and what is allowed, and returns the model so calls can be chained.  The
configuration becomes one validated :class:`~mcpower_sweep.spec.SimulationSpec`
(:meth:`MCPower.to_spec`), which the native engine simulates; power is counted over the
fits that succeeded.

Examples
--------
>>> from mcpower_sweep import MCPower
>>> model = MCPower("outcome ~ treatment + motivation + (1 + treatment|site)")
>>> _ = (model.set_simulations(400)
...      .set_cluster("site", ICC=0.2, n_clusters=30, random_slopes=["treatment"],
...                   slope_variance=0.1, slope_intercept_corr=0.3)
...      .set_effects("treatment=0.5, motivation=0.3")
...      .set_max_failed_simulations(0.30))
>>> result = model.find_power(sample_size=1500)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import numbers
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..design.formula import FormulaError, ParsedFormula, parse_formula
from ..design.spec import (
    DF_METHODS,
    ESTIMATORS,
    MAX_FIXED_EFFECTS,
    MAX_RANDOM_EFFECTS,
    MAX_SAMPLE_SIZE,
    MAX_SIMULATIONS,
    MIN_CLUSTER_SIZE,
    Predictor,
    SimulationSpec,
)
from ..results.power import PowerResult, SampleSizeResult

__all__ = ["MCPower", "TooManyFailedFitsError"]

DEFAULT_SIMULATIONS = 1000
MAX_SEED = 2**64
MAX_THREADS = 1024
MAX_SIZES = 10_000  # sample sizes tried by one find_sample_size
# find_power runs its simulations in blocks of this many, so memory stays bounded
# (results do not depend on it: simulation i is the same in any block).
RUN_BLOCK = 100_000


class TooManyFailedFitsError(RuntimeError):
    """More fits failed than ``set_max_failed_simulations`` allows.

    The partial result (counts of the run that failed the check) is in ``result``.
    """

    def __init__(self, message: str, result: PowerResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class _Cluster:
    """The random-effects settings given to ``set_cluster`` (already checked)."""

    grouping: str
    icc: float
    n_clusters: int | None
    cluster_size: int | None
    slope_variance: float
    slope_intercept_corr: float


# ---------------------------------------------------------------- input checks
def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _whole(param: str, value: object, minimum: int, what: str = "",
           maximum: int | None = None) -> int:
    """An integer >= ``minimum`` (bools and floats are rejected), and <= ``maximum``."""
    if not _is_int(value) or int(value) < minimum:  # type: ignore[call-overload]
        extra = f" ({what})" if what else ""
        raise ValueError(f"{param}={value!r} is not allowed: use a whole number >= {minimum}"
                         f"{extra}")
    if maximum is not None and int(value) > maximum:  # type: ignore[call-overload]
        raise ValueError(f"{param}={value!r} is too large: at most {maximum:,}")
    return int(value)  # type: ignore[call-overload]


def _real(param: str, value: object, allowed: str, ok: Any) -> float:
    """A finite real number for which ``ok(x)`` holds; ``allowed`` describes the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{param}={value!r} is not a number: use a number {allowed}")
    x = float(value)
    if not math.isfinite(x) or not ok(x):
        raise ValueError(f"{param}={value!r} is not allowed: use a number {allowed}")
    return x


def _items(param: str, text: object) -> list[tuple[str, str]]:
    """Split ``"a=1, b=2"`` into ``[("a", "1"), ("b", "2")]``, checking the shape.

    Commas inside parentheses (``binary(0.3)``) do not split.
    """
    if not isinstance(text, str):
        raise ValueError(f"{param}: {text!r} is not a string such as \"a=0.5, b=0.3\"")
    parts = [p.strip() for p in re.split(r",(?![^()]*\))", text)]
    if not any(parts):
        raise ValueError(f"{param}: {text!r} is empty: write it as \"a=0.5, b=0.3\"")
    out = []
    for part in parts:
        if not part:
            raise ValueError(f"{param}: {text!r} has an empty entry between commas")
        name, eq, value = (s.strip() for s in part.partition("="))
        if not eq or not name:
            raise ValueError(f"{param}: {part!r} is not of the form name=value")
        if not value:
            raise ValueError(f"{param}: missing value for {name!r} in {part!r}")
        out.append((name, value))
    return out


_BINARY = re.compile(r"binary\s*(?:\(\s*(?P<p>[^)]*?)\s*\))?", re.IGNORECASE)


def _variable_type(name: str, text: str) -> Predictor:
    """``normal``, ``binary`` or ``binary(p)`` as a :class:`Predictor`."""
    if text.lower() == "normal":
        return Predictor(name, "normal")
    m = _BINARY.fullmatch(text)
    if m is None:
        raise ValueError(f"set_variable_type: unknown variable type {text!r} for {name!r}: "
                         "use normal, binary or binary(p) with 0 < p < 1")
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
    return Predictor(name, "binary", p)


def _block_counts(spec: SimulationSpec, seed: int, simulations: int, n_threads: int) -> Any:
    """Counts of simulations ``0 .. simulations - 1``, run in blocks of ``RUN_BLOCK``."""
    from .. import engine

    total = None
    for start in range(0, simulations, RUN_BLOCK):
        chunk = engine.run_chunk(spec, seed, start, min(RUN_BLOCK, simulations - start),
                                 n_threads)
        c = engine.count_chunk(chunk, spec.alpha)
        total = c if total is None else engine.ChunkCounts(
            total.n_sims + c.n_sims, total.n_success + c.n_success,
            total.n_singular + c.n_singular, total.n_significant + c.n_significant)
    return total


def _draw_seed() -> int:
    """A fresh 63-bit seed from the operating system's entropy."""
    return int(np.random.SeedSequence().entropy) & (2**63 - 1)


# ---------------------------------------------------------------- the model
class MCPower:
    """Monte Carlo power analysis for a linear mixed model given as an lme4 formula.

    Parameters
    ----------
    formula
        For example ``"outcome ~ treatment + motivation + (1 + treatment|site)"``:
        fixed effects, then one random part with a grouping factor (see
        :func:`mcpower_sweep.formula.parse_formula` for the syntax).

    Examples
    --------
    >>> model = MCPower("score ~ treatment + (1 + treatment|cluster)")
    >>> model.tests
    ('treatment',)
    """

    def __init__(self, formula: str) -> None:
        parsed = parse_formula(formula)
        if not parsed.intercept:
            raise FormulaError("models without a fixed intercept ('0 +', '- 1') are not "
                               "supported yet: remove it", formula)
        if not parsed.terms:
            raise FormulaError("the formula has no fixed effects to test: add at least one "
                               "predictor, e.g. 'y ~ x + (1|g)'", formula)
        if len(parsed.term_names) > MAX_FIXED_EFFECTS:
            raise FormulaError(f"the formula has {len(parsed.term_names)} fixed effects: the "
                               f"engine fits at most {MAX_FIXED_EFFECTS}", formula)
        if len(parsed.random_columns) > MAX_RANDOM_EFFECTS:
            raise FormulaError(f"the random part has {len(parsed.random_columns)} random effects: "
                               f"the engine fits at most {MAX_RANDOM_EFFECTS}", formula)
        self._parsed: ParsedFormula = parsed
        self._simulations = DEFAULT_SIMULATIONS
        self._effects: dict[str, float] = dict.fromkeys(parsed.tests, 0.0)
        self._types: dict[str, Predictor] = {p: Predictor(p) for p in parsed.predictors}
        self._cluster: _Cluster | None = None
        self._max_failed = 0.03
        self._seed: int | None = None
        self._alpha = 0.05
        self._target_power = 0.8
        self._parallel = True
        self._n_cores: int | None = None
        self._sample_size: int | None = None

    # ------------------------------------------------------------ read-only
    @property
    def formula(self) -> str:
        return self._parsed.text

    @property
    def parsed(self) -> ParsedFormula:
        return self._parsed

    @property
    def tests(self) -> tuple[str, ...]:
        """The fixed effects that are tested, named as in lme4."""
        return self._parsed.tests

    @property
    def effects(self) -> dict[str, float]:
        """The true fixed effects (those not set are 0)."""
        return dict(self._effects)

    @property
    def simulations(self) -> int:
        return self._simulations

    @property
    def sample_size(self) -> int | None:
        """N of the most recent :meth:`find_power` (None before one): a sweep's default point."""
        return self._sample_size

    @property
    def seed(self) -> int | None:
        """The seed set with :meth:`set_seed`, or None (a seed is drawn for each run)."""
        return self._seed

    @property
    def alpha(self) -> float:
        return self._alpha

    @property
    def target_power(self) -> float:
        """Target power as a fraction."""
        return self._target_power

    @property
    def max_failed(self) -> float:
        """Largest allowed share of failed fits (fraction)."""
        return self._max_failed

    @property
    def n_threads(self) -> int:
        """Threads the engine uses (results never depend on it)."""
        if not self._parallel:
            return 1
        if self._n_cores is not None:
            return self._n_cores
        from .. import engine

        return engine.default_threads()

    def __repr__(self) -> str:
        c = self._cluster
        cluster = "no cluster set" if c is None else (
            f"{c.grouping}: ICC={c.icc:g}, "
            + (f"n_clusters={c.n_clusters}" if c.n_clusters is not None
               else f"cluster_size={c.cluster_size}")
            + (f", slope_variance={c.slope_variance:g}, "
               f"slope_intercept_corr={c.slope_intercept_corr:g}"
               if self._parsed.random_slopes else "")
        )
        effects = ", ".join(f"{k}={v:g}" for k, v in self._effects.items())
        return (f"MCPower({self.formula!r}; effects {effects}; {cluster}; "
                f"{self._simulations} simulations, alpha={self._alpha:g})")

    # ------------------------------------------------------------ setters
    def set_simulations(self, n_simulations: int) -> MCPower:
        """Number of simulated data sets per power estimate (at least 1).

        Examples
        --------
        >>> MCPower("y ~ x + (1|g)").set_simulations(400).simulations
        400
        """
        self._simulations = _whole("n_simulations", n_simulations, 1, maximum=MAX_SIMULATIONS)
        return self

    def set_cluster(
        self,
        name: str,
        ICC: float | None = None,  # noqa: N803 - the tutorial's spelling
        n_clusters: int | None = None,
        cluster_size: int | None = None,
        random_slopes: Sequence[str] | str | None = None,
        slope_variance: float = 0.0,
        slope_intercept_corr: float = 0.0,
    ) -> MCPower:
        """Configure the grouping factor of the formula's random part.

        Parameters
        ----------
        name
            The grouping factor, as written after ``|`` in the formula.
        ICC
            Intraclass correlation of the random intercept, ``0 <= ICC < 1``; the intercept
            variance is ``ICC / (1 - ICC)`` (residual variance 1).
        n_clusters, cluster_size
            Give exactly one: the number of clusters (>= 2; the sample is split as evenly as
            possible) or the observations per cluster (>= 5; the number of clusters is then
            ``sample_size // cluster_size``).
        random_slopes
            The predictors with a random slope. They must be the random slopes of the
            formula's random part (all of them); None takes them from the formula.
        slope_variance
            Variance of each random slope (>= 0), in outcome units squared.
        slope_intercept_corr
            Correlation of each random slope with the random intercept, in [-1, 1].

        Examples
        --------
        >>> model = MCPower("y ~ x + (1 + x|school)")
        >>> _ = model.set_cluster("school", ICC=0.1, n_clusters=40, random_slopes=["x"],
        ...                       slope_variance=0.05)
        """
        f = self._parsed
        if f.grouping is None:
            raise ValueError(
                f"set_cluster({name!r}): the formula {f.text!r} has no random part; add one "
                f"such as (1 | {name}) to the formula"
            )
        if name != f.grouping:
            raise ValueError(
                f"set_cluster: name={name!r} is not a grouping factor of the formula "
                f"{f.text!r}; its random part is grouped by {f.grouping!r}"
            )
        slopes = self._check_random_slopes(random_slopes)
        icc = self._check_icc(ICC)
        if (n_clusters is None) == (cluster_size is None):
            raise ValueError(
                f"set_cluster: give exactly one of n_clusters and cluster_size "
                f"(got n_clusters={n_clusters!r}, cluster_size={cluster_size!r})"
            )
        if n_clusters is not None:
            n_clusters = _whole("n_clusters", n_clusters, 2,
                                maximum=MAX_SAMPLE_SIZE // MIN_CLUSTER_SIZE)
        if cluster_size is not None:
            cluster_size = _whole("cluster_size", cluster_size, MIN_CLUSTER_SIZE,
                                  "observations per cluster", maximum=MAX_SAMPLE_SIZE // 2)
        variance = _real("slope_variance", slope_variance, ">= 0", lambda x: x >= 0.0)
        corr = _real("slope_intercept_corr", slope_intercept_corr, "in [-1, 1]",
                     lambda x: -1.0 <= x <= 1.0)
        if not slopes and variance != 0.0:
            raise ValueError(
                f"slope_variance={slope_variance!r} is not allowed: the formula {f.text!r} has "
                "no random slopes; add one, e.g. (1 + x | g), or leave slope_variance at 0"
            )
        if corr != 0.0 and not (slopes and f.random_intercept):
            raise ValueError(
                f"slope_intercept_corr={slope_intercept_corr!r} is not allowed: the formula "
                f"{f.text!r} needs both a random intercept and a random slope for it; "
                "leave it at 0"
            )
        if len(slopes) > 1 and corr * corr * len(slopes) > 1.0:
            raise ValueError(
                f"slope_intercept_corr={slope_intercept_corr!r} with {len(slopes)} random "
                "slopes gives a covariance that is not positive semi-definite: use "
                f"|slope_intercept_corr| <= {1 / math.sqrt(len(slopes)):.3f}"
            )
        self._cluster = _Cluster(name, icc, n_clusters, cluster_size, variance, corr)
        return self

    def _check_icc(self, icc: object) -> float:
        if icc is None:
            if self._parsed.random_intercept:
                raise ValueError("set_cluster: ICC=None is not allowed: the formula has a "
                                 "random intercept, give ICC with 0 <= ICC < 1")
            return 0.0
        value = _real("ICC", icc, "in [0, 1)", lambda x: 0.0 <= x < 1.0)
        if value != 0.0 and not self._parsed.random_intercept:
            raise ValueError(
                f"ICC={icc!r} is not allowed: the formula {self.formula!r} has no random "
                "intercept ('0 +' in the random part); leave ICC unset or 0"
            )
        return value

    def _check_random_slopes(self, random_slopes: Sequence[str] | str | None) -> tuple[str, ...]:
        f = self._parsed
        if random_slopes is None:
            return f.random_slopes
        given = [random_slopes] if isinstance(random_slopes, str) else list(random_slopes)
        names: list[str] = []
        for name in given:
            if not isinstance(name, str):
                raise ValueError(f"random_slopes={random_slopes!r}: {name!r} is not a "
                                 "predictor name")
            term = self._term_name(name)
            if term is None:
                raise ValueError(
                    f"random_slopes={random_slopes!r}: {name!r} is not in the formula "
                    f"{f.text!r}; its fixed effects are {', '.join(f.tests)}"
                )
            if term not in f.random_slopes:
                raise ValueError(
                    f"random_slopes={random_slopes!r}: {name!r} has no random slope in the "
                    f"formula's random part; write it there too, e.g. (1 + {term} | "
                    f"{f.grouping})"
                )
            names.append(term)
        missing = [s for s in f.random_slopes if s not in names]
        if missing:
            raise ValueError(
                f"random_slopes={random_slopes!r} leaves out {', '.join(map(repr, missing))}, "
                "which the formula's random part gives a random slope; list every random slope "
                "of the formula (they share slope_variance) or remove it from the formula"
            )
        return tuple(names)

    def _term_name(self, name: str) -> str | None:
        """The canonical name of a fixed effect (``"b:a"`` -> ``"a:b"``), or None."""
        if name in self._effects:
            return name
        wanted = {part.strip() for part in name.split(":")}
        for term in self._effects:
            if set(term.split(":")) == wanted:
                return term
        return None

    def set_effects(self, effects: str | Mapping[str, float]) -> MCPower:
        """True fixed effects in outcome-SD units; effects not set are 0.

        Parameters
        ----------
        effects
            ``"treatment=0.5, motivation=0.3"`` (interactions as ``"a:b=0.2"``) or a
            mapping of names to numbers.

        Examples
        --------
        >>> MCPower("y ~ a*b + (1|g)").set_effects("a=0.5, a:b=0.2").effects
        {'a': 0.5, 'b': 0.0, 'a:b': 0.2}
        """
        if isinstance(effects, Mapping):
            pairs = [(str(k), v) for k, v in effects.items()]
        else:
            pairs = list(_items("set_effects", effects))
        new = dict(self._effects)
        seen: set[str] = set()
        for name, raw in pairs:
            term = self._term_name(name)
            if term is None:
                raise ValueError(
                    f"set_effects: {name!r} is not a fixed effect of the formula "
                    f"{self.formula!r}; its fixed effects are {', '.join(self.tests)}"
                )
            if term in seen:
                raise ValueError(f"set_effects: {name!r} is given twice")
            seen.add(term)
            new[term] = self._effect_value(name, raw)
        self._effects = new
        return self

    @staticmethod
    def _effect_value(name: str, raw: object) -> float:
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

    def set_variable_type(self, types: str | Mapping[str, str]) -> MCPower:
        """How each predictor is simulated: ``normal`` (default), ``binary``, ``binary(p)``.

        ``binary`` is Bernoulli(0.5) coded 0/1; ``binary(p)`` has P(1) = p.

        Examples
        --------
        >>> model = MCPower("y ~ treatment + age + (1|site)")
        >>> _ = model.set_variable_type("treatment=binary(0.3), age=normal")
        """
        pairs = (list(types.items()) if isinstance(types, Mapping)
                 else _items("set_variable_type", types))
        new = dict(self._types)
        for name, kind in pairs:
            if name not in new:
                raise ValueError(
                    f"set_variable_type: {name!r} is not a predictor of the formula "
                    f"{self.formula!r}; its predictors are {', '.join(new)}"
                )
            if not isinstance(kind, str):
                raise ValueError(f"set_variable_type: {name}={kind!r}: use normal, binary or "
                                 "binary(p)")
            new[name] = _variable_type(name, kind.strip())
        self._types = new
        return self

    def set_max_failed_simulations(self, max_failed: float) -> MCPower:
        """Largest share of failed fits (0 to 1, default 0.03) before an error is raised.

        Examples
        --------
        >>> MCPower("y ~ x + (1|g)").set_max_failed_simulations(0.2).max_failed
        0.2
        """
        self._max_failed = _real("max_failed", max_failed, "in [0, 1] (a fraction)",
                                 lambda x: 0.0 <= x <= 1.0)
        return self

    def set_seed(self, seed: int | None) -> MCPower:
        """Master seed (0 <= seed < 2**64); None draws a new seed for each run.

        Examples
        --------
        >>> MCPower("y ~ x + (1|g)").set_seed(42).seed
        42
        """
        if seed is not None and (not _is_int(seed) or not 0 <= int(seed) < MAX_SEED):
            raise ValueError(f"seed={seed!r} is not allowed: use a whole number "
                             "0 <= seed < 2**64, or None to draw one")
        self._seed = None if seed is None else int(seed)
        return self

    def set_alpha(self, alpha: float) -> MCPower:
        """Significance level of each test, 0 < alpha < 1 (default 0.05).

        Examples
        --------
        >>> MCPower("y ~ x + (1|g)").set_alpha(0.01).alpha
        0.01
        """
        self._alpha = _real("alpha", alpha, "in (0, 1)", lambda x: 0.0 < x < 1.0)
        return self

    def set_power(self, power: float) -> MCPower:
        """Target power: a fraction (0.8) or a percentage (80); default 80%.

        Values above 1 are read as percentages.

        Examples
        --------
        >>> MCPower("y ~ x + (1|g)").set_power(90).target_power
        0.9
        """
        allowed = "in (0, 1) as a fraction or in (1, 100) as a percentage"
        value = _real("power", power, allowed, lambda x: 0.0 < x < 100.0 and x != 1.0)
        self._target_power = value / 100.0 if value > 1.0 else value
        return self

    def set_parallel(self, enable: bool = True, n_cores: int | None = None) -> MCPower:
        """Run the engine on several threads (default: all available); results are identical.

        Examples
        --------
        >>> MCPower("y ~ x + (1|g)").set_parallel(False).n_threads
        1
        """
        if not isinstance(enable, (bool, np.bool_)):
            raise ValueError(f"enable={enable!r} is not allowed: use True or False")
        if n_cores is not None:
            n_cores = _whole("n_cores", n_cores, 1, maximum=MAX_THREADS)
        self._parallel = bool(enable)
        self._n_cores = n_cores
        return self

    # ------------------------------------------------------------ spec
    def to_spec(
        self, sample_size: int, *, estimator: str = "reml", df_method: str = "satterthwaite"
    ) -> SimulationSpec:
        """The validated :class:`SimulationSpec` of the model as configured.

        Examples
        --------
        >>> model = MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.1, n_clusters=20)
        >>> model.to_spec(400).effective_n_clusters
        20
        """
        f = self._parsed
        sample_size = _whole("sample_size", sample_size, 1, maximum=MAX_SAMPLE_SIZE)
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator={estimator!r} is unknown: use one of "
                             f"{', '.join(ESTIMATORS)}")
        if df_method not in DF_METHODS:
            raise ValueError(f"df_method={df_method!r} is unknown: use one of "
                             f"{', '.join(DF_METHODS)}")
        if f.grouping is None:
            raise ValueError(
                f"the formula {f.text!r} has no random part: mcpower_sweep simulates "
                "multilevel designs; add one such as (1 | cluster) and call set_cluster"
            )
        c = self._cluster
        if c is None:
            raise ValueError(
                f"set_cluster has not been called: configure the grouping factor first, e.g. "
                f"set_cluster({f.grouping!r}, ICC=0.1, n_clusters=30)"
            )
        spec = SimulationSpec(
            formula=f.text,
            outcome=f.outcome,
            predictors=tuple(self._types[p] for p in f.predictors),
            terms=f.terms,
            term_names=f.term_names,
            effects=(0.0, *(self._effects[t] for t in f.tests)),
            grouping=c.grouping,
            random_columns=f.random_columns,
            icc=c.icc,
            slope_variance=c.slope_variance,
            slope_intercept_corr=c.slope_intercept_corr,
            n_clusters=c.n_clusters,
            cluster_size=c.cluster_size,
            sample_size=sample_size,
            estimator=estimator,
            df_method=df_method,
            alpha=self._alpha,
        )
        spec.validate()
        return spec

    def _targets(self, target_test: str | Sequence[str]) -> tuple[str, ...]:
        """``"all"``, one test, ``"a, b"`` or a list of tests -> canonical test names."""
        if isinstance(target_test, str):
            if target_test.strip() == "all":
                return self.tests
            names = [t.strip() for t in target_test.split(",")]
        else:
            names = list(target_test)
        out: list[str] = []
        for name in names:
            term = self._term_name(name) if isinstance(name, str) else None
            if term is None:
                raise ValueError(
                    f"target_test={target_test!r}: {name!r} is not a fixed effect of the "
                    f"formula; use 'all' or some of {', '.join(self.tests)}"
                )
            if term not in out:
                out.append(term)
        if not out:
            raise ValueError(f"target_test={target_test!r} names no test: use 'all' or "
                             f"some of {', '.join(self.tests)}")
        return tuple(out)

    # ------------------------------------------------------------ running
    def _run(
        self, spec: SimulationSpec, seed: int, targets: tuple[str, ...], drawn: bool
    ) -> PowerResult:
        from .. import engine

        start = time.perf_counter()
        counts = _block_counts(spec, seed, self._simulations, self.n_threads)
        result = PowerResult(
            spec=spec,
            seed=seed,
            n_simulations=counts.n_sims,
            n_success=counts.n_success,
            n_singular=counts.n_singular,
            n_significant=dict(zip(spec.tests, map(int, counts.n_significant), strict=True)),
            target_power=self._target_power,
            target_tests=targets,
            engine_version=engine.ENGINE_VERSION,
            seed_drawn=drawn,
            elapsed=time.perf_counter() - start,
        )
        self._check_failures(result)
        return result

    def _check_failures(self, result: PowerResult) -> None:
        rate = result.failure_rate
        if not rate > self._max_failed:
            return
        spec = result.spec
        j = spec.effective_n_clusters
        raise TooManyFailedFitsError(
            f"{result.n_failed} of {result.n_simulations} model fits failed ({rate:.1%}) at "
            f"sample_size={spec.sample_size} with {j} clusters of about "
            f"{spec.total_n / j:.0f} observations, above the threshold "
            f"max_failed={self._max_failed:g} ({self._max_failed:.0%}) set with "
            "set_max_failed_simulations. The design is hard to fit: use more clusters "
            "(n_clusters), more observations per cluster (a larger sample_size or "
            "cluster_size), or allow more failures with set_max_failed_simulations(...) "
            f"(seed {result.seed})",
            result,
        )

    def _seed_for_run(self) -> tuple[int, bool]:
        if self._seed is not None:
            return self._seed, False
        return _draw_seed(), True

    def find_power(
        self,
        sample_size: int,
        target_test: str | Sequence[str] = "all",
        *,
        estimator: str = "reml",
        df_method: str = "satterthwaite",
        print_results: bool = True,
    ) -> PowerResult:
        """Estimate the power of each fixed-effect test at a total sample size.

        Parameters
        ----------
        sample_size
            Total number of observations N, split over the clusters.
        target_test
            ``"all"`` (default), a test name, ``"a, b"`` or a list: the tests shown and
            compared with the target (all tests are always computed).
        estimator
            ``"reml"`` (default) or ``"ml"``.
        df_method
            Reference distribution of the Wald t test: ``"satterthwaite"`` (default),
            ``"between_within"``, ``"residual"`` or ``"z"``.
        print_results
            Print the result table (default True).

        Returns
        -------
        PowerResult
            ``.power[test]`` (fraction), ``.ci[test]``, ``.n_failed``, ``.to_xarray()``.

        Raises
        ------
        TooManyFailedFitsError
            If the share of failed fits exceeds ``set_max_failed_simulations``.

        Examples
        --------
        >>> result = model.find_power(sample_size=1500)  # doctest: +SKIP
        >>> result.power["treatment"]  # doctest: +SKIP
        0.8725
        """
        targets = self._targets(target_test)
        spec = self.to_spec(sample_size, estimator=estimator, df_method=df_method)
        self._sample_size = spec.sample_size
        seed, drawn = self._seed_for_run()
        result = self._run(spec, seed, targets, drawn)
        if print_results:
            print(result)
        return result

    def find_sample_size(
        self,
        from_size: int,
        to_size: int,
        by: int | None = None,
        target_test: str | Sequence[str] = "all",
        *,
        estimator: str = "reml",
        df_method: str = "satterthwaite",
        print_results: bool = True,
    ) -> SampleSizeResult:
        """Power over the sample sizes ``from_size, from_size + by, ... <= to_size``.

        Every size uses the same seed and simulation indices (common random numbers), so
        the power curve is smooth and differences between sizes are not noise.

        Parameters
        ----------
        from_size, to_size
            First and last total sample size (``from_size <= to_size``).
        by
            Step between sizes (default: about ten steps).
        target_test, estimator, df_method, print_results
            As in :meth:`find_power`.

        Returns
        -------
        SampleSizeResult
            ``.required_n[test]`` (first size reaching the target, or None), ``.power``,
            ``.sizes``, ``.to_xarray()``.

        Examples
        --------
        >>> result = model.find_sample_size(500, 3000, by=250,
        ...                                 target_test="treatment")  # doctest: +SKIP
        >>> result.required_n["treatment"]  # doctest: +SKIP
        1000
        """
        from_size = _whole("from_size", from_size, 1, maximum=MAX_SAMPLE_SIZE)
        to_size = _whole("to_size", to_size, 1, maximum=MAX_SAMPLE_SIZE)
        if from_size > to_size:
            raise ValueError(f"from_size={from_size} is larger than to_size={to_size}: use "
                             "from_size <= to_size")
        if by is None:
            by = max(1, (to_size - from_size) // 10)
        by = _whole("by", by, 1)
        n_sizes = (to_size - from_size) // by + 1
        if n_sizes > MAX_SIZES:
            raise ValueError(f"by={by} gives {n_sizes:,} sample sizes from {from_size} to "
                             f"{to_size}: at most {MAX_SIZES:,}; use a larger by")
        targets = self._targets(target_test)
        specs = [self.to_spec(n, estimator=estimator, df_method=df_method)
                 for n in range(from_size, to_size + 1, by)]
        seed, drawn = self._seed_for_run()
        points = tuple(self._run(spec, seed, targets, drawn) for spec in specs)
        result = SampleSizeResult(points, self._target_power, targets)
        if print_results:
            print(result)
        return result
