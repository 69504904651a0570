"""The sweep axes of designs with several grouping factors: one per grouping's size and
variance, named ``<parameter>[<grouping>]`` (``n_clusters[item]``,
``n_per_parent[school:class]``, ``icc[school:class]``, ``slope_variance[subject]``), and
how a design point's values go into its groupings.

>>> grouping_axes((Grouping("subject", n_clusters=9), Grouping("item", n_clusters=6)))
('n_clusters[subject]', 'icc[subject]', 'n_clusters[item]', 'icc[item]')
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..params import GROUPING_AXES, grouping_axis
from .groupings import Grouping

if TYPE_CHECKING:
    from .spec import SimulationSpec


def grouping_axes(groupings: tuple[Grouping, ...]) -> tuple[str, ...]:
    """The per-grouping sweep axes of a design: ``n_clusters[g]`` of each top-level
    grouping, ``n_per_parent[g]`` of each nested child, ``icc[g]`` and
    ``slope_variance[g]`` where g has a random intercept, a random slope.

    >>> grouping_axes((Grouping("s", n_clusters=5), Grouping("s:c", "s", n_per_parent=2)))
    ('n_clusters[s]', 'icc[s]', 'n_per_parent[s:c]', 'icc[s:c]')
    """
    out = []
    for g in groupings:
        has = {"n_clusters": g.parent is None and not g.cluster_size,
               "n_per_parent": g.parent is not None,
               "icc": 0 in g.columns, "slope_variance": bool(g.slopes)}
        out += [f"{a}[{g.name}]" for a in GROUPING_AXES if has[a]]
    return tuple(out)


def with_grouping_params(spec: SimulationSpec, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` of :meth:`SimulationSpec.with_params` with the per-grouping axes
    (``icc[school:class]``; :func:`grouping_axes`) and, for a design with several
    groupings, ``n_clusters`` (its first top-level grouping's) and ``n_per_parent`` (its
    one nested child's) applied to ``groupings``."""
    gs = list(spec.groupings)
    out = dict(params)
    keyed = {k: grouping_axis(k) for k in params}
    if not gs:
        bad = [k for k, v in keyed.items() if v is not None or k == "n_per_parent"]
        if bad:
            raise ValueError(f"{bad[0]}={params[bad[0]]!r}: an axis of designs with several "
                             "grouping factors; this design has one (use n_clusters, icc, ...)")
        return out
    names = [g.name for g in gs]
    children = [g.name for g in gs if g.parent is not None]
    for key, value in params.items():
        split = keyed[key]
        if split is None and key in ("n_clusters", "cluster_size"):
            if value is None:  # a grid clears the other of the two
                out.pop(key)
                continue
            split = (key, spec.grouping)
        elif split is None and key == "n_per_parent":
            if len(children) != 1:
                raise ValueError(f"n_per_parent={value!r}: name the nested grouping, "
                                 f"n_per_parent[<grouping>] with one of {children or 'none'}")
            split = ("n_per_parent", children[0])
        elif split is None and key in ("icc", "slope_variance"):
            raise ValueError(f"{key}={value!r}: this design has several grouping factors: "
                             f"name one, e.g. {key}[{names[0]}] (groupings: "
                             f"{', '.join(names)})")
        if split is None:
            continue
        what, name = split
        if name not in names:
            raise ValueError(f"{key}={value!r}: {name!r} is not a grouping of this design "
                             f"({', '.join(names)})")
        k = names.index(name)
        g = gs[k]
        if what == "slope_variance":
            gs[k] = replace(g, slope_variances=(value,) * len(g.slopes))
        else:  # n_clusters and cluster_size: one replaces the other
            other = {"n_clusters": "cluster_size", "cluster_size": "n_clusters"}.get(what)
            gs[k] = replace(g, **{what: value, **({other: None} if other else {})})
        out.pop(key)
    out["groupings"] = tuple(gs)
    primary = next(g for g in gs if g.name == spec.grouping)
    out["n_clusters"], out["cluster_size"] = primary.n_clusters, primary.cluster_size
    return out
