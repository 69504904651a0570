"""Python face of the native engine: a spec and a range of simulations in, arrays out.

The compiled module ``mcpower_sweep._native`` does all the statistics (data generation,
REML/ML fit, Wald tests).  This module converts a :class:`~mcpower_sweep.spec.SimulationSpec`
once into the engine's plain struct and turns its arrays into counts.

Simulation ``i`` of master seed ``s`` always sees the same random numbers, whatever chunk
or thread computes it, so any partition of ``range(n)`` into chunks gives identical results.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import _native
from .design.spec import DF_METHODS, SimulationSpec

ENGINE_VERSION: str = _native.__version__


@dataclass(frozen=True)
class ChunkResult:
    """Per-simulation results of one chunk; arrays are indexed ``[simulation, term]``.

    ``converged`` is False for failed fits (their other entries are NaN); ``singular``
    marks legal fits with a variance component at its boundary.  The term axis covers
    all fixed effects, ``"(Intercept)"`` first.
    """

    converged: np.ndarray
    singular: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    pvalue: np.ndarray


@dataclass(frozen=True)
class ChunkCounts:
    """What a chunk contributes to the power estimate (counts are exact integers)."""

    n_sims: int
    n_success: int
    n_singular: int
    n_significant: np.ndarray  # (n_tests,), over successful fits only

    def as_dict(self) -> dict[str, object]:
        return {
            "n_sims": self.n_sims,
            "n_success": self.n_success,
            "n_singular": self.n_singular,
            "n_significant": self.n_significant,
        }


@lru_cache(maxsize=256)
def native_spec(spec: SimulationSpec) -> _native.EngineSpec:
    """Convert a validated spec into the engine's struct (cached: specs are immutable)."""
    es = _native.EngineSpec()
    es.predictor_binary = [p.kind == "binary" for p in spec.predictors]
    es.predictor_p = [float(p.p) for p in spec.predictors]
    es.terms = [list(t) for t in spec.terms]
    es.beta = [float(b) for b in spec.effects]
    es.z_columns = list(spec.random_columns)
    es.re_cov = np.asarray(spec.re_cov(), dtype=np.float64).ravel().tolist()
    es.cluster_sizes = spec.cluster_sizes().tolist()
    es.reml = spec.estimator == "reml"
    es.df_method = DF_METHODS.index(spec.df_method)
    return es


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def run_chunk(
    spec: SimulationSpec, seed: int, start: int, count: int, n_threads: int = 1
) -> ChunkResult:
    """Simulate and fit simulations ``start .. start + count - 1`` of master ``seed``.

    Parameters
    ----------
    spec
        The design.
    seed
        Master seed (0 <= seed < 2**64).
    start, count
        The simulation indices to run.
    n_threads
        Threads used by the engine (results never depend on it).
    """
    if count < 0 or start < 0:
        raise ValueError(f"start={start}, count={count}: both must be >= 0")
    out = _native.run_chunk(native_spec(spec), int(seed), int(start), int(count), int(n_threads))
    return ChunkResult(**out)


def count_chunk(result: ChunkResult, alpha: float) -> ChunkCounts:
    """Aggregate a chunk: successes, singular fits and significant tests (intercept excluded)."""
    ok = result.converged
    sig = (result.pvalue[:, 1:] < alpha) & ok[:, None]
    return ChunkCounts(
        n_sims=int(ok.size),
        n_success=int(ok.sum()),
        n_singular=int((result.singular & ok).sum()),
        n_significant=sig.sum(axis=0).astype(np.int64),
    )


def chunk_counts(
    spec: SimulationSpec, seed: int, start: int, count: int, n_threads: int = 1
) -> ChunkCounts:
    """Run a chunk and return only its counts (what sweeps store)."""
    return count_chunk(run_chunk(spec, seed, start, count, n_threads), spec.alpha)
