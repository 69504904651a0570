"""What ``find_power`` and ``find_sample_size`` return: counts, power, intervals, tables.

A result holds the exact simulation counts and the spec that produced them; power, its
95% Wilson interval and every table are derived from those counts, so printing, the
Jupyter view and :meth:`to_xarray` always agree.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..design.spec import SimulationSpec

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["PowerResult", "SampleSizeResult", "wilson_interval"]

Z_95 = 1.959963984540054

DF_LABELS = {
    "satterthwaite": "Satterthwaite",
    "kenward_roger": "Kenward-Roger",
    "between_within": "between-within",
    "residual": "residual",
    "z": "z (asymptotic)",
}


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (NaNs when ``trials == 0``).

    Examples
    --------
    >>> lo, hi = wilson_interval(80, 100)
    >>> round(lo, 3), round(hi, 3)
    (0.711, 0.867)
    """
    if trials <= 0:
        return (math.nan, math.nan)
    p = successes / trials
    z2 = z * z
    denom = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / trials + z2 / (4.0 * trials * trials))
    return (max(0.0, centre - half), min(1.0, centre + half))


def _pct(x: float, digits: int = 1) -> str:
    return "—" if math.isnan(x) else f"{100 * x:.{digits}f}%"


def _ci_text(ci: tuple[float, float]) -> str:
    lo, hi = ci
    return "—" if math.isnan(lo) else f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def _rate(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.1f}%)" if n else str(k)


def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.rjust(w) if k in right else c.ljust(w)
            for k, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _html_table(
    caption: str, header: Sequence[str], rows: Sequence[Sequence[str]], footer: str
) -> str:
    def esc(text: str) -> str:
        return html.escape(text).replace("\n", "<br>")

    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return (
        f"<table><caption style='text-align:left'>{esc(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p style='font-size:smaller'>{esc(footer)}</p>"
    )


def _seed_text(seed: int, drawn: bool) -> str:
    if drawn:
        return f"seed {seed} (none was set; set_seed({seed}) repeats this run)"
    return f"seed {seed}"


def _design_line(spec: SimulationSpec) -> str:
    sizes = spec.cluster_sizes()
    per = f"{sizes.min()}" if sizes.min() == sizes.max() else f"{sizes.min()}–{sizes.max()}"
    return (
        f"N = {spec.total_n} in {spec.effective_n_clusters} clusters of {spec.grouping!r} "
        f"({per} per cluster); {spec.estimator.upper()} fit, "
        f"{DF_LABELS.get(spec.df_method, spec.df_method)} df, alpha = {spec.alpha:g}"
    )


