"""The state of a results store and of the run that filled it, as text for the CLI.

Unlike the other reports these read the store itself (its attributes and which chunks
are done), not only the derived Dataset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # `info` reads the store through zarr alone (no xarray: see store_info)
    import xarray as xr


def is_search(attrs: Mapping[str, Any]) -> bool:
    """Whether a store's attributes are those of a sweep of searches (size or MDE:
    :mod:`.searches`), not of a power sweep.

    >>> is_search({"search_unit": "observations"}), is_search({"simulations": 800})
    (True, False)
    """
    return "search_unit" in attrs or "search_effect" in attrs


def run_line(store: object, ds: xr.Dataset, wall: float) -> str:
    """What ``run`` says when it is done: where the results are, how complete, how fast.

    ``store`` is named as given: a path, a URL (``memory://s.zarr``) or a store object.

    Examples
    --------
    >>> run_line("s.zarr", ds, 12.3)  # doctest: +SKIP
    'Results: s.zarr (12/12 design points complete; 12.3 s wall; 2,400 simulations ...)'
    """
    complete = ds["complete"].values
    points = f"{int(complete.sum())}/{complete.size} design points complete"
    try:
        last = json.loads(ds.attrs.get("last_run", "{}"))
    except (TypeError, ValueError):
        last = {}
    text = f"{wall:.1f} s wall"
    if last.get("simulations_run"):
        text += (f"; {last['simulations_run']:,} simulations in {last.get('chunks_run', '?')} "
                 f"tasks on {last.get('workers', '?')} workers, "
                 f"{last.get('engine_seconds', 0):.1f} s of engine time")
    if last.get("chunks_skipped"):
        text += f"; {last['chunks_skipped']} chunks already done"
    name = os.fspath(store) if isinstance(store, (str, os.PathLike)) else str(store)
    return f"Results: {name} ({points}; {text})"


def store_info(store: str) -> str:
    """What a store holds: provenance, axes, and how much of the work is done.

    Examples
    --------
    >>> print(store_info("results/random-slopes-docs.zarr"))  # doctest: +SKIP
    store:       results/random-slopes-docs.zarr
    ...
    """
    c = _counts(store)
    attrs, done = c["attrs"], c["done"]
    grid = json.loads(attrs.get("grid", "{}")) if isinstance(attrs.get("grid"), str) else {}
    n_points = int(c["n_sims"].size)
    n_complete = int(done.all(axis=-1).sum())
    sims_total = int(attrs.get("simulations", 0)) * n_points
    sims_done = int(c["n_sims"].sum())
    lines = [
        f"store:       {store}",
        f"formula:     {attrs.get('formula', '?')}",
        "axes:        " + "; ".join(
            f"{a} ({len(v)}): {', '.join(str(x) for x in v)}" for a, v in grid.items()),
        f"tests:       {', '.join(c['tests'])}",
        f"simulations: {attrs.get('simulations')} per point, chunks of {attrs.get('chunk_size')}",
        f"seed:        {attrs.get('seed')}",
        f"test:        alpha={attrs.get('alpha')}, df_method={attrs.get('df_method')}, "
        f"estimator={attrs.get('estimator')}, target power={attrs.get('target_power')}",
        f"done:        {int(done.sum())}/{done.size} chunks, {n_complete}/{n_points} design "
        f"points, {sims_done:,}/{sims_total:,} simulations",
    ]
    if done.size and not done.all():
        lines.append(f"left:        {done.size - int(done.sum())} chunks; finish with "
                     f"'mcpower-sweep run SCENARIO --out {store} --resume'")
    if sims_done:
        n_failed = c["n_sims"] - c["n_success"]  # results.schema's n_failed, failure_rate
        failed = int(n_failed.sum())
        singular = int(c["n_singular"].sum())
        worst = float(np.nanmax(n_failed / np.where(c["n_sims"] > 0, c["n_sims"], np.nan)))
        lines.append(f"fits:        {failed:,} failed ({100 * failed / sims_done:.2f}%, worst "
                     f"point {100 * worst:.1f}%), {singular:,} singular")
    scenario = attrs.get("scenario")
    lines += [
        f"versions:    package {attrs.get('package_version')}, engine "
        f"{attrs.get('engine_version')}",
        f"created:     {attrs.get('created')}",
        f"scenario:    {f'recorded ({len(scenario)} characters)' if scenario else 'none'}",
    ]
    base = attrs.get("base_params")
    if base:
        lines.append(f"parameters:  {base}")
    last = attrs.get("last_run")
    if last:
        lines.append(f"last run:    {last}")
    return "\n".join(lines)


def _counts(store: str) -> dict[str, Any]:
    """:func:`~mcpower_sweep.sweeps.store.read_counts` of ``store``; for a store of the
    per-chunk layout (earlier versions), the same from its results Dataset."""
    from ..sweeps.store import done_mask, open_results, read_attrs, read_counts

    counts = read_counts(store)
    if counts is not None:
        return counts
    ds = open_results(store)  # names a path that is not a results store
    return {"attrs": read_attrs(store), "tests": [str(t) for t in ds["test"].values],
            "done": done_mask(store),
            **{name: ds[name].values for name in ("n_sims", "n_success", "n_singular")}}
