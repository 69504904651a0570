"""Files, bytes and opening times of results stores (issue 14: a few files per design point).

For a store it prints one JSON line: the number of files and bytes it leaves on disk, and
the best of three times of ``xr.open_zarr(store).load()`` (the derived variables as a
plain xarray user sees them) and of :func:`mcpower_sweep.open_results` (exact, from the
totals).  ``big`` first runs a 10,000-point synthetic sweep (100 ICCs × 100 effects,
2 simulations of 40 observations each, on a 2-worker LocalCluster), then measures it.

``--cli`` times the command line's read commands instead, each in a fresh process as a
user runs them (imports included): the median of 5 runs of ``mcpower-sweep info STORE``
and ``mcpower-sweep table STORE``, wall and CPU seconds (CPU is less inflated than wall
on a shared machine).

Run::

    python benchmarks/bench_store.py results/random-slopes-docs.zarr   # an existing store
    python benchmarks/bench_store.py big                                # ~1-2 min on 2 cores
    python benchmarks/bench_store.py --cli results/random-slopes-docs.zarr
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def files_and_bytes(path: str | Path) -> tuple[int, int]:
    """Files under ``path`` and their total size."""
    n_files = n_bytes = 0
    for root, _, names in os.walk(path):
        n_files += len(names)
        n_bytes += sum(os.path.getsize(os.path.join(root, name)) for name in names)
    return n_files, n_bytes


def best_of(fn: Callable[[], Any], n: int = 3) -> float:
    """The shortest of ``n`` timings of ``fn()`` (seconds)."""
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(path: str | Path) -> dict[str, Any]:
    import xarray as xr

    from mcpower_sweep import open_results

    n_files, n_bytes = files_and_bytes(path)
    return {
        "store": str(path),
        "files": n_files,
        "bytes": n_bytes,
        "open_zarr_load_s": round(best_of(lambda: xr.open_zarr(path).load()), 3),
        "open_results_s": round(best_of(lambda: open_results(path)), 3),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }


def cli_times(store: str, runs: int = 5) -> dict[str, Any]:
    """Median wall and CPU seconds of ``mcpower-sweep info|table store`` in new processes."""
    timings: dict[str, Any] = {"store": store}
    for command in ("info", "table"):
        walls, cpus = [], []
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mcpower_sweep.cli", command, store],
                           check=True, stdout=subprocess.DEVNULL)
            walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        timings[f"{command}_wall_s"] = round(statistics.median(walls), 2)
        timings[f"{command}_cpu_s"] = round(statistics.median(cpus), 2)
    timings["loadavg_1min"] = round(os.getloadavg()[0], 2)
    return timings


def big_sweep(out: Path) -> float:
    """The 10,000-point synthetic sweep into ``out``; its wall time (seconds)."""
    import numpy as np
    from distributed import Client, LocalCluster

    from mcpower_sweep import MCPower
    from mcpower_sweep.sweeps.run import sweep

    model = (MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.2, n_clusters=5)
             .set_effects("x=0.3").set_simulations(2).set_seed(1))
    grid = {"icc": [float(v) for v in np.round(np.linspace(0.01, 0.5, 100), 4)],
            "effect_x": [float(v) for v in np.round(np.linspace(0.0, 0.99, 100), 4)]}
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        t0 = time.perf_counter()
        sweep(model, grid, sample_size=40, chunk_size=2, out=out, cluster=client,
              progress=False)
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="a results store, or 'big' for the 10,000-point sweep")
    parser.add_argument("--cli", action="store_true",
                        help="time `mcpower-sweep info` and `table` on the store instead")
    args = parser.parse_args()
    if args.cli:
        print(json.dumps(cli_times(args.store)))
        return
    if args.store != "big":
        print(json.dumps(measure(args.store)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "big.zarr")
        seconds = big_sweep(out)
        print(json.dumps({"sweep_s": round(seconds, 1), **measure(out)}))


if __name__ == "__main__":
    main()
