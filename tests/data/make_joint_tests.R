# Reference F tests of the factor `group` (model L3 of ../shared/fixtures2) by lmerTest:
# anova() (type III; Satterthwaite and Kenward-Roger) and contestMD() with the rows of
# the identity for groupb and groupc, for each L3 data set, REML.
#   Rscript tests/data/make_joint_tests.R tests/data/fixtures2 tests/data/joint_tests.json
# The fit is lme4's nloptwrap BOBYQA with tight tolerances (as the fixtures' best fits).
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else "/work/shared/fixtures2"
out <- if (length(args) >= 2) args[2] else "tests/data/joint_tests.json"
ctrl <- lmerControl(optimizer = "nloptwrap", optCtrl = list(algorithm = "NLOPT_LN_BOBYQA",
  xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, ftol_rel = 1e-14, maxeval = 1e5))
row <- function(a) list(F = a[["F value"]], num_df = a[["NumDF"]], den_df = a[["DenDF"]],
                        p = a[["Pr(>F)"]])
res <- list(meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                        lmerTest = as.character(packageVersion("lmerTest")),
                        pbkrtest = as.character(packageVersion("pbkrtest")),
                        formula = "y ~ group + x + (1 | cluster)", estimator = "REML"))
for (k in 1:3) {
  id <- sprintf("L3_%d", k)
  d <- read.csv(file.path(dir, paste0(id, ".csv")), stringsAsFactors = TRUE)
  fit <- lmer(y ~ group + x + (1 | cluster), data = d, REML = TRUE, control = ctrl)
  L <- matrix(0, 2, length(fixef(fit)), dimnames = list(NULL, names(fixef(fit))))
  L[1, "groupb"] <- 1; L[2, "groupc"] <- 1
  one <- list(logLik = as.numeric(logLik(fit)), fixed = as.list(fixef(fit)))
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    key <- if (ddf == "Satterthwaite") "satterthwaite" else "kenward_roger"
    a <- anova(fit, ddf = ddf)
    one[[paste0("anova_", key)]] <- lapply(setNames(rownames(a), rownames(a)),
                                           function(r) row(a[r, ]))
    one[[paste0("contest_", key)]] <- row(contestMD(fit, L, ddf = ddf))
  }
  res[[id]] <- one
}
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), out)
