// Generalised linear mixed model with one grouping factor (lme4's glmer): binomial
// (0/1 outcomes; logit or probit link) or Poisson (log link) responses, random effects
// b = Lambda u with u ~ N(0, I) and theta = the lower triangle of Lambda column by column.
//
// glmm_family.hpp: each row's log-likelihood and its derivatives in eta.  glmm_pirls.cpp:
// the GLM start (IRLS with u = 0), penalised IRLS for the conditional modes of u given
// (theta, beta), and the objective: the Laplace approximation of -2 log L (lme4's
// nAGQ = 1) or adaptive Gauss-Hermite quadrature (nAGQ > 1, one random intercept).
// glmm_derivatives.cpp: the Laplace objective's exact gradient and Hessian.
// glmm_fit.cpp: minimising it over (theta, beta) and the covariance of beta (lme4's
// Hessian-based vcov).
#pragma once

#include <cstdint>
#include <vector>

#include "spec.hpp"

namespace mcps {

// The data of one GLMM, rows sorted by cluster.
struct GlmmProblem {
    GlmFamily family = GlmFamily::binomial;
    GlmLink link = GlmLink::logit;
    int n = 0, p = 0, q = 0, n_clusters = 0;
    std::vector<double> X;        // n x p, row-major
    std::vector<double> y;        // n
    std::vector<int> z_columns;   // q columns of X that are Z
    std::vector<int64_t> start;   // n_clusters + 1 row offsets
    std::vector<double> log_norm; // per cluster: the constant of log p(y | u) (Poisson: -sum log y!)
    bool diagonal = false;        // (Z || g): off-diagonal theta fixed at 0

    // Sort rows by cluster code (stable, so the row order within a cluster is kept);
    // set family first.
    void build(const double* X_, const double* y_, const int64_t* group, int64_t n_, int p_,
               int n_groups, const std::vector<int>& zc);
    // log_norm from family, y and start (build() calls it; so must any other filler).
    void set_log_norm();
    int n_theta() const { return q * (q + 1) / 2; }
};

// Conditional modes and everything the objective and the covariance need at one
// (theta, beta).  Reused across evaluations: u is the warm start of the next PIRLS.
struct GlmmState {
    std::vector<double> lambda;   // q x q
    std::vector<double> u;        // n_clusters x q conditional modes
    std::vector<double> L;        // n_clusters x q x q Cholesky of I + Lambda'Z'WZ Lambda
    std::vector<double> offset, a;  // per row: x'beta and Lambda'z (n x q)
    std::vector<double> grad, grad2, hess, hess2, step, trial, nodes;  // scratch
    double loglik_cond = 0.0;     // sum log p(y | u)
    double sq_u = 0.0;            // u'u
    double ldL2 = 0.0;            // log det(L L')
};

// Gauss-Hermite rule for the standard normal density (weights sum to 1), as lme4's GHrule.
struct GaussHermite {
    std::vector<double> z, w;
    explicit GaussHermite(int n);
};

// The GLM fit with u = 0 (IRLS with step-halving): the warm start of beta.
bool glm_start(const GlmmProblem& pr, std::vector<double>& beta);

// -2 log L at (theta, beta) by the Laplace approximation (nagq = 1) or adaptive
// Gauss-Hermite quadrature with the rule gh (q = 1 only), all constants included.
// Returns +inf when PIRLS fails.
double glmm_objective(const GlmmProblem& pr, const double* theta, const double* beta,
                      const GaussHermite* gh, GlmmState& st);

// Whether the fit at the state's modes has fitted means numerically at the edge of the
// family's range (0 or 1, or a rate of 0): the MLE does not exist (separation etc.).
bool degenerate_fit(const GlmmProblem& pr, const GlmmState& st);

// The IRLS weight mu'(eta)^2 / V(mu) of one observation.
double fisher_weight(GlmLink link, double y, double eta);

// sum over rows of log p(y | mu = y): the saturated model's log-likelihood.
double saturated_loglik(const GlmmProblem& pr);

struct GlmmFitOptions {
    int nagq = 1;
    int max_iter = 100;
    double tolerance = 1e-9;     // on the Newton decrement, in units of -2 log L
    double singular_tol = 1e-4;  // lme4's isSingular() default
    // A start (e.g. the data-generating values of a simulation); empty: lme4's
    // Lambda = I with beta from the GLM fit.
    std::vector<double> start_theta, start_beta;
};

struct GlmmFit {
    bool converged = false;
    bool degenerate = false;  // estimates running off to infinity (separation, ...): failed
    bool singular = false;
    int iterations = 0;
    double minus_two_loglik = 0.0;
    double saturated_loglik = 0.0;
    std::vector<double> theta, beta;
    std::vector<double> vcov;      // p x p, Hessian of -2 log L over (theta, beta) (lme4's default)
    std::vector<double> vcov_rx;   // p x p, conditional on theta (vcov(use.hessian = FALSE))
    std::vector<double> re_cov;    // q x q
    std::vector<double> u;         // conditional modes (n_clusters x q)
};

GlmmFit fit_glmm(const GlmmProblem& pr, const GlmmFitOptions& opt);

// Throws std::invalid_argument unless family and link make a GLMM the engine fits
// (binomial: logit or probit; poisson: log) and nagq is 1..25, above 1 only for q = 1.
void check_glmm_options(GlmFamily family, GlmLink link, int nagq, int q);

}  // namespace mcps
