// Linear mixed model with one grouping factor, fitted by REML or ML from per-cluster
// cross-products, in the parameterisation of lme4 (Bates et al. 2015, JSS 67(1)):
// the random effects have covariance sigma^2 * Lambda Lambda', theta holds the lower
// triangle of Lambda column by column, and the deviance is profiled over beta and sigma.
//
// Everything below works on W = [X y] through the blocks W_j' W_j of each cluster, so
// a deviance evaluation costs O(J q^3 + J q^2 p + p^3) whatever the number of rows.
//
// The sources follow the math: lmm_theta.cpp (the theta parameterisation),
// lmm_deviance.cpp (the data and the profiled deviance, pass 1), lmm_derivatives.cpp
// (gradient and Hessian, pass 2) and lmm_optimiser.cpp (projected Newton, starts).
#pragma once

#include <cstdint>
#include <vector>

namespace mcps {

// The data of one model, reduced to what the likelihood needs.
struct Problem {
    int p = 0;                 // fixed-effect columns (X)
    int q = 0;                 // random-effect columns (Z), each a column of X
    int n_clusters = 0;
    double n_obs = 0.0;
    std::vector<int> z_columns;      // q indices into the columns of X
    std::vector<double> cross;       // per cluster: (p+1) x (p+1) W'W, W = [X y]
    std::vector<double> colsum;      // per cluster: column sums of W
    std::vector<double> rows;        // per cluster: number of rows
    std::vector<double> scratch;     // room for data generation (one cluster's columns)
    // (1 + x || g): Lambda is diagonal, so the random effects are uncorrelated; the
    // off-diagonal theta stay at 0 and are not parameters (not optimised, not in the df).
    bool diagonal = false;

    int m() const { return p + 1; }
    void reset(int p_, int q_, int j_, const std::vector<int>& zc);
    // Column c of X is constant within every cluster (a "between" effect).
    bool column_is_between(int c) const;
    // Whether theta element a (row r, column c of Lambda) is a parameter of the model.
    bool theta_free(int r, int c) const { return !diagonal || r == c; }
};

// Index pairs (row, col), row >= col, of a q x q lower triangle, column by column:
// lme4's order of theta, and the order of the G parameters in phi.
struct Tri {
    int q = -1;
    std::vector<int> r, c;
    void build(int q_);
};

// Everything the deviance and its derivatives need at one theta.  Buffers are reused
// across evaluations and fits, so the hot loop does not allocate.
struct Workspace {
    Tri tri;
    // pass 1
    std::vector<double> lambda, K, G1, P1;  // per cluster K (q x q), G1 = K Z'W (q x m), P1 = W'H^-1 W
    std::vector<double> A, Achol, beta;     // X'H^-1 X, its Cholesky, GLS beta
    double logdet_l = 0, logdet_a = 0, rhr = 0, s2 = 0, deviance = 0;
    // pass 2: derivatives with respect to phi = (vech G, sigma^2)
    std::vector<double> grad_phi, hess_phi, Q;  // Q: per G parameter, (X'H^-1 V_a H^-1 X) relative
    std::vector<double> info_phi;               // REML: tr(P V_a P V_b), twice the expected information
    std::vector<double> P2xx, phi_inv;          // X'H^-2 X and (X'H^-1 X)^-1
    double trHinv = 0, trH2 = 0, rH2r = 0, rH3r = 0;  // tr(H^-1), tr(H^-2), r'H^-2 r, r'H^-3 r
    // Satterthwaite pieces in psi = (theta, sigma)
    std::vector<double> jac;                    // d phi / d psi
    std::vector<double> grad_psi, hess_psi;
    // scratch of pass 2
    std::vector<double> tot, v, trC, uEu, trC2, uEu2, trR2, ECEC, uECEu, ECER, gv, P2tot, P3tot, P3xx, x2r,
        PhiQ, LLt, HJ, SC, SC2, SR2, Suu, Suu2, CC, CR, UCU, FU, FF;
    // optimiser scratch
    std::vector<double> g, H, Hf, gf, step, trial, lb;
    std::vector<int> freev;
};

struct FitOptions {
    bool reml = true;
    int max_iter = 200;
    // Converged when the Newton decrement g'H^-1 g (the predicted decrease of the
    // deviance to the optimum, doubled) is below this.
    double tolerance = 1e-10;
    double singular_tol = 1e-4;  // lme4's isSingular() default
};

struct Fit {
    bool converged = false;
    bool singular = false;
    int iterations = 0;
    double deviance = 0.0;       // REML criterion or ML deviance, as lme4 reports
    double sigma2 = 0.0;
    std::vector<double> theta;
    std::vector<double> beta;
    std::vector<double> vcov;    // p x p
    std::vector<double> re_cov;  // q x q (variance units)
};

int n_theta(int q);
// Lower bounds of theta: 0 for diagonal elements of Lambda, -inf otherwise.
std::vector<double> theta_lower(int q);
// theta = vech(chol(G / sigma2)) for a start at a known covariance (semi-definite G allowed).
std::vector<double> theta_from_cov(const std::vector<double>& G, int q, double sigma2);

// Profiled deviance at theta (pass 1).  False if it is not finite or X'V^-1 X is singular.
bool evaluate(const Problem& pr, bool reml, const double* theta, Workspace& ws);
// Gradient and observed Hessian of -2 log L in phi and psi coordinates at the last
// evaluated theta (pass 2, after evaluate()).  False if anything is not finite.
bool derivatives(const Problem& pr, bool reml, Workspace& ws);

// Fit from each start and keep the best converged optimum.
Fit fit(const Problem& pr, const FitOptions& opt, const std::vector<std::vector<double>>& starts,
        Workspace& ws);

}  // namespace mcps
