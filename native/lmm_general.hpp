// Linear mixed model with several random-effect terms (nested or crossed grouping
// factors), fitted to data by REML or ML, profiled over beta and sigma as lme4 does
// (Bates et al. 2015, JSS 67(1), section 3): the random effects are b = Lambda u with
// u ~ N(0, sigma^2 I), Lambda block diagonal with one block I_l (x) T_k per term k
// (l levels, T_k lower triangular holding theta column by column), and
//   L L' = Lambda'Z'Z Lambda + I,   the profiled deviance from log|L|^2, log|R_X|^2, r^2.
//
// The one-grouping fit (lmm.hpp) stays the engine of every simulation; this one is for
// fit_lmm on real data and for simulations with several groupings.  It is blocked: the
// first term (the one with the most levels, as lme4 orders them) is block diagonal in
// Lambda'Z'Z Lambda, so its Cholesky is per level, and its coupling to the other columns is
// kept only where a level meets them (a class meets its own school; a subject meets every
// item).  The Schur complement S of the remaining random effects and [X y] is factored
// within its envelope (each row from its first nonzero column): in a nested design the
// other terms' columns are ordered by the top term's level (lmm_general_model.cpp), so S is
// block diagonal by school bordered by [X y] and costs per school; crossed designs fill it.
#pragma once

#include <cstdint>
#include <vector>

#include "inference.hpp"
#include "spec.hpp"

