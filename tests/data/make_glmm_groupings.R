## glmer reference fits for GLMMs with several grouping factors (Laplace, nAGQ = 1).
##
##   Rscript tests/data/make_glmm_groupings.R [OUT_DIR]
##
## default OUT_DIR: tests/data/glmm_groupings (run from the repo root).  Simulates four
## small data sets, writes each as <name>.csv, fits glmer with bobyqa and with Nelder_Mead
## (tolPwrss = 1e-12 so the Laplace log-likelihood and the finite-difference Hessian are
## not blurred by the inner PIRLS tolerance, as make_glmm_tight.R does), keeps the fit with
## the higher log-likelihood, records glmer's default fit beside it, and writes
## reference.json: fixed effects, vcov (the Hessian-based default and use.hessian = FALSE),
## theta, VarCorr per group, logLik.

suppressPackageStartupMessages(library(lme4))
library(jsonlite)

args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "tests/data/glmm_groupings"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
set.seed(20261127)

inv_logit <- function(e) 1 / (1 + exp(-e))

# Logit, pupils in classes in schools; class labels repeat across schools (1..4), so the
# nesting must come from the formula's school/class.
nested_logit <- function() {
  d <- expand.grid(pupil = 1:10, class = 1:4, school = 1:15)
  d$treat <- as.numeric(d$school %% 2 == 0)
  d$x <- rnorm(nrow(d))
  s <- rnorm(15, sd = 0.7)[d$school]
  cl <- rnorm(60, sd = 0.5)[(d$school - 1) * 4 + d$class]
  d$y <- rbinom(nrow(d), 1, inv_logit(-0.5 + 0.5 * d$x + 0.4 * d$treat + s + cl))
  d[, c("y", "x", "treat", "school", "class")]
}

# Logit, every subject sees every item; the condition varies by item.
crossed_logit <- function() {
  d <- expand.grid(subject = 1:30, item = 1:20)
  d$cond <- as.numeric(d$item %% 2 == 0)
  s <- rnorm(30, sd = 0.8)[d$subject]
  it <- rnorm(20, sd = 0.5)[d$item]
  d$y <- rbinom(nrow(d), 1, inv_logit(0.2 + 0.6 * d$cond + s + it))
  d$subject <- paste0("s", d$subject)
  d$item <- paste0("i", d$item)
  d[, c("y", "cond", "subject", "item")]
}

# Crossed with a correlated random slope for subjects.
crossed_slope <- function() {
  d <- expand.grid(subject = 1:40, item = 1:20)
  d$x <- rnorm(nrow(d))
  L <- matrix(c(0.8, 0.2, 0, 0.6), 2)  # Cholesky factor: sds .8 and .63, correlation .32
  b <- matrix(rnorm(80), 40) %*% t(L)
  it <- rnorm(20, sd = 0.6)[d$item]
  eta <- -0.2 + 0.7 * d$x + b[d$subject, 1] + b[d$subject, 2] * d$x + it
  d$y <- rbinom(nrow(d), 1, inv_logit(eta))
  d[, c("y", "x", "subject", "item")]
}

# Poisson counts, nested.
nested_poisson <- function() {
  d <- expand.grid(pupil = 1:8, class = 1:5, school = 1:12)
  d$x <- rnorm(nrow(d))
  s <- rnorm(12, sd = 0.5)[d$school]
  cl <- rnorm(60, sd = 0.3)[(d$school - 1) * 5 + d$class]
  d$y <- rpois(nrow(d), exp(0.3 + 0.25 * d$x + s + cl))
  d[, c("y", "x", "school", "class")]
}

# Logit, nested, without school or class variation: a singular fit.
nested_null <- function() {
  d <- expand.grid(pupil = 1:10, class = 1:3, school = 1:12)
  d$x <- rnorm(nrow(d))
  d$y <- rbinom(nrow(d), 1, inv_logit(-0.3 + 0.5 * d$x))
  d[, c("y", "x", "school", "class")]
}

models <- list(
  nested_logit = list(data = nested_logit(), f = y ~ x + treat + (1 | school/class), fam = binomial()),
  crossed_logit = list(data = crossed_logit(), f = y ~ cond + (1 | subject) + (1 | item), fam = binomial()),
  crossed_slope = list(data = crossed_slope(), f = y ~ x + (1 + x | subject) + (1 | item), fam = binomial()),
  nested_poisson = list(data = nested_poisson(), f = y ~ x + (1 | school/class), fam = poisson())
)
# Further models on the same data (file names: <data>.csv): probit, uncorrelated slopes.
models$nested_probit <- list(data = models$nested_logit$data, csv = "nested_logit",
                             f = y ~ x + treat + (1 | school/class), fam = binomial("probit"))
