"""Synthetic results (derived Datasets and raw zarr stores) for table, plot and CLI tests.

Power follows a closed form: the Wald z power with SE² = slope_variance/J + 4/N, a
shape like the random-slope model's, so curves rise with N towards a ceiling set by J.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from mcpower_sweep.stats import two_sided_power, wilson_interval

AXES = ("n_clusters", "slope_variance", "sample_size")


def model_power(n: float, j: int, sv: float, effect: float = 0.15) -> float:
    se = math.sqrt(sv / j + 4.0 / n)
    return two_sided_power(effect / se, math.inf, 0.05)


def attrs(grid: dict[str, Sequence[Any]], simulations: int, effect: float = 0.15) -> dict:
    return {
        "package_version": "0.1.0",
        "engine_version": "test",
        "formula": "score ~ treatment + (1 + treatment|cluster)",
        "base_params": json.dumps({
            "formula": "score ~ treatment + (1 + treatment|cluster)",
            "effects": {"treatment": effect},
            "random_effects": ["(Intercept)", "treatment"],
            "icc": 0.15, "slope_variance": 0.1, "slope_intercept_corr": 0.0,
            "n_clusters": 30, "cluster_size": None, "sample_size": 900,
            "estimator": "reml", "df_method": "satterthwaite", "alpha": 0.05,
        }),
        "grid": json.dumps({k: list(v) for k, v in grid.items()}),
        "seed": 42, "simulations": simulations, "chunk_size": simulations // 2,
        "alpha": 0.05, "df_method": "satterthwaite", "estimator": "reml",
        "target_power": 0.8, "created": "2026-01-01T00:00:00Z", "scenario": "",
        "spec_hash": "abc",
    }


def derived(grid: dict[str, Sequence[Any]], n_significant: np.ndarray, n_success: np.ndarray,
            simulations: int, n_sims: np.ndarray | None = None) -> xr.Dataset:
    """A Dataset shaped like ``open_results``'s from counts (test dim appended)."""
    dims = list(grid)
    coords = {k: np.asarray(v) for k, v in grid.items()}
    coords["test"] = np.array(["treatment"])
    n_sims = np.full(n_success.shape, simulations) if n_sims is None else n_sims
    with np.errstate(divide="ignore", invalid="ignore"):
        power = n_significant / n_success
    lo, hi = wilson_interval(n_significant, n_success)
    ds = xr.Dataset(
        {
            "n_sims": (dims, n_sims.astype(np.int64)),
            "n_success": (dims, n_success.astype(np.int64)),
            "n_failed": (dims, (n_sims - n_success).astype(np.int64)),
            "n_singular": (dims, np.zeros(n_success.shape, dtype=np.int64)),
            "n_significant": ([*dims, "test"], n_significant[..., None].astype(np.int64)),
            "power": ([*dims, "test"], power[..., None]),
            "power_lower": ([*dims, "test"], lo[..., None]),
            "power_upper": ([*dims, "test"], hi[..., None]),
            "failure_rate": (dims, 1 - n_success / n_sims),
            "singular_rate": (dims, np.zeros(n_success.shape)),
            "complete": (dims, n_sims >= simulations),
        },
        coords=coords,
        attrs=attrs(grid, simulations),
    )
    return ds


def tutorial_like(simulations: int = 800, seed: int = 1) -> xr.Dataset:
    """n_clusters × slope_variance × sample_size with binomial noise around model_power."""
    grid = {
        "n_clusters": [15, 20, 30, 40, 50],
        "slope_variance": [0.0, 0.01, 0.05, 0.1, 0.15, 0.2, 0.3],
        "sample_size": [300, 600, 900, 1200, 1800, 2500, 3500, 5000],
    }
    rng = np.random.default_rng(seed)
    shape = tuple(len(v) for v in grid.values())
    truth = np.empty(shape)
    for idx in np.ndindex(shape):
        j, sv, n = (grid[a][i] for a, i in zip(AXES, idx, strict=True))
        truth[idx] = model_power(n, j, sv)
    n_success = np.full(shape, simulations)
    n_significant = rng.binomial(n_success, truth)
    return derived(grid, n_significant.astype(float), n_success.astype(float), simulations)


def curve_dataset(sizes: Sequence[int], power: Sequence[float], n: int = 1000,
                  slope_variance: float = 0.1, n_clusters: int = 30) -> xr.Dataset:
    """A single power curve over sample_size (other axes of length one)."""
    grid = {"n_clusters": [n_clusters], "slope_variance": [slope_variance],
            "sample_size": list(sizes)}
    sig = np.round(np.asarray(power, dtype=float) * n).reshape(1, 1, -1)
    succ = np.full(sig.shape, float(n))
    return derived(grid, sig, succ, n)


def write_store(path: Any, axes: dict[str, Sequence[Any]] | None = None, *,
                simulations: int = 200, chunk_size: int = 100, seed: int = 3,
                done_fraction: float = 1.0, scenario_text: str = "") -> Any:
    """A real results store (written by store.py) with binomial counts, no engine run.

    Power at each point is ``model_power``; with ``done_fraction < 1`` only that share
    of chunks is done (an interrupted run; each point's first chunks).
    """
    from mcpower_sweep.api.model import MCPower
    from mcpower_sweep.sweeps.grid import Grid
    from mcpower_sweep.sweeps.plan import store_attrs
    from mcpower_sweep.sweeps.store import (
        chunk_bounds,
        create_store,
        n_chunks_for,
    )
    from mcpower_sweep.sweeps.writer import ChunkRecord, ChunkWriter

    axes = axes or {"n_clusters": [15, 30], "slope_variance": [0.0, 0.1],
                    "sample_size": [300, 900, 2000]}
    model = MCPower("score ~ treatment + (1 + treatment|cluster)")
    model.set_cluster("cluster", ICC=0.15, n_clusters=30, random_slopes=["treatment"],
                      slope_variance=0.1)
    model.set_effects("treatment=0.15")
    base = model.to_spec(900)
    grid = Grid(base, axes)
    attrs = store_attrs(grid, seed=seed, simulations=simulations, chunk_size=chunk_size,
                        target_power=0.8, scenario_text=scenario_text, max_failed=0.3)
    create_store(path, grid, simulations=simulations, chunk_size=chunk_size, attrs=attrs)
    writer = ChunkWriter.open(path)
    rng = np.random.default_rng(seed)
    n_chunks = n_chunks_for(simulations, chunk_size)
    for index, spec in grid.points():
        p = model_power(spec.sample_size, spec.effective_n_clusters, spec.slope_variance)
        done = int((rng.random(n_chunks) < done_fraction).sum())  # a point's first chunks
        for k in range(done):
            _, count = chunk_bounds(k, simulations, chunk_size)
            failed = int(rng.binomial(count, 0.02))
            ok = count - failed
            writer.add([ChunkRecord(index, k, count, ok, int(ok // 10),
                                    np.array([rng.binomial(ok, p)]))])
    writer.flush()
    return path


def rows_with_cross_products(cross: np.ndarray, n: int) -> np.ndarray:
    """n rows ``[1, ...]`` whose cross-product matrix is ``cross`` (first column the ones):
    the column means plus centred orthonormal directions scaled by the Cholesky factor of
    the centred cross-products."""
    k = cross.shape[0]
    mean = cross[0] / n
    centred = cross[1:, 1:] - n * np.outer(mean[1:], mean[1:])
    t = np.arange(n) / n
    basis = np.linalg.qr(np.column_stack([t**d for d in range(k)]))[0]
    return np.column_stack([np.ones(n), mean[1:] + basis[:, 1:] @ np.linalg.cholesky(centred).T])