def _provenance(spec: SimulationSpec, seed: int, engine_version: str) -> dict[str, Any]:
    from .. import __version__

    return {
        "package_version": __version__,
        "engine_version": engine_version,
        "formula": spec.formula,
        "params": json.dumps(spec.params()),
        "seed": int(seed),
        "alpha": spec.alpha,
        "df_method": spec.df_method,
        "estimator": spec.estimator,
    }


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

    # ------------------------------------------------------------ derived
    @property
    def tests(self) -> tuple[str, ...]:
        return tuple(self.n_significant)

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
        """Whether the estimated power of ``test`` is at least the target."""
        p = self.power[test]
        return not math.isnan(p) and p >= self.target_power

    # ------------------------------------------------------------ display
    def __repr__(self) -> str:
        power = ", ".join(f"{t!r}: {p:.4f}" for t, p in self.power.items())
        return (f"PowerResult(power={{{power}}}, sample_size={self.spec.sample_size}, "
                f"n_simulations={self.n_simulations}, n_failed={self.n_failed}, "
                f"seed={self.seed})")

    def _rows(self) -> list[list[str]]:
        shown = self.target_tests or self.tests
        return [
            [
                t,
                _pct(self.power[t]),
                _ci_text(self.ci[t]),
                _pct(self.target_power, 0),
                "yes" if self.reached(t) else "no",
            ]
            for t in shown
        ]

    _HEADER = ("test", "power", "95% CI", "target", "reached")

    def _footer(self) -> str:
        seed = _seed_text(self.seed, self.seed_drawn)
        return (
            f"{self.n_simulations} simulations: {_rate(self.n_failed, self.n_simulations)} "
            f"failed fits, {_rate(self.n_singular, self.n_success)} singular fits\n"
            f"df method {self.spec.df_method}; {seed}"
        )

    def _caption(self) -> str:
        return f"Power for {self.spec.formula}\n{_design_line(self.spec)}"

    def __str__(self) -> str:
        table = _text_table(self._HEADER, self._rows(), right={1, 3})
        return f"{self._caption()}\n\n{table}\n\n{self._footer()}"

    def _repr_html_(self) -> str:
        return _html_table(self._caption(), self._HEADER, self._rows(), self._footer())

    # ------------------------------------------------------------ export
    def to_xarray(self) -> xr.Dataset:
        """The counts and power as an :class:`xarray.Dataset` with dimension ``test``.

        Examples
        --------
        >>> ds = result.to_xarray()  # doctest: +SKIP
        >>> float(ds.power.sel(test="treatment"))  # doctest: +SKIP
        0.8725
        """
        import xarray as xr

        tests = list(self.tests)
        ci = self.ci
        ds = xr.Dataset(
            {
                "power": ("test", [self.power[t] for t in tests]),
                "power_lower": ("test", [ci[t][0] for t in tests]),
                "power_upper": ("test", [ci[t][1] for t in tests]),
                "n_significant": ("test", np.array([self.n_significant[t] for t in tests],
                                                   dtype=np.int64)),
                "n_success": ((), np.int64(self.n_success)),
                "n_failed": ((), np.int64(self.n_failed)),
                "n_singular": ((), np.int64(self.n_singular)),
            },
            coords={"test": tests, "sample_size": self.spec.sample_size},
            attrs={
                **_provenance(self.spec, self.seed, self.engine_version),
                "simulations": self.n_simulations,
                "target_power": self.target_power,
            },
        )
        return _describe(ds)


