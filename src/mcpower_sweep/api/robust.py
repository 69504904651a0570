"""Setters for departures from the textbook model, and running scenario sets.

MCPower 1.4.1's ``set_residual_distribution``, ``set_heteroskedasticity_driver`` and
``set_scenario_configs`` with its spellings; ``set_random_effect_distribution`` and
``set_heteroskedasticity`` set directly what MCPower leaves to its scenarios
(docs/robustness.md).

Examples
--------
>>> from mcpower_sweep import MCPower
>>> m = (MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.2, n_clusters=20)
...      .set_effects("x=0.3").set_residual_distribution("right_skewed"))
>>> m.to_spec(200).residual_dist
'right_skewed'
>>> scenario_names(True, m.to_spec(200).scenario_configs)
('optimistic', 'realistic', 'doomer')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..design.robust import SCENARIOS, ScenarioConfigs, check_scenario_configs
from ..params import PARAMS

if TYPE_CHECKING:
    from typing_extensions import Self


class RobustSettings:
    """The robustness settings of a model (mixed into :class:`~mcpower_sweep.MCPower`);
    class attributes are the defaults (the textbook model), setters set the instance's."""

    _residual_dist = "normal"
    _random_effect_dist = "normal"
    _heteroskedasticity = 1.0
    _heteroskedasticity_driver: str | None = None
    _scenario_configs: ScenarioConfigs = ()
    _variance_draws: tuple[tuple[float, ...], ...] = ()  # a pilot's (from_fit's uncertainty)

    def set_residual_distribution(self, name: str) -> Self:
        """Shape of the residuals, with their variance unchanged (MCPower 1.4.1's).

        ``"normal"``, ``"right_skewed"``, ``"left_skewed"``, ``"high_kurtosis"`` (t) with
        the scenario's ``residual_df`` (10 without scenarios), ``"uniform"``; also
        ``"t(5)"``, ``"right_skewed(8)"``, ``"mixture(0.1)"``.  A non-normal shape is kept
        under every scenario.

        >>> m = MCPower("y ~ x + (1|g)").set_residual_distribution("t(5)")
        >>> m._residual_dist
        't(5)'
        """
        self._residual_dist = str(PARAMS["residual_dist"].check(name, "residual distribution"))
        return self

    def set_random_effect_distribution(self, name: str) -> Self:
        """Shape of the random effects, with their variances unchanged (as for the
        residuals; a bare ``"t"`` or ``"heavy_tailed"`` takes the scenario's
        ``random_effect_df``, 5 without scenarios).  Each random effect is drawn
        independently of the others before their covariance is applied.

        >>> MCPower("y ~ x + (1|g)").set_random_effect_distribution("t(4)")._random_effect_dist
        't(4)'
        """
        self._random_effect_dist = str(PARAMS["random_effect_dist"].check(
            name, "random effect distribution"))
        return self

    def set_heteroskedasticity_driver(self, var: str | None = None) -> Self:
        """The predictor whose value drives the residual variance (None: the linear
        predictor), as MCPower 1.4.1; the ratio comes from :meth:`set_heteroskedasticity`
        or the scenario (``heteroskedasticity_ratio``).  Checked when the spec is built."""
        if var is not None and not isinstance(var, str):
            raise ValueError(f"set_heteroskedasticity_driver: {var!r} is not a predictor name")
        self._heteroskedasticity_driver = var
        return self

    def set_heteroskedasticity(self, ratio: float) -> Self:
        """Residual variance ratio lambda >= 1 between driver values 4 SD apart (MCPower's
        ``heteroskedasticity_ratio``; 1: homoskedastic); the mean variance stays 1.

        >>> MCPower("y ~ x + (1|g)").set_heteroskedasticity(4)._heteroskedasticity
        4.0
        """
        self._heteroskedasticity = float(PARAMS["heteroskedasticity"].check(ratio))
        return self

    def set_scenario_configs(self, configs: Mapping[str, Mapping[str, Any]]) -> Self:
        """Change or add scenario sets (MCPower 1.4.1's merge rule): a default's
        (``optimistic``, ``realistic``, ``doomer``) given keys are updated, a new name
        starts from ``optimistic``; unknown keys are refused.

        >>> m = MCPower("y ~ x + (1|g)").set_scenario_configs({"mild": {"icc_noise_sd": 0.05}})
        >>> dict(m._scenario_configs)["mild"]
        (('icc_noise_sd', 0.05),)
        """
        self._scenario_configs = check_scenario_configs(configs, self._scenario_configs)
        return self

    def _robust_fields(self) -> dict[str, Any]:
        """The spec's robustness fields (only those set, so other designs stay as they are)."""
        fields = {"residual_dist": self._residual_dist,
                  "random_effect_dist": self._random_effect_dist,
                  "heteroskedasticity": self._heteroskedasticity,
                  "heteroskedasticity_driver": self._heteroskedasticity_driver,
                  "scenario_configs": self._scenario_configs,
                  "variance_draws": self._variance_draws}
        defaults = {"residual_dist": "normal", "random_effect_dist": "normal",
                    "heteroskedasticity": 1.0, "heteroskedasticity_driver": None,
                    "scenario_configs": (), "variance_draws": ()}
        return {k: v for k, v in fields.items() if v != defaults[k]}


def scenario_names(scenarios: bool | Sequence[str], custom: ScenarioConfigs = ()
                   ) -> tuple[str, ...]:
    """The scenarios of ``scenarios=``: True all (defaults first, optimistic first), or
    the listed ones (each known)."""
    known = [*SCENARIOS, *(n for n, _ in custom if n not in SCENARIOS)]
    if scenarios is True:
        return tuple(known)
    if isinstance(scenarios, str) or not isinstance(scenarios, Sequence) or not scenarios:
        raise ValueError(f"scenarios={scenarios!r} is not allowed: use True, False or a "
                         f"non-empty list of {', '.join(known)}")
    for name in scenarios:
        if name not in known:
            raise ValueError(f"scenarios: {name!r} is unknown: use {', '.join(known)}")
    return tuple(scenarios)
