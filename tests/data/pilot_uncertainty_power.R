# Power from pilot data with the pilot's uncertainty about its variances, written out in
# R: lme4's parametric bootstrap (bootMer) of sleepstudy's variance components, then per
# simulation one bootstrap draw (sigma^2 and the random-effect covariance) with the fitted
# fixed effects, new subjects on days 0..9, refitted with lmer and Days tested by
# lmerTest (Satterthwaite). The reference of tests/test_pilot.py's uncertainty power test.
#   Rscript tests/data/pilot_uncertainty_power.R N_SIMS SEED SUBJECTS...
# prints: subjects sims power se failed
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(MASS)})
a <- commandArgs(trailingOnly = TRUE)
nsim <- as.integer(a[1])
set.seed(as.integer(a[2]))
subjects <- as.integer(a[-(1:2)])
data <- read.csv("tests/data/sleepstudy.csv")
pilot <- lme4::lmer(Reaction ~ Days + (Days | Subject), data)
draw <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  c(sigma(m)^2, vc$vcov[1], vc$vcov[2], vc$sdcor[3])
}
boot <- bootMer(pilot, draw, nsim = 1000, type = "parametric", use.u = FALSE)$t
boot <- boot[complete.cases(boot), , drop = FALSE]
beta <- fixef(pilot)
for (J in subjects) {
  days <- rep(0:9, J)
  subject <- factor(rep(seq_len(J), each = 10))
  p <- vapply(seq_len(nsim), function(i) {
    d <- boot[sample.int(nrow(boot), 1), ]
    cov12 <- d[4] * sqrt(d[2] * d[3])
    G <- matrix(c(d[2], cov12, cov12, d[3]), 2)
    b <- MASS::mvrnorm(J, c(0, 0), G)
    y <- beta[1] + beta[2] * days + b[subject, 1] + b[subject, 2] * days +
      rnorm(10 * J, sd = sqrt(d[1]))
    nd <- data.frame(Reaction = y, Days = days, Subject = subject)
    fit <- tryCatch(suppressMessages(suppressWarnings(
      lmerTest::lmer(Reaction ~ Days + (Days | Subject), nd))), error = function(e) NULL)
    if (is.null(fit)) return(NA_real_)
    summary(fit)$coefficients["Days", "Pr(>|t|)"]
  }, numeric(1))
  ok <- !is.na(p)
  power <- mean(p[ok] < 0.05)
  cat(J, sum(ok), power, sqrt(power * (1 - power) / sum(ok)), sum(!ok), "\n")
}
