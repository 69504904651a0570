# Power under heavy-tailed random effects, simulated with lme4 + lmerTest: the reference for
# docs/robustness.md (benchmarks/robustness.py runs the engine on the same designs).
# Random effects are drawn independently per effect as t(df) scaled to the set variance
# (sd * rt(df) * sqrt((df - 2) / df)), or normal; residuals N(0, 1).
#   crt:   y ~ treat + (1|g), 10 clusters of 10, exactly 5 treated (at random), ICC .3,
#          treat = 0.8; test of treat.
#   slope: y ~ x + (1 + x|g), 12 clusters of 20, x ~ N(0, 1) per row, ICC .2 (intercept
#          variance .25), slope variance .3, uncorrelated, x = 0.35; test of x.
#
#   Rscript benchmarks/robustness.R N_SIMS [SEED]
# prints: design re_dist sims power se failed
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
a <- commandArgs(trailingOnly = TRUE)
nsim <- as.integer(a[1])
set.seed(if (length(a) >= 2) as.integer(a[2]) else 1)

draw_re <- function(n, sd, df) {
  if (is.na(df)) return(rnorm(n, 0, sd))
  sd * rt(n, df) * sqrt((df - 2) / df)
}

one <- function(design, df) {
  if (design == "crt") {
    J <- 10; n <- 10; tau <- sqrt(0.3 / 0.7)
    g <- rep(seq_len(J), each = n)
    treat <- sample(rep(c(0, 1), each = J / 2))[g]
    y <- 0.8 * treat + draw_re(J, tau, df)[g] + rnorm(J * n)
    f <- y ~ treat + (1 | g); term <- "treat"
    d <- data.frame(y, treat, g = factor(g))
  } else {
    J <- 12; n <- 20; tau <- sqrt(0.25); sds <- sqrt(0.3)
    g <- rep(seq_len(J), each = n)
    x <- rnorm(J * n)
    y <- 0.35 * x + draw_re(J, tau, df)[g] + draw_re(J, sds, df)[g] * x + rnorm(J * n)
    f <- y ~ x + (1 + x | g); term <- "x"
    d <- data.frame(y, x, g = factor(g))
  }
  fit <- tryCatch(suppressMessages(suppressWarnings(lmer(f, data = d))), error = function(e) NULL)
  if (is.null(fit)) return(NA)
  p <- tryCatch(summary(fit)$coefficients[term, "Pr(>|t|)"], error = function(e) NA)
  p
}

for (design in c("crt", "slope")) {
  for (df in c(NA, 3)) {
    p <- vapply(seq_len(nsim), function(i) one(design, df), numeric(1))
    ok <- !is.na(p)
    power <- mean(p[ok] < 0.05)
    cat(design, if (is.na(df)) "normal" else sprintf("t(%d)", df), sum(ok), power,
        sqrt(power * (1 - power) / sum(ok)), sum(!ok), "\n")
  }
}
