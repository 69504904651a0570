# Power from pilot data, simr's way (simr is not in Debian's packages, so its loop is written
# out): fit lme4's sleepstudy, then for each number of subjects simulate new data sets from
# the fitted model (new subjects, days 0..9: simulate(re.form = NA) draws new random
# effects), refit them with lmer and test Days with lmerTest (Satterthwaite).
#   Rscript benchmarks/pilot_sleepstudy.R N_SIMS [SEED] [SUBJECTS...]
# prints: subjects sims power se failed
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
a <- commandArgs(trailingOnly = TRUE)
nsim <- as.integer(a[1])
set.seed(if (length(a) >= 2) as.integer(a[2]) else 1)
subjects <- if (length(a) >= 3) as.integer(a[-(1:2)]) else c(4L, 6L, 18L)
pilot <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
for (J in subjects) {
  nd <- data.frame(Subject = factor(rep(sprintf("s%d", seq_len(J)), each = 10)),
                   Days = rep(0:9, J))
  p <- vapply(seq_len(nsim), function(i) {
    nd$Reaction <- simulate(pilot, nsim = 1, newdata = nd, re.form = NA,
                            allow.new.levels = TRUE)[[1]]
    fit <- tryCatch(suppressMessages(suppressWarnings(
      lmerTest::lmer(Reaction ~ Days + (Days | Subject), nd))), error = function(e) NULL)
    if (is.null(fit)) return(NA_real_)
    summary(fit)$coefficients["Days", "Pr(>|t|)"]
  }, numeric(1))
  ok <- !is.na(p)
  power <- mean(p[ok] < 0.05)
  cat(J, sum(ok), power, sqrt(power * (1 - power) / sum(ok)), sum(!ok), "\n")
}
