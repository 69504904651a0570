# Independent power check with lme4 + lmerTest (Satterthwaite), the statistical reference.
# Simulates the tutorial's design with DESIGN.md's data-generating process
# (treatment ~ N(0,1), intercept variance ICC/(1-ICC), slope variance sv, residual 1,
# N split evenly over clusters) and fits score ~ treatment + (1 + treatment | cluster) by REML.
#
#   Rscript benchmarks/lmertest_power.R N_SIMS CLUSTERS N SLOPE_VARIANCE [EFFECT] [ICC] [SEED]
# prints: clusters N sv sims power failed singular
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
a <- commandArgs(trailingOnly = TRUE)
nsim <- as.integer(a[1]); J <- as.integer(a[2]); N <- as.integer(a[3]); sv <- as.numeric(a[4])
eff <- if (length(a) >= 5) as.numeric(a[5]) else 0.15
icc <- if (length(a) >= 6) as.numeric(a[6]) else 0.15
set.seed(if (length(a) >= 7) as.integer(a[7]) else 1)
sizes <- rep(N %/% J, J) + c(rep(1, N %% J), rep(0, J - N %% J))
cl <- factor(rep(seq_len(J), sizes))
t0 <- sqrt(icc / (1 - icc)); t1 <- sqrt(sv)
sig <- 0; fail <- 0; sing <- 0
ctrl <- lmerControl(check.conv.singular = "ignore", calc.derivs = FALSE)
for (s in seq_len(nsim)) {
  x <- rnorm(N)
  u0 <- rnorm(J, 0, t0); u1 <- rnorm(J, 0, t1)
  y <- eff * x + u0[cl] + u1[cl] * x + rnorm(N)
  d <- data.frame(y = y, x = x, cl = cl)
  m <- tryCatch(lmer(y ~ x + (1 + x | cl), data = d, REML = TRUE, control = ctrl), error = function(e) NULL)
  if (is.null(m)) { fail <- fail + 1; next }
  p <- tryCatch(summary(m, ddf = "Satterthwaite")$coefficients["x", "Pr(>|t|)"], error = function(e) NA)
  if (is.na(p)) { fail <- fail + 1; next }
  if (isSingular(m)) sing <- sing + 1
  if (p < 0.05) sig <- sig + 1
}
ok <- nsim - fail
cat(J, N, sv, nsim, sig / ok, fail, sing, "\n")
