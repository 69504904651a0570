"""The ``mcpower-sweep`` command: run scenarios, and read their stores as tables and plots.

::

    mcpower-sweep run scenarios/random-slopes-docs.yaml     # sweep, then print the tables
    mcpower-sweep table results/random-slopes-docs.zarr --required-n
    mcpower-sweep plot results/random-slopes-docs.zarr -o power.png
    mcpower-sweep info results/random-slopes-docs.zarr

Errors are one line on stderr (``error: ...``) and a non-zero exit; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .errors import OneLineErrors, handle_errors
from .options import checked, ci_option, debug_option, target_power_options


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mcpower-sweep", prog_name="mcpower-sweep")
@debug_option
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Monte Carlo power analysis for multilevel designs, swept over design grids.

    Run a scenario file into a zarr store, then read the store with table, plot and info.
    """
    ctx.obj = {"debug": debug}


# --------------------------------------------------------------------------- run


def default_store(scenario_path: str | Path) -> Path:
    """``results/<scenario-stem>.zarr``.

    Examples
    --------
    >>> default_store("scenarios/random-slopes-docs.yaml").as_posix()
    'results/random-slopes-docs.zarr'
    """
    return Path("results") / f"{Path(scenario_path).stem}.zarr"


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False),
              help="Results store: a path or a URL such as memory://s.zarr or "
              "s3://bucket/s.zarr (default: results/<scenario-stem>.zarr).")
@click.option("--cluster", default=None, metavar="local|slurm|CONFIG.yaml|tcp://HOST:PORT",
              help="Where to run (default: a LocalCluster with one worker per core).")
@click.option("--workers", callback=checked("workers"), metavar="INTEGER",
              help="Number of Dask workers.")
@click.option("--cluster-option", "cluster_options", multiple=True, metavar="KEY=VALUE",
              help="Override a key of the cluster config (repeatable), e.g. walltime=02:00:00.")
@click.option("--chunk-size", callback=checked("chunk_size"), metavar="INTEGER",
              help="Simulations per task (default: calibrated to about a second of work).")
@click.option("--simulations", callback=checked("simulations"), metavar="INTEGER",
              help="Simulations per design point (default: the scenario's).")
@click.option("--resume", is_flag=True, help="Finish an existing store's missing chunks.")
@click.option("--overwrite", is_flag=True, help="Replace an existing store.")
@ci_option
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@debug_option
@handle_errors
def run(scenario: str, out: str | None, cluster: str | None, workers: int | None,
        cluster_options: Sequence[str], chunk_size: int | None, simulations: int | None,
        resume: bool, overwrite: bool, ci: bool, progress: bool, debug: bool) -> None:
    """Sweep the design grid of SCENARIO (YAML) into a zarr store and print its tables."""
    del debug
    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other: choose one")
    from ..cluster import open_client, parse_overrides
    from ..scenario import load_scenario

    s = load_scenario(scenario)
    overrides = parse_overrides(cluster_options) if cluster_options else None
    # Check the cluster choice now, before a store is created (nothing starts until entered).
    session = open_client(cluster, workers, overrides)
    cluster_arg: Any = session if overrides else cluster
    from ..sweeps.location import local_path, resolve
    from ..sweeps.preflight import check_writable

    store_path = resolve(out) if out else default_store(scenario)
    local = local_path(store_path)
    if local is not None:
        check_writable(local)  # a clear error for read-only places, before mkdir
        local.parent.mkdir(parents=True, exist_ok=True)
    if s.search is not None:
        _run_search(s, store_path, local, session, resume=resume, overwrite=overwrite,
                    simulations=simulations, chunk_size=chunk_size)
        return
    kwargs = s.sweep_kwargs()
    if simulations is not None:
        kwargs["simulations"] = simulations
    if chunk_size is not None:
        kwargs["chunk_size"] = chunk_size
    from ..sweeps.run import sweep

    start = time.perf_counter()
    # The sweep's messages name resume=, overwrite= and out=: handle_errors says the flags.
    if overrides:
        with cluster_arg as client:
            ds = sweep(s.model, s.design_grid(), out=store_path, cluster=client,
                       resume=resume, overwrite=overwrite, progress=progress, **kwargs)
    else:
        ds = sweep(s.model, s.design_grid(), out=store_path, cluster=cluster_arg,
                   workers=workers, resume=resume, overwrite=overwrite, progress=progress,
                   **kwargs)
    wall = time.perf_counter() - start
    from ..reports import summary_tables
    from ..reports.status import run_line

    click.echo(run_line(out or store_path, ds, wall), err=True)
    click.echo(summary_tables(ds, ci=ci))


