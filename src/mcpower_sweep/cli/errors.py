"""How the command line fails: one ``error:`` line in its own words, never a traceback.

Library messages name Python arguments; :func:`cli_words` says them as flags.  ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

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


def fail(message: str, code: int = EXIT_ERROR) -> None:
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
            fail(interrupted_line(err), EXIT_INTERRUPTED)
        except Exception as err:  # noqa: BLE001 - the CLI's single error boundary
            if debug:
                raise
            fail(cli_words(one_line(err)))

    return wrapper  # type: ignore[return-value]


class OneLineErrors(click.Group):
    """A click group whose usage errors are one ``error:`` line too (not click's three)."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as err:
            ctx = getattr(err, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            fail(one_line(ValueError(err.format_message())) + hint, err.exit_code)
        except click.Abort:
            fail("aborted", EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)
