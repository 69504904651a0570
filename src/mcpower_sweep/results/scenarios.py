"""What ``find_power`` / ``find_sample_size`` return with ``scenarios=``: one result per
scenario set, shown side by side, and one dataset with a ``scenario`` dimension.

Examples
--------
>>> result = model.find_power(600, scenarios=True)  # doctest: +SKIP
>>> result.power["doomer"]["x"]  # doctest: +SKIP
0.61
>>> result.to_xarray().power.sel(test="x").values  # doctest: +SKIP
array([0.79, 0.72, 0.61])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..params import PARAMS
from ..stats import wilson_interval
from . import render as R
from .power import PowerResult
from .sample_size import SampleSizeResult

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["ScenarioResult"]


@dataclass(frozen=True)
class ScenarioResult:
    """Results of one question under several scenario sets (same seed and simulations).

    Attributes
    ----------
    results
        Scenario name -> :class:`PowerResult` (``find_power``) or
        :class:`SampleSizeResult` (``find_sample_size``), in the order run.
    """

    results: Mapping[str, PowerResult | SampleSizeResult]

    @property
    def scenarios(self) -> tuple[str, ...]:
        return tuple(self.results)

    def __getitem__(self, scenario: str) -> PowerResult | SampleSizeResult:
        return self.results[scenario]

    @property
    def power(self) -> dict[str, object]:
        """Per scenario, its result's ``power``."""
        return {s: r.power for s, r in self.results.items()}

    @property
    def required_n(self) -> dict[str, dict[str, int | None]]:
        """Per scenario, the required N of each test (``find_sample_size`` only)."""
        return {s: r.required_n for s, r in self.results.items()
                if isinstance(r, SampleSizeResult)}

    def _table(self) -> tuple[list[str], list[list[str]]]:
        first = next(iter(self.results.values()))
        rows = []
        for t in first.target_tests or first.tests:
            row = [t]
            for r in self.results.values():
                if isinstance(r, PowerResult):  # after the result's correction
                    k, n = r.significant[t], r.n_success
                    row.append(f"{R.pct(k / n if n else math.nan)} "
                               f"{R.ci_text(wilson_interval(k, n))}")
                else:
                    n = r.required_n[t]
                    row.append("not reached" if n is None else f"{n:,}")
            rows.append(row)
        return ["test", *self.results], rows

    def __str__(self) -> str:
        first = next(iter(self.results.values()))
        what = "Power (95% CI)" if isinstance(first, PowerResult) else "Required N"
        header, rows = self._table()
        table = R.text_table(header, rows, right=set(range(1, len(header))))
        return (f"{what} by scenario for {first.spec.formula}\n"
                f"{chr(10).join(R.design_lines(first.spec))}\n\n{table}\n\n"
                "Scenarios: MCPower 1.4.1's sets (docs/robustness.md); each is run with the "
                "same seed.")

    def _repr_html_(self) -> str:
        header, rows = self._table()
        return R.html_table(str(self).split("\n", 1)[0], header, rows, "")

    def to_xarray(self) -> xr.Dataset:
        """The results' datasets stacked along a ``scenario`` dimension."""
        import pandas as pd
        import xarray as xr

        index = pd.Index(list(self.results), name="scenario", dtype=object)
        ds = xr.concat([r.to_xarray() for r in self.results.values()], dim=index,
                       combine_attrs="drop_conflicts")
        ds["scenario"].attrs.update(PARAMS["scenario"].attrs())
        return ds