def _run_search(s: Any, store_path: Any, local: Path | None, session: Any, *, resume: bool,
                overwrite: bool, simulations: int | None, chunk_size: int | None) -> None:
    """A scenario with ``search:``: the required size (or MDE) at every point of its axes."""
    for flag, given in (("--resume", resume), ("--simulations", simulations),
                        ("--chunk-size", chunk_size)):
        if given:
            raise click.UsageError(f"{flag} does not apply to a search scenario (search: in "
                                   f"{s.path}): each point's search sets its own simulations "
                                   "up to search.max_simulations")
    if local is not None and local.exists():
        if not overwrite:
            raise FileExistsError(f"{str(local)!r} already exists: give --overwrite to replace "
                                  "it, or --out for another store")
        import shutil

        shutil.rmtree(local)
    from ..reports.searches import search_table
    from ..search.sweep import effect_sweep, search_sweep
    from ..sweeps.location import zarr_store

    q = s.search
    common = dict(correction=q.get("correction"), precision=q["precision"],
                  max_simulations=q["max_simulations"], store=zarr_store(store_path),
                  estimator=s.options.estimator, df_method=s.options.df_method,
                  scenario_text=s.text)
    start = time.perf_counter()
    with session as client:
        if "effect" in q:  # the MDE at the scenario's own size (or its sample_size axis)
            ds = effect_sweep(s.model, s.grid, q["effect"],
                              s.options.sample_size or s.grid["sample_size"][0], q["from"],
                              q["to"], client=client, **common)
        else:
            ds = search_sweep(s.model, s.grid, q["from"], q["to"], q["test"], unit=q["unit"],
                              client=client, **common)
    wall = time.perf_counter() - start
    click.echo(f"wrote {store_path}: {ds.status.size} searches, "
               f"{int(ds.n_simulations.sum()):,} simulations in {wall:.1f} s", err=True)
    click.echo(search_table(ds))


# ------------------------------------------------------------------------- table


def _require(store: str) -> None:
    from ..sweeps.location import local_path

    path = local_path(store)  # a store elsewhere (a URL) is checked by opening it
    if path is not None and not path.exists():
        raise FileNotFoundError(f"{store!r} does not exist: give the path of a results store "
                                "made by 'mcpower-sweep run'")


def _open(store: str) -> Any:
    from ..sweeps.store import open_results

    _require(store)
    return open_results(store)


def _open_search(store: str) -> Any:
    """A sweep of searches' Dataset (``run`` on a ``search:`` scenario), else None."""
    from ..reports.status import is_search
    from ..sweeps.location import zarr_store
    from ..sweeps.store import read_attrs

    _require(store)
    try:
        attrs = read_attrs(store)
    except Exception:  # not a zarr group: open_results says so in its words
        return None
    if not is_search(attrs):
        return None
    import xarray as xr

    return xr.open_zarr(zarr_store(store), consolidated=False).load()


def _axes_option(text: str | None) -> tuple[str | None, str | None]:
    if not text:
        return None, None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) not in (1, 2):
        raise click.BadParameter(f"{text!r}: give one or two axes, e.g. slope_variance,n_clusters",
                                 param_hint="--axes")
    return parts[0], parts[1] if len(parts) == 2 else None


@main.command()
@click.argument("store", type=click.Path())
@click.option("--axes", metavar="ROWS,COLS", help="The two axes of the power table.")
@click.option("--at", "at_items", multiple=True, metavar="AXIS=VALUE",
              help="Fix another axis at a value (repeatable).")
@ci_option
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv"]), default="markdown",
              show_default=True)
@click.option("--required-n", is_flag=True,
              help="The required sample size at every point of the other axes.")
@target_power_options
@click.option("--test", help="The tested effect (default: the first).")
@click.option("--correction", metavar="none|bonferroni|holm|bh",
              help="Power after this multiple-testing correction (over all tests), with the "
                   "power that at least k / all tests are significant as tests 'at least k', "
                   "'all m'.")
