// The Laplace deviance of a GLMM with several random-effect terms: the problem's
// structure, the blocked factorisation of Lambda'Z'WZ Lambda + I, and penalised IRLS for
// the conditional modes (see glmm_general.hpp).
#include "glmm_general.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "glmm_family.hpp"
#include "linalg.hpp"

namespace mcps::glmm_general {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Row i's u index of term k's first random effect.
inline int u_index(const Problem& pr, int k, int64_t i) {
    return pr.u_at[k] + int(pr.terms[k].codes[i]) * pr.pk[k];
}

// x <- L^-1 x and x <- L'^-1 x for a row-major lower-triangular n x n L.
inline void forward(const double* L, int n, double* x) {
    for (int i = 0; i < n; ++i) {
        double s = x[i];
        for (int k = 0; k < i; ++k) s -= L[i * n + k] * x[k];
        x[i] = s / L[i * n + i];
    }
}
inline void backward(const double* L, int n, double* x) {
    for (int i = n - 1; i >= 0; --i) {
        double s = x[i];
        for (int k = i + 1; k < n; ++k) s -= L[k * n + i] * x[k];
        x[i] = s / L[i * n + i];
    }
}

}  // namespace

void Problem::build(GlmFamily family, GlmLink link, const double* X, const double* y, int64_t n, int p,
                    std::vector<Term> terms_in) {
    if (terms_in.empty()) throw std::invalid_argument("a GLMM needs at least one random-effect term");
    if (p < 1) throw std::invalid_argument("a GLMM needs at least one fixed-effect column");
    terms = std::move(terms_in);
    base = GlmmProblem{};
    base.family = family;
    base.link = link;
    const std::vector<int64_t> one(n, 0);
    base.build(X, y, one.data(), n, p, 1, {0});  // one cluster: the row order is kept
    const int K = int(terms.size());
    pk.assign(K, 0);
    nl.assign(K, 0);
    theta_at.assign(K, 0);
    u_at.assign(K, 0);
    a_at.assign(K, 0);
    n_theta = q = width = 0;
    for (int k = 0; k < K; ++k) {
        const Term& t = terms[k];
        if (t.z_columns.empty()) throw std::invalid_argument("random-effect term " + std::to_string(k) + " has no columns");
        for (int c : t.z_columns)
            if (c < 0 || c >= p) throw std::invalid_argument("z_columns must index columns of X");
        if (int64_t(t.codes.size()) != n || t.n_levels < 1)
            throw std::invalid_argument("each term needs one code per row and at least one level");
        for (int64_t g : t.codes)
            if (g < 0 || g >= t.n_levels) throw std::invalid_argument("codes must lie in [0, n_levels)");
        pk[k] = int(t.z_columns.size());
        nl[k] = t.n_levels;
        theta_at[k] = n_theta;
        u_at[k] = q;
        a_at[k] = width;
        n_theta += pk[k] * (pk[k] + 1) / 2;
        q += pk[k] * nl[k];
        width += pk[k];
    }
    q1 = pk[0] * nl[0];
    q_rest = q - q1;
    // Per level of the first term: the first dense columns of the blocks it meets.
    std::vector<std::vector<int>> starts(nl[0]);
    for (int64_t i = 0; i < n; ++i)
        for (int k = 1; k < K; ++k) starts[terms[0].codes[i]].push_back(u_index(*this, k, i) - q1);
    touch.assign(nl[0], {});
    b_at.assign(nl[0] + 1, 0);
    for (int j = 0; j < nl[0]; ++j) {
        std::vector<int>& s = starts[j];
        std::sort(s.begin(), s.end());
        s.erase(std::unique(s.begin(), s.end()), s.end());
        for (int c : s) {
            int k = K - 1;  // the term of dense column c: the last one starting at or before it
            while (u_at[k] - q1 > c) --k;
            for (int e = 0; e < pk[k]; ++e) touch[j].push_back(c + e);
        }
        b_at[j + 1] = b_at[j] + size_t(pk[0]) * touch[j].size();
    }
    b_size = b_at[nl[0]];
    pos.assign(size_t(n) * std::max(K - 1, 0), 0);
    for (int64_t i = 0; i < n; ++i) {
        const std::vector<int>& tj = touch[terms[0].codes[i]];
        for (int k = 1; k < K; ++k)
            pos[i * (K - 1) + k - 1] =
                int(std::lower_bound(tj.begin(), tj.end(), u_index(*this, k, i) - q1) - tj.begin());
    }
}

