// Exact first and second derivatives of the Laplace deviance of a one-factor GLMM over
// psi = (free theta, beta).
//
// Cluster j contributes D_j = phi(u^) + log det H, with phi(u) = -2 sum_i l(eta_i) + u'u,
// eta_i = x_i'beta + a_i'u, a_i = Lambda'z_i, u^ the mode of phi and
// H = I + sum_i w(eta_i) a_i a_i' (Fisher weights w, as lme4's L).  phi(u^) is
// differentiated by the envelope theorem, log det H through u^(psi), whose first and second
// derivatives follow from differentiating the mode equation u = sum_i l'(eta_i) a_i
// implicitly (with H_o = I + sum_i o_i a_i a_i', o = -l'', the Hessian of phi / 2):
//
//   H_o u_k = sum_i [l'_i a_ik - o_i e_ik a_i]
//   H_o u_kl = -sum_i [o'_i n_ik n_il a_i + o_i c_ikl a_i + o_i (n_ik a_il + n_il a_ik)]
//
// where e_ik = d eta_i / d psi_k at fixed u (x_i for beta; z_ir u_c for theta_k at
// Lambda's (r, c)), a_ik = d a_i / d psi_k (z_ir in component c for theta_k, 0 for beta),
// n_ik = e_ik + a_i'u_k the total derivative of eta_i and c_ikl = a_ik'u_l + a_il'u_k, so
// that d2 eta_i / d psi_k d psi_l = a_i'u_kl + c_ikl.  Then, with v_i = H^-1 a_i and
// h_i = a_i'v_i,
//
//   dD/dpsi_k = -2 sum_i l'_i e_ik + tr(H^-1 H_k),   H_k = sum_i [w'_i n_ik a_i a_i' + w_i (a_ik a_i' + a_i a_ik')]
//   d2D/dpsi_k dpsi_l = 2 [sum_i o_i e_ik e_il - b_k'u_l]          (b_k: the u_k right-hand side)
//                     + tr(H^-1 H_kl) - tr(H^-1 H_k H^-1 H_l),
//
// tr(H^-1 H_kl) = sum_i [w''_i n_ik n_il h_i + w'_i (a_i'u_kl + c_ikl) h_i
//                 + 2 w'_i (n_ik a_il'v_i + n_il a_ik'v_i) + 2 w_i a_ik'H^-1 a_il];
// the term in u_kl is rho'(H_o u_kl) with rho = H_o^-1 sum_i w'_i h_i a_i, so no u_kl is
// ever formed.  Every row needs l', o, o', w, w', w'' at the mode (glmm_family.hpp).
#include "glmm_derivatives.hpp"

#include <algorithm>

#include "glmm_family.hpp"
#include "linalg.hpp"

