"""GLMM power simulations: milliseconds per simulation (generate + Laplace fit + Wald z),
one thread, ours and MCPower 1.4.1 side by side in the same run.

- logit: ``y ~ treatment + x + (1|cluster)``, 30 clusters x 50, baseline probability .3,
  ICC .1 on the latent scale, a level-1 binary treatment and a normal covariate;
- poisson: the same design with a count outcome, baseline rate 1.5, tau^2 = .2.

Both tools fit by Laplace (glmer's nAGQ = 1).  Ours tests by Wald z with glmer's
Hessian-based SEs (``vcov(m)``); MCPower 1.4.1 is timed at its defaults (SEs conditional
on theta, ``wald_se="rx"``; between-within t) and as ours (``wald_se="hessian"``,
``df_method="asymptotic"``).  With R and lme4 installed, ``glmer`` is timed per fit on
the same design (the fit and ``vcov`` only, data simulated outside the timer), in the
same alternation.

Run: ``pip install ".[bench]" && python benchmarks/bench_glmm.py``.  The tools are timed
alternately (best of ``--repeats``) so that background load affects both alike.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # MCPower's Rust pool: one thread

from bench_engine import time_ours  # noqa: E402

from mcpower_sweep import MCPower as Ours  # noqa: E402

FORMULA = "y ~ treatment + x + (1|cluster)"
N_CLUSTERS, CLUSTER_SIZE = 30, 50


def configure(model, family: str):
    """The design on either tool's API (MCPower 1.4.1's spellings, which both accept)."""
    if family == "poisson":
        model.set_baseline_rate(1.5)
        model.set_cluster("cluster", tau_squared=0.2, n_clusters=N_CLUSTERS)
    else:
        model.set_baseline_probability(0.3)
        model.set_cluster("cluster", ICC=0.1, n_clusters=N_CLUSTERS)
    model.set_variable_type("treatment=binary")
    model.set_effects("treatment=0.4, x=0.2")
    return model


def our_time(family: str, sims: int) -> float:
    """Microseconds per simulation, one thread."""
    spec = configure(Ours(FORMULA, family=family), family).to_spec(N_CLUSTERS * CLUSTER_SIZE)
    return time_ours(spec, sims)


def mcpower_time(family: str, sims: int, **options: str) -> float:
    from mcpower import MCPower  # one thread: RAYON_NUM_THREADS above

    m = configure(MCPower(FORMULA, family=family), family)
    m.set_max_failed_simulations(0.5)
    m.set_seed(1)
    n = N_CLUSTERS * CLUSTER_SIZE
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        m.find_power(n, n_sims=min(sims, 20), verbose=False, progress_callback=False,
                     **options)
        t = time.perf_counter()
        m.find_power(n, n_sims=sims, verbose=False, progress_callback=False, **options)
    return (time.perf_counter() - t) / sims * 1e6


GLMER = r"""
suppressMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
family <- args[1]; fits <- as.integer(args[2]); J <- as.integer(args[3]); m <- as.integer(args[4])
set.seed(1)
g <- factor(rep(seq_len(J), each = m))
sim <- function() {
  d <- data.frame(cluster = g, treatment = rbinom(J * m, 1, 0.5), x = rnorm(J * m))
  if (family == "poisson") {
    eta <- log(1.5) + rnorm(J, sd = sqrt(0.2))[g] + 0.4 * d$treatment + 0.2 * d$x
    d$y <- rpois(J * m, exp(eta))
  } else {  # ICC .1 on the latent scale: tau^2 = .1 / .9 * pi^2 / 3
    eta <- qlogis(0.3) + rnorm(J, sd = sqrt(0.1 / 0.9 * pi^2 / 3))[g] +
      0.4 * d$treatment + 0.2 * d$x
    d$y <- rbinom(J * m, 1, plogis(eta))
  }
  d
}
fam <- if (family == "poisson") poisson else binomial
data <- lapply(seq_len(fits), function(i) sim())
t <- system.time(for (d in data) {
  f <- glmer(y ~ treatment + x + (1 | cluster), data = d, family = fam)
  v <- vcov(f)
})[["elapsed"]]
cat(t / fits * 1000, "\n")
"""


def glmer_time(family: str, fits: int) -> float | None:
    """Milliseconds per ``glmer`` fit (+ ``vcov``) on the design, or None without R/lme4."""
    if shutil.which("Rscript") is None:
        return None
    run = subprocess.run(["Rscript", "-", family, str(fits), str(N_CLUSTERS), str(CLUSTER_SIZE)],
                         input=GLMER, capture_output=True, text=True, check=False)
    try:
        return float(run.stdout.split()[-1])
    except (IndexError, ValueError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--mcpower-sims", type=int, default=100)
    parser.add_argument("--glmer-fits", type=int, default=20,
                        help="glmer fits per repeat (0: skip R)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{N_CLUSTERS} clusters x {CLUSTER_SIZE}, one thread, ms per simulation "
          f"(best of {args.repeats}); ratio = ours / theirs")
    print(f"{'family':8s} {'ours':>8s} {'MCPower':>9s} {'ratio':>7s} {'MCPower hessian':>16s} "
          f"{'ratio':>7s} {'glmer':>8s} {'ratio':>7s}")
    same = {"wald_se": "hessian", "df_method": "asymptotic"}
    for family in ("logit", "poisson"):
        ours, theirs, hessian, glmer = [], [], [], []
        for _ in range(args.repeats):  # alternate, so load hits all alike
            ours.append(our_time(family, args.sims))
            theirs.append(mcpower_time(family, args.mcpower_sims))
            hessian.append(mcpower_time(family, args.mcpower_sims, **same))
            if args.glmer_fits > 0:
                glmer.append(glmer_time(family, args.glmer_fits))
        a, b, c = min(ours) / 1e3, min(theirs) / 1e3, min(hessian) / 1e3
        line = f"{family:8s} {a:8.2f} {b:9.2f} {a / b:7.2f} {c:16.2f} {a / c:7.2f}"
        r = [t for t in glmer if t is not None]
        if r:
            line += f" {min(r):8.1f} {a / min(r):7.3f}"
        print(line)


if __name__ == "__main__":
    main()