@dataclass(frozen=True)
class SampleSizeResult:
    """Power over a grid of sample sizes, simulated with common random numbers.

    Attributes
    ----------
    points
        One :class:`PowerResult` per sample size, in increasing order of size.
    target_power
        Target power (fraction).
    target_tests
        The tests whose required sample size is reported.

    Examples
    --------
    >>> result = model.find_sample_size(500, 3000, by=250,
    ...                                 target_test="treatment")  # doctest: +SKIP
    >>> result.required_n["treatment"]  # doctest: +SKIP
    1000
    """

    points: tuple[PowerResult, ...]
    target_power: float = 0.8
    target_tests: tuple[str, ...] = ()

    @property
    def sizes(self) -> np.ndarray:
        return np.array([p.spec.sample_size for p in self.points], dtype=np.int64)

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
        """Power per test, an array over :attr:`sizes`."""
        return {t: np.array([p.power[t] for p in self.points]) for t in self.tests}

    @property
    def ci(self) -> dict[str, np.ndarray]:
        """95% Wilson intervals per test, an array of shape ``(len(sizes), 2)``."""
        return {t: np.array([p.ci[t] for p in self.points]) for t in self.tests}

    @property
    def n_failed(self) -> np.ndarray:
        return np.array([p.n_failed for p in self.points], dtype=np.int64)

    @property
    def n_singular(self) -> np.ndarray:
        return np.array([p.n_singular for p in self.points], dtype=np.int64)

    @property
    def required_n(self) -> dict[str, int | None]:
        """First sample size whose estimated power reaches the target, per test (or None)."""
        out: dict[str, int | None] = {}
        for t in self.tests:
            hits = [p.spec.sample_size for p in self.points if p.reached(t)]
            out[t] = int(hits[0]) if hits else None
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

    def _curve(self) -> tuple[list[str], list[list[str]]]:
        shown = self._shown()
        header = ["sample size", *shown, "failed", "singular"]
        rows = []
        for p in self.points:
            cells = [str(p.spec.sample_size)]
            cells += [_pct(p.power[t]) + ("*" if p.reached(t) else " ") for t in shown]
            cells += [_rate(p.n_failed, p.n_simulations), _rate(p.n_singular, p.n_success)]
            rows.append(cells)
        return header, rows

    def _summary(self) -> list[str]:
        lines = []
        required = self.required_n
        for t in self._shown():
            n = required[t]
            if n is not None:
                lines.append(f"{t}: target {_pct(self.target_power, 0)} first reached at "
                             f"N = {n}")
            else:
                best, at = self.max_power[t]
                lines.append(f"{t}: target {_pct(self.target_power, 0)} not reached up to "
                             f"N = {int(self.sizes[-1])} (highest power {_pct(best)} at N = {at})")
        return lines

    def _caption(self) -> str:
        spec = self.spec
        design = _design_line(spec).split("; ", 1)[1]
        clusters = (f"{spec.n_clusters} clusters" if spec.n_clusters is not None
                    else f"clusters of {spec.cluster_size}")
        return f"Sample size for {spec.formula}\n{clusters} of {spec.grouping!r}; {design}"

    def _footer(self) -> str:
        p = self.points[0]
        seed = _seed_text(p.seed, p.seed_drawn)
        return (f"{p.n_simulations} simulations per size (same random numbers at every size); "
                f"* = target reached\ndf method {p.spec.df_method}; {seed}")

    def __str__(self) -> str:
        header, rows = self._curve()
        table = _text_table(header, rows, right=set(range(len(header))))
        summary = "\n".join(self._summary())
        return f"{self._caption()}\n\n{table}\n\n{summary}\n{self._footer()}"

    def _repr_html_(self) -> str:
        header, rows = self._curve()
        footer = " ".join(self._summary()) + " " + self._footer()
        return _html_table(self._caption(), header, rows, footer)

    # ------------------------------------------------------------ export
    def to_xarray(self) -> xr.Dataset:
        """Counts and power as an :class:`xarray.Dataset` with dims ``sample_size``, ``test``.

        Examples
        --------
        >>> ds = result.to_xarray()  # doctest: +SKIP
        >>> ds.power.sel(test="treatment").to_series()  # doctest: +SKIP
        """
        import xarray as xr

        tests = list(self.tests)
        ci = self.ci
        dims = ("sample_size", "test")
        ds = xr.Dataset(
            {
                "power": (dims, np.column_stack([self.power[t] for t in tests])),
                "power_lower": (dims, np.column_stack([ci[t][:, 0] for t in tests])),
                "power_upper": (dims, np.column_stack([ci[t][:, 1] for t in tests])),
                "n_significant": (dims, np.array(
                    [[p.n_significant[t] for t in tests] for p in self.points], dtype=np.int64)),
                "n_success": ("sample_size", np.array([p.n_success for p in self.points],
                                                      dtype=np.int64)),
                "n_failed": ("sample_size", self.n_failed),
                "n_singular": ("sample_size", self.n_singular),
            },
            coords={"sample_size": self.sizes, "test": tests},
            attrs={
                **_provenance(self.spec, self.seed, self.points[0].engine_version),
                "simulations": self.points[0].n_simulations,
                "target_power": self.target_power,
            },
        )
        return _describe(ds)


def _describe(ds: xr.Dataset) -> xr.Dataset:
    """Attach short descriptions to the variables (what ``ds.power.attrs`` shows)."""
    text = {
        "power": "share of successful fits with p < alpha",
        "power_lower": "lower bound of the 95% Wilson interval of power",
        "power_upper": "upper bound of the 95% Wilson interval of power",
        "n_significant": "successful fits with p < alpha",
        "n_success": "simulations whose fit succeeded",
        "n_failed": "simulations whose fit failed (excluded from power)",
        "n_singular": "successful fits with a variance component at its boundary",
    }
    for name, description in text.items():
        ds[name].attrs["description"] = description
    return ds
