# Power of lmer + lmerTest (REML, Satterthwaite) on a three-level and two crossed designs,
# simulated in R: the reference for our simulations of the same designs (issue #12) and for
# the calibration of the default test at few top-level units (docs/calibration.md).
#
#   Rscript benchmarks/nested_power.R [n_sims] [seed] [designs] [effect_scale] [top_units]
#   (defaults 500, 1, nested,crossed,latin, 1, 0 = each design's default size; e.g. the type-I
#   error at 6 schools: Rscript benchmarks/nested_power.R 1000 2 nested 0 6; at 10 subjects
#   x 10 items: Rscript benchmarks/nested_power.R 1000 3 crossed 0 10)
#
# Each design is simulated as the engine draws it (the distributions, not the streams); every
# variance is on MCPower 1.4.1's scale, each grouping on its own: tau^2 = ICC / (1 - ICC)
# with sigma^2 = 1.
#   nested   y ~ treatment + x + (1 | school/class): 20 schools x 4 classes x 15 pupils;
#            treatment at class level, balanced within each school (2 of its 4 classes
#            treated, chosen at random); x ~ N(0, 1) per pupil; ICC .1 for school and .1 for
#            school:class; effects .2 (treatment) and .1 (x). top_units sets the schools.
#   crossed  y ~ condition + (1 + condition | subject) + (1 | item): 30 subjects x 20 items,
#            every subject sees every item; condition at item level (exactly half of the
#            items, chosen at random); subject ICC .2 (tau^2 .25) with slope variance .1
#            (uncorrelated with the intercept in the data, the correlation fitted), item ICC
#            .1; effect .4. top_units sets the subjects and the items.
#   latin    y ~ condition + (1 + condition | subject) + (1 | item): 24 subjects x 16 items,
#            every subject sees every item once, the condition in a Latin square (subject s
#            in list s mod 2 sees item i in condition (i + s) mod 2, 0-based), so it varies
#            within subjects and within items; variances as crossed; effect .25.  top_units
#            sets the subjects and the items (even).
# The effects are multiplied by effect_scale (0: a true null).
# Fits: lmerTest::lmer (REML), default control; p-values: Satterthwaite t from summary().
# A fit with a convergence warning keeps its p-value (as R users read it); warnings and
# singular fits are counted. A fit that errors counts as a failure (not significant).
# Reports power with its Monte Carlo SE and the seconds per fit (lmer + summary).
suppressPackageStartupMessages(library(lmerTest))

args <- commandArgs(trailingOnly = TRUE)
n_sims <- if (length(args) >= 1) as.integer(args[1]) else 500L
seed <- if (length(args) >= 2) as.integer(args[2]) else 1L
designs <- if (length(args) >= 3) strsplit(args[3], ",")[[1]] else c("nested", "crossed", "latin")
scale <- if (length(args) >= 4) as.numeric(args[4]) else 1
top_units <- if (length(args) >= 5) as.integer(args[5]) else 0L
set.seed(seed)

tau2 <- function(icc) icc / (1 - icc)
balanced <- function(n) sample(rep(c(1, 0), c(round(n / 2), n - round(n / 2))))

# S subjects x I items, each pair seen once; condition(subject, item) gives each row's.
crossed <- function(S, I, effect, condition) {
  subject <- rep(seq_len(S), each = I)
  item <- rep(seq_len(I), times = S)
  cond <- condition(subject, item)
  b0 <- rnorm(S, sd = sqrt(tau2(0.2))); b1 <- rnorm(S, sd = sqrt(0.1))
  y <- b0[subject] + (scale * effect + b1[subject]) * cond +
    rnorm(I, sd = sqrt(tau2(0.1)))[item] + rnorm(S * I)
  list(data = data.frame(y = y, condition = cond, subject = factor(subject),
                         item = factor(item)),
       formula = y ~ condition + (1 + condition | subject) + (1 | item), tests = "condition")
}

simulate <- function(design) {
  if (design == "nested") {
    J <- if (top_units > 0) top_units else 20L; K <- 4L; m <- 15L
    school <- rep(seq_len(J), each = K * m)
    class <- rep(seq_len(J * K), each = m)  # unique class codes across schools
    trt <- unlist(lapply(seq_len(J), function(j) balanced(K)))[class]
    x <- rnorm(J * K * m)
    y <- scale * (0.2 * trt + 0.1 * x) + rnorm(J, sd = sqrt(tau2(0.1)))[school] +
      rnorm(J * K, sd = sqrt(tau2(0.1)))[class] + rnorm(J * K * m)
    list(data = data.frame(y = y, treatment = trt, x = x, school = factor(school),
                           class = factor(class)),
         formula = y ~ treatment + x + (1 | school / class), tests = c("treatment", "x"))
  } else if (design == "latin") {
    crossed(if (top_units > 0) top_units else 24L, if (top_units > 0) top_units else 16L, 0.25,
            function(subject, item) (item - 1 + subject - 1) %% 2)
  } else {
    crossed(if (top_units > 0) top_units else 30L, if (top_units > 0) top_units else 20L, 0.4,
            function(subject, item) balanced(max(item))[item])
  }
}

for (design in designs) {
  sig <- NULL; warned <- 0L; failed <- 0L; singular <- 0L; fit_seconds <- 0
  for (i in seq_len(n_sims)) {
    s <- simulate(design)
    w <- FALSE
    t0 <- proc.time()[["elapsed"]]
    p <- tryCatch(withCallingHandlers({
      fit <- lmer(s$formula, data = s$data, REML = TRUE)
      singular <- singular + isSingular(fit)
      coef(summary(fit))[s$tests, "Pr(>|t|)"]
    },
    warning = function(cond) { w <<- TRUE; invokeRestart("muffleWarning") },
    message = function(cond) invokeRestart("muffleMessage")),  # "boundary (singular) fit"
    error = function(e) { failed <<- failed + 1L; rep(NA_real_, length(s$tests)) })
    fit_seconds <- fit_seconds + proc.time()[["elapsed"]] - t0
    warned <- warned + w
    sig <- rbind(sig, !is.na(p) & p < 0.05)
  }
  for (k in seq_along(s$tests)) {
    pw <- mean(sig[, k])
    cat(sprintf(paste("%s %s power %.4f se %.4f sims %d warnings %d failed %d singular %d",
                      "seconds_per_fit %.4f\n"),
                design, s$tests[k], pw, sqrt(pw * (1 - pw) / n_sims), n_sims, warned, failed,
                singular, fit_seconds / n_sims))
  }
}
