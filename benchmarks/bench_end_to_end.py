"""End-to-end speed of the tutorial's docs sweep, run as a user runs it.

Runs ``scenarios/random-slopes-docs.yaml`` (490 design points × 800 simulations) through
:func:`mcpower_sweep.sweeps.run.sweep` with its default LocalCluster (one single-threaded
worker per core, threads of the driver; ``--processes``: worker processes, the default
before issue 14's last change), the cluster's start-up, the chunk-size calibration and the
reading of the results at the end all inside the clock.  Reports

- ``wall_s``: the call of ``sweep`` from start to returned Dataset;
- ``engine_bound_s``: the engine seconds measured inside the tasks, divided by the
  number of workers (the time the workers would need for the engine alone);
- ``ratio``: ``wall_s / engine_bound_s`` (the target of issue 14 is ≤ 1.2);
- where the rest goes: planning (options, calibration), creating the store (in a
  thread while the cluster starts, so not added to the wall time), cluster start, the
  task loop, and opening the results at the end; within the loop, the driver's time
  in store flushes and in building and submitting tasks (each timed around its
  function; ``tasks`` counts chunks, several of which may share one Dask task);
- ``driver_cpu_s``: CPU seconds of the driver process (its Dask scheduler included),
  which on a machine with as many cores as workers are taken from the workers;
  ``workers_cpu_s``: those of worker processes (their start-up, Dask and the engine; 0
  for threads, whose CPU is the driver's).
  On a loaded machine CPU seconds are the steadier measure: the wall time mostly says
  how busy the machine was.

The machine's load average is printed beside the numbers: on a shared machine both
times are inflated, the ratio less so.

Run::

    python benchmarks/bench_end_to_end.py            # the docs sweep (~25 s, quiet 2 cores)
    python benchmarks/bench_end_to_end.py --quick    # 100 simulations per point (smoke)
    python benchmarks/bench_end_to_end.py --repeat 3 --compare   # threads, processes, ...
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "random-slopes-docs.yaml"


@contextlib.contextmanager
def timed_calls(phases: dict[str, float], targets: dict[str, tuple[Any, str]]) -> Iterator[None]:
    """Add the seconds spent in each ``(module or class, attribute)`` function to
    ``phases[name]``, and its number of calls to ``phases[name + "_calls"]``."""
    # (a function an older version lacks is left out: the script also times the code before)
    targets = {name: t for name, t in targets.items() if hasattr(*t)}
    originals = {name: getattr(mod, attr) for name, (mod, attr) in targets.items()}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0
                phases[f"{name}_calls"] = phases.get(f"{name}_calls", 0) + 1

        return inner

    for name, (mod, attr) in targets.items():
        setattr(mod, attr, wrap(name, originals[name]))
    try:
        yield
    finally:
        for name, (mod, attr) in targets.items():
            setattr(mod, attr, originals[name])


@contextlib.contextmanager
def timed_context(phases: dict[str, float], name: str, mod: Any, attr: str) -> Iterator[None]:
    """Time the entry of the context manager returned by ``mod.attr`` (cluster start)."""
    original = getattr(mod, attr)

    @contextlib.contextmanager
    def inner(*args: Any, **kwargs: Any) -> Iterator[Any]:
        t0 = time.perf_counter()
        with original(*args, **kwargs) as value:
            phases[name] = time.perf_counter() - t0
            yield value

    setattr(mod, attr, inner)
    try:
        yield
    finally:
        setattr(mod, attr, original)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(simulations: int | None, processes: bool) -> dict[str, Any]:
    from mcpower_sweep import cluster
    from mcpower_sweep.scenario import load_scenario
    from mcpower_sweep.sweeps import run as run_mod
    from mcpower_sweep.sweeps import store, tasks, writer

    s = load_scenario(SCENARIO)
    kwargs = s.sweep_kwargs()
    if simulations is not None:
        kwargs["simulations"] = simulations
    phases: dict[str, float] = {}
    targets = {"plan_s": (run_mod, "make_plan"), "open_results_s": (store, "open_results"),
               "create_s": (run_mod, "create_planned_store"),
               "flush_s": (writer.ChunkWriter, "flush"), "submit_s": (tasks.TaskWindow, "refill")}
    with tempfile.TemporaryDirectory() as tmp, timed_calls(phases, targets), \
            timed_context(phases, "cluster_start_s", cluster, "open_client"):
        where = None  # the default LocalCluster
        if processes:  # the same with worker processes (what the default was)
            where = Path(tmp, "processes.yaml")
            where.write_text("kind: local\nprocesses: true\nmemory_limit: auto\n")
        cpu0, children0 = time.process_time(), _children_cpu()
        t0 = time.perf_counter()
        ds = run_mod.sweep(s.model, s.design_grid(), out=Path(tmp, "docs.zarr"),
                           cluster=where, progress=False, **kwargs)
        wall = time.perf_counter() - t0
        driver_cpu = time.process_time() - cpu0
        workers_cpu = _children_cpu() - children0  # the workers are waited for at close
    last = json.loads(ds.attrs["last_run"])
    engine_bound = last["engine_seconds"] / last["workers"]
    loop = last["wall_seconds"] - phases.get("cluster_start_s", 0.0)
    return {
        "workers_are": "processes" if processes else "threads",
        "points": int(ds["complete"].size),
        "simulations": int(kwargs.get("simulations", s.model.simulations)),
        "tasks": last["chunks_run"],
        "workers": last["workers"],
        "wall_s": round(wall, 2),
        "engine_s": round(last["engine_seconds"], 2),
        "engine_bound_s": round(engine_bound, 2),
        "ratio": round(wall / engine_bound, 3),
        **{k: round(v, 2) for k, v in phases.items() if not k.endswith("_calls")},
        "flushes": phases.get("flush_s_calls", 0),
        "task_loop_s": round(loop, 2),
        "driver_cpu_s": round(driver_cpu, 2),
        "workers_cpu_s": round(workers_cpu, 2),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 simulations per point")
    parser.add_argument("--repeat", type=int, default=1, help="runs (each on a new cluster)")
    parser.add_argument("--processes", action="store_true", help="worker processes")
    parser.add_argument("--compare", action="store_true",
                        help="threads and processes alternately, each --repeat times")
    args = parser.parse_args()
    kinds = [False, True] if args.compare else [args.processes]
    for _ in range(args.repeat):
        for processes in kinds:
            print(json.dumps(run(100 if args.quick else None, processes)), flush=True)


if __name__ == "__main__":
    main()
