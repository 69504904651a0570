# lme4 + lmerTest per-fit time on the data sets of benchmarks/bench_general_fit.py (CSV files
# <design>_<i>.csv in DIR): lmer (REML) and summary(ddf = "Satterthwaite") per data set.
#
#   Rscript benchmarks/bench_general_fit.R DIR DESIGN FITS
# prints one line per fit (its REML criterion), then the milliseconds per fit.
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
a <- commandArgs(trailingOnly = TRUE)
dir <- a[1]; design <- a[2]; fits <- as.integer(a[3])
formula <- switch(design,
  nested = y ~ treat + x + (1 | school/class),
  crossed = y ~ cond + (1 + cond | subject) + (1 | item),
  stop("design is nested or crossed"))
data <- lapply(seq_len(fits) - 1, function(i) {
  d <- read.csv(file.path(dir, sprintf("%s_%d.csv", design, i)))
  for (g in intersect(c("school", "class", "subject", "item"), names(d))) d[[g]] <- factor(d[[g]])
  d
})
ctrl <- lmerControl(check.conv.singular = "ignore")
crit <- numeric(fits)
invisible(summary(lmer(formula, data = data[[1]], control = ctrl), ddf = "Satterthwaite"))  # warm-up
t <- system.time(for (i in seq_len(fits)) {
  m <- lmer(formula, data = data[[i]], REML = TRUE, control = ctrl)
  s <- summary(m, ddf = "Satterthwaite")
  crit[i] <- REMLcrit(m)
})[["elapsed"]]
cat(sprintf("%.10f", crit), sep = "\n")
cat(t / fits * 1000, "\n")
