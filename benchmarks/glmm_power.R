# Power of glmer + Wald z on three GLMM designs, simulated in R: the reference for
# benchmarks/glmm_power.py (ours, the same designs) and docs/glmm.md.
#
#   Rscript benchmarks/glmm_power.R [n_sims] [seed] [designs] [crt_effect] [crt_clusters]
#   (defaults 500, 1, crt,multisite,poisson, 0.75, 20; e.g. the CRT's type-I error with
#   10 clusters: Rscript benchmarks/glmm_power.R 600 2 crt 0 10)
#
# Each design is simulated as the engine draws it (the distributions, not the streams):
#   crt       passed ~ treatment + (1|school): 20 schools x 25, exactly half treated
#             (cluster level), baseline probability .3, ICC .1 on the latent scale
#             (tau^2 = .1 / .9 * pi^2 / 3), log OR .75.
#   multisite passed ~ treatment + (1 + treatment|site): 20 sites x 30, exactly half of
#             each site treated, baseline .3, tau^2 as crt, slope variance .1 (independent
#             of the intercept in the data, the correlation fitted), log OR .45.
#   poisson   falls ~ treatment + x + (1|home): 20 homes x 10, exactly half treated
#             (home level), x ~ N(0, 1) per row, baseline rate 1.5, tau^2 .2, log rate
#             ratios .5 (treatment) and .12 (x).
# Fits: lme4::glmer, Laplace (nAGQ = 1), default control; p-values: Wald z from summary().
# A fit with a convergence warning keeps its p-value (as R users read it); warnings are
# counted. A fit that errors counts as a failure (not significant).
suppressPackageStartupMessages(library(lme4))
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "glmer_power_loop.R"))  # run_glmer_designs

args <- commandArgs(trailingOnly = TRUE)
n_sims <- if (length(args) >= 1) as.integer(args[1]) else 500L
seed <- if (length(args) >= 2) as.integer(args[2]) else 1L
designs <- if (length(args) >= 3) strsplit(args[3], ",")[[1]] else c("crt", "multisite", "poisson")
crt_effect <- if (length(args) >= 4) as.numeric(args[4]) else 0.75
crt_clusters <- if (length(args) >= 5) as.integer(args[5]) else 20L
set.seed(seed)

tau2_logit <- 0.1 / 0.9 * pi^2 / 3

half <- function(n) sample(rep(c(1, 0), c(round(n / 2), n - round(n / 2))))

simulate <- function(design) {
  if (design == "crt") {
    J <- crt_clusters; m <- 25
    g <- rep(seq_len(J), each = m)
    trt <- half(J)[g]
    eta <- qlogis(0.3) + crt_effect * trt + rnorm(J, sd = sqrt(tau2_logit))[g]
    list(data = data.frame(y = rbinom(J * m, 1, plogis(eta)), treatment = trt, g = factor(g)),
         formula = y ~ treatment + (1 | g), family = binomial, tests = "treatment")
  } else if (design == "multisite") {
    J <- 20; m <- 30
    g <- rep(seq_len(J), each = m)
    trt <- unlist(lapply(seq_len(J), function(j) half(m)))
    b0 <- rnorm(J, sd = sqrt(tau2_logit)); b1 <- rnorm(J, sd = sqrt(0.1))
    eta <- qlogis(0.3) + b0[g] + (0.45 + b1[g]) * trt
    list(data = data.frame(y = rbinom(J * m, 1, plogis(eta)), treatment = trt, g = factor(g)),
         formula = y ~ treatment + (1 + treatment | g), family = binomial, tests = "treatment")
  } else {
    J <- 20; m <- 10
    g <- rep(seq_len(J), each = m)
    trt <- half(J)[g]
    x <- rnorm(J * m)
    eta <- log(1.5) + 0.5 * trt + 0.12 * x + rnorm(J, sd = sqrt(0.2))[g]
    list(data = data.frame(y = rpois(J * m, exp(eta)), treatment = trt, x = x, g = factor(g)),
         formula = y ~ treatment + x + (1 | g), family = poisson, tests = c("treatment", "x"))
  }
}

run_glmer_designs(designs, simulate, n_sims)
