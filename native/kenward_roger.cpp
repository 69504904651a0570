// Kenward-Roger (1997) as pbkrtest defines it (vcovAdj, Lb_ddf; lmerTest's
// ddf = "Kenward-Roger"): the adjusted covariance of beta-hat and the df of each single
// fixed effect, for REML fits.
//
// The covariance parameters are phi = (the lower triangle of G, sigma^2), linear in V:
// V = sum_r phi_r G_r with G_r = Z E_r Z' (E_r the symmetric basis matrix) and I for
// sigma^2, so the second derivatives R_rs vanish.  With Phi = Var(beta-hat) = (X'V^-1 X)^-1,
//   P_r  = -X'V^-1 G_r V^-1 X,      Q_rs = X'V^-1 G_r V^-1 G_s V^-1 X,
//   W    = 2 I_E^-1,  I_E[r][s] = tr(V^-1 G_r V^-1 G_s) - 2 tr(Phi Q_rs) + tr(Phi P_r Phi P_s),
//   Phi_A = Phi + 2 Phi (sum_rs W_rs (Q_rs - P_r Phi P_s)) Phi,
// and for one coefficient c, with g_r = (Phi P_r Phi)_cc, pbkrtest's Lb_ddf (whose Theta
// uses the unadjusted Phi) reduces, as its A1 and A2 coincide for a single contrast, to
//   df = 2 / A,  A = sum_rs W_rs g_r g_s / Phi[c][c]^2.
//
// In the engine's relative units (V = sigma^2 H, Phi = sigma^2 Phi_h) everything is per
// cluster: I_E is pass 2's info_phi, P_r and Q_rr' pieces come from Q_a, X'H^-2 X and
// X'H^-3 X, and the one new sum, Q_ab for two G parameters, is
//   X'H^-1 G_a H^-1 G_b H^-1 X = sum_j F_j' E_a C_j E_b F_j,  F_j = Z_j'H_j^-1 X_j,
//   C_j = Z_j'H_j^-1 Z_j  (both read from the cluster's W'H^-1 W of pass 1).
#include <cmath>
#include <limits>
#include <utility>

#include "inference.hpp"
#include "linalg.hpp"
#include "lmm_detail.hpp"

