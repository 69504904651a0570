"""Power of our engine (REML, Satterthwaite) on the designs of nested_power.R.

    Rscript benchmarks/nested_power.R 1000 1 > r.txt       # lme4 + lmerTest, the reference
    python benchmarks/nested_power.py --simulations 2000 --r-output r.txt

Prints, per design and test, our power and its Monte Carlo SE and, given R's output,
lme4's and the difference in Monte Carlo SEs of the difference (independent runs:
sqrt(se_ours^2 + se_R^2)).  ``--scale 0 --top-units 6`` (and ``--designs nested``) run the
true-null calibration designs of nested_power.R's header.  The designs (see nested_power.R
for the data-generating model):

- nested: ``y ~ treatment + x + (1 | school/class)``, 20 schools x 4 classes x 15 pupils,
  2 of the 4 classes of every school treated, ICC .1 per grouping, effects .2 and .1;
- crossed: ``y ~ condition + (1 + condition | subject) + (1 | item)``, 30 subjects x 20
  items, condition at item level (half the items), subject ICC .2, slope variance .1,
  item ICC .1, effect .4;
- latin: the crossed model, 24 subjects x 16 items each seen once, the condition in a
  Latin square (``latin_square="condition"`` on item), effect .25.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from glmm_power import compare, read_r  # the same comparison and line format

from mcpower_sweep import MCPower


def designs(scale: float, top_units: int) -> dict[str, tuple[MCPower, int]]:
    """Each design's model and sample size, as nested_power.R simulates it."""
    schools = top_units or 20
    nested = (MCPower("y ~ treatment + x + (1 | school/class)")
              .set_variable_type("treatment=binary(0.5, balanced)")
              .set_effects(f"treatment={0.2 * scale}, x={0.1 * scale}")
              .set_cluster("school", ICC=0.1, n_clusters=schools)
              .set_cluster("school:class", ICC=0.1, n_per_parent=4,
                           cluster_level_vars=["treatment"]))
    return {"nested": (nested, schools * 4 * 15),
            "crossed": crossed("binary(0.5, balanced)", 0.4 * scale, top_units or 30,
                               top_units or 20, cluster_level_vars=["condition"]),
            "latin": crossed("binary(0.5)", 0.25 * scale, top_units or 24, top_units or 16,
                             latin_square="condition")}


def crossed(condition: str, effect: float, subjects: int, items: int, **item: object
            ) -> tuple[MCPower, int]:
    """Subjects x items, each pair once; ``item``: how the condition is laid over items."""
    model = (MCPower("y ~ condition + (1 + condition | subject) + (1 | item)")
             .set_variable_type(f"condition={condition}")
             .set_effects(f"condition={effect}")
             .set_cluster("subject", ICC=0.2, n_clusters=subjects,
                          random_slopes=["condition"], slope_variance=0.1)
             .set_cluster("item", ICC=0.1, n_clusters=items, **item))
    return model, subjects * items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--designs", default="nested,crossed,latin")
    parser.add_argument("--scale", type=float, default=1.0, help="effects x scale (0: null)")
    parser.add_argument("--top-units", type=int, default=0,
                        help="schools (nested) or subjects = items (crossed); 0: 20 / 30 x 20")
    parser.add_argument("--r-output", type=Path, help="nested_power.R's output to compare with")
    args = parser.parse_args()
    ref = read_r(args.r_output) if args.r_output else {}
    chosen = args.designs.split(",")
    for name, (model, n) in designs(args.scale, args.top_units).items():
        if name not in chosen:
            continue
        model.set_simulations(args.simulations).set_seed(args.seed)
        compare(name, model, n, ref, "lme4")


if __name__ == "__main__":
    main()
