#!/usr/bin/env Rscript
## make_nested_anova.R -- lmerTest's F tests (Satterthwaite) of models with several
## grouping factors and multi-df terms, on the fixtures' L6 / L7 data sets, for
## tests/test_fit_nested_anova.py: per term, contestMD() (Satterthwaite; REML fits also
## Kenward-Roger) with L = the rows of the identity
## for the term's coefficients (the hypothesis "its coefficients are all zero", the
## engine's F test), and anova() (type III), which is the same test when no factor is in an
## interaction (with treatment contrasts it differs otherwise).
##
## Usage: Rscript tests/data/make_nested_anova.R   (from the repository root; writes
## tests/data/fixtures2/nested_anova.json)
## The factors are derived from the CSV columns the same way in the test:
##   xq  = "lo" if x < -0.5, "mid" if x < 0.5, else "hi" (pupil level, L6);
##   blk = c("a", "b", "c")[item number %% 3 + 1] (item level, L7).
## Fits use nloptwrap BOBYQA with tight tolerances (as the fixtures' best fits).
suppressPackageStartupMessages({ library(lmerTest); library(jsonlite) })
dir <- "tests/data/fixtures2"
tight <- lmerControl(optimizer = "nloptwrap",
                     optCtrl = list(algorithm = "NLOPT_LN_BOBYQA", xtol_abs = 1e-12, ftol_abs = 1e-14,
                                    xtol_rel = 1e-12, ftol_rel = 1e-14, maxeval = 1e5))
read <- function(id) {
  d <- read.csv(file.path(dir, paste0(id, ".csv")))
  if ("x" %in% names(d)) d$xq <- factor(ifelse(d$x < -0.5, "lo", ifelse(d$x < 0.5, "mid", "hi")),
                                        levels = c("hi", "lo", "mid"))
  if ("item" %in% names(d)) d$blk <- c("a", "b", "c")[as.integer(sub("^i", "", d$item)) %% 3 + 1]
  d
}
cases <- list(
  list(data = "L6_2", formula = "y ~ treatment + xq + (1 | school/class)"),
  list(data = "L6_3", formula = "y ~ treatment * xq + x + (1 + x | school) + (1 | school:class)"),
  list(data = "L7_3", formula = "y ~ cond * blk + (1 + cond | subject) + (1 | item)"),
  list(data = "L7_1", formula = "y ~ cond + blk + (1 | subject) + (1 | item)")
)
out <- list()
for (cs in cases) for (reml in c(TRUE, FALSE)) {
  d <- read(cs$data)
  m <- lmerTest::lmer(as.formula(cs$formula), data = d, REML = reml, control = tight)
  a <- anova(m, ddf = "Satterthwaite")
  s <- summary(m)$coefficients
  assign <- attr(model.matrix(m), "assign")
  labels <- attr(terms(m), "term.labels")
  contest_by <- function(ddf) setNames(lapply(seq_along(labels), function(i) {
    L <- diag(length(assign))[assign == i, , drop = FALSE]
    ct <- lmerTest::contestMD(m, L, ddf = ddf)
    list(F = ct[["F value"]], num_df = ct[["NumDF"]], den_df = ct[["DenDF"]], pvalue = ct[["Pr(>F)"]])
  }), labels)
  contest <- contest_by("Satterthwaite")
  contest_kr <- if (reml) contest_by("Kenward-Roger") else NULL
  key <- paste(cs$data, cs$formula, if (reml) "REML" else "ML", sep = " / ")
  out[[key]] <- list(
    dataset = cs$data, formula = cs$formula, estimator = if (reml) "REML" else "ML",
    logLik = as.numeric(logLik(m)), singular = isSingular(m),
    fixed = as.list(setNames(s[, "Estimate"], rownames(s))),
    df = as.list(setNames(s[, "df"], rownames(s))),
    contest = contest, contest_kenward_roger = contest_kr,
    anova = setNames(lapply(rownames(a), function(t) list(
      F = a[t, "F value"], num_df = a[t, "NumDF"], den_df = a[t, "DenDF"], pvalue = a[t, "Pr(>F)"])),
      rownames(a)))
}
meta <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
             lmerTest = as.character(packageVersion("lmerTest")))
writeLines(toJSON(list(meta = meta, fits = out), auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(dir, "nested_anova.json"))