bool factor(const Problem& pr, State& st, const double* w) {
    const int K = int(pr.terms.size()), p0 = pr.pk[0], qr = pr.q_rest, W = pr.width;
    const int64_t n = pr.n();
    st.D.assign(size_t(pr.nl[0]) * p0 * p0, 0.0);
    for (int j = 0; j < pr.nl[0]; ++j)
        for (int c = 0; c < p0; ++c) st.D[(size_t(j) * p0 + c) * p0 + c] = 1.0;
    st.B.assign(pr.b_size, 0.0);
    st.S.assign(size_t(qr) * qr, 0.0);
    for (int c = 0; c < qr; ++c) st.S[size_t(c) * qr + c] = 1.0;
    for (int64_t i = 0; i < n; ++i) {
        const double wi = w[i];
        if (wi == 0.0) continue;
        const double* a = &st.a[i * W];
        const int j = int(pr.terms[0].codes[i]);
        double* Dj = &st.D[size_t(j) * p0 * p0];
        for (int c = 0; c < p0; ++c)
            for (int d = 0; d <= c; ++d) Dj[c * p0 + d] += wi * a[c] * a[d];
        const int m = int(pr.touch[j].size());
        double* Bj = &st.B[pr.b_at[j]];
        for (int k = 1; k < K; ++k) {
            const double* ak = a + pr.a_at[k];
            const int at = pr.pos[i * (K - 1) + k - 1];
            for (int d = 0; d < p0; ++d) {
                const double wa = wi * a[d];
                for (int c = 0; c < pr.pk[k]; ++c) Bj[d * m + at + c] += wa * ak[c];
            }
            const int rk = u_index(pr, k, i) - pr.q1;
            for (int l = 1; l <= k; ++l) {
                const double* al = a + pr.a_at[l];
                const int rl = u_index(pr, l, i) - pr.q1;
                for (int c = 0; c < pr.pk[k]; ++c)
                    for (int e = 0; e < pr.pk[l]; ++e)
                        if (rk + c >= rl + e) st.S[size_t(rk + c) * qr + rl + e] += wi * ak[c] * al[e];
            }
        }
    }
    double ld = 0.0;
    for (int j = 0; j < pr.nl[0]; ++j) {
        double* Lj = &st.D[size_t(j) * p0 * p0];
        if (!la::cholesky(Lj, p0)) return false;
        ld += la::chol_logdet(Lj, p0);
        const std::vector<int>& tj = pr.touch[j];
        const int m = int(tj.size());
        double* Bj = &st.B[pr.b_at[j]];
        st.tmp.resize(p0);
        for (int a = 0; a < m; ++a) {  // B_j <- L_j^-1 B_j, column by column
            for (int d = 0; d < p0; ++d) st.tmp[d] = Bj[d * m + a];
            forward(Lj, p0, st.tmp.data());
            for (int d = 0; d < p0; ++d) Bj[d * m + a] = st.tmp[d];
        }
        for (int a = 0; a < m; ++a)
            for (int b = 0; b <= a; ++b) {
                double s = 0.0;
                for (int d = 0; d < p0; ++d) s += Bj[d * m + a] * Bj[d * m + b];
                st.S[size_t(tj[a]) * qr + tj[b]] -= s;
            }
    }
    if (qr > 0) {
        if (!la::cholesky(st.S.data(), qr)) return false;
        ld += la::chol_logdet(st.S.data(), qr);
    }
    st.ldL2 = ld;
    return true;
}

void solve(const Problem& pr, State& st, double* x) {
    const int p0 = pr.pk[0], qr = pr.q_rest;
    double* xr = x + pr.q1;
    for (int j = 0; j < pr.nl[0]; ++j) {
        double* xj = x + size_t(j) * p0;
        forward(&st.D[size_t(j) * p0 * p0], p0, xj);
        const std::vector<int>& tj = pr.touch[j];
        const int m = int(tj.size());
        const double* Bj = &st.B[pr.b_at[j]];
        for (int a = 0; a < m; ++a) {
            double s = 0.0;
            for (int d = 0; d < p0; ++d) s += Bj[d * m + a] * xj[d];
            xr[tj[a]] -= s;
        }
    }
    if (qr > 0) la::chol_solve(st.S.data(), qr, xr);
    for (int j = 0; j < pr.nl[0]; ++j) {
        double* xj = x + size_t(j) * p0;
        const std::vector<int>& tj = pr.touch[j];
        const int m = int(tj.size());
        const double* Bj = &st.B[pr.b_at[j]];
        for (int d = 0; d < p0; ++d) {
            double s = 0.0;
            for (int a = 0; a < m; ++a) s += Bj[d * m + a] * xr[tj[a]];
            xj[d] -= s;
        }
        backward(&st.D[size_t(j) * p0 * p0], p0, xj);
    }
}

