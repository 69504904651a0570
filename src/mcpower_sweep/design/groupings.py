"""Several grouping factors: nested (pupils in classes in schools) and crossed (subjects x items).

A :class:`Grouping` is one grouping factor of a simulated design as ``set_cluster``
configures it (MCPower 1.4.1's spellings: the nested child of ``(1 | school/class)`` is
``"school:class"``, sized with ``n_per_parent``; top-level and crossed groupings with
``n_clusters``).  :func:`layout` places the rows over the groupings' levels, the same in
every simulation:

- **nested**: one top-level grouping of J units, each child of ``n_per_parent`` units
  inside each unit of its parent; N is split over the innermost units as evenly as
  possible (sizes differ by at most 1), rows ordered by innermost unit;
- **crossed**: each combination of the groupings' levels appears N / (J_1 J_2 ...) times
  (a fully crossed design), rows ordered by the first grouping, then the second, ...

Examples
--------
>>> g = Grouping("school", columns=(0,), icc=0.2, n_clusters=3)
>>> g.re_cov()
array([[0.25]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import family as fam
from .factors import predictor_columns
from .latin_square import fixed_columns

if TYPE_CHECKING:
    from .spec import SimulationSpec

# Rows per innermost unit of a nested design (fewer leave its variance unidentified).
MIN_ROWS_PER_UNIT = 2


@dataclass(frozen=True)
class Grouping:
    """One grouping factor of a design with several (see the module docstring).

    Parameters
    ----------
    name
        MCPower 1.4.1's name: ``"school"``, ``"school:class"`` (nested in ``school``),
        ``"subject"``.
    parent
        The grouping this one is nested in (None: a top-level grouping).
    columns
        Fixed columns (indices into the spec's ``term_names``) with a random effect on this
        grouping: 0 the intercept, then the slopes.
    uncorrelated
        ``||``: the random effects are independent (one fitted term per column).
    icc, tau_squared
        The random intercept's variance: ``icc / (1 - icc)`` (residual variance 1), or
        ``tau_squared`` itself when given.
    slope_variances, slope_intercept_corrs
        Per random slope (the columns after the intercept, in order).
    n_clusters, cluster_size, n_per_parent
        A top-level grouping's number of units, or its observations per unit (then it has
        ``sample_size // cluster_size`` units); a nested child's units per parent unit.
    cluster_level_vars
        Predictors constant within this grouping's units (drawn once per unit).
    latin_square
        A condition counterbalanced over this grouping's units (the items) and the other
        crossed grouping's (the subjects) in a Latin square (:mod:`.latin_square`).
    """

    name: str
    parent: str | None = None
    columns: tuple[int, ...] = (0,)
    uncorrelated: bool = False
    icc: float = 0.0
    tau_squared: float | None = None
    slope_variances: tuple[float, ...] = ()
    slope_intercept_corrs: tuple[float, ...] = ()
    n_clusters: int | None = None
    n_per_parent: int | None = None
    cluster_level_vars: tuple[str, ...] = ()
    cluster_size: int | None = None
    latin_square: str | None = None

    def intercept_variance(self, family: str = "lme") -> float:
        """The random intercept's variance on ``family``'s link scale (``tau_squared``, or
        the ICC's on the latent scale, :func:`~mcpower_sweep.design.family.intercept_variance`)."""
        if self.tau_squared is not None:
            return self.tau_squared
        return fam.intercept_variance(family, self.icc) if self.icc else 0.0

    @property
    def slopes(self) -> tuple[int, ...]:
        return tuple(c for c in self.columns if c != 0)

    @property
    def blocks(self) -> tuple[tuple[int, ...], ...]:
        """The fitted terms: all columns together, or one per column with ``||``."""
        return tuple((c,) for c in self.columns) if self.uncorrelated else (self.columns,)

    def re_cov(self, family: str = "lme") -> np.ndarray:
        """The random effects' covariance (variance units, residual variance 1; a GLMM
        ``family``'s on its link scale)."""
        var = dict(zip(self.slopes, self.slope_variances, strict=True))
        corr = dict(zip(self.slopes, self.slope_intercept_corrs, strict=True))
        sd = np.sqrt([self.intercept_variance(family) if c == 0 else var[c]
                      for c in self.columns])
        r = np.eye(len(self.columns))
        if self.columns[0] == 0 and not self.uncorrelated:
            for k, c in enumerate(self.columns[1:], start=1):
                r[0, k] = r[k, 0] = corr.get(c, 0.0)
        return r * np.outer(sd, sd)

    def params(self, term_names: tuple[str, ...]) -> dict[str, object]:
        """Plain settings for provenance."""
        slopes = [term_names[c] for c in self.slopes]
        return {
            "name": self.name,
            **({"parent": self.parent} if self.parent else {}),
            "random_effects": [term_names[c] for c in self.columns],
            **({"uncorrelated": True} if self.uncorrelated else {}),
            **({"tau_squared": self.tau_squared} if self.tau_squared is not None
               else {"icc": self.icc}),
            **({"slope_variance": dict(zip(slopes, self.slope_variances, strict=True)),
                "slope_intercept_corr": dict(zip(slopes, self.slope_intercept_corrs,
                                                 strict=True))} if slopes else {}),
            **{k: v for k, v in (("n_clusters", self.n_clusters),
                                 ("cluster_size", self.cluster_size),
                                 ("n_per_parent", self.n_per_parent)) if v is not None},
            **({"cluster_level_vars": list(self.cluster_level_vars)}
               if self.cluster_level_vars else {}),
            **({"latin_square": self.latin_square} if self.latin_square else {}),
        }


def is_nested(groupings: tuple[Grouping, ...]) -> bool:
    return any(g.parent for g in groupings)


def depth_order(groupings: tuple[Grouping, ...]) -> list[int]:
    """A nested chain's groupings from the top down (indices into ``groupings``)."""
    by_parent = {g.parent: k for k, g in enumerate(groupings)}
    order = [by_parent[None]]
    while groupings[order[-1]].name in by_parent:
        order.append(by_parent[groupings[order[-1]].name])
    return order


def ancestors(groupings: tuple[Grouping, ...], k: int) -> set[int]:
    """Grouping ``k`` and every grouping it is nested in."""
    index = {g.name: i for i, g in enumerate(groupings)}
    out = {k}
    while (parent := groupings[k].parent) is not None:
        k = index[parent]
        out.add(k)
    return out


def unit_counts(groupings: tuple[Grouping, ...], sample_size: int) -> list[int]:
    """Each grouping's number of units (a nested child's over all its parent's units)."""
    counts = [0] * len(groupings)
    for k in (depth_order(groupings) if is_nested(groupings) else range(len(groupings))):
        g = groupings[k]
        if g.parent is None:
            counts[k] = (sample_size // g.cluster_size if g.cluster_size
                         else int(g.n_clusters or 0))
        else:
            parent = next(i for i, h in enumerate(groupings) if h.name == g.parent)
            counts[k] = counts[parent] * int(g.n_per_parent or 0)
    return counts


def total_rows(groupings: tuple[Grouping, ...], sample_size: int) -> int:
    """The design's N: ``sample_size``, or with a top-level ``cluster_size`` its units
    times their size (``sample_size // cluster_size`` units, as with one grouping)."""
    sized = [g.cluster_size for g in groupings if g.cluster_size]
    return sample_size if not sized else sample_size // sized[0] * sized[0]


@dataclass(frozen=True)
class Layout:
    """Where the rows are: per grouping each row's unit (``codes``), its number of units
    and the block of each unit within which a balanced predictor is balanced (a nested
    child's: its parent unit); ``row_block``: each row's block for balanced row-level
    predictors (its innermost unit, nested; its unit of the first grouping, crossed)."""

    codes: tuple[np.ndarray, ...]
    n_levels: tuple[int, ...]
    level_block: tuple[np.ndarray, ...]
    row_block: np.ndarray


def layout(groupings: tuple[Grouping, ...], sample_size: int) -> Layout:
    """The rows of a design with several groupings (checked sizes; see the module).

    Examples
    --------
    >>> gs = (Grouping("school", n_clusters=2), Grouping("school:class", "school",
    ...                                                  n_per_parent=2))
    >>> lay = layout(gs, 9)
    >>> lay.codes[0].tolist(), lay.codes[1].tolist()
    ([0, 0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 2, 2, 3, 3])
    """
    counts = unit_counts(groupings, sample_size)
    n = total_rows(groupings, sample_size)
    codes: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(groupings)
    blocks = [np.zeros(n, dtype=np.int64) for n in counts]
    if is_nested(groupings):
        order = depth_order(groupings)
        inner = counts[order[-1]]
        base, extra = divmod(n, inner)
        sizes = np.full(inner, base, dtype=np.int64)
        sizes[:extra] += 1
        unit = np.repeat(np.arange(inner, dtype=np.int64), sizes)
        for depth, k in enumerate(order):
            below = inner // counts[k]  # innermost units per unit of grouping k
            codes[k] = unit // below
            if depth:
                blocks[k] = np.arange(counts[k], dtype=np.int64) // groupings[k].n_per_parent
        row_block = unit
    else:
        reps = n // math.prod(counts)
        grid = np.indices(counts).reshape(len(counts), -1)
        for k in range(len(groupings)):
            codes[k] = np.repeat(grid[k].astype(np.int64), reps)
        row_block = codes[0]
    return Layout(tuple(codes), tuple(counts), tuple(blocks), row_block)


def lme4_order(n_levels: list[int]) -> list[int]:
    """lme4's order of random-effect terms: by levels, largest first, unless no term has
    more levels than the one before it (``rev(order(nl))``, so ties end up reversed).

    >>> lme4_order([6, 28]), lme4_order([28, 6]), lme4_order([5, 9, 5])
    ([1, 0], [0, 1], [1, 2, 0])
    """
    if not np.any(np.diff(n_levels) > 0):
        return list(range(len(n_levels)))
    return [int(i) for i in np.argsort(n_levels, kind="stable")[::-1]]


def design_terms(groupings: tuple[Grouping, ...]) -> list[tuple[int, tuple[int, ...]]]:
    """The random-effect terms ``(grouping, columns)`` in the design's order (groupings as
    in the formula, ``||``'s effects one by one): the order of the variance components."""
    return [(k, cols) for k, g in enumerate(groupings) for cols in g.blocks]


def fit_terms(groupings: tuple[Grouping, ...], sample_size: int
              ) -> list[tuple[int, tuple[int, ...]]]:
    """The terms in lme4's order (largest grouping first), as :func:`mcpower_sweep.fit_lmm`
    fits them."""
    terms = design_terms(groupings)
    counts = unit_counts(groupings, sample_size)
    return [terms[i] for i in lme4_order([counts[k] for k, _ in terms])]


def components(groupings: tuple[Grouping, ...], term_names: tuple[str, ...],
               family: str = "lme") -> tuple[tuple[str, ...], np.ndarray]:
    """Names and true values of the variance components in engine order: ``sigma2`` (an
    LMM only), then per term (:func:`design_terms`) its variances
    ``var_<effect>|<grouping>`` and correlations ``corr_<a>,<b>|<grouping>``."""
    names, truth = (["sigma2"], [1.0]) if family == "lme" else ([], [])
    for k, cols in design_terms(groupings):
        g = groupings[k]
        at = [g.columns.index(c) for c in cols]
        cov = g.re_cov(family)[np.ix_(at, at)]
        sd = np.sqrt(np.diag(cov))
        labels = [term_names[c] for c in cols]
        names += [f"var_{t}|{g.name}" for t in labels]
        truth += list(np.diag(cov))
        for a in range(len(cols)):
            for b in range(a + 1, len(cols)):
                names.append(f"corr_{labels[a]},{labels[b]}|{g.name}")
                truth.append(cov[a, b] / (sd[a] * sd[b]) if sd[a] * sd[b] > 0 else math.nan)
    return tuple(names), np.asarray(truth, dtype=np.float64)


def engine_fields(spec: SimulationSpec) -> dict[str, Any]:
    """The engine's ``GroupingsDesign`` fields of ``spec`` (enums by name, but the
    estimator and df method): the rows' :func:`layout`, each predictor's distribution and
    unit (-1: rows; k: one value per unit of grouping k) and the :func:`fit_terms`."""
    gs = spec.groupings
    lay = layout(gs, spec.sample_size)
    where = {name: k for k, g in enumerate(gs) for name in g.cluster_level_vars}
    fitted = fit_terms(gs, spec.sample_size)
    # One engine predictor per predictor column: a factor's dummies, tied by their first.
    index = predictor_columns(spec.predictors)
    cols = [spec.predictors[i] for i, _ in index]
    first = {i: index.index((i, lv)) for i, lv in reversed(index)}
    fixed = fixed_columns(spec, lay)
    return {
        "predictor_draw": ["fixed" if f else "normal" if p.kind == "normal" else "balanced"
                           if p.allocation == "balanced" else "bernoulli"
                           for p, f in zip(cols, fixed, strict=True)],
        "predictor_p": [float(p.proportions[lv - 1] if lv else p.p)
                        for p, (_, lv) in zip(cols, index, strict=True)],
        "predictor_unit": [where.get(p.name, -1) for p in cols],
        "predictor_mix": [] if (mix := spec.predictor_mix()) is None else mix.ravel().tolist(),
        "predictor_factor": ([first[i] if lv else -1 for i, lv in index]
                             if any(p.kind == "factor" for p in cols) else []),
        "predictor_fixed": fixed if any(fixed) else [],
        "row_block": lay.row_block, "level_block": list(lay.level_block),
        "terms": [list(t) for t in spec.terms],
        "beta": [float(spec.intercept), *(float(b) for b in spec.effects[1:])],
        "codes": list(lay.codes), "n_levels": list(lay.n_levels),
        "z_columns": [list(g.columns) for g in gs],
        "re_cov": [g.re_cov(spec.family).ravel().tolist() for g in gs],
        "fit_grouping": [k for k, _ in fitted], "fit_z_columns": [list(c) for _, c in fitted],
        "component_order": [fitted.index(t) for t in design_terms(gs)],
        "joint_tests": [list(cols) for _, cols in spec.fit_joint_tests],
    }


def sizes_text(groupings: tuple[Grouping, ...], sample_size: int) -> str:
    """The layout in words.

    >>> sizes_text((Grouping("s", n_clusters=20), Grouping("s:c", "s", n_per_parent=4)), 1200)
    'N = 1200: 20 s x 4 s:c each (15 observations per s:c)'
    >>> sizes_text((Grouping("subject", n_clusters=30), Grouping("item", n_clusters=20)), 600)
    'N = 600: 30 subject x 20 item crossed (each pair seen 1 time)'
    """
    counts = unit_counts(groupings, sample_size)
    sample_size = total_rows(groupings, sample_size)
    if is_nested(groupings):
        order = depth_order(groupings)
        chain = " x ".join(f"{groupings[k].n_per_parent or counts[k]} "
                           f"{groupings[k].name}{' each' if groupings[k].parent else ''}"
                           for k in order)
        low, extra = divmod(sample_size, counts[order[-1]])
        per = f"{low}" if not extra else f"{low}-{low + 1}"
        return f"N = {sample_size}: {chain} ({per} observations per {groupings[order[-1]].name})"
    reps = sample_size // math.prod(counts)
    sizes = " x ".join(f"{c} {g.name}" for c, g in zip(counts, groupings, strict=True))
    square = "".join(f", {g.latin_square} in a Latin square over {g.name}"
                     for g in groupings if g.latin_square)
    return (f"N = {sample_size}: {sizes} crossed (each pair seen {reps} "
            f"time{'s' if reps > 1 else ''}{square})")


def variances_text(groupings: tuple[Grouping, ...], term_names: tuple[str, ...]) -> str:
    """Each grouping's random-effect variances in words.

    >>> variances_text((Grouping("s", columns=(0, 1), icc=0.2, slope_variances=(0.1,),
    ...                          slope_intercept_corrs=(0.3,)),), ("(Intercept)", "x"))
    's: ICC 0.2, slope variance x 0.1, correlation 0.3'
    """
    parts = []
    for g in groupings:
        words = ([f"tau^2 {g.tau_squared:g}" if g.tau_squared is not None else f"ICC {g.icc:g}"]
                 if 0 in g.columns else [])
        for c, v, r in zip(g.slopes, g.slope_variances, g.slope_intercept_corrs, strict=True):
            words.append(f"slope variance {term_names[c]} {v:g}"
                         + (f", correlation {r:g}" if 0 in g.columns and r else ""))
        parts.append(f"{g.name}: {', '.join(words)}" + (" (uncorrelated)" if g.uncorrelated
                                                          else ""))
    return "; ".join(parts)
