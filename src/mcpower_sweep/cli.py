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

import functools
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from .params import PARAMS

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def one_line(err: BaseException) -> str:
    """An exception as one line: multi-line messages are joined, carets dropped.

    Examples
    --------
    >>> one_line(ValueError("bad thing\\n    y ~ x +\\n          ^"))
    'bad thing; y ~ x +'
    """
    reason, position = getattr(err, "reason", None), getattr(err, "position", None)
    if isinstance(reason, str):
        return reason + (f" (at column {position + 1})" if isinstance(position, int) else "")
    text = str(err)
    if isinstance(err, KeyError) and err.args:
        text = str(err.args[0])
    lines = [line.strip() for line in text.splitlines() if line.strip(" ^")]
    return "; ".join(lines) or type(err).__name__


# Python keyword arguments that the library's messages name, and the run flags they are.
_PYTHON_TO_FLAGS = (
    # a message naming both spellings ("--resume / resume=True") keeps the flag
    (re.compile(r"(--[\w-]+) / \w+=(?:True|False)?"), r"\1"),
    (re.compile(r"\bresume=True\b"), "--resume"),
    (re.compile(r"\boverwrite=True\b"), "--overwrite"),
    (re.compile(r"\bout=(?=\s)"), "--out"),
)


def cli_words(text: str) -> str:
    """A library message in the command line's words: flags, not Python arguments.

    Examples
    --------
    >>> cli_words("Use another out= path, or overwrite=True to replace it")
    'Use another --out path, or --overwrite to replace it'
    >>> cli_words("finish it with --resume / resume=True (or --out / out=)")
    'finish it with --resume (or --out)'
    """
    for pattern, flag in _PYTHON_TO_FLAGS:
        text = pattern.sub(flag, text)
    return text


def interrupted_line(err: BaseException) -> str:
    """What Ctrl-C prints: how much is saved (when a sweep says) and how to resume.

    Examples
    --------
    >>> e = KeyboardInterrupt(); e.chunks_done, e.chunks_total, e.store = 3, 8, "s.zarr"
    >>> print(interrupted_line(e))  # doctest: +ELLIPSIS
    interrupted: 3 of 8 chunks are saved in 's.zarr'; run the same command with --resume to ...
    """
    done, total = getattr(err, "chunks_done", None), getattr(err, "chunks_total", None)
    where = getattr(err, "store", None)
    if done is None or total is None or where is None:
        return ("interrupted; finished chunks are saved: run the same command with --resume "
                "to continue")
    return (f"interrupted: {done} of {total} chunks are saved in {str(where)!r}; run the same "
            "command with --resume to continue")


def _fail(message: str, code: int = EXIT_ERROR) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Turn any exception of a command into one ``error:`` line (traceback with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(kwargs.get("debug")) or bool((ctx.obj or {}).get("debug"))
        try:
            return func(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt as err:
            if debug:
                raise
            _fail(interrupted_line(err), EXIT_INTERRUPTED)
        except Exception as err:  # noqa: BLE001 - the CLI's single error boundary
            if debug:
                raise
            _fail(cli_words(one_line(err)))

    return wrapper  # type: ignore[return-value]


debug_option = click.option("--debug", is_flag=True, help="Show the full traceback on errors.")


def _text_value(text: str) -> int | float | str:
    """A flag's text as the number it spells (int before float), else the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def checked(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback checking a flag with the API's rule for parameter ``name``
    (:data:`mcpower_sweep.params.PARAMS`), so the message is the API's, naming the flag."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        flag = max(param.opts, key=len)
        try:
            return PARAMS[name].check(_text_value(value), label=flag)
        except ValueError as err:
            raise click.UsageError(str(err), ctx=ctx) from None

    return callback


def target_power_options(func: F) -> F:
    """``--target-power``, and ``--target``: its older spelling, hidden, filling the same value."""
    check = checked("target_power")

    def alias(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None:
            ctx.params["target_power"] = check(ctx, param, value)

    def primary(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        # not given: keep what the alias set (the alias may be processed first)
        return ctx.params.get("target_power") if value is None else check(ctx, param, value)

    func = click.option("--target", hidden=True, expose_value=False, callback=alias)(func)
    return click.option("--target-power", callback=primary, metavar="FLOAT",
                        help="Target power (default: the store's).")(func)  # type: ignore[return-value]


def ci_option(func: F) -> F:
    """``--ci/--no-ci``: Wilson 95% intervals are shown unless asked not to."""
    return click.option("--ci/--no-ci", default=True, show_default=True,
                        help="Show 95% Wilson intervals of power.")(func)  # type: ignore[return-value]


class _OneLineErrors(click.Group):
    """A click group whose usage errors are one ``error:`` line too (not click's three)."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as err:
            ctx = getattr(err, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            _fail(one_line(ValueError(err.format_message())) + hint, err.exit_code)
        except click.Abort:
            _fail("aborted", EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
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
              help="Results store (default: results/<scenario-stem>.zarr).")
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
    from .cluster import open_client, parse_overrides
    from .scenario import load_scenario

    s = load_scenario(scenario)
    overrides = parse_overrides(cluster_options) if cluster_options else None
    # Check the cluster choice now, before a store is created (nothing starts until entered).
    session = open_client(cluster, workers, overrides)
    cluster_arg: Any = session if overrides else cluster
    store_path = Path(out) if out else default_store(scenario)
    from .sweeps.preflight import check_writable

    check_writable(store_path)  # a clear error for read-only places, before mkdir
    store_path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = s.sweep_kwargs()
    if simulations is not None:
        kwargs["simulations"] = simulations
    if chunk_size is not None:
        kwargs["chunk_size"] = chunk_size
    from .sweeps.run import sweep

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
    from .reports import summary_tables
    from .reports.status import run_line

    click.echo(run_line(store_path, ds, wall), err=True)
    click.echo(summary_tables(ds, ci=ci))


# ------------------------------------------------------------------------- table


def _require(store: str) -> None:
    if not Path(store).exists():
        raise FileNotFoundError(f"{store!r} does not exist: give the path of a results store "
                                "made by 'mcpower-sweep run'")


def _open(store: str) -> Any:
    from .sweeps.store import open_results

    _require(store)
    return open_results(store)


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
@debug_option
@handle_errors
def table(store: str, axes: str | None, at_items: Sequence[str], ci: bool, fmt: str,
          required_n: bool, target_power: float | None, test: str | None, debug: bool) -> None:
    """Power tables (or the required sample size) from a results STORE."""
    del debug
    from . import reports

    ds = _open(store)
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
@target_power_options
@debug_option
@handle_errors
def plot(store: str, output: str, kind: str, at_items: Sequence[str], x_axis: str, hue: str,
         facet: str, test: str | None, target_power: float | None, debug: bool) -> None:
    """Plot power curves (or a required-N heatmap) from a results STORE."""
    del debug
    from .reports import parse_at, plots

    suffix = Path(output).suffix.lower()
    if suffix not in plots.FORMATS:
        raise click.BadParameter(f"{output!r}: use a file name ending in "
                                 f"{', '.join(plots.FORMATS)}", param_hint="-o")
    folder = Path(output).parent
    if not folder.is_dir():  # checked before the work; never created behind the user's back
        raise FileNotFoundError(f"directory {str(folder)!r} does not exist: create it first "
                                "or give -o a path in an existing directory")
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
        from .sweeps.store import read_attrs

        click.echo(read_attrs(store).get("scenario") or "(no scenario recorded)")
        return
    from .reports.status import store_info

    click.echo(store_info(store))


if __name__ == "__main__":  # pragma: no cover
    main()
