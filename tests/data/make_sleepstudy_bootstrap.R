# The sampling distribution of sleepstudy's variance components by lme4's parametric
# bootstrap (bootMer: new responses simulated from the fitted lmer model, refitted), the
# reference for MCPower.from_fit(fit, uncertainty=...) (tests/test_pilot.py).
# Rscript tests/data/make_sleepstudy_bootstrap.R [nsim] [seed]
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
nsim <- if (length(args) >= 1) as.integer(args[1]) else 1000L
seed <- if (length(args) >= 2) as.integer(args[2]) else 16L
data <- read.csv("tests/data/sleepstudy.csv")
fit <- lmer(Reaction ~ Days + (Days | Subject), data = data, REML = TRUE)
components <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  c(sigma2 = sigma(m)^2, var_intercept = vc$vcov[1], var_days = vc$vcov[2],
    corr = vc$sdcor[3])
}
set.seed(seed)
boot <- bootMer(fit, components, nsim = nsim, type = "parametric", use.u = FALSE)
t <- boot$t[complete.cases(boot$t), , drop = FALSE]
out <- list(nsim = nrow(t), seed = seed, fitted = as.list(components(fit)),
            mean = as.list(colMeans(t)), sd = as.list(apply(t, 2, sd)))
writeLines(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 10), "tests/data/sleepstudy_bootstrap.json")
