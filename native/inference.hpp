// Wald tests of the fixed effects: reference distributions and their degrees of freedom.
#pragma once

#include <vector>

#include "lmm.hpp"
#include "spec.hpp"

namespace mcps {

// What Kenward-Roger's F test of several coefficients needs from kenward_roger():
// W = 2 I_E^-1 over the dk covariance parameters and PQ_r = Phi_h Qa_r (p x p each),
// in the engine's relative units (kenward_roger.cpp); s = sigma^2.
struct KrPieces {
    int dk = 0;
    double s = 0.0;
    std::vector<double> W, PQ;
};

struct WaldTests {
    std::vector<double> se, df, pvalue;  // per fixed effect; df = +inf for the z test
    // Kenward-Roger only: the adjusted covariance of beta-hat (variance units) and its pieces.
    std::vector<double> vcov_adj;
    KrPieces kr;
};

// An F test that several fixed effects are all zero.
struct JointTest {
    double F = 0.0, num_df = 0.0, den_df = 0.0, pvalue = 0.0;  // den_df = +inf: chi-square / q
};

// Regularised incomplete beta I_x(a, b), with y = 1 - x given separately so that
// neither loses precision.
double incomplete_beta(double a, double b, double x, double y);
// Two-sided p-value of t with df degrees of freedom (df = +inf: standard normal).
double two_sided_p(double t, double df);

// Kenward-Roger's adjusted covariance of beta-hat (p x p, variance units) and the df of
// each fixed effect, for a REML fit (kenward_roger.cpp); ws as for wald_tests.
void kenward_roger(const Problem& pr, const Workspace& ws, std::vector<double>& vcov_adj,
                   std::vector<double>& df, KrPieces* pieces = nullptr);

// lmerTest's get_Fstat_ddf: the denominator df of an F test from its contrasts' df nu
// (f_tests.cpp; NaN when a contrast's df is undefined).
double fstat_ddf(const std::vector<double>& nu);

// Upper tail of F(num_df, den_df) at f (den_df = +inf: of chi-square(num_df) / num_df).
double f_upper(double f, double num_df, double den_df);

// Satterthwaite's A = 2 H^+ over the model's covariance parameters (keep: their
// indices in psi), and the df of the contrast l'beta whose Phi_h l is given as a (left)
// and b (right; equal in exact arithmetic) and whose variance is var (inference.cpp).
struct SatterthwaiteA {
    std::vector<int> keep;
    std::vector<double> Ainv;
};
SatterthwaiteA satterthwaite_a(const Problem& pr, const Workspace& ws);
double satterthwaite_df(const Problem& pr, const Workspace& ws, const SatterthwaiteA& A, const double* a,
                        const double* b, double var);

// SAS's DDFM=BW (PROC MIXED / GLIMMIX): a column constant within every cluster (the
// intercept, cluster-level predictors) gets clusters - (number of such columns), any other
// n_obs - clusters - (number of other columns); each at least 1.  The LMM and GLMM share it.
std::vector<double> between_within_df(const std::vector<bool>& between, double n_obs, int n_clusters);
// The same df for a GLMM's data (its columns' between/within status from the rows).
struct GlmmProblem;
std::vector<double> glmm_between_within_df(const GlmmProblem& gp);
// Whether a column is constant within a cluster of `rows` rows with this sum and sum of squares.
bool constant_within(double rows, double sum, double sum_sq);

// The Wald F test of `columns` = 0 from beta-hat, its covariance (p x p) and the
// coefficients' df: F = W / q on (q, the smallest df of the columns); df +inf: chi-square / q.
JointTest wald_f_test(const std::vector<double>& beta, const std::vector<double>& vcov, int p,
                      const std::vector<double>& df, const std::vector<int>& columns);

// F test that the fixed effects `columns` are all zero, with the reference distribution
// of `method` (f_tests.cpp): lmerTest's contestMD for Satterthwaite, pbkrtest's KRmodcomp
// (scaled F) for Kenward-Roger, the coefficients' df for between-within and residual,
// chi-square for z.  `wald` is wald_tests() at the same fit and method.
JointTest joint_test(const Problem& pr, const Fit& fit, const Workspace& ws, const WaldTests& wald,
                     DfMethod method, const std::vector<int>& columns);

// Tests at the fit; ws must hold evaluate() and derivatives() at fit.theta (fit() leaves it so).
// Kenward-Roger replaces the SEs by those of its adjusted covariance.
WaldTests wald_tests(const Problem& pr, const Fit& fit, const Workspace& ws, DfMethod method);

}  // namespace mcps
