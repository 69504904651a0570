# Power of glmer + Wald z on GLMM designs with several grouping factors, simulated in R:
# the reference for benchmarks/glmm_groupings_power.py (ours, the same designs).
#
#   Rscript benchmarks/glmm_groupings_power.R [n_sims] [seed] [designs] [scale]
#   (defaults 300, 1, nested,crossed,poisson, 1; scale 0: every effect 0, the type-I error)
#
# Each design is simulated as the engine draws it (the distributions, not the streams):
#   nested  y ~ treatment + x + (1 | school/class): 10 schools x 4 classes x 10 pupils,
#           2 of the 4 classes of every school treated, x ~ N(0, 1) per pupil, baseline
#           probability .3, tau^2 .3 (school) and .2 (class), log ORs .5 and .25.
#   crossed y ~ condition + (1 | subject) + (1 | item): 30 subjects x 16 items, condition
#           at item level (half the items), baseline .5, tau^2 .5 (subject) and .3 (item),
#           log OR .6.
#   poisson y ~ x + (1 | school/class): 8 schools x 3 classes x 8, x ~ N(0, 1) per row,
#           baseline rate 1.5, tau^2 .2 (school) and .1 (class), log rate ratio .15.
# Fits: lme4::glmer, Laplace (nAGQ = 1), default control; p-values: Wald z from summary().
# A fit with a convergence warning keeps its p-value (as R users read it); warnings are
# counted.  A fit that errors counts as a failure (not significant).
suppressPackageStartupMessages(library(lme4))
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "glmer_power_loop.R"))  # run_glmer_designs

args <- commandArgs(trailingOnly = TRUE)
n_sims <- if (length(args) >= 1) as.integer(args[1]) else 300L
seed <- if (length(args) >= 2) as.integer(args[2]) else 1L
designs <- if (length(args) >= 3) strsplit(args[3], ",")[[1]] else c("nested", "crossed", "poisson")
scale <- if (length(args) >= 4) as.numeric(args[4]) else 1
set.seed(seed)

half <- function(n) sample(rep(c(1, 0), c(round(n / 2), n - round(n / 2))))

simulate <- function(design) {
  if (design == "nested") {
    S <- 10; C <- 4; m <- 10
    school <- rep(seq_len(S), each = C * m)
    class <- rep(rep(seq_len(C), each = m), S)
    trt <- unlist(lapply(seq_len(S), function(s) rep(half(C), each = m)))
    x <- rnorm(S * C * m)
    eta <- qlogis(0.3) + scale * (0.5 * trt + 0.25 * x) + rnorm(S, sd = sqrt(0.3))[school] +
      rnorm(S * C, sd = sqrt(0.2))[(school - 1) * C + class]
    list(data = data.frame(y = rbinom(S * C * m, 1, plogis(eta)), treatment = trt, x = x,
                           school = factor(school), class = factor(class)),
         formula = y ~ treatment + x + (1 | school/class), family = binomial,
         tests = c("treatment", "x"))
  } else if (design == "crossed") {
    J <- 30; K <- 16
    subject <- rep(seq_len(J), times = K)
    item <- rep(seq_len(K), each = J)
    cond <- half(K)[item]
    eta <- qlogis(0.5) + scale * 0.6 * cond + rnorm(J, sd = sqrt(0.5))[subject] +
      rnorm(K, sd = sqrt(0.3))[item]
    list(data = data.frame(y = rbinom(J * K, 1, plogis(eta)), condition = cond,
                           subject = factor(subject), item = factor(item)),
         formula = y ~ condition + (1 | subject) + (1 | item), family = binomial,
         tests = "condition")
  } else {
    S <- 8; C <- 3; m <- 8
    school <- rep(seq_len(S), each = C * m)
    class <- rep(rep(seq_len(C), each = m), S)
    x <- rnorm(S * C * m)
    eta <- log(1.5) + scale * 0.15 * x + rnorm(S, sd = sqrt(0.2))[school] +
      rnorm(S * C, sd = sqrt(0.1))[(school - 1) * C + class]
    list(data = data.frame(y = rpois(S * C * m, exp(eta)), x = x, school = factor(school),
                           class = factor(class)),
         formula = y ~ x + (1 | school/class), family = poisson, tests = "x")
  }
}

run_glmer_designs(designs, simulate, n_sims)
