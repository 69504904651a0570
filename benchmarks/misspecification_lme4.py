"""lme4 agrees with the engine's misspecified analysis on the engine's own data sets.

Data from ``y ~ x + (1 + x|g)`` (true null for x, slope variance .1, 30 clusters of 30),
analysed with ``test_formula="y ~ x + (1|g)"``: each simulation's cross-products become
rows (``tests/test_misspecification.py``'s ``rows_with_cross_products``), lme4 + lmerTest
fit them (``misspecification_lme4.R``) and x's estimate, SE, df and p-value are compared.

Usage: ``python benchmarks/misspecification_lme4.py [n_sims]`` (needs Rscript with lme4
and lmerTest).
"""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from mcpower_sweep import MCPower, _native, engine
from mcpower_sweep.design.analysis import with_analysis

HERE = Path(__file__).resolve().parent
SEED = 16


def _rows_helper():
    path = HERE.parent / "tests" / "test_misspecification.py"
    spec = importlib.util.spec_from_file_location("test_misspecification", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.rows_with_cross_products


def main(n_sims: int = 8) -> None:
    rows_with_cross_products = _rows_helper()
    model = (MCPower("y ~ x + (1 + x|g)").set_effects("x=0")
             .set_cluster("g", ICC=0.2, n_clusters=30, random_slopes=["x"], slope_variance=0.1))
    spec = with_analysis(model.to_spec(900), "y ~ x + (1|g)")
    sims = engine.run_chunk(spec, SEED, 0, n_sims)
    truth = engine.native_spec(replace(spec, analysis=None))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.csv"
        with data.open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["sim", "g", "x", "y"])
            for i in range(n_sims):
                cp = _native.cross_products(truth, SEED, i)
                for j in range(len(cp["rows"])):
                    for r in rows_with_cross_products(cp["cross"][j], int(cp["rows"][j])):
                        out.writerow([i, j, repr(float(r[1])), repr(float(r[2]))])
        text = subprocess.run(["Rscript", str(HERE / "misspecification_lme4.R"), str(data)],
                              check=True, capture_output=True, text=True).stdout
    lme4 = np.array([[float(v) for v in line.split()[1:]] for line in text.splitlines()])
    ours = np.column_stack([sims.estimate[:, 1], sims.se[:, 1], sims.df[:, 1],
                            sims.pvalue[:, 1]])
    print("sim  p (engine)    p (lme4)      estimate rel. diff  p rel. diff")
    for i in range(n_sims):
        rel = np.abs(ours[i] - lme4[i]) / np.abs(lme4[i])
        print(f"{i:3d}  {ours[i, 3]:.8f}  {lme4[i, 3]:.8f}  {rel[0]:.1e}              "
              f"{rel[3]:.1e}")
    worst = np.max(np.abs(ours - lme4) / np.abs(lme4), axis=0)
    print("largest relative differences (estimate, SE, df, p):",
          ", ".join(f"{w:.1e}" for w in worst))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
