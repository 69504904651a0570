"""What the adaptive searches return: the answer, its 95% interval and the batches run.

:class:`SizeSearchResult` (``find_sample_size`` without ``by=``) gives ``required_n`` and
``required_n_ci`` like the grid's :class:`~mcpower_sweep.results.sample_size.
SampleSizeResult`; :class:`EffectSearchResult` (``find_effect_size``) gives ``mde`` and
``mde_ci``.  Every number comes from the final probit fit of all batches
(:func:`mcpower_sweep.crossing.probit_crossing`), so printing and the attributes agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..design.spec import SimulationSpec
from ..results import render as R
from ..results.schema import provenance, summarise
from ..stats import wilson_interval
from .adaptive import Search, pooled

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["EffectSearchResult", "SearchResult", "SizeSearchResult"]


def _up(x: float) -> int:
    return math.ceil(round(x, 6))


def _down(x: float) -> int:
    return math.floor(round(x, 6))


@dataclass(frozen=True)
class SearchResult:
    """The common part: the search, what it searched and how it was seeded.

    Attributes
    ----------
    found
        The batches, the final fit and the status (:class:`~mcpower_sweep.search.
        adaptive.Search`).
    test
        The test searched.
    target_power
        Target power (fraction).
    low, high
        The range searched.
    precision, max_simulations
        What was asked: the interval's half-width (a float: relative; an int: absolute)
        and the budget.
    seed, seed_drawn
        Master seed (batch seeds derive from it) and whether it was drawn.
    """

    found: Search
    test: str
    target_power: float
    low: float
    high: float
    precision: float | int
    max_simulations: int
    seed: int
    seed_drawn: bool

    @property
    def status(self) -> str:
        """``"reached"``, ``"below range"``, ``"not reached"`` or ``"undecided"``."""
        return self.found.status

    @property
    def n_simulations(self) -> int:
        """Simulations run in all batches."""
        return sum(s.result.n_simulations for s in self.found.steps)

    @property
    def n_batches(self) -> int:
        return 1 + max(s.batch for s in self.found.steps)

    @property
    def spec(self) -> SimulationSpec:
        """The design at the first value tried."""
        return self.found.steps[0].result.spec

    _dim = "sample_size"

    def _coord(self, values: np.ndarray) -> np.ndarray:
        return values.astype(np.int64)

    def _answers(self) -> dict[str, tuple[float | None, str, str, str]]:
        """Scalar answers for :meth:`to_xarray`: name -> (value, long name, units, how)."""
        raise NotImplementedError

    def to_xarray(self) -> xr.Dataset:
        """Pooled counts and power per value tried, and the answer with its interval.

        Examples
        --------
        >>> ds = result.to_xarray()  # doctest: +SKIP
        >>> float(ds.required_n_upper.sel(test="treatment"))  # doctest: +SKIP
        """
        import xarray as xr

        values, n, k = self.table()
        per = {s.value: s for s in self.found.steps}
        sims = [sum(s.result.n_simulations for s in self.found.steps if s.value == v)
                for v in values]
        singular = [sum(s.result.n_singular for s in self.found.steps if s.value == v)
                    for v in values]
        counts = xr.Dataset(
            {"n_sims": (self._dim, np.array(sims, np.int64)),
             "n_success": (self._dim, n.astype(np.int64)),
             "n_singular": (self._dim, np.array(singular, np.int64)),
             "n_significant": ((self._dim, "test"), k.astype(np.int64)[:, None])},
            coords={self._dim: self._coord(values), "test": [self.test]},
            attrs=provenance(per[values[0]].result.spec, seed=self.seed,
                             simulations=self.n_simulations, target_power=self.target_power,
                             extra={"search_status": self.status,
                                    "search_precision": self.precision,
                                    "search_batches": self.n_batches}))
        ds = summarise(counts)
        for name, (value, long_name, units, how) in self._answers().items():
            ds[name] = ("test", np.array([np.nan if value is None else value], float),
                        {"long_name": long_name, "units": units, "description": how})
        return ds

    def table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Values tried (sorted), their pooled successful fits and significant counts."""
        values, k, n = pooled(self.found.steps, self.test)
        return values, n, k

    def _estimate(self) -> tuple[float | None, float | None, float | None]:
        c = self.found.crossing
        if self.status != "reached":
            return None, c.low, c.high
        return c.estimate, c.low, c.high

    def _power_at(self, end: int) -> str:
        values, n, k = self.table()
        lo, hi = wilson_interval(k[end], n[end])
        return f"{R.pct(k[end] / n[end])} (95% CI {R.pct(lo)}–{R.pct(hi)})"

    def _footer(self) -> str:
        goal = (f"±{self.precision:.0%}" if isinstance(self.precision, float)
                else f"±{self.precision}")
        reached = ("" if self.found.precise else
                   f"; the interval did not reach {goal} within max_simulations="
                   f"{self.max_simulations:,}: raise it for a narrower one")
        batches = f"{self.n_batches} batch" + ("es" if self.n_batches > 1 else "")
        return (f"{self.n_simulations:,} simulations in {batches} (adaptive search for a "
                f"{goal} interval{reached})\n95% CI: Fieller interval of the probit fit of "
                f"power in log {self._scale} over all simulations (independent seeds per "
                f"batch and value)\n{R.seed_text(self.seed, self.seed_drawn)}")

    def _rows(self, label: str) -> tuple[list[str], list[list[str]]]:
        values, n, k = self.table()
        header = [label, "simulations", f"power ({self.test})", "95% CI"]
        rows = []
        for v, m, s in zip(values, n, k, strict=True):
            lo, hi = wilson_interval(s, m)
            rows.append([self._fmt(v), f"{int(m):,}", R.pct(s / m), f"{R.pct(lo)}–{R.pct(hi)}"])
        return header, rows

    _scale = "size"

    def _fmt(self, v: float) -> str:
        return f"{int(v):,}"

    _label = "size"

    def _caption(self) -> str:
        raise NotImplementedError

    def _answer(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        header, rows = self._rows(self._label)
        table = R.text_table(header, rows, right=set(range(len(header))))
        return f"{self._caption()}\n\n{table}\n\n{self._answer()}\n{self._footer()}"

    def _repr_html_(self) -> str:
        header, rows = self._rows(self._label)
        return R.html_table(self._caption(), header, rows, f"{self._answer()} {self._footer()}")


@dataclass(frozen=True)
class SizeSearchResult(SearchResult):
    """The required size found by the adaptive search of ``find_sample_size``.

    ``unit`` says what the searched sizes count (``"observations"``, ``"clusters"``,
    ``"cluster_size"``); ``per_unit`` observations make one unit.

    Examples
    --------
    >>> result = model.find_sample_size(10, 80, target_test="treatment",
    ...                                 unit="clusters")  # doctest: +SKIP
    >>> result.required_units["treatment"], result.required_units_ci["treatment"]  # doctest: +SKIP
    (24, (22, 26))
    """

    unit: str = "observations"
    per_unit: int = 1

    @property
    def required_units(self) -> dict[str, int | None]:
        """Required size in ``unit`` (rounded up; None unless the status is ``"reached"``)."""
        est = self._estimate()[0]
        return {self.test: None if est is None else _up(est)}

    @property
    def required_units_ci(self) -> dict[str, tuple[int | None, int | None]]:
        """95% interval of the required size in ``unit`` (None: unbounded that side)."""
        _, lo, hi = self._estimate()
        return {self.test: (None if lo is None else _down(lo), None if hi is None else _up(hi))}

    @property
    def required_n(self) -> dict[str, int | None]:
        """Required total sample size N (``required_units`` times ``per_unit``)."""
        u = self.required_units[self.test]
        return {self.test: None if u is None else u * self.per_unit}

    @property
    def required_n_ci(self) -> dict[str, tuple[int | None, int | None]]:
        """95% interval of the required N (None: unbounded that side)."""
        return {self.test: tuple(None if u is None else u * self.per_unit  # type: ignore[misc]
                                 for u in self.required_units_ci[self.test])}

    @property
    def _dim(self) -> str:  # type: ignore[override]
        return {"observations": "sample_size", "clusters": "n_clusters"}.get(self.unit,
                                                                              self.unit)

    def _answers(self) -> dict[str, tuple[float | None, str, str, str]]:
        lo, hi = self.required_n_ci[self.test]
        how = "probit fit of power in log size over all batches of the adaptive search"
        return {"required_n": (self.required_n[self.test], "required sample size",
                               "observations", how),
                "required_n_lower": (lo, "required sample size, lower 95% bound",
                                     "observations", "Fieller interval of the " + how),
                "required_n_upper": (hi, "required sample size, upper 95% bound",
                                     "observations", "Fieller interval of the " + how)}

    def _what(self, units: float) -> str:
        n = int(units) * self.per_unit
        if self.unit == "observations":
            return f"N = {n:,}"
        if self.unit == "clusters":
            return f"{int(units):,} clusters (N = {n:,})"
        return f"cluster size {int(units):,} (N = {n:,})"

    def _answer(self) -> str:
        t, target = self.test, R.pct(self.target_power, 0)
        if self.status == "below range":
            return (f"{t}: start lower: already {self._power_at(0)} at {self._what(self.low)}; "
                    f"the required size is below from_size={int(self.low)}")
        if self.status == "not reached":
            more = ("" if self.unit == "clusters" else ", or more clusters: with their number "
                    "fixed, power has a ceiling that may be below the target")
            return (f"{t}: target {target} not reached by {self._what(self.high)}: power there "
                    f"{self._power_at(-1)}; try a larger to_size{more}")
        if self.status == "undecided":
            return f"{t}: undecided within the budget; raise max_simulations"
        lo, hi = self.required_units_ci[t]
        span = (f"{'?' if lo is None else f'{lo:,}'}–{'?' if hi is None else f'{hi:,}'}")
        unit = " clusters" if self.unit == "clusters" else ""
        return (f"{t}: target {target} needs {self._what(self.required_units[t] or 0)}, "
                f"95% CI {span}{unit}".replace("needs cluster size", "needs a cluster size of"))

    def __repr__(self) -> str:
        return (f"SizeSearchResult(required_n={self.required_n}, required_n_ci="
                f"{self.required_n_ci}, status={self.status!r}, simulations="
                f"{self.n_simulations}, seed={self.seed})")

    @property
    def _label(self) -> str:  # type: ignore[override]
        return self.unit.replace("_", " ")

    def _caption(self) -> str:
        spec = self.spec
        what = "sample size" if self.unit == "observations" else self.unit.replace("_", " ")
        return "\n".join([f"Required {what} for {spec.formula}",
                          *R.design_lines(spec, sizes=False)])


@dataclass(frozen=True)
class EffectSearchResult(SearchResult):
    """The minimum detectable effect found by ``find_effect_size``.

    Examples
    --------
    >>> result = model.find_effect_size("treatment", sample_size=400)  # doctest: +SKIP
    >>> result.mde["treatment"], result.mde_ci["treatment"]  # doctest: +SKIP
    (0.412, (0.398, 0.427))
    """

    sign: float = 1.0
    _scale = "effect"

    @property
    def mde(self) -> dict[str, float | None]:
        """The smallest effect reaching the target power (None unless ``"reached"``)."""
        est = self._estimate()[0]
        return {self.test: None if est is None else self.sign * est}

    @property
    def mde_ci(self) -> dict[str, tuple[float | None, float | None]]:
        """Its 95% interval (None: unbounded that side), ordered low to high."""
        _, lo, hi = self._estimate()
        ends = [None if v is None else self.sign * v for v in (lo, hi)]
        return {self.test: (ends[0], ends[1]) if self.sign > 0 else (ends[1], ends[0])}

    @property
    def _dim(self) -> str:  # type: ignore[override]
        return f"effect_{self.test}"

    def _answers(self) -> dict[str, tuple[float | None, str, str, str]]:
        lo, hi = self.mde_ci[self.test]
        how = "probit fit of power in log effect over all batches of the adaptive search"
        return {"mde": (self.mde[self.test], "minimum detectable effect", "outcome SD", how),
                "mde_lower": (lo, "minimum detectable effect, lower 95% bound", "outcome SD",
                              "Fieller interval of the " + how),
                "mde_upper": (hi, "minimum detectable effect, upper 95% bound", "outcome SD",
                              "Fieller interval of the " + how)}

    def _coord(self, values: np.ndarray) -> np.ndarray:
        return self.sign * values

    def _fmt(self, v: float) -> str:
        return f"{self.sign * v:.4g}"

    def _answer(self) -> str:
        t, target = self.test, R.pct(self.target_power, 0)
        if self.status == "below range":
            return (f"{t}: start lower: already {self._power_at(0)} at effect "
                    f"{self._fmt(self.low)}; the minimum detectable effect is smaller")
        if self.status == "not reached":
            return (f"{t}: target {target} not reached by effect {self._fmt(self.high)}: power "
                    f"there {self._power_at(-1)}; try a larger to_effect")
        if self.status == "undecided":
            return f"{t}: undecided within the budget; raise max_simulations"
        lo, hi = self.mde_ci[t]
        span = f"{'?' if lo is None else f'{lo:.4g}'}–{'?' if hi is None else f'{hi:.4g}'}"
        return (f"{t}: target {target} needs an effect of {self.mde[t]:.4g} "
                f"(95% CI {span}) at N = {self.spec.sample_size:,}")

    def __repr__(self) -> str:
        return (f"EffectSearchResult(mde={self.mde}, mde_ci={self.mde_ci}, status="
                f"{self.status!r}, simulations={self.n_simulations}, seed={self.seed})")

    @property
    def _label(self) -> str:  # type: ignore[override]
        return f"effect {self.test}"

    def _caption(self) -> str:
        spec = self.spec
        # the effects line would show the first effect tried: say the others instead
        others = ", ".join(f"{t} {b:g}" for t, b in zip(spec.term_names[1:], spec.effects[1:],
                                                          strict=True) if t != self.test)
        lines = [line for line in R.design_lines(spec) if not line.startswith("Effects: ")]
        return "\n".join([f"Minimum detectable effect of {self.test} for {spec.formula}",
                          *lines, *([f"Other effects: {others}"] if others else [])])
