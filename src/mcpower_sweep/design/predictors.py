"""What a simulated predictor is: distribution, allocation and level, and correlations.

Design features are data: each :class:`Predictor` carries where it varies (``level``), how
a binary one's ones are placed (``allocation``) and its distribution (``kind``, ``p``);
the engine dispatches on these once per predictor.  Correlated normal predictors are
given as pairs and checked here (:func:`correlation_matrix`).

Examples
--------
>>> Predictor("treatment", "binary", 0.5, "balanced", "cluster").type_text()
'binary(0.5, balanced)'
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

LEVELS = ("observation", "cluster")
ALLOCATIONS = ("independent", "balanced")
VALUES_USES = ("cycle", "quantile", "bootstrap")


def balanced_ones(p: float, n: int) -> int:
    """Ones of a balanced binary predictor among ``n`` units: round(p n), halves up.

    The engine's rule (``fill_balanced`` in ``native/simulate.cpp``), used here to refuse
    designs where it gives no contrast.

    Examples
    --------
    >>> balanced_ones(0.5, 7), balanced_ones(0.3, 10)
    (4, 3)
    """
    return math.floor(p * n + 0.5)


@dataclass(frozen=True)
class Predictor:
    """A simulated predictor: its distribution, allocation and level are data of the design.

    ``kind`` is ``"normal"`` (N(0, 1)), ``"binary"`` (0/1 with P(1) = ``p``) or
    ``"factor"`` (levels 1..K with probabilities ``proportions``, coded as K - 1 dummies
    against level 1, see :mod:`mcpower_sweep.design.factors`); ``allocation`` of a binary
    predictor or factor is ``"independent"`` (a draw per unit) or ``"balanced"`` (exactly
    round(p n) ones, or units per level, among the n units of its level, at random
    places); ``level`` is ``"observation"`` (varies within clusters) or ``"cluster"``
    (one value per cluster, set by ``cluster_level_vars``).  ``values`` are used as
    ``values_use`` says: ``"cycle"``, row i of every cluster takes ``values[i % len(values)]``
    (a fixed within-cluster design from pilot data, such as days 0..9; :mod:`..api.pilot`);
    ``"quantile"``, an empirical distribution (the sorted values, drawn through a normal's
    quantile, so correlated as a normal predictor); ``"bootstrap"``, one column of a table
    whose rows are drawn whole (a factor's as level indices 0..K-1).  The last two come
    from uploaded data (:mod:`.empirical`); a factor's ``labels`` name its levels.
    """

    name: str
    kind: str = "normal"
    p: float = 0.5
    allocation: str = "independent"
    level: str = "observation"
    proportions: tuple[float, ...] = field(default=(), repr=False)  # a factor's levels
    values: tuple[float, ...] = field(default=(), repr=False)  # see values_use
    values_use: str = field(default="cycle", repr=False)
    labels: tuple[str, ...] = field(default=(), repr=False)  # a factor's level names

    def type_text(self) -> str:
        """The variable type as ``set_variable_type`` spells it.

        Examples
        --------
        >>> Predictor("t", "binary", 0.5, "balanced").type_text()
        'binary(0.5, balanced)'
        >>> Predictor("g", "factor", proportions=(0.5, 0.25, 0.25)).type_text()
        'factor(0.5, 0.25, 0.25)'
        """
        balanced = ", balanced" if self.allocation == "balanced" else ""
        if self.values and self.values_use != "cycle":
            return describe_values(self)
        if self.values:
            return f"fixed({', '.join(f'{v:g}' for v in self.values)})"
        if self.kind == "normal":
            return "normal"
        if self.kind == "factor":
            return f"factor({', '.join(f'{p:g}' for p in self.proportions)}{balanced})"
        return f"binary({self.p:g}{balanced})"


def describe_values(p: Predictor) -> str:
    """An empirical predictor's type: its use, size and a digest of its values (so designs
    from different data differ in provenance).

    Examples
    --------
    >>> describe_values(Predictor("x", values=(-1.0, 0.0, 1.0), values_use="quantile"))
    'empirical(3 values, fb1aa2ca)'
    """
    digest = hashlib.sha256(np.asarray(p.values, dtype=np.float64).tobytes()).hexdigest()[:8]
    labels = f", levels {'/'.join(p.labels)}" if p.labels else ""
    what = "empirical({} values" if p.values_use == "quantile" else "bootstrap({} rows"
    return f"{what.format(len(p.values))}{labels}, {digest})"


def correlation_matrix(names: list[str] | tuple[str, ...],
                       pairs: tuple[tuple[str, str, float], ...]) -> np.ndarray:
    """The correlation matrix of ``names`` from ``(a, b, r)`` pairs, checked.

    Raises ``ValueError`` naming the correlations when the matrix is not positive definite.

    Examples
    --------
    >>> correlation_matrix(["x", "z"], (("x", "z", 0.4),))
    array([[1. , 0.4],
           [0.4, 1. ]])
    """
    index = {n: i for i, n in enumerate(names)}
    c = np.eye(len(names))
    for a, b, r in pairs:
        c[index[a], index[b]] = c[index[b], index[a]] = r
    smallest = float(np.linalg.eigvalsh(c).min()) if len(names) else 1.0
    if smallest <= 1e-10:
        given = ", ".join(f"corr({a},{b})={r:g}" for a, b, r in pairs)
        raise ValueError(
            f"set_correlations: {given} make a correlation matrix that is not positive "
            f"definite (smallest eigenvalue {smallest:.3g}): use correlations that can occur "
            "together, e.g. smaller ones"
        )
    return c
