# The glmer power loop of glmm_power.R and glmm_groupings_power.R (sourced by both): for
# each design, n_sims data sets from simulate(design) (a list of data, formula, family,
# tests), each fitted by lme4::glmer (Laplace, nAGQ = 1, default control) and tested by
# Wald z from summary().  A fit with a convergence warning keeps its p-value (as R users
# read it); warnings and singular fits are counted; a fit that errors is a failure (not
# significant).  Prints one line per design and test: power, its Monte Carlo SE and counts.
run_glmer_designs <- function(designs, simulate, n_sims) {
  for (design in designs) {
    sig <- NULL; warned <- 0L; failed <- 0L; singular <- 0L
    t0 <- proc.time()[["elapsed"]]
    for (i in seq_len(n_sims)) {
      s <- simulate(design)
      w <- FALSE
      fit <- tryCatch(withCallingHandlers(
        glmer(s$formula, data = s$data, family = s$family, nAGQ = 1),
        warning = function(cond) { w <<- TRUE; invokeRestart("muffleWarning") },
        message = function(cond) invokeRestart("muffleMessage")),  # "boundary (singular) fit"
        error = function(e) NULL)
      if (is.null(fit)) {
        failed <- failed + 1L
        p <- rep(NA_real_, length(s$tests))
      } else {
        warned <- warned + w
        singular <- singular + isSingular(fit)
        p <- coef(summary(fit))[s$tests, "Pr(>|z|)"]
      }
      sig <- rbind(sig, !is.na(p) & p < 0.05)
    }
    secs <- proc.time()[["elapsed"]] - t0
    for (k in seq_along(s$tests)) {
      pw <- mean(sig[, k])
      cat(sprintf("%s %s power %.4f se %.4f sims %d warnings %d failed %d singular %d seconds %.1f\n",
                  design, s$tests[k], pw, sqrt(pw * (1 - pw) / n_sims), n_sims, warned, failed,
                  singular, secs))
    }
  }
}
