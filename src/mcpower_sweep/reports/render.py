"""Text rendering of report numbers: percentages, sample sizes and markdown tables.

Examples
--------
>>> pct(0.614), format_n(1050.0), format_n(None)
('61.4%', '1,050', '—')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

NOT_COMPLETE_NOTE = "\\* point not complete yet (power from the chunks done so far)"


def is_missing(x: Any) -> bool:
    """None or a float NaN (how a frame or a :class:`~mcpower_sweep.stats.RequiredN`
    says "no value")."""
    return x is None or (isinstance(x, Real) and math.isnan(x))


def format_n(n: float | None) -> str:
    """A sample size for humans: ``1,050``; ``—`` for None/NaN."""
    if is_missing(n):
        return "—"
    return f"{int(round(n)):,}"


def round_n(n: float | None) -> float | None:
    """Round an interpolated N up to a multiple of 10 (Monte Carlo error is far larger).

    Examples
    --------
    >>> round_n(1041.2)
    1050.0
    """
    return None if is_missing(n) else float(10 * math.ceil(n / 10))


def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage, ``—`` for None/NaN."""
    return "—" if is_missing(x) else f"{100 * x:.{digits}f}%"


def interval(lower: float, upper: float) -> str:
    """A 95% interval of a fraction, in percent: ``[58.0, 64.7]``.

    Examples
    --------
    >>> interval(0.58, 0.6474)
    '[58.0, 64.7]'
    """
    return f"[{100 * lower:.1f}, {100 * upper:.1f}]"


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table, numeric-looking columns right-aligned.

    Examples
    --------
    >>> print(markdown(["a", "b"], [["x", "1"]]))
    | a | b |
    |:--|--:|
    | x | 1 |
    """
    def numeric(k: int) -> bool:
        cells = [r[k].lstrip("*") for r in rows]
        return k > 0 and all(c[:1].isdigit() or c[:1] in "<>≤≈—-" or c == "not reached"
                             for c in cells)

    align = ["--:" if numeric(k) else ":--" for k in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
