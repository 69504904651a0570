// F tests that several fixed effects are all zero (a factor's dummies), L = the rows of
// the identity for those columns, with the reference distribution of each df method:
//
// - Satterthwaite, as lmerTest's contestMD: Var(L b) = P D P' (eigen), the q contrasts
//   P'L b are independent with variances D; F = sum_m (P'L b)_m^2 / D_m / q, each contrast
//   gets its Satterthwaite nu_m, and the denominator df is lmerTest's get_Fstat_ddf:
//   nu_1 when q = 1, their mean when all are equal (1e-8), 2 when any nu_m <= 2, else
//   2E / (E - q) with E = sum_m nu_m / (nu_m - 2).
// - Kenward-Roger, as pbkrtest's KRmodcomp (.KR_adjust): with Theta = L'(L Phi L')^-1 L
//   and the unadjusted Phi, u_r = Theta Phi P_r Phi, A1 = sum_rs W_rs tr(u_r) tr(u_s),
//   A2 = sum_rs W_rs tr(u_r u_s); the Wald statistic uses the adjusted Phi_A, and
//   F = F.scaling * Wald / q on (q, df2) (pbkrtest's B, g, c1..c3, rho, df2, F.scaling).
// - between-within and residual: F = Wald / q on (q, the coefficients' smallest df).
// - z: Wald ~ chi-square(q).
#include <algorithm>
#include <cmath>
#include <limits>

#include "inference.hpp"
#include "linalg.hpp"

namespace mcps {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Regularised upper incomplete gamma Q(a, x): the series of P for x < a + 1, else the
// continued fraction of Q (modified Lentz).
double upper_gamma(double a, double x) {
    if (!(x > 0.0)) return 1.0;
    const double front = std::exp(a * std::log(x) - x - std::lgamma(a));
    if (x < a + 1.0) {
        double term = 1.0 / a, sum = term;
        for (int n = 1; n < 100000 && std::fabs(term) > 1e-17 * std::fabs(sum); ++n) {
            term *= x / (a + n);
            sum += term;
        }
        return std::max(0.0, 1.0 - front * sum);
    }
    constexpr double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int n = 1; n < 100000; ++n) {
        const double an = -n * (n - a);
        b += 2.0;
        d = an * d + b;
        if (std::fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        const double delta = d * c;
        h *= delta;
        if (std::fabs(delta - 1.0) < 1e-16) break;
    }
    return front * h;
}

// (L M L')^-1 over the columns `cols` of a p x p matrix M (q x q); false if that block
// is not positive definite.
bool inverse_block(const std::vector<double>& M, int p, const std::vector<int>& cols, std::vector<double>& out) {
    const int q = int(cols.size());
    std::vector<double> B(q * q);
    for (int i = 0; i < q; ++i)
        for (int l = 0; l < q; ++l) B[i * q + l] = M[cols[i] * p + cols[l]];
    if (!la::cholesky(B.data(), q)) return false;
    out.assign(q * q, 0.0);
    la::chol_inverse(B.data(), q, out.data());
    return true;
}

// b_L' (L M L')^-1 b_L
double wald(const std::vector<double>& beta, const std::vector<double>& M, int p, const std::vector<int>& cols) {
    std::vector<double> inv;
    if (!inverse_block(M, p, cols, inv)) return kNaN;
    const int q = int(cols.size());
    double w = 0.0;
    for (int i = 0; i < q; ++i)
        for (int l = 0; l < q; ++l) w += beta[cols[i]] * inv[i * q + l] * beta[cols[l]];
    return w;
}

JointTest satterthwaite(const Problem& pr, const Fit& fit, const Workspace& ws, const std::vector<int>& cols) {
    const int p = pr.p, q = int(cols.size());
    std::vector<double> VL(q * q), d, P;
    for (int i = 0; i < q; ++i)
        for (int l = 0; l < q; ++l) VL[i * q + l] = fit.vcov[cols[i] * p + cols[l]];
    la::sym_eigen(VL, q, d, P);
    const double tol = std::max(1.4901161193847656e-08 * *std::max_element(d.begin(), d.end()), 0.0);
    const SatterthwaiteA A = satterthwaite_a(pr, ws);
    const std::vector<double>& Phi = ws.phi_inv;
    std::vector<double> l(p), a(p), nu;
    double sum_t2 = 0.0;
    for (int e = 0; e < q; ++e) {
        if (!(d[e] > tol)) continue;  // lmerTest keeps the contrasts of positive variance
        std::fill(l.begin(), l.end(), 0.0);
        for (int i = 0; i < q; ++i) l[cols[i]] = P[i * q + e];
        double est = 0.0;
        for (int c = 0; c < p; ++c) {
            est += l[c] * fit.beta[c];
            double t = 0.0;
            for (int z = 0; z < p; ++z) t += Phi[c * p + z] * l[z];
            a[c] = t;
        }
        sum_t2 += est * est / d[e];
        nu.push_back(satterthwaite_df(pr, ws, A, a.data(), a.data(), d[e]));
    }
    JointTest out;
    if (nu.empty()) return {kNaN, kNaN, kNaN, kNaN};
    out.num_df = double(nu.size());
    out.F = sum_t2 / out.num_df;
    out.den_df = fstat_ddf(nu);
    return out;
}

// pbkrtest's .divZero: x / y, or 1 when both are (near) zero
double div_zero(double x, double y) { return std::fabs(x) < 1e-14 && std::fabs(y) < 1e-14 ? 1.0 : x / y; }

JointTest kenward_roger_f(const Problem& pr, const Fit& fit, const Workspace& ws, const WaldTests& wald_kr,
                          const std::vector<int>& cols) {
    const int p = pr.p, q = int(cols.size());
    const KrPieces& kr = wald_kr.kr;
    const int dk = kr.dk;
    const std::vector<double>& Phi = ws.phi_inv;  // Phi_h; the unadjusted Phi = s Phi_h = fit.vcov
    std::vector<double> inv;
    JointTest out;
    if (!inverse_block(fit.vcov, p, cols, inv)) return {kNaN, kNaN, kNaN, kNaN};
    // u_r restricted to the tested rows and columns: Theta_LL M_r,LL with M_r = PQ_r Phi_h
    std::vector<double> U(size_t(dk) * q * q), M(q * q), tr(dk);
    for (int r = 0; r < dk; ++r) {
        const double* PQ = &kr.PQ[size_t(r) * p * p];
        for (int i = 0; i < q; ++i)
            for (int l = 0; l < q; ++l) {
                double t = 0.0;
                for (int z = 0; z < p; ++z) t += PQ[cols[i] * p + z] * Phi[z * p + cols[l]];
                M[i * q + l] = t;
            }
        double* u = &U[size_t(r) * q * q];
        tr[r] = 0.0;
        for (int i = 0; i < q; ++i)
            for (int l = 0; l < q; ++l) {
                double t = 0.0;
                for (int z = 0; z < q; ++z) t += inv[i * q + z] * M[z * q + l];
                u[i * q + l] = t;
            }
        for (int i = 0; i < q; ++i) tr[r] += u[i * q + i];
    }
    double A1 = 0.0, A2 = 0.0;
    for (int r = 0; r < dk; ++r)
        for (int s = 0; s < dk; ++s) {
            const double w = kr.W[r * dk + s];
            const double* ur = &U[size_t(r) * q * q];
            const double* us = &U[size_t(s) * q * q];
            double t = 0.0;
            for (int i = 0; i < q; ++i)
                for (int l = 0; l < q; ++l) t += ur[i * q + l] * us[l * q + i];
            A1 += w * tr[r] * tr[s];
            A2 += w * t;
        }
    const double qd = double(q);
    const double B = (A1 + 6.0 * A2) / (2.0 * qd);
    const double g = ((qd + 1.0) * A1 - (qd + 4.0) * A2) / ((qd + 2.0) * A2);
    const double den = 3.0 * qd + 2.0 * (1.0 - g);
    const double c1 = g / den, c2 = (qd - g) / den, c3 = (qd + 2.0 - g) / den;
    double V0 = 1.0 + c1 * B;
    const double V1 = 1.0 - c2 * B, V2 = 1.0 - c3 * B;
    if (std::fabs(V0) < 1e-10) V0 = 0.0;
    const double ratio = div_zero(1.0 - A2 / qd, V1);
    const double rho = ratio * ratio * V0 / V2 / qd;
    const double df2 = 4.0 + (qd + 2.0) / (qd * rho - 1.0);
    const double scaling = std::fabs(df2 - 2.0) < 1e-2 ? 1.0 : df2 * (1.0 - A2 / qd) / (df2 - 2.0);
    out.num_df = qd;
    out.den_df = df2;
    out.F = scaling * wald(fit.beta, wald_kr.vcov_adj, p, cols) / qd;
    return out;
}

}  // namespace