namespace {

// -2 log p(y | u) + |u|^2 at u (constants included), with eta, and per row the score and
// the weight (observed information, or Fisher's with fisher = true) when derivs is set.
double penalised(const Problem& pr, State& st, const double* u, bool derivs, bool fisher) {
    const int K = int(pr.terms.size()), W = pr.width;
    const GlmLink link = pr.base.link;
    double logp = 0.0;
    for (int64_t i = 0; i < pr.n(); ++i) {
        const double* a = &st.a[i * W];
        double eta = st.offset[i];
        for (int k = 0; k < K; ++k) {
            const double* uk = u + u_index(pr, k, i);
            for (int c = 0; c < pr.pk[k]; ++c) eta += a[pr.a_at[k] + c] * uk[c];
        }
        st.eta[i] = eta;
        const double y = pr.base.y[i];
        if (!derivs) {
            logp += row_logp(link, y, eta);
            continue;
        }
        const RowTerms t = row_terms(link, y, eta);
        logp += t.logp;
        st.score[i] = t.score;
        st.weight[i] = fisher ? t.fisher : t.observed;
    }
    logp += pr.base.log_norm[0];
    st.logp = logp;
    double uu = 0.0;
    for (int c = 0; c < pr.q; ++c) uu += u[c] * u[c];
    st.sq_u = uu;
    return -2.0 * logp + uu;
}

// Newton's method with step-halving for the modes (the penalised deviance is strictly
// convex in u for these families and links), from the warm start in st.u, run to
// rounding level so that the objective does not depend on the start.
bool pirls(const Problem& pr, State& st) {
    const int K = int(pr.terms.size()), W = pr.width, q = pr.q;
    double val = penalised(pr, st, st.u.data(), true, false);
    if (!std::isfinite(val)) {
        std::fill(st.u.begin(), st.u.end(), 0.0);
        val = penalised(pr, st, st.u.data(), true, false);
        if (!std::isfinite(val)) return false;
    }
    st.step.resize(q);
    st.trial.resize(q);
    for (int it = 0;; ++it) {
        if (it == 200) return false;
        // Newton step: (I + Lambda'Z'WZ Lambda) step = Lambda'Z' score - u.
        for (int c = 0; c < q; ++c) st.step[c] = -st.u[c];
        for (int64_t i = 0; i < pr.n(); ++i) {
            const double* a = &st.a[i * W];
            for (int k = 0; k < K; ++k) {
                double* sk = &st.step[u_index(pr, k, i)];
                for (int c = 0; c < pr.pk[k]; ++c) sk[c] += st.score[i] * a[pr.a_at[k] + c];
            }
        }
        if (!factor(pr, st, st.weight.data())) return false;
        solve(pr, st, st.step.data());
        double size = 0.0, smax = 0.0;
        for (int c = 0; c < q; ++c) {
            size = std::max(size, std::fabs(st.u[c]));
            smax = std::max(smax, std::fabs(st.step[c]));
        }
        if (!std::isfinite(smax)) return false;
        if (smax < 1e-11 * (1.0 + size)) break;
        double t = 1.0;
        bool accepted = false;
        for (int h = 0; h < 40; ++h, t *= 0.5) {
            for (int c = 0; c < q; ++c) st.trial[c] = st.u[c] + t * st.step[c];
            const double nv = penalised(pr, st, st.trial.data(), true, false);
            if (nv <= val + 1e-13 * std::fabs(val)) {
                accepted = true;
                val = nv;
                st.u.swap(st.trial);
                break;
            }
        }
        if (!accepted) {
            if (smax < 1e-7 * (1.0 + size)) break;  // at the mode up to rounding
            return false;
        }
    }
    // lme4's L uses the Fisher weights (probit: not the observed information).
    penalised(pr, st, st.u.data(), true, true);
    return factor(pr, st, st.weight.data());
}

}  // namespace

double objective(const Problem& pr, const double* theta, const double* beta, State& st) {
    const int64_t n = pr.n();
    const int p = pr.p(), W = pr.width, K = int(pr.terms.size());
    st.a.resize(size_t(n) * W);
    st.offset.resize(n);
    st.eta.resize(n);
    st.score.resize(n);
    st.weight.resize(n);
    if (int(st.u.size()) != pr.q) st.u.assign(pr.q, 0.0);
    for (double& v : st.u)
        if (!std::isfinite(v)) v = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const double* x = &pr.base.X[i * p];
        double o = 0.0;
        for (int c = 0; c < p; ++c) o += x[c] * beta[c];
        st.offset[i] = o;
        for (int k = 0; k < K; ++k) {  // a_k = T_k' z_k, T_k's theta column by column
            const std::vector<int>& zc = pr.terms[k].z_columns;
            const int m = pr.pk[k];
            for (int c = 0, at = pr.theta_at[k]; c < m; ++c) {
                double s = 0.0;
                for (int r = c; r < m; ++r, ++at) s += x[zc[r]] * theta[at];
                st.a[i * W + pr.a_at[k] + c] = s;
            }
        }
    }
    if (!pirls(pr, st)) return kInf;
    const double value = -2.0 * st.logp + st.sq_u + st.ldL2;
    return std::isfinite(value) ? value : kInf;
}

}  // namespace mcps::glmm_general
