"""What ``find_sample_size`` returns: power over a range of sizes and the required size.

Every number is derived from the points' exact counts: the power curves, their Wilson
intervals and the required size with its range (:func:`mcpower_sweep.crossing.required_n`),
so printing, the Jupyter view and :meth:`SampleSizeResult.to_xarray` agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..crossing import RequiredN, required_n
from ..design.spec import SimulationSpec
from ..stats import wilson_interval
from . import render as R
from . import tally
from .power import PowerResult, _component_names, _with_family
from .schema import provenance, summarise, variable_attrs

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["SampleSizeResult"]


def _up(n: float) -> int:
    """An interpolated size rounded up to a whole one (rounding noise ignored)."""
    return math.ceil(round(n, 6))


@dataclass(frozen=True)
class SampleSizeResult:
    """Power over a range of sample sizes, simulated with common random numbers.

    Attributes
    ----------
    points
        One :class:`PowerResult` per sample size, in increasing order of size.
    target_power
        Target power (fraction).
    target_tests
        The tests whose required sample size is reported.
    unit
        What ``find_sample_size``'s sizes counted: ``"observations"``, ``"clusters"`` or
        ``"cluster_size"`` (``unit_sizes`` and ``required_units`` give them).
    outcomes
        Per-simulation results of the family's tests, int8 ``[size, simulation, test]``
        (1 significant, 0 not, -1 failed fit; ``api.run.outcomes_of``): with them the
        required N and its 95% interval come from all simulations near the crossing
        jointly (:func:`mcpower_sweep.crossing.required_n`); without, from the counts.

    Examples
    --------
    >>> result = model.find_sample_size(500, 3000, by=250,
    ...                                 target_test="treatment")  # doctest: +SKIP
    >>> result.required_n["treatment"], result.required_n_ci["treatment"]  # doctest: +SKIP
    (1004, (871, 1190))
    """

    points: tuple[PowerResult, ...]
    target_power: float = 0.8
    target_tests: tuple[str, ...] = ()
    unit: str = "observations"
    outcomes: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def sizes(self) -> np.ndarray:
        return np.array([p.spec.sample_size for p in self.points], dtype=np.int64)

    @property
    def unit_sizes(self) -> np.ndarray:
        """The sizes in ``unit``: N, the number of clusters, or observations per cluster."""
        if self.unit == "observations":
            return self.sizes
        return np.array([p.spec.effective_n_clusters if self.unit == "clusters"
                         else p.spec.sample_size // p.spec.effective_n_clusters
                         for p in self.points], dtype=np.int64)

    @property
    def required_units(self) -> dict[str, int | None]:
        """Required size per test in ``unit`` (e.g. clusters), as ``required_n`` for N."""
        out: dict[str, int | None] = {}
        for t in self.tests:
            r = self.curve(t, in_unit=True)
            out[t] = None if r.estimate is None else _up(r.estimate)
        return out

    @property
    def tests(self) -> tuple[str, ...]:
        return self.points[0].tests

    @property
    def spec(self) -> SimulationSpec:
        """The spec at the first sample size (the others differ only in ``sample_size``)."""
        return self.points[0].spec

    @property
    def seed(self) -> int:
        return self.points[0].seed

    @property
    def power(self) -> dict[str, np.ndarray]:
        """Power per test (after the correction), an array over :attr:`sizes`."""
        return {t: np.array([p.significant[t] / p.n_success if p.n_success else math.nan
                             for p in self.points]) for t in self.tests}

    @property
    def ci(self) -> dict[str, np.ndarray]:
        """95% Wilson intervals per test, an array of shape ``(len(sizes), 2)``."""
        return {t: np.array([wilson_interval(p.significant[t], p.n_success)
                             for p in self.points]) for t in self.tests}

    @property
    def n_failed(self) -> np.ndarray:
        return np.array([p.n_failed for p in self.points], dtype=np.int64)

    @property
    def n_singular(self) -> np.ndarray:
        return np.array([p.n_singular for p in self.points], dtype=np.int64)

    def curve(self, test: str, in_unit: bool = False) -> RequiredN:
        """Where the power curve of ``test`` reaches the target (``crossing.required_n``), in N
        or (``in_unit``) in ``unit``."""
        family = self.points[0].family
        paired = (None if self.outcomes is None or test not in family else
                  np.where(self.outcomes[:, :, family.index(test)] < 0, np.nan,
                           self.outcomes[:, :, family.index(test)]).T)
        return required_n(self.unit_sizes if in_unit else self.sizes,
                          [p.significant[test] for p in self.points],
                          [p.n_success for p in self.points], self.target_power, paired)

    @property
    def required_n(self) -> dict[str, int | None]:
        """Required sample size per test (None when the target is never reached).

        The size where the monotone fit of the power curve reaches the target, rounded up;
        when the target is already met at the smallest size, that size (the answer is at
        most it).
        """
        out: dict[str, int | None] = {}
        for t in self.tests:
            r = self.curve(t)
            out[t] = None if r.estimate is None else _up(r.estimate)
        return out

    @property
    def required_n_ci(self) -> dict[str, tuple[int | None, int | None]]:
        """95% range of the required sample size per test (None: beyond the sizes tried)."""
        out: dict[str, tuple[int | None, int | None]] = {}
        for t in self.tests:
            r = self.curve(t)
            out[t] = (None if r.low is None else math.floor(round(r.low, 6)),
                      None if r.high is None else _up(r.high))
        return out

    @property
    def max_power(self) -> dict[str, tuple[float, int]]:
        """Highest power seen per test and the sample size where it was seen."""
        out: dict[str, tuple[float, int]] = {}
        for t, curve in self.power.items():
            k = int(np.nanargmax(curve)) if not np.all(np.isnan(curve)) else 0
            out[t] = (float(curve[k]), int(self.sizes[k]))
        return out

    # ------------------------------------------------------------ display
    def __repr__(self) -> str:
        sizes = self.sizes
        return (f"SampleSizeResult(required_n={self.required_n}, sizes={int(sizes[0])}.."
                f"{int(sizes[-1])} ({len(sizes)} sizes), target_power={self.target_power:g}, "
                f"seed={self.seed})")

    def _shown(self) -> tuple[str, ...]:
        return self.target_tests or self.tests

    def _curve_table(self) -> tuple[list[str], list[list[str]]]:
        shown = self._shown()
        in_unit = self.unit != "observations"
        header = [*([self.unit.replace("_", " ")] if in_unit else []), "sample size", *shown,
                  "failed", "singular"]
        rows = []
        power = self.power
        for i, (u, p) in enumerate(zip(self.unit_sizes, self.points, strict=True)):
            cells = [*([str(u)] if in_unit else []), str(p.spec.sample_size)]
            cells += [R.pct(power[t][i]) + ("*" if p.reached(t) else " ") for t in shown]
            cells += [R.rate(p.n_failed, p.n_simulations), R.rate(p.n_singular, p.n_success)]
            rows.append(cells)
        return header, rows

    def _summary(self) -> list[str]:
        target = R.pct(self.target_power, 0)
        lines = []
        for t in self._shown():
            r = self.curve(t)
            first, last = int(self.sizes[0]), int(self.sizes[-1])
            if r.status == "not reached":
                best, at = self.max_power[t]
                lines.append(f"{t}: target {target} not reached up to N = {last} (highest "
                             f"power {R.pct(best)} at N = {at}); try larger sizes")
            elif r.status == "below range":
                lo, hi = self.ci[t][0]
                sure = ("below it" if lo >= self.target_power
                        else "at most about that (its power's 95% CI reaches below the target)")
                lines.append(f"{t}: start lower: already {R.pct(self.power[t][0])} (95% CI "
                             f"{R.pct(lo)}–{R.pct(hi)}) at N = {first:,}, the smallest size, "
                             f"for a target of {target}; the required N is {sure}")
            else:
                lo, hi = self.required_n_ci[t]
                hi_text = f"{hi:,}" if hi is not None else f"beyond {last:,}"
                units = (f" ({self.required_units[t]:,} {self.unit.replace('_', ' ')})"
                         if self.unit != "observations" else "")
                lines.append(f"{t}: target {target} needs N ≈ {self.required_n[t]:,}{units} "
                             f"(95% CI {lo:,}–{hi_text})")
        return lines

    def _caption(self) -> str:
        spec = self.spec
        clusters = (f"{spec.n_clusters} clusters" if spec.n_clusters is not None
                    else f"clusters of {spec.cluster_size}")
        return "\n".join([f"Sample size for {spec.formula}",
                          f"Design: {clusters} of {spec.grouping!r}",
                          *R.design_lines(spec, sizes=False)])

    def _footer(self) -> str:
        p = self.points[0]
        how = ("the probit fit of power in log N to all simulations of the sizes around the "
               "crossing; 95% CI: Fieller, clustered by simulation" if self.outcomes is not None
               else "where the monotone (isotonic) fit of the power curve reaches the target; "
               "its 95% CI, where the curve's Wilson bounds do")
        return (f"{p.n_simulations} simulations per size (same random numbers at every size); "
                f"* = target reached\nRequired N: {how}\n"
                + (f"Power after the {p.correction} correction over {', '.join(p.family)}\n"
                   if p.correction != "none" else "")
                + R.seed_text(p.seed, p.seed_drawn))

    def __str__(self) -> str:
        header, rows = self._curve_table()
        table = R.text_table(header, rows, right=set(range(len(header))))
        summary = "\n".join(self._summary())
        return f"{self._caption()}\n\n{table}\n\n{summary}\n{self._footer()}"

    def _repr_html_(self) -> str:
        header, rows = self._curve_table()
        footer = " ".join(self._summary()) + " " + self._footer()
        return R.html_table(self._caption(), header, rows, footer)

    # ------------------------------------------------------------ export
    def to_xarray(self) -> xr.Dataset:
        """Counts, power and the required N as a Dataset over ``sample_size`` and ``test``.

        Examples
        --------
        >>> ds = result.to_xarray()  # doctest: +SKIP
        >>> ds.power.sel(test="treatment").to_series()  # doctest: +SKIP
        """
        import xarray as xr

        tests = list(self.tests)
        points = self.points
        counts = xr.Dataset(
            {"n_sims": ("sample_size", [p.n_simulations for p in points]),
             "n_success": ("sample_size", [p.n_success for p in points]),
             "n_singular": ("sample_size", [p.n_singular for p in points]),
             "n_significant": (("sample_size", "test"),
                               [[p.n_significant[t] for t in tests] for p in points]),
             **tally.tally_vars({k: np.stack([p.tallies[k] for p in points])
                                 for k in points[0].tallies}, ("sample_size",), "test")},
            coords={"sample_size": self.sizes, "test": tests,
                    **tally.tally_coords(len(points[0].family), _component_names(points[0]))},
            attrs=provenance(self.spec, seed=self.seed, simulations=points[0].n_simulations,
                             target_power=self.target_power),
        )
        ds = summarise(counts)
        ci = self.required_n_ci
        for name, values in (
            ("required_n", [self.required_n[t] for t in tests]),
            ("required_n_lower", [ci[t][0] for t in tests]),
            ("required_n_upper", [ci[t][1] for t in tests]),
        ):
            ds[name] = ("test", np.array([np.nan if v is None else v for v in values], float))
            ds[name].attrs = variable_attrs(name)
        return _with_family(ds, self.spec)
