"""How a configured model is run and tested: simulations, seed, alpha, target power, the
share of failed fits allowed, threads (the tutorial's setters for them).

Mixed into :class:`~mcpower_sweep.MCPower`; the defaults are class attributes, each setter
checks its value where it enters (``PARAMS``) and returns the model for chaining.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..params import PARAMS
from . import parse

if TYPE_CHECKING:  # setters return the model itself (an MCPower), for chaining
    from typing_extensions import Self

DEFAULT_SIMULATIONS = 1000


class RunSettings:
    """The run's settings, with the tutorial's defaults."""

    _simulations: int = DEFAULT_SIMULATIONS
    _seed: int | None = None
    _alpha: float = 0.05
    _target_power: float = 0.8
    _max_failed: float = 0.03
    _parallel: bool = True
    _n_cores: int | None = None

    @property
    def simulations(self) -> int:
        return self._simulations

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

    def set_simulations(self, n_simulations: int) -> Self:
        """Number of simulated data sets per power estimate (at least 1).

        Examples
        --------
        >>> MCPower("y ~ x + (1|g)").set_simulations(400).simulations
        400
        """
        self._simulations = PARAMS["simulations"].check(n_simulations, "n_simulations")
        return self

    def set_max_failed_simulations(self, max_failed: float) -> Self:
        """Largest share of failed fits (0 to 1, default 0.03) before an error is raised.

        Examples
        --------
        >>> MCPower("y ~ x + (1|g)").set_max_failed_simulations(0.2).max_failed
        0.2
        """
        self._max_failed = PARAMS["max_failed"].check(max_failed)
        return self

    def set_seed(self, seed: int | None) -> Self:
        """Master seed (0 <= seed < 2**64); None draws a new seed for each run.

        Examples
        --------
        >>> MCPower("y ~ x + (1|g)").set_seed(42).seed
        42
        """
        self._seed = None if seed is None else PARAMS["seed"].check(seed)
        return self

    def set_alpha(self, alpha: float) -> Self:
        """Significance level of each test, 0 < alpha < 1 (default 0.05).

        Examples
        --------
        >>> MCPower("y ~ x + (1|g)").set_alpha(0.01).alpha
        0.01
        """
        self._alpha = PARAMS["alpha"].check(alpha)
        return self

    def set_power(self, power: float) -> Self:
        """Target power: a fraction (0.8) or a percentage (80); default 80%.

        Values above 1 are read as percentages.

        Examples
        --------
        >>> MCPower("y ~ x + (1|g)").set_power(90).target_power
        0.9
        """
        self._target_power = parse.target_power(power)
        return self

    def set_parallel(self, enable: bool = True, n_cores: int | None = None) -> Self:
        """Run the engine on several threads (default: all available); results are identical.

        Examples
        --------
        >>> MCPower("y ~ x + (1|g)").set_parallel(False).n_threads
        1
        """
        if not isinstance(enable, (bool, np.bool_)):
            raise ValueError(f"enable={enable!r} is not allowed: use True or False")
        if n_cores is not None:
            n_cores = PARAMS["n_threads"].check(n_cores, "n_cores")
        self._parallel = bool(enable)
        self._n_cores = n_cores
        return self
