"""Several random-effect terms: milliseconds per ``fit_lmm`` (REML + Satterthwaite df), one
thread, against lme4 + lmerTest on the same data sets in the same run.

- nested: 20 schools x 4 classes x 15 pupils, ``y ~ treat + x + (1|school/class)``, the
  treatment assigned to half the classes of each school, school and class variances .1;
- crossed: 30 subjects x 20 items, ``y ~ cond + (1 + cond|subject) + (1|item)``, the
  condition varying within subjects, subject variances .2 (intercept) and .05 (slope),
  item variance .1.

The data sets are written to CSV and read by ``benchmarks/bench_general_fit.R``, which
times ``lmer`` + ``summary(ddf = "Satterthwaite")`` per data set and prints each fit's
REML criterion: the ``worst`` column is the largest amount by which ours exceeds lme4's
(positive: ours is worse).  Times are best of ``--repeats``, alternating the tools so that
background load hits both alike; ratio = ours / lme4.

Run: ``python benchmarks/bench_general_fit.py`` (``--skip-r``: ours only).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread, here and in R

import argparse  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mcpower_sweep import fit_lmm  # noqa: E402

FORMULAS = {
    "nested": "y ~ treat + x + (1|school/class)",
    "crossed": "y ~ cond + (1 + cond|subject) + (1|item)",
}
R_SCRIPT = Path(__file__).with_name("bench_general_fit.R")


def nested(rng: np.random.Generator) -> pd.DataFrame:
    """20 schools x 4 classes x 15 pupils; treatment in 2 of the 4 classes of each school."""
    schools, classes, pupils = 20, 4, 15
    school = np.repeat(np.arange(schools), classes * pupils)
    cls = np.repeat(np.arange(schools * classes), pupils)  # class ids unique across schools
    treat = np.concatenate([rng.permutation([0, 0, 1, 1]) for _ in range(schools)])[cls]
    x = rng.normal(size=school.size)
    y = (0.3 * treat + 0.2 * x + rng.normal(0, 0.1**0.5, schools)[school]
         + rng.normal(0, 0.1**0.5, schools * classes)[cls] + rng.normal(size=school.size))
    return pd.DataFrame({"y": y, "treat": treat, "x": x, "school": school, "class": cls % classes})


def crossed(rng: np.random.Generator) -> pd.DataFrame:
    """30 subjects x 20 items, each subject seeing every item; cond alternates over items."""
    subjects, items = 30, 20
    subject = np.repeat(np.arange(subjects), items)
    item = np.tile(np.arange(items), subjects)
    cond = (item + subject) % 2
    u = rng.multivariate_normal([0, 0], [[0.2, 0.03], [0.03, 0.05]], subjects)
    y = (0.3 * cond + u[subject, 0] + u[subject, 1] * cond
         + rng.normal(0, 0.1**0.5, items)[item] + rng.normal(size=subject.size))
    return pd.DataFrame({"y": y, "cond": cond, "subject": subject, "item": item})


def our_time(design: str, data: list[pd.DataFrame]) -> tuple[float, list[float]]:
    """Milliseconds per fit and each fit's REML criterion."""
    crit = []
    t = time.perf_counter()
    for d in data:
        crit.append(fit_lmm(FORMULAS[design], d).deviance)
    return (time.perf_counter() - t) / len(data) * 1e3, crit


def lme4_time(folder: str, design: str, fits: int) -> tuple[float, list[float]] | None:
    """Milliseconds per lme4 + lmerTest fit and each fit's REML criterion (None without R)."""
    if shutil.which("Rscript") is None:
        return None
    run = subprocess.run(["Rscript", str(R_SCRIPT), folder, design, str(fits)],
                         capture_output=True, text=True, check=False)
    values = run.stdout.split()
    if run.returncode != 0 or len(values) != fits + 1:
        print(run.stderr.strip().splitlines()[-1:] or "R failed")
        return None
    return float(values[-1]), [float(v) for v in values[:-1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fits", type=int, default=10, help="data sets per design")
    parser.add_argument("--skip-r", action="store_true", help="time ours only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    fits = args.fits
    print(f"one thread, ms per fit (REML + Satterthwaite; best of {args.repeats}); "
          "ratio = ours / lme4; worst = max(our REML criterion - lme4's)")
    print(f"{'design':8s} {'ours':>8s} {'lme4':>8s} {'ratio':>7s} {'worst':>10s}")
    with tempfile.TemporaryDirectory() as folder:
        for design, make in (("nested", nested), ("crossed", crossed)):
            data = [make(rng) for _ in range(fits)]
            for i, d in enumerate(data):
                d.to_csv(Path(folder) / f"{design}_{i}.csv", index=False)
            ours, theirs = [], []
            for _ in range(args.repeats):  # alternate, so load hits both alike
                ours.append(our_time(design, data))
                if not args.skip_r:
                    theirs.append(lme4_time(folder, design, fits))
            a = min(t for t, _ in ours)
            line = f"{design:8s} {a:8.2f}"
            r = [x for x in theirs if x is not None]
            if r:
                b = min(t for t, _ in r)
                worst = max(np.subtract(ours[0][1], r[0][1]))
                line += f" {b:8.2f} {a / b:7.3f} {worst:10.2e}"
            print(line)


if __name__ == "__main__":
    main()
