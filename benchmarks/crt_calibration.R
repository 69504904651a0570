# Type-I error of lmerTest's Satterthwaite and Kenward-Roger (pbkrtest) tests in a
# cluster-randomised trial under a true null: the reference for docs/calibration.md.
# The design is scenarios/calibration-crt.yaml's: exactly half of J clusters treated
# (at random), x ~ N(0, 1) per row with effect 0.3, intercept variance ICC/(1 - ICC),
# residual variance 1; cluster sizes drawn as the engine draws them (relative sizes
# Gamma(1/cv^2, cv^2), at least 5 rows, largest-remainder rounding to a total of N).
#
#   Rscript benchmarks/crt_calibration.R N_SIMS J N ICC CV [SEED]
# prints: J N icc cv sims rate_satterthwaite rate_kr se failed singular
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
a <- commandArgs(trailingOnly = TRUE)
nsim <- as.integer(a[1]); J <- as.integer(a[2]); N <- as.integer(a[3])
icc <- as.numeric(a[4]); cv <- as.numeric(a[5])
set.seed(if (length(a) >= 6) as.integer(a[6]) else 1)

draw_sizes <- function() {
  if (cv == 0) return(rep(N %/% J, J) + c(rep(1, N %% J), rep(0, J - N %% J)))
  x <- rgamma(J, shape = 1 / cv^2, scale = cv^2)
  floor_ <- rep(FALSE, J)
  repeat {
    free_total <- N - 5 * sum(floor_)
    free_sum <- sum(x[!floor_])
    low <- !floor_ & (x * free_total / free_sum < 5)
    if (!any(low)) break
    floor_ <- floor_ | low
  }
  x <- ifelse(floor_, 5, x * free_total / free_sum)
  n <- floor(x)
  left <- N - sum(n)
  if (left > 0) {
    o <- order(-(x - floor(x)))
    n[o[seq_len(left)]] <- n[o[seq_len(left)]] + 1
  }
  n
}

tau <- sqrt(icc / (1 - icc))
rej <- c(sat = 0, kr = 0); fail <- 0; sing <- 0
ctrl <- lmerControl(check.conv.singular = "ignore", calc.derivs = FALSE)
for (s in seq_len(nsim)) {
  sizes <- draw_sizes()
  cl <- factor(rep(seq_len(J), sizes))
  treated <- sample(rep(c(0, 1), c(J - J %/% 2, J %/% 2)))
  x <- rnorm(N)
  y <- 0.3 * x + rnorm(J, 0, tau)[cl] + rnorm(N)
  d <- data.frame(y = y, treatment = treated[cl], x = x, cl = cl)
  m <- tryCatch(lmer(y ~ treatment + x + (1 | cl), data = d, REML = TRUE, control = ctrl),
                error = function(e) NULL)
  if (is.null(m)) { fail <- fail + 1; next }
  p_sat <- summary(m, ddf = "Satterthwaite")$coefficients["treatment", "Pr(>|t|)"]
  p_kr <- summary(m, ddf = "Kenward-Roger")$coefficients["treatment", "Pr(>|t|)"]
  if (is.na(p_sat) || is.na(p_kr)) { fail <- fail + 1; next }
  if (isSingular(m)) sing <- sing + 1
  rej <- rej + c(p_sat < 0.05, p_kr < 0.05)
}
ok <- nsim - fail
cat(J, N, icc, cv, ok, rej / ok, sqrt(0.05 * 0.95 / ok), fail, sing, "\n")