models$crossed_uncorrelated <- list(data = models$crossed_slope$data, csv = "crossed_slope",
                                    f = y ~ x + (1 + x || subject) + (1 | item), fam = binomial())
models$nested_null <- list(data = nested_null(), f = y ~ x + (1 | school/class), fam = binomial())

# Crossed with a random slope whose fit is singular inside the term: the slope's diagonal
# of T at 0 (correlation +-1; which = 3), or the intercept's with an entry below it (which =
# 1: the optimiser has to flip the column's sign to leave the bound).  Small designs,
# drawn until glmer's fit is such (seed 1 on, so reproducible).
slope_singular <- function(which) {
  for (seed in 1:200) {
    set.seed(seed)
    d <- expand.grid(subject = 1:12, item = 1:10)
    d$condition <- rbinom(nrow(d), 1, 0.5)
    b <- matrix(rnorm(24), 12) %*% diag(c(0.6, 0.3))
    eta <- 0.4 * d$condition + b[d$subject, 1] + b[d$subject, 2] * d$condition +
      rnorm(10, sd = 0.5)[d$item]
    d$y <- rbinom(nrow(d), 1, plogis(eta))
    m <- suppressMessages(suppressWarnings(glmer(y ~ condition + (1 + condition | subject) + (1 | item),
                                                 data = d, family = binomial)))
    th <- getME(m, "theta")
    if (th[which] < 1e-4 && abs(th[2]) > 0.05) return(d[, c("y", "condition", "subject", "item")])
  }
  stop("no such singular slope fit in 200 seeds")
}
models$slope_singular <- list(data = slope_singular(3), fam = binomial(),
                              f = y ~ condition + (1 + condition | subject) + (1 | item))
models$slope_flip <- list(data = slope_singular(1), fam = binomial(),
                          f = y ~ condition + (1 + condition | subject) + (1 | item))

named <- function(x, nm) as.list(setNames(as.numeric(x), nm))
mat_json <- function(M) unname(lapply(seq_len(nrow(M)), function(i) I(unname(as.numeric(M[i, ])))))

record <- function(m, label) {
  beta <- fixef(m)
  vc <- VarCorr(m)
  varcorr <- lapply(names(vc), function(g) {
    S <- vc[[g]]
    list(terms = I(rownames(S)), cov = mat_json(unclass(S)[seq_len(nrow(S)), seq_len(nrow(S)), drop = FALSE]))
  })
  names(varcorr) <- names(vc)
  list(
    optimizer = label,
    logLik = as.numeric(logLik(m)),
    fixed = named(beta, names(beta)),
    vcov = mat_json(as.matrix(vcov(m))),
    vcov_rx = mat_json(as.matrix(vcov(m, use.hessian = FALSE))),
    se = named(sqrt(diag(as.matrix(vcov(m)))), names(beta)),
    theta = named(getME(m, "theta"), names(getME(m, "theta"))),
    varcorr = varcorr,
    singular = isSingular(m)
  )
}

ref <- list()
for (name in names(models)) {
  md <- models[[name]]
  csv <- if (is.null(md$csv)) name else md$csv
  write.csv(md$data, file.path(out, paste0(csv, ".csv")), row.names = FALSE)
  default <- glmer(md$f, data = md$data, family = md$fam)
  fits <- lapply(c("bobyqa", "Nelder_Mead"), function(o)
    glmer(md$f, data = md$data, family = md$fam,
          control = glmerControl(optimizer = o, tolPwrss = 1e-12, optCtrl = list(maxfun = 1e5))))
  lls <- sapply(fits, function(m) as.numeric(logLik(m)))
  best <- fits[[which.max(lls)]]
  ref[[name]] <- list(
    formula = paste(deparse(md$f), collapse = ""), data = csv,
    family = md$fam$family, link = md$fam$link,
    best = record(best, c("bobyqa", "Nelder_Mead")[which.max(lls)]),
    default = record(default, "default"),
    optimizer_logLik = named(lls, c("bobyqa", "Nelder_Mead"))
  )
  cat(name, "logLik", format(lls, digits = 12), "default", format(as.numeric(logLik(default)), digits = 12), "\n")
}
writeLines(toJSON(ref, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out, "reference.json"))
