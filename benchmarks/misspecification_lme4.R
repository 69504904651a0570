# lme4 + lmerTest fits of the misspecified analysis y ~ x + (1 | g) to the data sets that
# benchmarks/misspecification_lme4.py writes (columns sim, g, x, y); prints, per data set,
# x's estimate, SE, Satterthwaite df and p-value.
# Usage: Rscript benchmarks/misspecification_lme4.R rows.csv
suppressMessages({library(lme4); library(lmerTest)})
d <- read.csv(commandArgs(TRUE)[1])
for (i in sort(unique(d$sim))) {
  f <- lmer(y ~ x + (1 | g), data = d[d$sim == i, ], REML = TRUE)
  s <- summary(f)$coefficients["x", ]
  cat(i, sprintf("%.10g", s[c("Estimate", "Std. Error", "df", "Pr(>|t|)")]), "\n")
}
