"""The ``mcpower-sweep`` command line: ``commands`` (run, table, plot, info), ``options``
(shared flags checked by the API's rules) and ``errors`` (one line, in the command line's
words)."""

from __future__ import annotations

from .commands import default_store, main
from .errors import cli_words, interrupted_line, one_line

__all__ = ["cli_words", "default_store", "interrupted_line", "main", "one_line"]
