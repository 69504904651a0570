"""MCPower 1.4.1's per-call keywords of ``find_power`` and ``find_sample_size``.

Scripts written for MCPower 1.4.1 pass settings to each call (``n_sims=``, ``seed=``,
``target_power=``, ``verbose=``, ``progress_callback=``, ``wald_se=``, ``mode=``); here they
mean what they mean there, for that call only, on top of the model's settings
(``set_simulations``, ``set_seed``, ``set_power``), which they leave unchanged.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..params import PARAMS
from . import parse
from .run import MAX_SIZES, sample_sizes, size_bounds

Progress = Callable[[int, int], object]
WALD_SE = ("hessian", "rx")
MODES = ("linear", "log")
AUTO_POINTS = 12  # MCPower 1.4.1's by="auto": about a dozen sizes between the bounds


class RunCancelled(RuntimeError):
    """A ``progress_callback`` returned False: the run stopped before its end."""


@dataclass(frozen=True)
class CallOptions:
    """One call's settings: ``None`` keeps the model's."""

    simulations: int | None = None
    seed: int | None = None
    target_power: float | None = None
    show: bool = True
    progress: Progress | None = None


def call_options(
    *, n_sims: object = None, seed: object = None, target_power: object = None,
    verbose: object = None, print_results: bool = True, progress_callback: object = False,
    wald_se: object = None, family: str = "lme",
) -> CallOptions:
    """Check MCPower 1.4.1's per-call keywords; errors name the keyword and what is allowed.

    ``verbose`` (MCPower's) and ``print_results`` (ours) both switch the printed table;
    ``verbose`` wins when given.  ``progress_callback``: False (silent), True or None (a
    progress bar on stderr, MCPower's default), or a callable ``(done, total)`` called as
    simulations finish; returning False stops the run (:class:`RunCancelled`).
    ``wald_se``: ``"hessian"`` (glmer's ``vcov``, the only standard error simulated here)
    or, for a linear model where it means nothing, MCPower's default ``"rx"``.

    Examples
    --------
    >>> call_options(n_sims=500, seed=7, verbose=False)
    CallOptions(simulations=500, seed=7, target_power=None, show=False, progress=None)
    >>> call_options(target_power=90).target_power
    0.9
    """
    if wald_se is not None:
        key = str(wald_se).lower()
        if key not in WALD_SE:
            raise ValueError(f"wald_se={wald_se!r} is not allowed: use 'hessian' (or 'rx' "
                             "for a linear mixed model, where it changes nothing)")
        if key == "rx" and family != "lme":
            raise ValueError(
                "wald_se='rx' (standard errors conditional on the variance parameters) is not "
                "simulated here: a GLMM is tested with glmer's Hessian-based vcov(); use "
                "wald_se='hessian' (docs/glmm.md)")
    show = print_results if verbose is None else bool(verbose)
    return CallOptions(
        simulations=None if n_sims is None else PARAMS["simulations"].check(n_sims, "n_sims"),
        seed=None if seed is None else PARAMS["seed"].check(seed, "seed"),
        target_power=(None if target_power is None
                      else parse.target_power(target_power, "target_power")),
        show=show,
        progress=_progress(progress_callback),
    )


def _progress(callback: object) -> Progress | None:
    if callback is False:
        return None
    if callback is None or callback is True:
        return _Bar()
    if not callable(callback):
        raise ValueError(f"progress_callback={callback!r} is not allowed: use True, False, "
                         "None or a callable (done, total) -> bool")
    return callback  # type: ignore[return-value]


class _Bar:
    """A progress bar on stderr, drawn only for runs longer than a second."""

    def __init__(self) -> None:
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> bool:
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="sim", delay=1.0, leave=False)
        self._bar.total = total
        self._bar.n = done
        self._bar.refresh()
        if done >= total:
            self._bar.close()
            self._bar = None
        return True


def offset(progress: Progress | None, before: int, total: int) -> Progress | None:
    """``progress`` for one part of a larger run: ``before`` simulations done ahead of it.

    Examples
    --------
    >>> seen = []
    >>> offset(lambda done, total: seen.append((done, total)), 100, 300)(50, 100)
    >>> seen
    [(150, 300)]
    """
    if progress is None:
        return None
    return lambda done, _: progress(before + done, total)


@contextlib.contextmanager
def applied(model: Any, options: CallOptions) -> Iterator[None]:
    """The model's simulations, seed and target power replaced for one call.

    Examples
    --------
    >>> from mcpower_sweep import MCPower
    >>> m = MCPower("y ~ x + (1|g)").set_simulations(100)
    >>> with applied(m, CallOptions(simulations=5)):
    ...     m.simulations
    5
    >>> m.simulations
    100
    """
    saved = (model._simulations, model._seed, model._target_power)
    if options.simulations is not None:
        model._simulations = options.simulations
    if options.seed is not None:
        model._seed = options.seed
    if options.target_power is not None:
        model._target_power = options.target_power
    try:
        yield
    finally:
        model._simulations, model._seed, model._target_power = saved


def grid_sizes(from_size: object, to_size: object, by: object, mode: object
               ) -> Sequence[int] | None:
    """The sizes of ``find_sample_size``'s grid; None: no grid (the adaptive search).

    ``by=None``: the adaptive search; ``by="auto"``: about a dozen sizes between the bounds
    (MCPower 1.4.1's default); a whole number: the step (``mode="linear"``) or the number
    of sizes, spaced evenly on the log scale (``mode="log"``).

    Examples
    --------
    >>> list(grid_sizes(100, 1000, 4, "log"))
    [100, 215, 464, 1000]
    >>> list(grid_sizes(100, 200, "auto", "linear"))[:3]
    [100, 109, 118]
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not allowed: use 'linear' (by is the step) or "
                         "'log' (by is the number of sizes, evenly spaced in log size)")
    if by is None:
        return None
    lo, hi = size_bounds(from_size, to_size)
    if isinstance(by, str):
        if by != "auto":
            raise ValueError(f"by={by!r} is not allowed: use a whole number, 'auto' or None "
                             "(the adaptive search)")
        if mode == "linear":
            return sample_sizes(lo, hi, max(1, (hi - lo) // (AUTO_POINTS - 1)))
        by = AUTO_POINTS
    if mode == "linear":
        return sample_sizes(lo, hi, by)
    points = PARAMS["sample_size"].check(by, "by")
    if points > MAX_SIZES:
        raise ValueError(f"by={points} sizes: at most {MAX_SIZES:,}")
    if points == 1 or lo == hi:
        return [lo]
    sizes = np.unique(np.round(np.geomspace(lo, hi, points)).astype(int))
    return [int(n) for n in sizes if math.isfinite(n)]
