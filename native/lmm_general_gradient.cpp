// Several random-effect terms: the gradient of the profiled deviance in theta, from the
// factors that evaluate (lmm_general.cpp) kept (notation: lmm_general.hpp).
#include <algorithm>
#include <cmath>
#include <vector>

#include "dense_kernels.hpp"
#include "lmm_general.hpp"
#include "linalg.hpp"

namespace mcps::general {

namespace {

// (L L')^-1 within the envelope of L (the leading n x n block of S, row stride ld), into
// sig (n x n, both triangles; entries outside the envelope are not set): Takahashi's
// recurrence from the last column, Sigma_ij = (delta_ij / L_jj - sum_k>j L_kj Sigma_ik) / L_jj
// over the rows k of column j, which keeps to the envelope.
void selected_inverse(const Model& md, const double* L, int ld, int n, std::vector<double>& lcol,
                      std::vector<double>& sig) {
    sig.resize(size_t(n) * n);  // each entry within the envelope is written before it is read
    for (int j = n - 1; j >= 0; --j) {
        const int* rows = md.env_idx.data() + md.env_ptr[j];
        int m = 0;
        while (m < md.env_ptr[j + 1] - md.env_ptr[j] && rows[m] < n) ++m;
        lcol.resize(m);
        for (int e = 0; e < m; ++e) lcol[e] = L[size_t(rows[e]) * ld + j];
        const double ljj = L[size_t(j) * ld + j];
        double diag = 1.0 / ljj;
        const bool dense = m > 0 && rows[m - 1] - rows[0] == m - 1;  // (a fully crossed design)
        for (int e = 0; e < m; ++e) {
            const double* si = &sig[size_t(rows[e]) * n];
            double s = 0.0;
            if (dense) {
                s = kernels::dot(lcol.data(), si + rows[0], m);
            } else {
                for (int f = 0; f < m; ++f) s += lcol[f] * si[rows[f]];
            }
            const double v = -s / ljj;
            sig[size_t(rows[e]) * n + j] = sig[size_t(j) * n + rows[e]] = v;
            diag -= lcol[e] * v;
        }
        sig[size_t(j) * n + j] = diag / ljj;
    }
}

// Notation of lmm_general.hpp; Sigma = Omega^-1 for Omega = [Lambda'Z'Z Lambda + I, Lambda'Z'X;
// X'Z Lambda, X'X] (ML: its u block only), factored as [L11 0; L21 L22] with L11 = blockdiag
// L_j (first term), L21's block j = X1_j' and L22 the dense factor.  Then (Bates et al.
// 2015, eq. 51 and Takahashi's selected inversion)
//   P = I - [Z Lambda, X] Sigma [Z Lambda, X]'   so   Z'P Z Lambda = Z'[Z Lambda, X] Sigma_{., u},
//   Sigma22 = (L22 L22')^-1 (only its entries within L22's envelope: selected_inverse),
//   Sigma21_j = -Sigma22 X1_j' L_j^-1,
//   Sigma11_jj = L_j^-T (I + X1_j Sigma22 X1_j') L_j^-1,
// and only the diagonal blocks (one per level of each term) of Z'P Z Lambda enter tr(P dV_i).
// r^2 = |y - Z Lambda u - X beta|^2 + |u|^2 with w = Z'(y - Z Lambda u - X beta), u = Lambda'w:
// d r^2 / d theta_i = -2 sum over levels of w[row_i] u[col_i].
template <int P0>
bool gradient_p0(const Model& md, bool reml, const Eval& ev, Scratch& sc, std::vector<double>& g,
                 std::vector<double>* dr2) {
    const int r = md.r, rp = r - 1, qr = md.q_rest, p0 = P0 > 0 ? P0 : md.pk[0], L0 = md.nl[0], q1 = md.q1,
              K = int(md.pk.size());
    const int nc = reml ? rp : qr;  // the columns of Omega in the dense part
    const double* S = sc.S.data();
    const double* T0 = sc.T.data();
    const double* A = sc.A.data();
    // z = [u_rest; beta]: L22' z = the y row of the factor; then L_j' u_j = c_j - X1_j z.
    std::vector<double>& z = sc.work;
    z.assign(rp, 0.0);
    for (int a = rp - 1; a >= 0; --a) {
        double s = S[size_t(r - 1) * r + a];
        for (int e = md.env_ptr[a]; e < md.env_ptr[a + 1] && md.env_idx[e] < rp; ++e)
            s -= S[size_t(md.env_idx[e]) * r + a] * z[md.env_idx[e]];
        z[a] = s / S[size_t(a) * r + a];
    }
    std::vector<double>& u = sc.u;
    std::vector<double>& w = sc.w;
    u.assign(q1, 0.0);
    w.assign(size_t(q1) + qr, 0.0);
    double tu[8];
    for (int j = 0; j < L0; ++j) {
        const std::vector<int>& tj = md.touch[j];
        const int nt = int(tj.size());
        const double* X1 = &sc.X1s[sc.at[j]];
        const double* BL = &sc.BL[sc.at[j]];
        const double* Lj = &sc.L1[size_t(j) * p0 * p0];
        const double* Bj = &md.B[size_t(j) * p0 * r];
        const double* D = &md.D1[size_t(j) * p0 * p0];
        double* uj = &u[size_t(j) * p0];
        // The rows' sums side by side (independent chains, each in its own order), then the solve.
        double su[8], sw[8];
        for (int a = 0; a < p0; ++a) su[a] = X1[size_t(a) * nt + nt - 1];
        for (int e = 0; e < nt - 1; ++e) {
            const double ze = z[tj[e]];
            for (int a = 0; a < p0; ++a) su[a] -= X1[size_t(a) * nt + e] * ze;
        }
        for (int a = p0 - 1; a >= 0; --a) {
            double s = su[a];
            for (int c = a + 1; c < p0; ++c) s -= Lj[c * p0 + a] * uj[c];
            uj[a] = s / Lj[a * p0 + a];
        }
        for (int c = 0; c < p0; ++c) {
            tu[c] = 0.0;
            for (int d = 0; d <= c; ++d) tu[c] += T0[c * p0 + d] * uj[d];
        }
        for (int a = 0; a < p0; ++a) {
            sw[a] = Bj[size_t(a) * r + r - 1];
            for (int c = 0; c < p0; ++c) sw[a] -= D[a * p0 + c] * tu[c];
        }
        for (int e = 0; e < nt - 1; ++e) {
            const double ze = z[tj[e]];
            for (int a = 0; a < p0; ++a) sw[a] -= BL[size_t(a) * nt + e] * ze;
        }
        for (int a = 0; a < p0; ++a) w[size_t(j) * p0 + a] = sw[a];
        for (int e = 0; e < nt && tj[e] < qr; ++e)
            for (int c = 0; c < p0; ++c) w[q1 + tj[e]] -= Bj[size_t(c) * r + tj[e]] * tu[c];
    }
    for (int a = 0; a < qr; ++a) {
        double s = md.C[size_t(a) * r + r - 1];
        for (int b = md.lo[a]; b < md.hi[a]; ++b) s -= A[size_t(a) * r + b] * z[b];
        for (int b = qr; b < rp; ++b) s -= A[size_t(a) * r + b] * z[b];
        w[q1 + a] += s;
    }
    // Sigma22, then the diagonal blocks of Z'P Z Lambda: G0 summed over the first term's
    // levels, rb[a * 8 + c] = row a (a dense column) and column c of its level's block.
    std::vector<double>& sig = sc.sig;
    std::vector<double>& rb = sc.rb;
    selected_inverse(md, S, r, nc, sc.lcol, sig);
    rb.assign(size_t(qr) * 8, 0.0);
    double G0[64] = {0}, Y[8], KL[64], S11[64], DT[64];
    std::vector<double>& s21 = sc.s21;
    int ne_all = 0;  // with md.uniform, the touched columns below nc (every level alike)
    if (md.uniform) {
        while (ne_all < int(md.touch[0].size()) && md.touch[0][ne_all] < nc) ++ne_all;
        kernels::symm_block(sig.data(), nc, md.touch[0].front(), sc.xt.data(), ne_all, q1, sc.ya);
    }
    for (int j = 0; j < L0; ++j) {
        const std::vector<int>& tj = md.touch[j];
        const int nt = int(tj.size());
        int ne = 0;
        while (ne < nt && tj[ne] < nc) ++ne;
        const double* X1 = &sc.X1s[sc.at[j]];
        const double* BL = &sc.BL[sc.at[j]];
        const double* Lj = &sc.L1[size_t(j) * p0 * p0];
        const double* Bj = &md.B[size_t(j) * p0 * r];
        const double* D = &md.D1[size_t(j) * p0 * p0];
        // s21 = Sigma21's rows tj[e] = -(Sigma22 X1_j') L_j^-1; K = I + X1_j Sigma22 X1_j'.
        s21.assign(size_t(ne) * p0, 0.0);
        double Kj[64];
        for (int a = 0; a < p0 * p0; ++a) Kj[a] = a % (p0 + 1) == 0 ? 1.0 : 0.0;
        double inv_l[8];  // L_j's pivots inverted once for the rows below
        for (int a = 0; a < p0; ++a) inv_l[a] = 1.0 / Lj[a * p0 + a];
        // Y = row e of Sigma22 X1_j' over the touched rows.  Where they are contiguous (a
        // subject meets every item) all rows at once, as sums of Sigma22's rows (symmetric,
        // both triangles kept) so that the inner loop runs along a row; else one by one.
        const bool contiguous = !md.uniform && ne > 0 && tj[ne - 1] - tj[0] == ne - 1;
        std::vector<double>& SX = sc.sx;
        if (contiguous) {
            SX.assign(size_t(ne) * p0, 0.0);
            for (int f = 0; f < ne; ++f) {
                const double* row = &sig[size_t(tj[f]) * nc + tj[0]];
                for (int c = 0; c < p0; ++c) {
                    const double xf = X1[size_t(c) * nt + f];
                    double* yc = &SX[size_t(c) * ne];
                    for (int e = 0; e < ne; ++e) yc[e] += row[e] * xf;
                }
            }
        }
        for (int e = 0; e < ne; ++e) {
            const double* se = &sig[size_t(tj[e]) * nc];
            for (int c = 0; c < p0; ++c) {
                if (md.uniform) {
                    Y[c] = sc.ya[size_t(e) * q1 + size_t(j) * p0 + c];
                    continue;
                }
                if (contiguous) {
                    Y[c] = SX[size_t(c) * ne + e];
                    continue;
                }
                double s = 0.0;
                for (int f = 0; f < ne; ++f) s += se[tj[f]] * X1[size_t(c) * nt + f];
                Y[c] = s;
            }
            for (int a = 0; a < p0; ++a)
                for (int b = 0; b < p0; ++b) Kj[a * p0 + b] += X1[size_t(a) * nt + e] * Y[b];
            for (int a = p0 - 1; a >= 0; --a) {  // x L_j = Y
                double s = Y[a];
                for (int c = a + 1; c < p0; ++c) s -= Lj[c * p0 + a] * Y[c];
                Y[a] = s * inv_l[a];
                s21[size_t(e) * p0 + a] = -Y[a];
            }
        }
        for (int a = 0; a < p0; ++a)  // KL = K L_j^-1, row by row
            for (int b = p0 - 1; b >= 0; --b) {
                double s = Kj[a * p0 + b];
                for (int c = b + 1; c < p0; ++c) s -= Lj[c * p0 + b] * KL[a * p0 + c];
                KL[a * p0 + b] = s / Lj[b * p0 + b];
            }
        for (int b = 0; b < p0; ++b)  // S11 = L_j^-T KL, column by column
            for (int a = p0 - 1; a >= 0; --a) {
                double s = KL[a * p0 + b];
                for (int c = a + 1; c < p0; ++c) s -= Lj[c * p0 + a] * S11[c * p0 + b];
                S11[a * p0 + b] = s / Lj[a * p0 + a];
            }
        for (int a = 0; a < p0; ++a)
            for (int d = 0; d < p0; ++d) {
                DT[a * p0 + d] = 0.0;
                for (int c = d; c < p0; ++c) DT[a * p0 + d] += D[a * p0 + c] * T0[c * p0 + d];
            }
        double sg[64];  // the p0 x p0 sums side by side, each in its own order
        for (int a = 0; a < p0; ++a)
            for (int c = 0; c < p0; ++c) {
                double s = 0.0;
                for (int d = 0; d < p0; ++d) s += DT[a * p0 + d] * S11[d * p0 + c];
                sg[a * p0 + c] = s;
            }
        for (int e = 0; e < ne; ++e)
            for (int a = 0; a < p0; ++a)
                for (int c = 0; c < p0; ++c) sg[a * p0 + c] += BL[size_t(a) * nt + e] * s21[size_t(e) * p0 + c];
        for (int a = 0; a < p0 * p0; ++a) G0[a] += sg[a];
        for (int e = 0; e < ne && tj[e] < qr; ++e) {  // Z_m'Z_j T0 Sigma_jm of the other terms
            const int a = tj[e], ra = md.rest_col[a], pt = md.pk[md.rest_term[a]];
            double tb[8];
            for (int d = 0; d < p0; ++d) {
                tb[d] = 0.0;
                for (int c = d; c < p0; ++c) tb[d] += T0[c * p0 + d] * Bj[size_t(c) * r + a];
            }
            for (int cc = 0; cc < pt; ++cc) {
                const double* sr = &s21[size_t(e - ra + cc) * p0];
                double t = 0.0;
                for (int d = 0; d < p0; ++d) t += tb[d] * sr[d];
                rb[size_t(a) * 8 + cc] += t;
            }
        }
    }
    for (int a = 0; a < qr; ++a) {
        const int a0 = a - md.rest_col[a], pt = md.pk[md.rest_term[a]];
        for (int cc = 0; cc < pt; ++cc) {
            double s = 0.0;  // A's row a within the envelope, where sig is kept
            for (int b = md.lo[a]; b < md.hi[a]; ++b) s += A[size_t(a) * r + b] * sig[size_t(b) * nc + a0 + cc];
            for (int b = qr; b < nc; ++b) s += A[size_t(a) * r + b] * sig[size_t(b) * nc + a0 + cc];
            rb[size_t(a) * 8 + cc] += s;
        }
    }
    const double nu = reml ? double(md.n - md.p) : double(md.n);
    g.assign(md.n_theta, 0.0);
    if (dr2) dr2->assign(md.n_theta, 0.0);
    for (int t = 0; t < K; ++t) {
        const int q = md.pk[t];
        for (int c = 0, i = md.theta_at[t]; c < q; ++c)
            for (int row = c; row < q; ++row, ++i) {
                double tr = 0.0, dr = 0.0;
                if (t == 0) {
                    tr = G0[row * p0 + c];
                    for (int j = 0; j < L0; ++j) dr += w[size_t(j) * p0 + row] * u[size_t(j) * p0 + c];
                } else {
                    for (int l = 0; l < md.nl[t]; ++l) {
                        const int a0 = md.level_at[t][l];
                        tr += rb[size_t(a0 + row) * 8 + c];
                        dr += w[q1 + a0 + row] * z[a0 + c];
                    }
                }
                g[i] = 2.0 * tr - 2.0 * nu * dr / ev.r2;
                if (dr2) (*dr2)[i] = -2.0 * dr;
            }
    }
    return true;
}

}  // namespace

bool gradient_at(const Model& md, bool reml, const Eval& ev, Scratch& sc, std::vector<double>& g,
                 std::vector<double>* dr2) {
    if (md.nested) {  // evaluate_nested kept them
        g = sc.ng;
        if (dr2) *dr2 = sc.ndr2;
        return true;
    }
    switch (md.pk[0]) {
        case 1: return gradient_p0<1>(md, reml, ev, sc, g, dr2);
        case 2: return gradient_p0<2>(md, reml, ev, sc, g, dr2);
        default: return gradient_p0<0>(md, reml, ev, sc, g, dr2);
    }
}

}  // namespace mcps::general
