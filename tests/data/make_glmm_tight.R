## Tightly converged glmer reference fits for the fixtures' GLMMs (G1a, G1b, G1c, G2).
##
##   Rscript tests/data/make_glmm_tight.R [FIXTURES_DIR] [OUT_JSON]
##
## defaults: tests/data/fixtures2 and tests/data/glmm_tight.json (run from the repo root).
##
## Why: glmer's default control stops the inner PIRLS loop at a relative change of 1e-7 in
## the penalised deviance (tolPwrss), so the Laplace log-likelihood it reports, and the
## finite-difference Hessian its standard errors come from, are slightly inexact.  Here every
## fit is repeated with tolPwrss = 1e-12 (1e-10 if that fails) by bobyqa and by Nelder_Mead
## (maxfun 1e5) and the one with the higher log-likelihood is kept ("glmer's best optimiser").
## glmer's default fit is recorded next to it for comparison.

suppressPackageStartupMessages(library(lme4))
library(jsonlite)

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else "tests/data/fixtures2"
out <- if (length(args) >= 2) args[2] else "tests/data/glmm_tight.json"

# The G models of the fixtures' README: formula, family/link, whether nAGQ = 10 is fitted.
models <- list(
  G1a = list(f = "y ~ treatment + x + (1 | cluster)", fam = "binomial/logit", agq = TRUE),
  G1b = list(f = "y ~ treatment + x + (1 + x | cluster)", fam = "binomial/logit", agq = FALSE),
  G1c = list(f = "y ~ treatment + x + (1 | cluster)", fam = "binomial/probit", agq = TRUE),
  G2 = list(f = "y ~ treatment + x + (1 | cluster)", fam = "poisson/log", agq = TRUE)
)
datasets <- list(G1a = "G1", G1b = "G1", G1c = "G1", G2 = "G2")
optimizers <- c("bobyqa", "Nelder_Mead")
tolerances <- c(1e-12, 1e-10)

named <- function(x, nm) as.list(setNames(as.numeric(x), nm))
mat_json <- function(M) unname(lapply(seq_len(nrow(M)), function(i) I(unname(as.numeric(M[i, ])))))

quiet <- function(expr) {
  w <- character()
  val <- withCallingHandlers(tryCatch(expr, error = function(e) e),
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
    message = function(c) invokeRestart("muffleMessage"))
  list(value = val, warnings = w)
}

# The fields compared with the engine; lme4's defaults for vcov (use.hessian) and logLik.
record <- function(m, family, nAGQ, control, warnings) {
  co <- summary(m)$coefficients
  nm <- rownames(co)
  yy <- getME(m, "y")
  sat <- if (family == "poisson") sum(dpois(yy, yy, log = TRUE)) else
    sum(dbinom(yy, 1, yy, log = TRUE))
  ll <- as.numeric(logLik(m))
  vc <- VarCorr(m)
  varcorr <- lapply(names(vc), function(g) {
    S <- vc[[g]]
    list(terms = I(rownames(S)), cov = mat_json(unclass(S)[seq_len(nrow(S)), seq_len(nrow(S)),
                                                           drop = FALSE]))
  })
  names(varcorr) <- names(vc)
  list(
    control = control,
    fixed = named(co[, "Estimate"], nm),
    se = named(sqrt(diag(as.matrix(vcov(m)))), nm),
    se_from_RX = named(suppressWarnings(sqrt(diag(as.matrix(vcov(m, use.hessian = FALSE))))), nm),
    varcorr = varcorr,
    theta = I(as.numeric(getME(m, "theta"))),
    logLik = ll,
    # lme4 (nAGQ > 1) reports logLik minus the saturated log-likelihood; add it back.
    logLik_full = if (nAGQ > 1L) ll + sat else ll,
    singular = isSingular(m),
    conv_messages = as.list(c(m@optinfo$conv$lme4$messages, unlist(m@optinfo$warnings))),
    warnings = as.list(warnings)
  )
}

fit_tight <- function(f, d, fam, nAGQ) {
  tried <- list()
  best <- NULL
  for (opt in optimizers) {
    for (tol in tolerances) {
      ctrl <- list(optimizer = opt, tolPwrss = tol, optCtrl = list(maxfun = 1e5))
      r <- quiet(glmer(f, data = d, family = fam, nAGQ = nAGQ,
                       control = glmerControl(optimizer = opt, tolPwrss = tol,
                                              optCtrl = list(maxfun = 1e5))))
      if (inherits(r$value, "error")) {
        tried[[length(tried) + 1]] <- c(ctrl, list(error = conditionMessage(r$value)))
        next
      }
      ll <- as.numeric(logLik(r$value))
      tried[[length(tried) + 1]] <- c(ctrl, list(logLik = ll))
      if (is.null(best) || ll > best$ll) best <- list(m = r$value, ll = ll, ctrl = ctrl, w = r$warnings)
      break  # the tightest tolerance that works
    }
  }
  if (is.null(best)) stop("no tight fit converged for ", deparse(f))
  list(best = best, tried = tried)
}

fits <- list()
for (mid in names(models)) {
  mo <- models[[mid]]
  fs <- strsplit(mo$fam, "/")[[1]]
  fam <- get(fs[1])(link = fs[2])
  for (k in 1:3) {
    ds <- sprintf("%s_%d", datasets[[mid]], k)
    d <- read.csv(file.path(dir, paste0(ds, ".csv")))
    for (nAGQ in if (mo$agq) c(1L, 10L) else 1L) {
      key <- sprintf("%s/%s/%s", ds, mid, if (nAGQ == 1L) "Laplace" else "AGQ10")
      f <- as.formula(mo$f)
      t <- fit_tight(f, d, fam, nAGQ)
      def <- quiet(glmer(f, data = d, family = fam, nAGQ = nAGQ))
      fits[[key]] <- list(
        dataset = ds, formula_id = mid, formula = mo$f, family = fs[1], link = fs[2],
        nAGQ = nAGQ,
        tight = record(t$best$m, fs[1], nAGQ, t$best$ctrl, t$best$w),
        tight_candidates = t$tried,
        default = record(def$value, fs[1], nAGQ, list(control = "glmerControl() defaults"),
                         def$warnings)
      )
      cat(sprintf("%-20s tight %.10f (%s, tolPwrss %g)  default %.10f\n", key,
                  fits[[key]]$tight$logLik_full, t$best$ctrl$optimizer, t$best$ctrl$tolPwrss,
                  fits[[key]]$default$logLik_full))
    }
  }
}

meta <- list(
  generator = "tests/data/make_glmm_tight.R",
  R = R.version.string, lme4 = as.character(packageVersion("lme4")),
  Matrix = as.character(packageVersion("Matrix")),
  created = format(Sys.time(), "%Y-%m-%d %H:%M:%S UTC", tz = "UTC"),
  note = paste(
    "tight: glmer with glmerControl(optimizer = bobyqa or Nelder_Mead, tolPwrss = 1e-12",
    "(1e-10 if that fails), optCtrl = list(maxfun = 1e5)), the higher logLik kept;",
    "default: glmer with its default control. se = sqrt(diag(vcov(m))) (use.hessian:",
    "finite-difference Hessian of the deviance over (theta, beta), beta block of its",
    "inverse); se_from_RX = vcov(m, use.hessian = FALSE). logLik_full adds the saturated",
    "log-likelihood back for nAGQ > 1.")
)
writeLines(toJSON(list(meta = meta, fits = fits), auto_unbox = TRUE, digits = NA, pretty = TRUE,
                  null = "null", na = "null"), out)