namespace mcps::general {

// One random-effect term (... | g): its grouping codes and which columns of X it uses.
struct TermInput {
    const int64_t* codes = nullptr;  // one per row, in [0, n_levels)
    int n_levels = 0;
    std::vector<int> z_columns;      // columns of X: 0 for the intercept, then slopes
};

// The data reduced to cross-products, in the order (first term's u, other u, X, y); the
// other terms' columns by level of the top term (if any), then by term and level.
struct Model {
    int n = 0, p = 0;
    std::vector<int> pk, nl, theta_at;  // per term: size, levels, first theta index
    int n_theta = 0;
    int q1 = 0;     // random effects of the first term (nl[0] * pk[0])
    int r = 0;      // the dense part: other random effects, p columns of X, y
    int q_rest = 0; // other random effects (r - p - 1)
    int top = -1;   // the term all others nest in (its levels order the dense columns), or -1
    std::vector<int> rest_term;  // per dense column < q_rest: its term (>= 1)
    std::vector<int> rest_col;   // per dense column < q_rest: its column within the term
    std::vector<std::vector<int>> level_at;  // per term k >= 1 and level: its first dense column
    // S's envelope: per dense column a, the first nonzero column lo[a] of its row (0 for [X y]);
    // for a < q_rest, hi[a] is one past the last rest row reaching a; env_idx[env_ptr[j] ..
    // env_ptr[j + 1]) the rows below the diagonal of column j within the envelope.
    std::vector<int> lo, hi, env_ptr, env_idx;
    std::vector<double> D1;      // per level of term 0: Z'Z block (pk0 x pk0)
    std::vector<double> B;       // per level of term 0: pk0 x r block of Z1'[Z_rest X y]
    std::vector<std::vector<int>> touch;  // per level of term 0: dense columns with B != 0
    bool uniform = false;  // every level of term 0 touches the same contiguous columns (fully crossed)
    std::vector<double> C;       // r x r: [Z_rest X y]'[Z_rest X y]
    // Nested scalar intercepts, (1|school) + (1|school:class) and deeper: evaluate, the
    // gradients and moment_start take lmm_nested_intercepts.cpp's closed form from these sums
    // instead, and build_model leaves the fields above from top on empty.
    bool nested = false;
    std::vector<int> chain;                 // the terms from the finest grouping to the coarsest
    std::vector<std::vector<int>> parent;   // per step of chain: each level's level one up
    // [X y] centred (its means subtracted, but for the intercept column): per finest level its
    // rows and its means (p + 1); within (p + 1)^2: the scatter about those means.
    int intercept = 0;
    std::vector<double> center, rows0, means0, within;
};

// With nested_kernel false, never the closed form for nested intercepts (tests compare the two).
Model build_model(const double* X, const double* y, int64_t n, int p, const std::vector<TermInput>& terms,
                  bool nested_kernel = true);
// Fills md's nested-intercepts fields and returns true where every term is a scalar
// intercept (a column of ones) and each term's levels lie within the next's (2 to 4 terms).
bool find_nested_intercepts(const double* X, const double* y, int64_t n, int p, const std::vector<TermInput>& terms,
                            Model& md);

// The profiled pieces at one theta.
struct Eval {
    double logdet_l = 0, logdet_rx = 0, r2 = 0, deviance = 0;
    std::vector<double> beta, rx_inv;  // GLS beta and (R_X'R_X)^-1 = Var(beta) / sigma^2
};

struct Scratch {
    std::vector<double> T, S, A, X1, bl1;
    std::vector<size_t> tat;  // each term's offset in T
    // With keep, evaluate also keeps per level j of the first term its L_j (pk0 x pk0),
    // X1_j = L_j^-1 T0' B_j Lt and B_j Lt (pk0 x touched columns, from at[j]): the
    // gradient's inputs.
    bool keep = false;
    std::vector<double> L1, X1s, BL;
    std::vector<size_t> at;
    std::vector<double> sig, u, w, rb, work, lcol, s21, sx;  // the gradient's scratch
    // With md.uniform: every level's X1_j, transposed side by side (touched columns x levels'
    // random effects), and the gradient's Sigma22 times it.
    std::vector<double> xt, ya;
    // The nested-intercepts kernel: [X y]'V^-1[X y] (lower, (p + 1)^2), the gradients.
    std::vector<double> nq, ng, ndr2;
};

// Profiled REML criterion or ML deviance at theta; false if not finite (or X'V^-1X singular).
// With want_beta, beta and rx_inv are filled too.
bool evaluate(const Model& md, bool reml, const double* theta, Eval& ev, Scratch& sc, bool want_beta);
// evaluate for md.nested (lmm_nested_intercepts.cpp), its gradients kept in sc; and solve_beta.
bool evaluate_nested(const Model& md, bool reml, const double* theta, Eval& ev, Scratch& sc, bool want_beta);
void solve_beta_nested(const Model& md, const Scratch& sc, Eval& ev);
// beta and rx_inv in ev from the factors of the last (successful) evaluate.
void solve_beta(const Model& md, const Scratch& sc, Eval& ev);

// The profiled deviance at theta (in ev, as evaluate) and its exact gradient in g:
// d/dtheta_i = tr(P dV_i) + nu d(r^2)/r^2 (REML, nu = n - p; ML: V^-1 for P, nu = n), with
// dV_i = Z (dLambda_i Lambda' + Lambda dLambda_i') Z' and Z'P Z Lambda from the blocks of
// the inverse of the factored system (see lmm_general.cpp).  False where evaluate is.
bool gradient(const Model& md, bool reml, const double* theta, Eval& ev, Scratch& sc, std::vector<double>& g);
// The same at the theta of the last evaluate, which ran with sc.keep set (ev its result);
// with dr2, also the gradient of r^2 there.
bool gradient_at(const Model& md, bool reml, const Eval& ev, Scratch& sc, std::vector<double>& g,
                 std::vector<double>* dr2 = nullptr);

// A start for theta from moment estimates of the covariances (lmm_general_start.cpp), or
// empty where they cannot be formed.
std::vector<double> moment_start(const Model& md);
std::vector<double> nested_moment_start(const Model& md);  // its form for md.nested

struct Result {
    bool converged = false, singular = false;
    int iterations = 0, evaluations = 0;
    double deviance = 0, sigma2 = 0;
    std::vector<double> theta, beta, vcov, se, df, pvalue;
    std::vector<std::vector<double>> re_cov;  // per term, pk x pk (variance units)
    std::vector<JointTest> joint;             // per entry of joint_tests
};

// Kenward-Roger's adjusted covariance of beta-hat and what its df need (pbkrtest's P and W),
// at a REML fit (lmm_general_kr.cpp); phi is the unadjusted covariance (variance units).
struct KenwardRoger {
    bool ok = false;
    int dk = 0;
    std::vector<double> vcov_adj, phi, W;
    std::vector<std::vector<double>> P;
};
KenwardRoger kenward_roger(const Model& md, const std::vector<double>& theta, double sigma2,
                           const std::vector<double>& phi);
// pbkrtest's KRmodcomp F test that the coefficients cols are all zero (one column: its
// t^2 with Lb_ddf's df, as lmerTest's summary).
JointTest kenward_roger_test(const KenwardRoger& kr, const std::vector<double>& beta, const std::vector<int>& cols);

// Fit, test every fixed effect (df_method: satterthwaite, kenward_roger (REML), residual or z) and, for each
// entry of joint_tests (columns of X), that those coefficients are all zero: lmerTest's
// contestMD F for Satterthwaite, else the Wald F on the coefficients' df (z: chi-square).
// The optimum is the best of four starts (moment estimates, lme4's T_k = I, then 0.2 I and
// 3 I); with first_converged (simulations), the later starts run only when an earlier one
// did not converge, as lme4 runs its one start.
Result fit_general(const double* X, const double* y, int64_t n, int p, const std::vector<TermInput>& terms,
                   Estimator estimator, DfMethod df_method, const std::vector<std::vector<int>>& joint_tests,
                   bool first_converged = false, bool nested_kernel = true);

}  // namespace mcps::general
