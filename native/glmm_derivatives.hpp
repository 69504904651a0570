// Exact gradient and Hessian of the Laplace deviance of a one-factor GLMM over
// (theta, beta), from the conditional modes PIRLS left in a GlmmState (glmm_derivatives.cpp).
#pragma once

#include <vector>

#include "glmm.hpp"

namespace mcps {

struct LaplaceDerivatives {
    std::vector<double> grad;        // K = free theta then beta
    std::vector<double> hess;        // K x K (filled when asked for)
    std::vector<double> mode_slope;  // n_clusters x q x K: d u_j / d (theta, beta)
    std::vector<double> rows;        // scratch: per-row terms of one cluster
    std::vector<double> work;        // scratch: per-cluster q x K blocks
};

// Derivatives of glmm_objective's Laplace value (nagq = 1) at the (theta, beta) whose
// evaluation left st at its modes.  free_theta: the positions in theta of the free
// variables (all of Lambda's lower triangle, or its diagonal for (Z || g)).  With
// hessian = false only grad and mode_slope are filled.  False if a cluster's
// information matrix is not positive definite.
bool laplace_derivatives(const GlmmProblem& pr, const GlmmState& st, const std::vector<int>& free_theta,
                         bool hessian, LaplaceDerivatives& out);

}  // namespace mcps
