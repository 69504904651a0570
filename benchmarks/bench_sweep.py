"""How well sweeps use a Dask cluster: parallel efficiency, Dask overhead, worker memory.

Measured on LocalClusters of single-threaded worker processes, started (and warmed up)
before the clock starts, so the figures are about running a sweep, not starting Dask:

- parallel efficiency: ``T(1 worker) / (2 × T(2 workers))`` on a sweep of ``--tasks``
  tasks of about ``--task-seconds`` of engine work each;
- Dask overhead: ``1 − engine time / (workers × wall time)``, with the engine time
  measured inside the tasks (everything else: scheduling, transfers, store writes);
- the hardware ceiling: the same engine chunks in 1 and 2 plain processes, without
  Dask (on a shared or hyper-threaded host, two processes are not twice as fast);
- worker memory: peak RSS of each worker after a sweep of S and of 10·S simulations
  per point (same chunk size), each on a fresh cluster.

Run::

    python benchmarks/bench_sweep.py            # about 3 minutes on 2 cores
    python benchmarks/bench_sweep.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster

from mcpower_sweep.api.model import MCPower
from mcpower_sweep.sweeps.plan import calibrate_chunk_size
from mcpower_sweep.sweeps.run import sweep
from mcpower_sweep.sweeps.tasks import run_task

GRID = {"n_clusters": [20, 40], "slope_variance": [0.05, 0.1]}
SAMPLE_SIZE = 2000
SEED = 12345


def base_spec() -> Any:
    model = (
        MCPower("y ~ treatment + x + (1 + treatment|site)")
        .set_cluster(
            "site",
            ICC=0.2,
            n_clusters=20,
            random_slopes=["treatment"],
            slope_variance=0.1,
            slope_intercept_corr=0.3,
        )
        .set_effects("treatment=0.3, x=0.2")
        .set_variable_type("treatment=binary")
    )
    return model.to_spec(SAMPLE_SIZE)


def peak_rss_mb() -> float:
    """Peak resident memory of the calling process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start(workers: int) -> tuple[LocalCluster, Client]:
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0")
    client = Client(cluster)
    # Warm up: import the package and the engine on every worker before timing.
    spec = base_spec()
    client.run(run_task, spec, SEED, 0, 2)
    return cluster, client


def timed_sweep(client: Client, simulations: int, chunk_size: int) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(prefix="bench-sweep-")) / "s.zarr"
    try:
        t0 = time.perf_counter()
        ds = sweep(
            base_spec(),
            GRID,
            simulations=simulations,
            seed=SEED,
            chunk_size=chunk_size,
            out=out,
            cluster=client,
            progress=False,
        )
        total = time.perf_counter() - t0
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    stats = json.loads(ds.attrs["last_run"])
    workers = stats["workers"]
    return {
        "workers": workers,
        "tasks": stats["chunks_run"],
        "wall": stats["wall_seconds"],
        "total": total,
        "engine": stats["engine_seconds"],
        "overhead": 1.0 - stats["engine_seconds"] / (workers * stats["wall_seconds"]),
    }


def efficiency(tasks: int, task_seconds: float) -> tuple[list[dict[str, float]], float, int]:
    spec = base_spec()
    chunk_size = calibrate_chunk_size(spec, SEED, 10**7, target_seconds=task_seconds)
    n_points = 4
    simulations = chunk_size * -(-tasks // n_points)
    rows = []
    for workers in (1, 2):
        cluster, client = start(workers)
        try:
            rows.append(timed_sweep(client, simulations, chunk_size))
        finally:
            client.close()
            cluster.close()
    return rows, rows[0]["wall"] / (2 * rows[1]["wall"]), chunk_size


def hardware_ceiling(chunk_size: int, chunks: int = 8) -> float:
    """``T1 / (2 × T2)`` of the same engine chunks in 1 and 2 plain processes (no Dask).

    This is the best a 2-worker sweep can do on this machine: on a shared or
    hyper-threaded host two processes do not get two cores' worth of work done.
    """
    spec = base_spec()
    times = []
    for procs in (1, 2):
        with ProcessPoolExecutor(procs, mp_context=get_context("spawn")) as pool:
            list(pool.map(run_task, [spec] * procs, [SEED] * procs, [0] * procs, [2] * procs))
            t0 = time.perf_counter()
            starts = [k * chunk_size for k in range(chunks)]
            list(
                pool.map(run_task, [spec] * chunks, [SEED] * chunks, starts, [chunk_size] * chunks)
            )
            times.append(time.perf_counter() - t0)
    return times[0] / (2 * times[1])


def memory(simulations: int, chunk_size: int) -> list[tuple[int, list[float]]]:
    rows = []
    for sims in (simulations, 10 * simulations):
        cluster, client = start(2)
        try:
            timed_sweep(client, sims, chunk_size)
            rows.append((sims, sorted(client.run(peak_rss_mb).values())))
        finally:
            client.close()
            cluster.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--task-seconds", type=float, default=0.75)
    parser.add_argument("--memory-simulations", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="few short tasks (smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.task_seconds, args.memory_simulations = 20, 0.1, 1000

    rows, eff, chunk_size = efficiency(args.tasks, args.task_seconds)
    print(
        f"\nSweep: {len(GRID['n_clusters']) * len(GRID['slope_variance'])} design points, "
        f"N={SAMPLE_SIZE}, chunk_size={chunk_size} (~{args.task_seconds:g} s/task)\n"
    )
    print(f"{'workers':>7} {'tasks':>6} {'wall s':>8} {'engine s':>9} {'overhead':>9}")
    for r in rows:
        print(
            f"{r['workers']:>7} {r['tasks']:>6} {r['wall']:>8.2f} {r['engine']:>9.2f} "
            f"{r['overhead']:>9.1%}"
        )
    ceiling = hardware_ceiling(chunk_size)
    print(f"\nparallel efficiency T1 / (2 x T2) = {eff:.3f}")
    print(f"same engine chunks in 1 vs 2 plain processes (no Dask): {ceiling:.3f}")
    print(f"sweep efficiency relative to that ceiling: {eff / ceiling:.3f}")

    mem_chunk = max(1, args.memory_simulations // 10)
    print(f"\nWorker peak RSS (2 workers, chunk_size={mem_chunk}):")
    print(f"{'simulations/point':>18} {'worker RSS MB':>16}")
    for sims, rss in memory(args.memory_simulations, mem_chunk):
        print(f"{sims:>18} {' / '.join(f'{x:.0f}' for x in rss):>16}")


if __name__ == "__main__":
    main()