namespace mcps {

void kenward_roger(const Problem& pr, const Workspace& ws, std::vector<double>& vcov_adj,
                   std::vector<double>& df, KrPieces* pieces) {
    const int q = pr.q, p = pr.p, m = pr.m(), k = n_theta(q), d = k + 1;
    const int* zc = pr.z_columns.data();
    const Tri& tri = ws.tri;
    const double s = ws.s2;
    const std::vector<double>& Phi = ws.phi_inv;  // Phi_h

    // The model's parameters: with ||, only the variances (not the zero covariances).
    std::vector<int> keep;
    for (int a = 0; a < k; ++a)
        if (pr.theta_free(tri.r[a], tri.c[a])) keep.push_back(a);
    keep.push_back(k);
    const int dk = int(keep.size());

    // Qh[r][s] = X'H^-1 G_r H^-1 G_s H^-1 X (p x p), over the kept parameters.
    std::vector<double> Qh(size_t(dk) * dk * p * p, 0.0);
    auto Qrs = [&](int r, int t) { return &Qh[(size_t(r) * dk + t) * p * p]; };
    std::vector<double> C(q * q), F(q * p), F2(q * p), EF(q * p), CEF(q * p);
    int ia[2], ja[2];
    for (int j = 0; j < pr.n_clusters; ++j) {
        const double* P1 = &ws.P1[size_t(j) * m * m];
        const double* G1 = &ws.G1[size_t(j) * q * m];
        for (int a = 0; a < q; ++a) {
            for (int b = 0; b < q; ++b) C[a * q + b] = P1[zc[a] * m + zc[b]];
            for (int x = 0; x < p; ++x) F[a * p + x] = P1[zc[a] * m + x];
        }
        // F2 = Z'H^-2 X = Z'H^-1 X - (K Z'Z)' Z'H^-1 X (as in pass 2)
        for (int a = 0; a < q; ++a)
            for (int x = 0; x < p; ++x) {
                double t = F[a * p + x];
                for (int c = 0; c < q; ++c) t -= G1[c * m + zc[a]] * F[c * p + x];
                F2[a * p + x] = t;
            }
        for (int ib = 0; ib < dk; ++ib) {
            const int b = keep[ib];
            // EF = E_b F (or F2 for sigma^2, whose G is I: X'H^-1 G_a H^-2 X)
            if (b < k) {
                std::fill(EF.begin(), EF.end(), 0.0);
                const int nb = detail::basis(tri, b, ia, ja);
                for (int e = 0; e < nb; ++e)
                    for (int x = 0; x < p; ++x) EF[ia[e] * p + x] += F[ja[e] * p + x];
                for (int a = 0; a < q; ++a)
                    for (int x = 0; x < p; ++x) {
                        double t = 0.0;
                        for (int c = 0; c < q; ++c) t += C[a * q + c] * EF[c * p + x];
                        CEF[a * p + x] = t;
                    }
            } else {
                CEF = F2;
            }
            for (int iaa = 0; iaa < dk - 1; ++iaa) {
                const int a = keep[iaa];
                double* out = Qrs(iaa, ib);
                const int na = detail::basis(tri, a, ia, ja);
                // F' E_a CEF: entry (i, l) of E_a pairs row i of F with row l of CEF
                for (int e = 0; e < na; ++e)
                    for (int x = 0; x < p; ++x)
                        for (int y = 0; y < p; ++y) out[x * p + y] += F[ia[e] * p + x] * CEF[ja[e] * p + y];
            }
        }
    }
    // sigma^2 rows: Q[sigma][b] = Q[b][sigma]', Q[sigma][sigma] = X'H^-3 X
    for (int ib = 0; ib < dk - 1; ++ib)
        for (int x = 0; x < p; ++x)
            for (int y = 0; y < p; ++y) Qrs(dk - 1, ib)[x * p + y] = Qrs(ib, dk - 1)[y * p + x];
    for (int x = 0; x < p * p; ++x) Qrs(dk - 1, dk - 1)[x] = ws.P3xx[x];

    // Qa_h = X'H^-1 G_a H^-1 X (P_a = -Qa_h / s^2 in variance units)
    auto Qa = [&](int r) { return keep[r] < k ? &ws.Q[size_t(keep[r]) * p * p] : ws.P2xx.data(); };

    // W = 2 I_E^-1 (pbkrtest: the generalised inverse when I_E is near singular).
    std::vector<double> IE(dk * dk), w, V;
    for (int r = 0; r < dk; ++r)
        for (int t = 0; t < dk; ++t) IE[r * dk + t] = ws.info_phi[keep[r] * d + keep[t]];
    la::sym_eigen(IE, dk, w, V);
    double condi = std::numeric_limits<double>::infinity(), wmax = 0.0;
    for (double x : w) {
        condi = std::min(condi, std::fabs(x));
        wmax = std::max(wmax, std::fabs(x));
    }
    const double cut = condi > 1e-10 ? 0.0 : 1.4901161193847656e-08 * wmax;  // MASS::ginv's
    std::vector<double> W(dk * dk, 0.0);
    for (int e = 0; e < dk; ++e) {
        if (std::fabs(w[e]) <= cut) continue;
        for (int r = 0; r < dk; ++r)
            for (int t = 0; t < dk; ++t) W[r * dk + t] += 2.0 * V[r * dk + e] * V[t * dk + e] / w[e];
    }

    // U_h = sum_rs W_rs (Qh_rs - Qa_r Phi_h Qa_s); in variance units Phi U Phi = Phi_h U_h Phi_h / s.
    std::vector<double> U(p * p, 0.0), PQ(size_t(dk) * p * p), T(p * p);
    for (int r = 0; r < dk; ++r) {  // PQ_r = Phi_h Qa_r
        const double* A = Qa(r);
        for (int x = 0; x < p; ++x)
            for (int y = 0; y < p; ++y) {
                double t = 0.0;
                for (int z = 0; z < p; ++z) t += Phi[x * p + z] * A[z * p + y];
                PQ[size_t(r) * p * p + x * p + y] = t;
            }
    }
    for (int r = 0; r < dk; ++r)
        for (int t = 0; t < dk; ++t) {
            const double wrt = W[r * dk + t];
            const double* A = Qa(r);
            const double* B = &PQ[size_t(t) * p * p];
            const double* Q = Qrs(r, t);
            for (int x = 0; x < p; ++x)
                for (int y = 0; y < p; ++y) {
                    double apb = 0.0;
                    for (int z = 0; z < p; ++z) apb += A[x * p + z] * B[z * p + y];
                    U[x * p + y] += wrt * (Q[x * p + y] - apb);
                }
        }
    for (int x = 0; x < p; ++x)
        for (int y = 0; y < p; ++y) {
            double t = 0.0;
            for (int z = 0; z < p; ++z) t += U[x * p + z] * Phi[z * p + y];
            T[x * p + y] = t;
        }
    vcov_adj.assign(p * p, 0.0);
    for (int x = 0; x < p; ++x)
        for (int y = 0; y < p; ++y) {
            double t = 0.0;
            for (int z = 0; z < p; ++z) t += Phi[x * p + z] * T[z * p + y];
            vcov_adj[x * p + y] = s * Phi[x * p + y] + 2.0 * t / s;
        }

    // df per coefficient: g_r = (Phi P_r Phi)_cc = -(Phi_h Qa_r Phi_h)_cc (the sign cancels).
    df.assign(p, std::numeric_limits<double>::quiet_NaN());
    std::vector<double> g(dk);
    for (int c = 0; c < p; ++c) {
        for (int r = 0; r < dk; ++r) {
            double t = 0.0;
            for (int z = 0; z < p; ++z) t += PQ[size_t(r) * p * p + c * p + z] * Phi[z * p + c];
            g[r] = t;
        }
        double gwg = 0.0;
        for (int r = 0; r < dk; ++r)
            for (int t = 0; t < dk; ++t) gwg += g[r] * W[r * dk + t] * g[t];
        const double var = s * Phi[c * p + c];
        if (gwg > 0.0) df[c] = 2.0 * var * var / gwg;
    }
    if (pieces) *pieces = KrPieces{dk, s, std::move(W), std::move(PQ)};
}

}  // namespace mcps
