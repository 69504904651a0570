"""What ``find_power`` returns: counts, power, intervals, tables.

A result holds the exact simulation counts and the spec that produced them; power, its
95% Wilson interval, the required sample size and every table are derived from those
counts (with :mod:`mcpower_sweep.stats`), so printing, the Jupyter view and
:meth:`to_xarray` always agree, and ``to_xarray`` gives the variables of every other
result (:mod:`mcpower_sweep.results.schema`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..design.family import RATIO_LABEL, effect_ratio, effect_ratios
from ..design.spec import SimulationSpec
from ..params import CORRECTIONS
from ..stats import wilson_interval
from . import render as R
from . import tally
from .schema import provenance, summarise

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["PowerResult"]


@dataclass(frozen=True)
class PowerResult:
    """Power of each fixed-effect test at one design, from exact simulation counts.

    Attributes
    ----------
    spec
        The design that was simulated.
    seed
        The master seed (drawn and recorded when none was set).
    n_simulations, n_success, n_singular
        Simulations run, fits that succeeded, successful fits that were singular.
    n_significant
        Per test (``spec.tests``): successful fits with p < alpha.
    target_power
        Target power (fraction).
    target_tests
        The tests the user asked about (shown in tables; all tests are kept).
    engine_version
        Version of the native engine that ran the simulations.
    seed_drawn
        True when no seed was set and ``seed`` was drawn for this run.
    correction, family
        The correction shown (``"none"``: none) and the tests corrected together (the
        target tests).
    tallies
        The arrays of :func:`mcpower_sweep.results.tally.unflatten`: corrected counts
        ``[correction, test]``, ``n_at_least[correction, k - 1]``, estimate sums per test.

    Examples
    --------
    >>> result = model.find_power(sample_size=1500)  # doctest: +SKIP
    >>> result.power["treatment"], result.ci["treatment"]  # doctest: +SKIP
    (0.8725, (0.835, 0.902))
    """

    spec: SimulationSpec
    seed: int
    n_simulations: int
    n_success: int
    n_singular: int
    n_significant: dict[str, int]
    target_power: float = 0.8
    target_tests: tuple[str, ...] = ()
    engine_version: str = ""
    seed_drawn: bool = False
    elapsed: float = field(default=math.nan, compare=False)
    correction: str = "none"
    family: tuple[str, ...] = ()
    tallies: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False)

    @property
    def tests(self) -> tuple[str, ...]:
        return tuple(self.n_significant)

    @property
    def significant(self) -> dict[str, int]:
        """Significant fits per test after the result's correction (``n_significant`` if none)."""
        if self.correction == "none":
            return self.n_significant
        row = self.tallies["n_significant_corrected"][CORRECTIONS.index(self.correction)]
        return dict(zip(self.tests, map(int, row), strict=True))

    def power_corrected(self, correction: str | None = None) -> dict[str, float]:
        """Power per test after ``correction`` (default: the result's own)."""
        c = CORRECTIONS.index(correction or self.correction)
        counts = self.tallies["n_significant_corrected"][c]
        n = self.n_success
        return {t: (int(k) / n if n else math.nan)
                for t, k in zip(self.tests, counts, strict=True)}

    def power_at_least(self, correction: str | None = None) -> dict[int, float]:
        """Power that at least k of the family's tests are significant, k = 1 .. m."""
        counts = self.tallies["n_at_least"][CORRECTIONS.index(correction or self.correction)]
        n = self.n_success
        return {k: (int(c) / n if n else math.nan) for k, c in enumerate(counts, start=1)}

    @property
    def n_failed(self) -> int:
        """Simulations whose fit failed (excluded from power, never 'not significant')."""
        return self.n_simulations - self.n_success

    @property
    def failure_rate(self) -> float:
        return self.n_failed / self.n_simulations if self.n_simulations else math.nan

    @property
    def power(self) -> dict[str, float]:
        """Power per test: significant / successful fits (NaN when no fit succeeded)."""
        n = self.n_success
        return {t: (k / n if n else math.nan) for t, k in self.n_significant.items()}

    @property
    def ci(self) -> dict[str, tuple[float, float]]:
        """95% Wilson interval of the power, per test."""
        return {t: wilson_interval(k, self.n_success) for t, k in self.n_significant.items()}

    def reached(self, test: str) -> bool:
        """Whether the estimated power of ``test`` (after the correction) reaches the target."""
        n = self.n_success
        return bool(n) and self.significant[test] / n >= self.target_power

    # ------------------------------------------------------------ display
    def __repr__(self) -> str:
        power = ", ".join(f"{t!r}: {p:.4f}" for t, p in self.power.items())
        return (f"PowerResult(power={{{power}}}, sample_size={self.spec.sample_size}, "
                f"n_simulations={self.n_simulations}, n_failed={self.n_failed}, "
                f"seed={self.seed})")

    def _header(self) -> tuple[str, ...]:
        """The table's columns (a GLMM adds its odds or rate ratio after the test; a
        correction its corrected power after the power)."""
        ratio = effect_ratio(self.spec.family)
        extra = () if self.correction == "none" else (f"power ({self.correction})", "95% CI")
        return ("test", *([RATIO_LABEL[ratio]] if ratio else []), "power", "95% CI", *extra,
                "target", "reached")

    def _rows(self) -> list[list[str]]:
        ratios = effect_ratios(self.spec)
        corrected = {} if self.correction == "none" else self.power_corrected()
        c = CORRECTIONS.index(self.correction)
        rows = []
        for i, t in ((self.tests.index(t), t) for t in self.target_tests or self.tests):
            ratio = ([f"{ratios[t]:.3g}" if ratios[t] == ratios[t] else "—"] if ratios else [])
            extra = [] if not corrected else [R.pct(corrected[t]), R.ci_text(wilson_interval(
                int(self.tallies["n_significant_corrected"][c, i]), self.n_success))]
            rows.append([t, *ratio, R.pct(self.power[t]), R.ci_text(self.ci[t]), *extra,
                         R.pct(self.target_power, 0), "yes" if self.reached(t) else "no"])
        return rows

    def _caption(self) -> str:
        return "\n".join([f"Power for {self.spec.formula}", *R.design_lines(self.spec)])

    def _footer(self) -> str:
        return (f"{self.n_simulations} simulations: {R.rate(self.n_failed, self.n_simulations)} "
                f"failed fits, {R.rate(self.n_singular, self.n_success)} singular fits\n"
                f"{R.seed_text(self.seed, self.seed_drawn)}")

    def __str__(self) -> str:
        header = self._header()
        shift = 1 if effect_ratio(self.spec.family) else 0  # the ratio column of a GLMM
        right = {1, 1 + shift, len(header) - 2} | ({3 + shift} if self.correction != "none"
                                                   else set())
        table = R.text_table(header, self._rows(), right=right)
        joint = R.joint_table(self.family, [(c, self.power_at_least(c)) for c in
                                            dict.fromkeys(("none", self.correction))]
                              if len(self.family) > 1 else [])
        return f"{self._caption()}\n\n{table}{joint}\n\n{self._footer()}"

    def _repr_html_(self) -> str:
        return R.html_table(self._caption(), self._header(), self._rows(), self._footer())

    # ------------------------------------------------------------ export
    def to_xarray(self) -> xr.Dataset:
        """Counts, power and its interval as an :class:`xarray.Dataset` over ``test``.

        Examples
        --------
        >>> ds = result.to_xarray()  # doctest: +SKIP
        >>> float(ds.power.sel(test="treatment"))  # doctest: +SKIP
        0.8725
        """
        import xarray as xr

        tests = list(self.tests)
        counts = xr.Dataset(
            {"n_sims": self.n_simulations, "n_success": self.n_success,
             "n_singular": self.n_singular,
             "n_significant": ("test", [self.n_significant[t] for t in tests]),
             **tally.tally_vars(self.tallies, (), "test")},
            coords={"test": tests, "sample_size": self.spec.sample_size,
                    **tally.tally_coords(len(self.family), _component_names(self))},
            attrs=provenance(self.spec, seed=self.seed, simulations=self.n_simulations,
                             target_power=self.target_power,
                             extra={"correction": self.correction,
                                    "correction_family": ", ".join(self.family)}),
        )
        return _with_family(summarise(counts), self.spec)


def _component_names(result: PowerResult) -> tuple[str, ...]:
    """The variance components' names when the result counted them (else none)."""
    return tally.components(result.spec)[0] if "vc_sum" in result.tallies else ()


def _with_family(ds: xr.Dataset, spec: SimulationSpec) -> xr.Dataset:
    """A GLMM's results: its odds or rate ratio per test beside the power, and its family."""
    ratio = effect_ratio(spec.family)
    if ratio:
        ratios = effect_ratios(spec)
        ds[ratio] = ("test", [ratios[t] for t in ds.test.values.tolist()],
                     {"long_name": f"true {RATIO_LABEL[ratio]} (exp of the effect)",
                      "units": "1"})
    if spec.family != "lme":
        ds.attrs["family"] = spec.family
    return ds
