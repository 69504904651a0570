"""Files, bytes and opening times of results stores (issue 14: a few files per design point).

For a store it prints one JSON line: the number of files and bytes it leaves on disk, and
the best of three times of ``xr.open_zarr(store).load()`` (the derived variables as a
plain xarray user sees them) and of :func:`mcpower_sweep.open_results` (exact, from the
totals).  ``big`` first runs a 10,000-point synthetic sweep (100 ICCs × 100 effects,
2 simulations of 40 observations each, on a 2-worker LocalCluster), then measures it.

``--cli`` times the command line's read commands instead, each in a fresh process as a
user runs them (imports included): the median of 5 runs of ``mcpower-sweep info STORE``
and ``mcpower-sweep table STORE``, wall and CPU seconds (CPU is less inflated than wall
on a shared machine).  Alternately with them, in the same way, it times the import of the
libraries each command needs (its floor: ``info`` reads through zarr; ``table`` builds
xarray objects, and xarray imports dask.array whenever it does so if dask is installed,
and computes with SciPy's optimize and stats) and ``python -c pass``; and, in this
process once those are imported, ``open_results`` plus the default tables.

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


# The third-party imports of each read command: what it costs before any of ours runs.
FLOORS = {
    "python": "pass",
    "info": "import numpy, zarr",
    "table": "import xarray, zarr, dask.array, scipy.optimize, scipy.stats",
    # The ceiling's noncentral t alone (scipy.stats.nct.sf), whatever reads the store.
    "scipy_stats": "import numpy, scipy.stats",
}


def _child_run(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``argv`` in a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def cli_times(store: str, runs: int = 5) -> dict[str, Any]:
    """Median wall and CPU seconds of ``mcpower-sweep info|table store`` in new processes,
    and of their import floors (:data:`FLOORS`), run alternately."""
    argvs = {c: [sys.executable, "-m", "mcpower_sweep.cli", c, store] for c in ("info", "table")}
    argvs |= {f"floor_{k}": [sys.executable, "-c", code] for k, code in FLOORS.items()}
    walls: dict[str, list[float]] = {k: [] for k in argvs}
    cpus: dict[str, list[float]] = {k: [] for k in argvs}
    for _ in range(runs):
        for key, argv in argvs.items():
            wall, cpu = _child_run(argv)
            walls[key].append(wall)
            cpus[key].append(cpu)
    timings: dict[str, Any] = {"store": store}
    for key in argvs:
        timings[f"{key}_wall_s"] = round(statistics.median(walls[key]), 2)
        timings[f"{key}_cpu_s"] = round(statistics.median(cpus[key]), 2)
    for c in ("info", "table"):
        timings[f"{c}_above_floor_wall_s"] = round(
            timings[f"{c}_wall_s"] - timings[f"floor_{c}_wall_s"], 2)
    timings["in_process_table_s"] = round(_in_process_table(store), 3)
    timings["nctdtr_nan_points"] = nctdtr_nans()
    timings["loadavg_1min"] = round(os.getloadavg()[0], 2)
    return timings


def nctdtr_nans() -> str:
    """Where SciPy's public noncentral t (``1 - scipy.special.nctdtr``) gives NaN for the
    upper tail the power ceiling needs, which ``scipy.stats.nct.sf`` computes (and why the
    ceiling imports scipy.stats): NaN points of a grid of df, levels and noncentralities."""
    import numpy as np
    from scipy import special, stats

    nan = total = 0
    for df in (1, 1.5, 2, 3, 5.7, 10, 28, 100, 1e3, 1e5, 1e7):
        for alpha in (0.5, 0.05, 0.01, 0.001, 1e-6):
            crit = stats.t.ppf(1 - alpha / 2, df)
            delta = np.linspace(-60, 60, 481)
            upper = 1 - special.nctdtr(df, delta, crit)
            assert np.all(np.isfinite(stats.nct.sf(crit, df, delta)))
            nan += int(np.sum(~np.isfinite(upper)))
            total += delta.size
    return f"{nan} of {total}"


def _in_process_table(store: str) -> float:
    """Best of 3: ``open_results`` and the default tables, with the libraries imported."""
    from mcpower_sweep import open_results
    from mcpower_sweep.reports import summary_tables

    summary_tables(open_results(store))  # imports and first-call caches
    return best_of(lambda: summary_tables(open_results(store)))


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
