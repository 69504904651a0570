"""Running a configured model: simulations in bounded blocks, counted into a result.

``find_power`` and ``find_sample_size`` of :class:`~mcpower_sweep.MCPower` call
:func:`power_at` once per sample size; a sweep runs the same simulations through Dask.
Simulation ``i`` of a seed is the same whatever block runs it, so the block size never
changes a result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ..design.spec import SimulationSpec
from ..params import PARAMS
from ..results import tally
from ..results.power import PowerResult
from ..stats import reject

# Simulations run per engine call, so memory stays bounded for any number of simulations.
RUN_BLOCK = 100_000
PROGRESS_REPORTS = 20  # blocks of a run with a progress callback
MAX_SIZES = 10_000  # sample sizes tried by one find_sample_size


class TooManyFailedFitsError(RuntimeError):
    """More fits failed than ``set_max_failed_simulations`` allows.

    The partial result (counts of the run that failed the check) is in ``result``.
    """

    def __init__(self, message: str, result: PowerResult) -> None:
        super().__init__(message)
        self.result = result


def _counts(spec: SimulationSpec, seed: int, simulations: int, n_threads: int,
            family: Sequence[int], correction: str = "none",
            outcomes: list[np.ndarray] | None = None,
            progress: Callable[[int, int], object] | None = None) -> object:
    """Counts of simulations ``0 .. simulations - 1``, run in blocks of ``RUN_BLOCK``;
    each block's :func:`outcomes_of` appended to ``outcomes`` when given.  With
    ``progress``, about ``PROGRESS_REPORTS`` blocks, each reported as ``progress(done,
    total)``; a callback returning False stops the run."""
    from .. import engine
    from .calls import RunCancelled

    block = RUN_BLOCK if progress is None else max(1, -(-simulations // PROGRESS_REPORTS))
    total = None
    for start in range(0, simulations, block):
        chunk = engine.run_chunk(spec, seed, start, min(block, simulations - start),
                                 n_threads)
        c = engine.count_chunk(chunk, spec.alpha, spec.fit_effects, family)
        total = c if total is None else total + c
        if outcomes is not None:
            outcomes.append(outcomes_of(chunk, spec.alpha, family, correction))
        done = min(start + block, simulations)
        if progress is not None and progress(done, simulations) is False:
            raise RunCancelled(f"progress_callback returned False after {done} of "
                               f"{simulations} simulations")
    return total


def outcomes_of(chunk: object, alpha: float, family: Sequence[int], correction: str
                ) -> np.ndarray:
    """Per simulation and test of ``family``: 1 significant (after ``correction``), 0 not,
    -1 failed fit, as int8 ``[simulation, test]`` (what ``count_chunk`` counts)."""
    ok = chunk.converged
    pvalues = np.hstack([chunk.pvalue[:, 1:], chunk.joint_pvalue])[:, list(family)]
    out = np.full(pvalues.shape, -1, dtype=np.int8)
    out[ok] = reject(pvalues[ok], alpha, correction)
    return out


def power_at(
    spec: SimulationSpec,
    *,
    seed: int,
    seed_drawn: bool,
    simulations: int,
    n_threads: int,
    target_power: float,
    targets: tuple[str, ...],
    max_failed: float,
    correction: str = "none",
    outcomes: list[np.ndarray] | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> PowerResult:
    """Simulate ``spec`` ``simulations`` times and count; raise if too many fits failed.

    The tests in ``targets`` (all when empty) form the family that ``correction`` (and the
    power that at least k are significant) is computed over.  Given a list ``outcomes``,
    the per-simulation results of the family's tests are appended to it (int8
    ``[simulation, test]``, see :func:`outcomes_of`), for the required N's interval.

    Raises
    ------
    TooManyFailedFitsError
        When the share of failed fits exceeds ``max_failed`` (the counts are attached).
    """
    from .. import engine

    start = time.perf_counter()
    family = targets or spec.tests
    counts = _counts(spec, seed, simulations, n_threads, [spec.tests.index(t) for t in family],
                     correction, outcomes, progress)
    result = PowerResult(
        spec=spec,
        seed=seed,
        n_simulations=counts.n_sims,
        n_success=counts.n_success,
        n_singular=counts.n_singular,
        n_significant=dict(zip(spec.tests, map(int, counts.n_significant), strict=True)),
        target_power=target_power,
        target_tests=targets,
        engine_version=engine.ENGINE_VERSION,
        seed_drawn=seed_drawn,
        elapsed=time.perf_counter() - start,
        correction=correction,
        family=tuple(family),
        tallies=tally.unflatten(
            tally.flatten(counts.n_corrected, counts.n_at_least, counts.estimate_sums,
                          counts.component_sums),
            len(spec.tests), len(family)),
    )
    _check_failures(result, max_failed)
    return result


def _check_failures(result: PowerResult, max_failed: float) -> None:
    rate = result.failure_rate
    if not rate > max_failed:
        return
    spec = result.spec
    j = spec.effective_n_clusters
    raise TooManyFailedFitsError(
        f"{result.n_failed} of {result.n_simulations} model fits failed ({rate:.1%}) at "
        f"sample_size={spec.sample_size} with {j} clusters of about "
        f"{spec.total_n / j:.0f} observations, above the threshold "
        f"max_failed={max_failed:g} ({max_failed:.0%}) set with "
        "set_max_failed_simulations. The design is hard to fit: use more clusters "
        "(n_clusters), more observations per cluster (a larger sample_size or "
        "cluster_size), or allow more failures with set_max_failed_simulations(...) "
        f"(seed {result.seed})",
        result,
    )


def size_bounds(from_size: object, to_size: object) -> tuple[int, int]:
    """``find_sample_size``'s checked range (``from_size <= to_size``)."""
    size = PARAMS["sample_size"]
    lo = size.check(from_size, "from_size")
    hi = size.check(to_size, "to_size")
    if lo > hi:
        raise ValueError(f"from_size={lo} is larger than to_size={hi}: use "
                         "from_size <= to_size")
    return lo, hi


def sample_sizes(from_size: object, to_size: object, by: object | None) -> Sequence[int]:
    """The sizes ``from_size, from_size + by, ... <= to_size`` of ``find_sample_size``.

    ``by`` defaults to about ten steps.

    Examples
    --------
    >>> list(sample_sizes(500, 1000, 250))
    [500, 750, 1000]
    """
    lo, hi = size_bounds(from_size, to_size)
    step = PARAMS["sample_size"].check(max(1, (hi - lo) // 10) if by is None else by, "by")
    n_sizes = (hi - lo) // step + 1
    if n_sizes > MAX_SIZES:
        raise ValueError(f"by={step} gives {n_sizes:,} sample sizes from {lo} to "
                         f"{hi}: at most {MAX_SIZES:,}; use a larger by")
    return range(lo, hi + 1, step)
