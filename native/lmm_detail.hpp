// Internals shared by the lmm_*.cpp sources (not part of the engine's interface):
// the theta parameterisation's small helpers and the size dispatch of the two passes.
#pragma once

#include <vector>

#include "lmm.hpp"

namespace mcps::detail {

// The (one or two) unit entries (i, j) of the symmetric basis matrix E_a.
inline int basis(const Tri& t, int a, int* ii, int* jj) {
    ii[0] = t.r[a];
    jj[0] = t.c[a];
    if (t.r[a] == t.c[a]) return 1;
    ii[1] = t.c[a];
    jj[1] = t.r[a];
    return 2;
}

// Lambda (q x q, lower triangular) from theta.
inline void build_lambda(const double* theta, int q, const Tri& t, std::vector<double>& lam) {
    lam.assign(q * q, 0.0);
    for (size_t k = 0; k < t.r.size(); ++k) lam[t.r[k] * q + t.c[k]] = theta[k];
}

inline const Tri& tri_of(Workspace& ws, int q) {
    if (ws.tri.q != q) ws.tri.build(q);
    return ws.tri;
}

}  // namespace mcps::detail

// Dispatch to a size-specialised instance FN<Q, M> (Q random effects, M = p + 1 columns
// of [X y]): models with one or two random effects and up to four fixed effects cover
// most designs and get fully unrolled inner loops; anything else runs FN<0, 0>, the
// general code that reads the sizes at run time.
#define MCPS_DISPATCH(FN, ...)                                  \
    switch (pr.q * 100 + pr.m()) {                              \
        case 102: return FN<1, 2>(__VA_ARGS__);                 \
        case 103: return FN<1, 3>(__VA_ARGS__);                 \
        case 104: return FN<1, 4>(__VA_ARGS__);                 \
        case 105: return FN<1, 5>(__VA_ARGS__);                 \
        case 203: return FN<2, 3>(__VA_ARGS__);                 \
        case 204: return FN<2, 4>(__VA_ARGS__);                 \
        case 205: return FN<2, 5>(__VA_ARGS__);                 \
        default: return FN<0, 0>(__VA_ARGS__);                  \
    }