double fstat_ddf(const std::vector<double>& nu) {
    for (double v : nu)
        if (std::isnan(v)) return kNaN;
    if (nu.size() == 1) return nu[0];
    bool equal = true;
    for (size_t m = 1; m < nu.size(); ++m) equal = equal && std::fabs(nu[m] - nu[m - 1]) < 1e-8;
    if (equal) {
        double s = 0.0;
        for (double v : nu) s += v;
        return s / double(nu.size());
    }
    double E = 0.0;
    for (double v : nu) {
        if (!(v > 2.0)) return 2.0;
        E += v / (v - 2.0);
    }
    return 2.0 * E / (E - double(nu.size()));
}

double f_upper(double f, double num_df, double den_df) {
    if (std::isnan(f) || !(num_df > 0.0) || !(den_df > 0.0)) return kNaN;
    if (!(f > 0.0)) return 1.0;
    if (std::isinf(f)) return 0.0;
    if (std::isinf(den_df)) return upper_gamma(0.5 * num_df, 0.5 * num_df * f);
    // P(F > f) = I_x(den/2, num/2), x = den / (den + num f)
    const double nf = num_df * f;
    return incomplete_beta(0.5 * den_df, 0.5 * num_df, den_df / (den_df + nf), nf / (den_df + nf));
}

JointTest wald_f_test(const std::vector<double>& beta, const std::vector<double>& vcov, int p,
                      const std::vector<double>& df, const std::vector<int>& columns) {
    JointTest out;
    out.num_df = double(columns.size());
    out.den_df = std::numeric_limits<double>::infinity();
    for (int c : columns) out.den_df = std::min(out.den_df, df[c]);
    out.F = wald(beta, vcov, p, columns) / out.num_df;
    out.pvalue = f_upper(out.F, out.num_df, out.den_df);
    return out;
}

JointTest joint_test(const Problem& pr, const Fit& fit, const Workspace& ws, const WaldTests& wald_t,
                     DfMethod method, const std::vector<int>& columns) {
    JointTest out;
    switch (method) {
        case DfMethod::satterthwaite: out = satterthwaite(pr, fit, ws, columns); break;
        case DfMethod::kenward_roger: out = kenward_roger_f(pr, fit, ws, wald_t, columns); break;
        default: return wald_f_test(fit.beta, fit.vcov, pr.p, wald_t.df, columns);  // between-within, residual, z
    }
    out.pvalue = f_upper(out.F, out.num_df, out.den_df);
    return out;
}

}  // namespace mcps
