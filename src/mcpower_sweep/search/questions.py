"""The two questions the adaptive search answers, from a configured model's designs.

:class:`~mcpower_sweep.MCPower` builds the design at a value (a size in its unit, or an
effect) and how to simulate it; these functions check the search's own arguments, run
:func:`~mcpower_sweep.search.adaptive.search` and wrap the answer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from numbers import Integral, Real

from ..design.spec import SimulationSpec
from ..results.power import PowerResult
from .adaptive import batch_seed, search
from .result import EffectSearchResult, SizeSearchResult

__all__ = ["check_cost", "check_search", "effect_search", "size_search"]

Simulate = Callable[[SimulationSpec, int, int], PowerResult]
MAX_BUDGET = 10_000_000


def check_search(precision: object, max_simulations: object, targets: tuple[str, ...],
                 tests: tuple[str, ...]) -> tuple[float | int, int, str]:
    """Validated ``precision``, ``max_simulations`` and the one test searched.

    >>> check_search(0.05, 20_000, ("x",), ("x", "z"))
    (0.05, 20000, 'x')
    >>> check_search(0, 1000, ("x",), ("x",))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: precision=0: use a fraction in (0, 1) for a relative half-width (0.05 = ±5%)...
    """
    if isinstance(precision, Integral) and not isinstance(precision, bool) and precision >= 1:
        precision = int(precision)
    elif isinstance(precision, Real) and not isinstance(precision, Integral) and (
            0 < precision < 1):
        precision = float(precision)
    else:
        raise ValueError(f"precision={precision!r}: use a fraction in (0, 1) for a relative "
                         "half-width (0.05 = ±5%) or a whole number >= 1 for an absolute one")
    if (isinstance(max_simulations, bool) or not isinstance(max_simulations, Integral)
            or not 500 <= max_simulations <= MAX_BUDGET):
        raise ValueError(f"max_simulations={max_simulations!r}: use a whole number from 500 "
                         f"to {MAX_BUDGET:,}")
    if len(targets) != 1:
        raise ValueError(f"target_test={', '.join(targets)!r}: the adaptive search finds the "
                         f"crossing of one test's power; name one of {', '.join(tests)}")
    return precision, int(max_simulations), targets[0]


def check_cost(value: object, name: str) -> float:
    """A cost or budget: a finite number >= 0, or ValueError naming it.

    >>> check_cost(250, "budget")
    250.0
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not 0 <= float(value) < math.inf:  # type: ignore[arg-type]
        raise ValueError(f"{name}={value!r} is not allowed: use a finite number >= 0")
    return float(value)  # type: ignore[arg-type]


def size_search(spec_at: Callable[[int], SimulationSpec], simulate: Simulate, *, test: str,
                low: int, high: int, target: float, precision: float | int,
                max_simulations: int, seed: int, seed_drawn: bool, unit: str,
                per_unit: int) -> SizeSearchResult:
    """Search the sizes ``low..high`` (in ``unit``) for the required size of ``test``."""
    if low >= high:
        raise ValueError(f"from_size={low}, to_size={high}: the adaptive search needs "
                         "from_size < to_size")

    def run(batch: int, value: float, sims: int) -> PowerResult:
        return simulate(spec_at(int(value)), batch_seed(seed, batch, value), sims)

    found = search(run, test, low=low, high=high, target=target, precision=precision,
                   max_simulations=max_simulations)
    return SizeSearchResult(found, test, target, low, high, precision, max_simulations, seed,
                            seed_drawn, unit=unit, per_unit=per_unit)


def effect_search(spec: SimulationSpec, simulate: Simulate, *, effect: str, low: float,
                  high: float, target: float, precision: float | int, max_simulations: int,
                  seed: int, seed_drawn: bool) -> EffectSearchResult:
    """Search the effect sizes ``low..high`` of the term ``effect`` for the smallest that
    reaches ``target`` (both ends of one sign; negative effects are searched in size)."""
    if not (low * high > 0 and abs(low) < abs(high)):
        raise ValueError(f"from_effect={low:g}, to_effect={high:g}: use two effects of the "
                         "same sign, from_effect nearer 0 than to_effect")
    sign = 1.0 if high > 0 else -1.0
    column = spec.term_names.index(effect)

    def run(batch: int, value: float, sims: int) -> PowerResult:
        effects = list(spec.effects)
        effects[column] = sign * value
        return simulate(dataclasses.replace(spec, effects=tuple(effects)),
                        batch_seed(seed, batch, sign * value), sims)

    found = search(run, effect, low=abs(low), high=abs(high), target=target,
                   precision=precision, max_simulations=max_simulations, integer=False)
    return EffectSearchResult(found, effect, target, abs(low), abs(high), precision,
                              max_simulations, seed, seed_drawn, sign=sign)