@debug_option
@handle_errors
def table(store: str, axes: str | None, at_items: Sequence[str], ci: bool, fmt: str,
          required_n: bool, target_power: float | None, test: str | None,
          correction: str | None, debug: bool) -> None:
    """Power tables (or the required sample size) from a results STORE."""
    del debug
    from .. import reports

    searched = _open_search(store)
    if searched is not None:  # the required N per point, with its interval
        from ..reports.searches import search_table

        rows, cols = _axes_option(axes)
        at = reports.parse_at(at_items, searched)
        click.echo(search_table(searched, rows, cols, at=at, fmt=fmt))
        return
    ds = _open(store)
    if correction is not None:
        ds = reports.corrected(ds, correction)
    at = reports.parse_at(at_items, ds)
    rows, cols = _axes_option(axes)
    if required_n:
        click.echo(reports.required_n_table(ds, target_power, test=test, at=at, fmt=fmt))
    elif rows is None and not at and fmt == "markdown" and reports.has_tutorial_axes(ds):
        click.echo(reports.summary_tables(ds, ci=ci, test=test))
    else:
        click.echo(reports.power_tables(ds, rows, cols, at=at, test=test, ci=ci, fmt=fmt))


# -------------------------------------------------------------------------- plot


@main.command()
@click.argument("store", type=click.Path())
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="Image file: .png, .svg or .pdf.")
@click.option("--kind", type=click.Choice(["curves", "heatmap"]), default="curves",
              show_default=True,
              help="Power curves against sample size, or a heatmap of the required N.")
@click.option("--at", "at_items", multiple=True, metavar="AXIS=VALUE",
              help="Fix an axis at a value (repeatable).")
@click.option("--x", "x_axis", default="sample_size", show_default=True,
              help="Horizontal axis of the curves.")
@click.option("--hue", default="slope_variance", show_default=True,
              help="One curve per value of this axis.")
@click.option("--facet", default="n_clusters", show_default=True,
              help="One panel per value of this axis.")
@click.option("--test", help="The tested effect (default: the first).")
@click.option("--axes", metavar="ROWS[,COLS]",
              help="A search store's axes: a heatmap over two, a line over one.")
@target_power_options
@debug_option
@handle_errors
def plot(store: str, output: str, kind: str, at_items: Sequence[str], x_axis: str, hue: str,
         facet: str, test: str | None, axes: str | None, target_power: float | None,
         debug: bool) -> None:
    """Plot power curves (or a required-N heatmap) from a results STORE."""
    del debug
    from ..reports import parse_at, plots

    suffix = Path(output).suffix.lower()
    if suffix not in plots.FORMATS:
        raise click.BadParameter(f"{output!r}: use a file name ending in "
                                 f"{', '.join(plots.FORMATS)}", param_hint="-o")
    folder = Path(output).parent
    if not folder.is_dir():  # checked before the work; never created behind the user's back
        raise FileNotFoundError(f"directory {str(folder)!r} does not exist: create it first "
                                "or give -o a path in an existing directory")
    searched = _open_search(store)
    if searched is not None:  # the required N per point, with its interval
        from ..reports.searches import search_plot

        fig = search_plot(searched, *_axes_option(axes), at=parse_at(at_items, searched))
        click.echo(f"wrote {plots.save(fig, output)}", err=True)
        return
    ds = _open(store)
    at = parse_at(at_items, ds)
    if kind == "curves":
        fig = plots.power_curves(ds, x=x_axis, hue=hue, facet=facet, at=at, test=test,
                                 target=target_power)
    else:
        fig = plots.required_n_heatmap(ds, at=at, test=test, target=target_power)
    path = plots.save(fig, output)
    click.echo(f"wrote {path}", err=True)


# -------------------------------------------------------------------------- info


@main.command()
@click.argument("store", type=click.Path())
@click.option("--scenario", "show_scenario", is_flag=True,
              help="Print the recorded scenario YAML instead.")
@debug_option
@handle_errors
def info(store: str, show_scenario: bool, debug: bool) -> None:
    """What a results STORE holds: provenance, and what is done and left."""
    del debug
    _require(store)
    if show_scenario:
        from ..sweeps.store import read_attrs

        click.echo(read_attrs(store).get("scenario") or "(no scenario recorded)")
        return
    searched = _open_search(store)
    if searched is not None:
        from ..reports.searches import search_info

        click.echo(search_info(searched))
        return
    from ..reports.status import store_info

    click.echo(store_info(store))
