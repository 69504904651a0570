// Wald tests of the fixed effects: reference distributions and their degrees of freedom.
#pragma once

#include <vector>

#include "lmm.hpp"
#include "spec.hpp"

namespace mcps {

struct WaldTests {
    std::vector<double> se, df, pvalue;  // per fixed effect; df = +inf for the z test
};

// Regularised incomplete beta I_x(a, b), with y = 1 - x given separately so that
// neither loses precision.
double incomplete_beta(double a, double b, double x, double y);
// Two-sided p-value of t with df degrees of freedom (df = +inf: standard normal).
double two_sided_p(double t, double df);

// Kenward-Roger's adjusted covariance of beta-hat (p x p, variance units) and the df of
// each fixed effect, for a REML fit (kenward_roger.cpp); ws as for wald_tests.
void kenward_roger(const Problem& pr, const Workspace& ws, std::vector<double>& vcov_adj,
                   std::vector<double>& df);

// Tests at the fit; ws must hold evaluate() and derivatives() at fit.theta (fit() leaves it so).
// Kenward-Roger replaces the SEs by those of its adjusted covariance.
WaldTests wald_tests(const Problem& pr, const Fit& fit, const Workspace& ws, DfMethod method);

}  // namespace mcps
