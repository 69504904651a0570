// Generalised linear mixed model with several random-effect terms (nested or crossed
// grouping factors), fitted to data by the Laplace approximation as lme4's glmer does at
// nAGQ = 1 (Bates et al. 2015, JSS 67(1); lme4's PIRLS): b = Lambda u, u ~ N(0, I),
// Lambda block diagonal with one block I_l (x) T_k per term k (T_k lower triangular,
// theta column by column, terms in lme4's order: the one with the most levels first).
//
// For fixed (theta, beta), penalised IRLS finds the conditional modes u of
//   -2 log p(y | u) + |u|^2
// with the system Lambda'Z'WZ Lambda + I = L L', and the Laplace deviance is that at the
// modes plus log|L|^2 (Fisher W) -- glmer's -2 logLik.  L is factored as the linear
// several-terms fit factors its system (lmm_general.hpp): the first term is block
// diagonal (one pk0 x pk0 block per level), its coupling to the other random effects is
// kept only where a level meets them, and their Schur complement is dense.
//
// glmm_general.cpp: the problem, the blocked factorisation, PIRLS and the objective.
// glmm_general_fit.cpp: minimising it over (theta, beta) and the covariance of beta.
#pragma once

#include <cstdint>
#include <vector>

#include "glmm.hpp"
#include "spec.hpp"

namespace mcps::glmm_general {

// One random-effect term (Z_k | g_k).
struct Term {
    std::vector<int64_t> codes;  // one per row, in [0, n_levels)
    int n_levels = 0;
    std::vector<int> z_columns;  // columns of X
};

struct Problem {
    // The rows as one cluster: family, link, X, y and the Poisson constant; what the
    // one-factor GLMM's GLM start, saturated log-likelihood and degeneracy check read.
    GlmmProblem base;
    std::vector<Term> terms;
    // Derived by build(): per term its size, levels, first theta and first u index.
    std::vector<int> pk, nl, theta_at, u_at;
    int n_theta = 0, q = 0, q1 = 0, q_rest = 0, width = 0;  // width: sum of pk
    std::vector<int> a_at;                  // per term: offset of its block in a row's a
    std::vector<std::vector<int>> touch;    // per level of term 0: dense columns it meets
    std::vector<size_t> b_at;               // per level of term 0: offset of its B block
    std::vector<int> pos;                   // per row and term >= 1: its block in touch
    size_t b_size = 0;

    // Throws std::invalid_argument for codes out of range or columns not in X.
    void build(GlmFamily family, GlmLink link, const double* X, const double* y, int64_t n, int p,
               std::vector<Term> terms_in);
    int n() const { return base.n; }
    int p() const { return base.p; }
};

// The conditional modes and the factor at one (theta, beta).  Reused across
// evaluations: u is the warm start of the next PIRLS.
struct State {
    std::vector<double> u;              // q
    std::vector<double> a, offset;      // per row: Lambda'z (width) and x'beta
    std::vector<double> eta, score, weight;
    std::vector<double> D, B, S;        // the factor: L_j per level, L_j^-1 B_j, chol(Schur)
    std::vector<double> rhs, step, trial, tmp;
    double logp = 0.0, sq_u = 0.0, ldL2 = 0.0;
};

// Factor I + Lambda'Z'diag(w)Z Lambda at the state's a; false if not positive definite.
bool factor(const Problem& pr, State& st, const double* w);
// x <- (L L')^-1 x with the last factor.
void solve(const Problem& pr, State& st, double* x);

// The Laplace -2 log L at (theta, beta), all constants included; +inf if PIRLS fails.
// Leaves the modes, eta (in st.eta) and the Fisher-weighted factor at them in st.
double objective(const Problem& pr, const double* theta, const double* beta, State& st);

struct Fit {
    bool converged = false, degenerate = false, singular = false;
    int iterations = 0, evaluations = 0;
    double minus_two_loglik = 0.0, saturated_loglik = 0.0;
    std::vector<double> theta, beta;
    std::vector<double> vcov;     // p x p, from the Hessian over (theta, beta): glmer's default
    std::vector<double> vcov_rx;  // p x p, conditional on theta (vcov(use.hessian = FALSE))
    std::vector<std::vector<double>> re_cov;  // per term, pk x pk (variance units)
};

// Minimise the Laplace deviance over (theta, beta) from Lambda = I and the GLM's beta.
Fit fit(const Problem& pr, double singular_tol = 1e-4);

}  // namespace mcps::glmm_general