namespace mcps {

namespace {

// Per-row slots in LaplaceDerivatives::rows: the RowDerivs, h = a'H^-1 a, then v = H^-1 a.
enum Slot { kScore, kObs, kObs1, kW, kW1, kW2, kH, kV };

// Q: the number of random effects when known at compile time (1 or 2, so that the
// loops over them unroll), 0 for any pr.q.
template <int Q>
bool derivatives_q(const GlmmProblem& pr, const GlmmState& st, const std::vector<int>& free_theta, bool hessian,
                   LaplaceDerivatives& out) {
    const int q = Q > 0 ? Q : pr.q, p = pr.p, kt = int(free_theta.size()), K = kt + p;
    // Lambda's (row, column) of each free theta (theta is its lower triangle by columns).
    std::vector<int> trow(kt), tcol(kt), all_rows, all_cols;
    for (int col = 0; col < q; ++col)
        for (int row = col; row < q; ++row) {
            all_rows.push_back(row);
            all_cols.push_back(col);
        }
    for (int k = 0; k < kt; ++k) {
        trow[k] = all_rows[free_theta[k]];
        tcol[k] = all_cols[free_theta[k]];
    }
    out.grad.assign(K, 0.0);
    if (hessian) out.hess.assign(size_t(K) * K, 0.0);
    out.mode_slope.resize(size_t(pr.n_clusters) * q * K);
    double* grad = out.grad.data();
    double* hess = out.hess.data();
    const int R = kV + q;
    // Per cluster: U (q x K, the mode's slopes), B (their right-hand sides), H_o, H^-1,
    // rho, a column, H_k and M_k = H^-1 H_k, the sums G_k = sum_i gamma_i z_ik and
    // W_kl = sum_i w_i z_ik z_il of the theta variables; over all clusters: the sums
    // n_k beta_l (cross); per row: e, n, a_k'v, beta_k, alpha n_k, 2 o e_k, z.
    out.work.assign(size_t(2 * q * K + 2 * q * q + 2 * q + 2 * K * q * q + kt + kt * kt + K * kt + 6 * K + q),
                    0.0);
    double* U = out.work.data();
    double* B = U + q * K;
    double* Ho = B + q * K;
    double* Hinv = Ho + q * q;
    double* rho = Hinv + q * q;
    double* col = rho + q;
    double* Hk = col + q;
    double* Mk = Hk + K * q * q;
    double* G = Mk + K * q * q;
    double* Wz = G + kt;
    double* cross = Wz + kt * kt;
    double* e = cross + K * kt;
    double* nk = e + K;
    double* akv = nk + K;
    double* bk = akv + K;
    double* an = bk + K;
    double* oe = an + K;
    double* zrow = oe + K;
    const bool canonical = pr.link != GlmLink::probit;  // observed information = Fisher
    for (int j = 0; j < pr.n_clusters; ++j) {
        const int64_t i0 = pr.start[j], nj = pr.start[j + 1] - i0;
        if (out.rows.size() < size_t(nj * R)) out.rows.resize(size_t(nj * R));
        const double* u = &st.u[size_t(j) * q];
        const double* LF = &st.L[size_t(j) * q * q];
        for (int c = 0; c < q; ++c) {  // H^-1 from L
            std::fill(col, col + q, 0.0);
            col[c] = 1.0;
            la::chol_solve(LF, q, col);
            for (int m = 0; m < q; ++m) Hinv[m * q + c] = col[m];
        }
        std::fill(B, B + q * K, 0.0);
        std::fill(rho, rho + q, 0.0);
        std::fill(Ho, Ho + q * q, 0.0);
        for (int c = 0; c < q; ++c) Ho[c * q + c] = 1.0;
        // Pass 1: the row terms, v, h; the right-hand sides of u_k; r; H_o (probit).
        for (int64_t t = 0; t < nj; ++t) {
            const int64_t i = i0 + t;
            const double* x = &pr.X[size_t(i) * p];
            const double* a = &st.a[size_t(i) * q];
            double eta = st.offset[i];
            for (int c = 0; c < q; ++c) eta += a[c] * u[c];
            const RowDerivs d = row_derivs(pr.link, pr.y[i], eta);
            double* row = &out.rows[size_t(t) * R];
            row[kScore] = d.score;
            row[kObs] = d.observed;
            row[kObs1] = d.observed1;
            row[kW] = d.fisher;
            row[kW1] = d.fisher1;
            row[kW2] = d.fisher2;
            double h = 0.0;
            for (int c = 0; c < q; ++c) {
                double s = 0.0;
                for (int m = 0; m < q; ++m) s += Hinv[c * q + m] * a[m];
                row[kV + c] = s;
                h += a[c] * s;
            }
            row[kH] = h;
            if (!canonical)
                for (int c = 0; c < q; ++c)
                    for (int m = 0; m <= c; ++m) Ho[c * q + m] += d.observed * a[c] * a[m];
            for (int k = 0; k < kt; ++k) {
                const double zr = x[pr.z_columns[trow[k]]];
                const double ek = zr * u[tcol[k]];
                for (int c = 0; c < q; ++c) B[c * K + k] -= d.observed * ek * a[c];
                B[tcol[k] * K + k] += d.score * zr;
            }
            for (int b = 0; b < p; ++b)
                for (int c = 0; c < q; ++c) B[c * K + kt + b] -= d.observed * x[b] * a[c];
            for (int c = 0; c < q; ++c) rho[c] += d.fisher1 * h * a[c];
        }
        const double* Lo = LF;
        if (!canonical) {
            for (int c = 0; c < q; ++c)
                for (int m = c + 1; m < q; ++m) Ho[c * q + m] = Ho[m * q + c];
            if (!la::cholesky(Ho, q)) return false;
            Lo = Ho;
        }
        for (int k = 0; k < K; ++k) {  // u_k = H_o^-1 b_k
            for (int c = 0; c < q; ++c) col[c] = B[c * K + k];
            la::chol_solve(Lo, q, col);
            for (int c = 0; c < q; ++c) U[c * K + k] = col[c];
        }
        la::chol_solve(Lo, q, rho);
        std::copy(U, U + q * K, &out.mode_slope[size_t(j) * q * K]);
        if (hessian) {
            std::fill(Hk, Hk + K * q * q, 0.0);
            std::fill(G, G + kt, 0.0);
            std::fill(Wz, Wz + kt * kt, 0.0);
        }
        // Pass 2: the total derivatives n_ik of eta_i, then the gradient and Hessian sums.
        // Per pair (k, l) a row adds alpha n_k n_l + 2 o e_k e_l + gamma c_kl
        // + n_k beta_l + n_l beta_k + 2 w a_k'H^-1 a_l (alpha, gamma, beta below).
        for (int64_t t = 0; t < nj; ++t) {
            const int64_t i = i0 + t;
            const double* x = &pr.X[size_t(i) * p];
            const double* a = &st.a[size_t(i) * q];
            const double* row = &out.rows[size_t(t) * R];
            const double* v = row + kV;
            const double s = row[kScore], o = row[kObs], o1 = row[kObs1];
            const double w = row[kW], w1 = row[kW1], w2 = row[kW2], h = row[kH];
            double rho_a = 0.0;
            for (int c = 0; c < q; ++c) {
                zrow[c] = x[pr.z_columns[c]];
                rho_a += rho[c] * a[c];
            }
            for (int k = 0; k < kt; ++k) {
                const double z = zrow[trow[k]];
                e[k] = z * u[tcol[k]];
                akv[k] = z * v[tcol[k]];
                bk[k] = 2.0 * w1 * akv[k] - o * z * rho[tcol[k]];
            }
            for (int b = 0; b < p; ++b) e[kt + b] = x[b];
            for (int k = 0; k < K; ++k) {
                double n = e[k];
                for (int c = 0; c < q; ++c) n += a[c] * U[c * K + k];
                nk[k] = n;
                grad[k] += -2.0 * s * e[k] + w1 * n * h;
            }
            for (int k = 0; k < kt; ++k) grad[k] += 2.0 * w * akv[k];
            if (!hessian) continue;
            const double alpha = w2 * h - o1 * rho_a, gamma = w1 * h - o * rho_a;
            for (int k = 0; k < K; ++k) {
                an[k] = alpha * nk[k];
                oe[k] = 2.0 * o * e[k];
            }
            for (int k = 0; k < K; ++k) {
                double* hrow = &hess[size_t(k) * K];
                for (int l = k; l < K; ++l) hrow[l] += an[k] * nk[l] + oe[k] * e[l];
                for (int l = 0; l < kt; ++l) cross[k * kt + l] += nk[k] * bk[l];
            }
            for (int k = 0; k < kt; ++k) {
                const double z = zrow[trow[k]];
                G[k] += gamma * z;
                for (int l = k; l < kt; ++l) Wz[k * kt + l] += w * z * zrow[trow[l]];
            }
            for (int k = 0; k < K; ++k) {  // H_k = sum w' n_k a a' + w (a_k a' + a a_k')
                double* M = Hk + k * q * q;
                const double f = w1 * nk[k];
                for (int c = 0; c < q; ++c)
                    for (int m = 0; m < q; ++m) M[c * q + m] += f * a[c] * a[m];
            }
            for (int k = 0; k < kt; ++k) {
                double* M = Hk + k * q * q;
                const double f = w * zrow[trow[k]];
                for (int m = 0; m < q; ++m) {
                    M[tcol[k] * q + m] += f * a[m];
                    M[m * q + tcol[k]] += f * a[m];
                }
            }
        }
        if (!hessian) continue;
        for (int k = 0; k < K; ++k)  // the cluster's gamma c_kl, 2 w a_k'H^-1 a_l and -2 b_k'u_l
            for (int l = k; l < K; ++l) {
                double val = 0.0;
                if (k < kt) val += G[k] * U[tcol[k] * K + l];
                if (l < kt) val += G[l] * U[tcol[l] * K + k] + 2.0 * Wz[k * kt + l] * Hinv[tcol[k] * q + tcol[l]];
                for (int c = 0; c < q; ++c) val -= 2.0 * B[c * K + k] * U[c * K + l];
                hess[k * K + l] += val;
            }
        for (int k = 0; k < K; ++k) {  // M_k = H^-1 H_k; subtract tr(M_k M_l)
            const double* Hm = Hk + k * q * q;
            double* M = Mk + k * q * q;
            for (int c = 0; c < q; ++c)
                for (int m = 0; m < q; ++m) {
                    double s = 0.0;
                    for (int r = 0; r < q; ++r) s += Hinv[c * q + r] * Hm[r * q + m];
                    M[c * q + m] = s;
                }
        }
        for (int k = 0; k < K; ++k)
            for (int l = k; l < K; ++l) {
                double s = 0.0;
                for (int c = 0; c < q; ++c)
                    for (int m = 0; m < q; ++m) s += Mk[k * q * q + c * q + m] * Mk[l * q * q + m * q + c];
                hess[k * K + l] -= s;
            }
    }
    if (hessian)  // n_k beta_l + n_l beta_k
        for (int k = 0; k < K; ++k)
            for (int l = k; l < K; ++l) {
                if (l < kt) hess[k * K + l] += cross[k * kt + l];
                if (k < kt) hess[k * K + l] += cross[l * kt + k];
            }
    if (hessian)
        for (int k = 0; k < K; ++k)
            for (int l = 0; l < k; ++l) hess[k * K + l] = hess[l * K + k];
    return true;
}

}  // namespace

bool laplace_derivatives(const GlmmProblem& pr, const GlmmState& st, const std::vector<int>& free_theta,
                         bool hessian, LaplaceDerivatives& out) {
    if (pr.q == 1) return derivatives_q<1>(pr, st, free_theta, hessian, out);
    if (pr.q == 2) return derivatives_q<2>(pr, st, free_theta, hessian, out);
    return derivatives_q<0>(pr, st, free_theta, hessian, out);
}

}  // namespace mcps
