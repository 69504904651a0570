"""Latin-square counterbalancing of a within-unit condition over two crossed groupings.

In a crossed subjects x items experiment each subject usually sees each item in one
condition only: the subjects are split into K lists (one per level of the condition) and
list g sees item i in condition ``(i + g) mod K``.  Every subject then sees every
condition on J / K items, every item is seen in every condition by S / K subjects, and
no subject sees an item twice in different conditions.  ``set_cluster("item",
n_clusters=20, latin_square="condition")`` asks for it: the condition is laid out by the
design, the same in every simulation, instead of drawn (subject s is in list s mod K).

Examples
--------
>>> latin_square_levels(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), 2).tolist()
[0, 1, 1, 0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .factors import predictor_columns

if TYPE_CHECKING:
    from .groupings import Layout
    from .spec import SimulationSpec


def latin_square_levels(lists: np.ndarray, units: np.ndarray, k: int) -> np.ndarray:
    """Each row's condition, ``(unit + list) mod k``, for rows of the counterbalanced
    grouping's ``units`` seen by the other grouping's units (``lists``: subject s is in
    list ``s mod k``)."""
    return (np.asarray(units, dtype=np.int64) + np.asarray(lists, dtype=np.int64)) % k


def levels_of(spec: SimulationSpec, name: str) -> int:
    """The number of conditions of predictor ``name`` (2 for a binary one)."""
    p = next(p for p in spec.predictors if p.name == name)
    return len(p.proportions) if p.kind == "factor" else 2


def check_latin_square(spec: SimulationSpec, counts: list[int]) -> None:
    """The rules of :mod:`.latin_square`: two crossed groupings, one of them holding the
    square; a binary predictor with p = 0.5 or a factor with equal proportions, varying
    within both groupings' units; each grouping's units a multiple of the conditions."""
    gs = spec.groupings
    held = [(k, g) for k, g in enumerate(gs) if g.latin_square]
    if not held:
        return
    k, g = held[0]
    call = f"set_cluster({g.name!r}, latin_square={g.latin_square!r})"
    if len(held) > 1:
        raise ValueError(f"{call}: latin_square is also set on {held[1][1].name!r}: one "
                         "grouping holds the Latin square (the items)")
    if len(gs) != 2 or any(h.parent for h in gs):
        raise ValueError(f"{call}: a Latin square needs exactly two crossed groupings "
                         f"(subjects x items); this design has {', '.join(h.name for h in gs)}"
                         f"{' (nested)' if any(h.parent for h in gs) else ''}")
    found = [p for p in spec.predictors if p.name == g.latin_square]
    if not found:
        raise ValueError(f"{call}: {g.latin_square!r} is not a predictor of {spec.formula!r}; "
                         f"its predictors are {', '.join(p.name for p in spec.predictors)}")
    p = found[0]
    equal = (p.kind == "binary" and p.p == 0.5) or (
        p.kind == "factor" and np.allclose(p.proportions, 1 / len(p.proportions)))
    if not equal or p.values:
        raise ValueError(f"{call}: {p.name!r} is {p.type_text()}; a Latin square gives every "
                         "condition equally often: use binary(0.5) or a factor with equal "
                         "proportions")
    if p.level == "cluster":
        raise ValueError(f"{call}: {p.name!r} is in cluster_level_vars, constant within "
                         "units; a Latin square varies it within both groupings' units")
    conditions = levels_of(spec, p.name)
    for h, c in zip(gs, counts, strict=True):
        if c % conditions:
            raise ValueError(f"{call}: {c} {h.name} units is not a multiple of the "
                             f"{conditions} conditions of {p.name!r}: a Latin square needs "
                             f"n_clusters of {h.name!r} a multiple of {conditions}")


def fixed_columns(spec: SimulationSpec, lay: Layout) -> list[list[float]]:
    """Per predictor column, its value in every row where a Latin square lays it out (a
    factor's dummies each), else ``[]``."""
    index = predictor_columns(spec.predictors)
    out: list[list[float]] = [[] for _ in index]
    held = [k for k, g in enumerate(spec.groupings) if g.latin_square]
    if not held:
        return out
    k = held[0]
    name = spec.groupings[k].latin_square
    conditions = levels_of(spec, name)
    level = latin_square_levels(lay.codes[1 - k], lay.codes[k], conditions)
    for c, (i, lv) in enumerate(index):
        if spec.predictors[i].name == name:  # binary: level 1; a factor's dummy lv: lv - 1
            out[c] = (level == (lv - 1 if lv else 1)).astype(np.float64).tolist()
    return out
