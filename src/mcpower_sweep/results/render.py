"""How a single result reads: the design it was run at, plain-text and HTML tables.

A report must say what was simulated: five runs of the tutorial's slope-variance loop
should not look identical but for the numbers, so :func:`design_lines` spells out the
sizes, the random-effects variances, the effects and the test.

Examples
--------
>>> print(text_table(["test", "power"], [["x", "61.4%"]], right={1}))
test  power
----  -----
x     61.4%
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..design import groupings
from ..design.family import is_glmm, model_text
from ..design.spec import SimulationSpec
from ..reports.render import pct

DF_LABELS = {
    "satterthwaite": "Satterthwaite",
    "kenward_roger": "Kenward-Roger",
    "between_within": "between-within",
    "residual": "residual",
    "z": "z (asymptotic)",
}


def rate(k: int, n: int) -> str:
    """``k`` with its share of ``n``: ``3 (1.5%)``."""
    return f"{k} ({100 * k / n:.1f}%)" if n else str(k)


def seed_text(seed: int, drawn: bool) -> str:
    """The seed, and how to repeat the run when it was drawn."""
    if drawn:
        return f"seed {seed} (none was set; set_seed({seed}) repeats this run)"
    return f"seed {seed}"


def sizes_text(spec: SimulationSpec) -> str:
    """``N = 1500 in 30 clusters of 'site' (50 per cluster)``."""
    if spec.groupings:
        return groupings.sizes_text(spec.groupings, spec.sample_size)
    sizes = spec.cluster_sizes()
    per = f"{sizes.min()}" if sizes.min() == sizes.max() else f"{sizes.min()}–{sizes.max()}"
    if spec.cluster_size_cv:
        per = f"sizes drawn around {per} with CV {spec.cluster_size_cv:g}"
    else:
        per += " per cluster"
    return (f"N = {spec.total_n} in {spec.effective_n_clusters} clusters of "
            f"{spec.grouping!r} ({per})")


def random_effects_text(spec: SimulationSpec) -> str:
    """The random-effects variances: ICC, slope variance (with the slopes), correlation."""
    if spec.groupings:
        return groupings.variances_text(spec.groupings, spec.term_names)
    names = [spec.term_names[c] for c in spec.random_columns]
    parts = []
    if "(Intercept)" in names:
        scale = "link scale" if is_glmm(spec.family) else "outcome units"
        parts.append(f"tau^2 {spec.tau_squared:g} ({scale})" if spec.tau_squared is not None
                     else f"ICC {spec.icc:g}" + (f" (latent scale; tau^2 "
                     f"{spec.intercept_variance:.4g})" if is_glmm(spec.family) else ""))
    slopes = [n for n in names if n != "(Intercept)"]
    if slopes and spec.slope_variances:  # one variance (and correlation) per slope
        parts.append("slope variances " + ", ".join(
            f"{s} {v:g}" for s, v in zip(slopes, spec.slope_variances, strict=True)))
        if "(Intercept)" in names and spec.slope_intercept_corrs:
            parts.append("slope-intercept correlations " + ", ".join(
                f"{s} {r:g}" for s, r in zip(slopes, spec.slope_intercept_corrs, strict=True)))
    elif slopes:
        parts.append(f"slope variance {spec.slope_variance:g} ({', '.join(slopes)})")
    if slopes and "(Intercept)" in names and not spec.slope_intercept_corrs:
        parts.append(f"slope-intercept correlation {spec.slope_intercept_corr:g}")
    if spec.variance_draws:  # a pilot's uncertainty (from_fit(..., uncertainty=))
        parts.append(f"these are the pilot's; each simulation draws its variances from "
                     f"their sampling distribution ({len(spec.variance_draws)} bootstrap draws)")
    return "; ".join(parts)


def effects_text(spec: SimulationSpec) -> str:
    """True effects, with the distribution of each binary predictor."""
    level = {v: f"{g.name}-level" for g in spec.groupings for v in g.cluster_level_vars}
    kinds = {p.name: ", ".join(
        ([p.type_text()] if p.kind != "normal" or p.values_use != "cycle" else [])
        + ([level.get(p.name, "cluster-level")] if p.level == "cluster" else []))
        for p in spec.predictors}
    kinds = {name: text for name, text in kinds.items() if text}
    shown = []
    for t, b in zip(spec.term_names[1:], spec.effects[1:], strict=True):
        base = t.split("[")[0] if t.endswith("]") else t  # a factor's type on its first level
        shown.append(f"{t} {b:g}" + (f" [{kinds.pop(base)}]" if base in kinds else ""))
    return ", ".join(shown)


def test_text(spec: SimulationSpec) -> str:
    """``REML fit, Satterthwaite df, alpha = 0.05``."""
    if is_glmm(spec.family):
        test = "Wald z" if spec.df_method == "z" else "Wald t, between-within df"
        return f"ML fit (as glmer), {test}, alpha = {spec.alpha:g}"
    return (f"{spec.estimator.upper()} fit, {DF_LABELS.get(spec.df_method, spec.df_method)} "
            f"df, alpha = {spec.alpha:g}")


def design_lines(spec: SimulationSpec, *, sizes: bool = True) -> list[str]:
    """The design as a few labelled lines (``sizes=False`` leaves out N and the clusters)."""
    lines = [f"Design: {sizes_text(spec)}"] if sizes else []
    lines += [f"Model: {model_text(spec)}"] if is_glmm(spec.family) else []
    # A misspecified analysis (test_formula) fits another model than the one shown.
    analysis = [f"analysis: {spec.analysis.formula}"] if spec.analysis else []
    return lines + [f"Random effects: {random_effects_text(spec)}",
                    f"Effects: {effects_text(spec)}",
                    *analysis,
                    f"Test: {test_text(spec)}"]


def ci_text(ci: tuple[float, float]) -> str:
    """A 95% interval in percent, ``—`` when undefined."""
    lo, hi = ci
    return "—" if lo != lo else f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """A plain-text table with a rule under the header; columns in ``right`` right-aligned."""
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if k in right else c.ljust(w)
                  for k, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def joint_table(family: Sequence[str], powers: Sequence[tuple[str, dict[int, float]]]) -> str:
    """Power that at least k (and all) of the ``family``'s tests are significant, a table
    with one column per correction (``powers``: correction, power per k); ``""`` for a
    family of one test.
    """
    m = len(family)
    if m < 2:
        return ""
    header = ["significant tests", *(f"power ({c})" for c, _ in powers)]
    rows = [[f"all {m}" if k == m else f"at least {k}", *(pct(p[k]) for _, p in powers)]
            for k in range(1, m + 1)]
    return "\n\n" + text_table(header, rows, right=set(range(1, len(header))))


def html_table(caption: str, header: Sequence[str], rows: Sequence[Sequence[str]],
               footer: str) -> str:
    """The same table for Jupyter (``_repr_html_``)."""
    def esc(text: str) -> str:
        return html.escape(text).replace("\n", "<br>")

    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return (f"<table><caption style='text-align:left'>{esc(caption)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p style='font-size:smaller'>{esc(footer)}</p>")


__all__ = ["DF_LABELS", "ci_text", "design_lines", "html_table", "joint_table", "pct", "rate",
           "seed_text", "sizes_text", "text_table"]
