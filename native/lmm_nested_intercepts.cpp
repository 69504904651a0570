// Several random-effect terms, the special case of nested scalar intercepts
// ((1|school/class), (1|district/school/class)): the profiled deviance in closed form.
//
// With theta relative to sigma (lme4), V = I + sum_k theta_k^2 Z_k Z_k' is block diagonal by
// the coarsest grouping, and within a node g of grouping k (its children's blocks A, their
// sum a = 1'A^-1 1 and u = M'A^-1 1 for M = [X y]) Woodbury's identity gives
//   V_g^-1 = A^-1 - c A^-1 1 1'A^-1,   c = t / (1 + t a),  t = theta_k^2,
//   M'V_g^-1 M = M'A^-1 M - c u u',    1'V_g^-1 1 = a / (1 + t a),   M'V_g^-1 1 = u / (1 + t a),
//   log|V_g| = log|A| + log(1 + t a),
// starting from the rows (A = I): a finest level l adds its within scatter W_l and
// n_l / (1 + t n_l) mean_l mean_l'.  So from the finest levels' row counts and means and the
// within scatter (build_model's one pass, level_sums), one pass up the tree gives
// Q = M'V^-1 M and log|V| = log|L|^2 in O(levels p^2) (here ~100 levels: a few us, against
// ~15 for the general blocked path); eliminating X's rows of Q gives log|R_X|^2 and r^2 as
// the general path's factor does (lmm_general.cpp).  The pass runs in forward-mode dual
// numbers over the thetas, so the gradient (and that of r^2, for Satterthwaite) is exact.
// The general path's cross-products are not formed (Kenward-Roger, which reads them, keeps
// the general path: fit_general).
#include <algorithm>
#include <array>
#include <cmath>

#include "linalg.hpp"
#include "lmm_general.hpp"

namespace mcps::general {

namespace {

constexpr double kLog2Pi = 1.8378770664093453;

// A value and its derivatives in K thetas.
template <int K>
struct Dual {
    double v = 0.0;
    std::array<double, K> d{};
};

template <int K>
Dual<K> mul(const Dual<K>& a, const Dual<K>& b) {
    Dual<K> r;
    r.v = a.v * b.v;
    for (int i = 0; i < K; ++i) r.d[i] = a.d[i] * b.v + a.v * b.d[i];
    return r;
}

template <int K>
Dual<K> div(const Dual<K>& a, const Dual<K>& b) {
    Dual<K> r;
    r.v = a.v / b.v;
    for (int i = 0; i < K; ++i) r.d[i] = (a.d[i] - r.v * b.d[i]) / b.v;
    return r;
}

// a -= b * c
template <int K>
void sub_mul(Dual<K>& a, const Dual<K>& b, const Dual<K>& c) {
    a.v -= b.v * c.v;
    for (int i = 0; i < K; ++i) a.d[i] -= b.d[i] * c.v + b.v * c.d[i];
}

template <int K>
void add_to(Dual<K>& a, const Dual<K>& b) {
    a.v += b.v;
    for (int i = 0; i < K; ++i) a.d[i] += b.d[i];
}

template <int K>
void add_log(Dual<K>& a, const Dual<K>& b) {  // a += log(b)
    a.v += std::log(b.v);
    for (int i = 0; i < K; ++i) a.d[i] += b.d[i] / b.v;
}

// The sum of the logs of many factors >= 1 (the dual's value) as one log of their product,
// taken whenever the product grows large; the derivatives added as add_log does.
template <int K>
struct LogSum {
    Dual<K> sum;
    double prod = 1.0;
    void add(const Dual<K>& b) {
        prod *= b.v;
        if (prod > 1e280) flush();
        for (int i = 0; i < K; ++i) sum.d[i] += b.d[i] / b.v;
    }
    void flush() {
        sum.v += std::log(prod);
        prod = 1.0;
    }
};

// Per thread: the nodes' sums (a, u) of one level of the tree; Q (m x m, lower).
template <int K>
struct Work {
    std::vector<Dual<K>> a, u, a_up, u_up, Q;
};

template <int K>
Dual<K> squared(const double* theta, int k, int at) {
    Dual<K> t;
    t.v = theta[at] * theta[at];
    t.d[k] = 2.0 * theta[at];
    return t;
}

template <int K>
bool evaluate_k(const Model& md, bool reml, const double* theta, Eval& ev, Scratch& sc) {
    static thread_local Work<K> wk;
    const int p = md.p, m = p + 1;
    std::vector<Dual<K>>& Q = wk.Q;
    Q.assign(size_t(m) * m, Dual<K>{});
    for (size_t e = 0; e < Q.size(); ++e) Q[e].v = md.within[e];
    LogSum<K> logs;  // log|V|
    // The finest level from its means: M_l'A_l^-1 M_l = W_l + w n_l mean mean', w = 1 / (1 + t n_l).
    {
        const int L = md.nl[md.chain[0]], up = md.nl[md.chain[1]];
        const Dual<K> t = squared<K>(theta, 0, md.theta_at[md.chain[0]]);
        wk.a.assign(up, Dual<K>{});
        wk.u.assign(size_t(up) * m, Dual<K>{});
        for (int l = 0; l < L; ++l) {
            const double n = md.rows0[l];
            if (n == 0.0) continue;  // an empty level
            Dual<K> den;
            den.v = 1.0 + t.v * n;
            den.d[0] = t.d[0] * n;
            logs.add(den);
            Dual<K> w;  // n / den
            w.v = n / den.v;
            w.d[0] = -w.v * den.d[0] / den.v;
            const double* mean = &md.means0[size_t(l) * m];
            for (int x = 0; x < m; ++x)
                for (int z = 0; z <= x; ++z) {
                    Dual<K>& q = Q[size_t(x) * m + z];
                    q.v += w.v * mean[x] * mean[z];
                    q.d[0] += w.d[0] * mean[x] * mean[z];
                }
            const int g = md.parent[0][l];
            add_to(wk.a[g], w);
            for (int x = 0; x < m; ++x) {
                Dual<K>& u = wk.u[size_t(g) * m + x];
                u.v += w.v * mean[x];
                u.d[0] += w.d[0] * mean[x];
            }
        }
    }
    for (int k = 1; k < K; ++k) {
        const int L = md.nl[md.chain[k]];
        const Dual<K> t = squared<K>(theta, k, md.theta_at[md.chain[k]]);
        const bool up = k + 1 < K;
        if (up) {
            wk.a_up.assign(md.nl[md.chain[k + 1]], Dual<K>{});
            wk.u_up.assign(size_t(md.nl[md.chain[k + 1]]) * m, Dual<K>{});
        }
        for (int l = 0; l < L; ++l) {
            const Dual<K>& a = wk.a[l];
            if (a.v == 0.0) continue;  // an empty level
            Dual<K> den = mul(t, a);
            den.v += 1.0;
            logs.add(den);
            const Dual<K> c = div(t, den);
            Dual<K>* u = &wk.u[size_t(l) * m];
            for (int x = 0; x < m; ++x) {
                const Dual<K> cu = mul(c, u[x]);
                for (int z = 0; z <= x; ++z) sub_mul(Q[size_t(x) * m + z], cu, u[z]);
            }
            if (!up) continue;
            const int g = md.parent[k][l];
            add_to(wk.a_up[g], div(a, den));
            for (int x = 0; x < m; ++x) add_to(wk.u_up[size_t(g) * m + x], div(u[x], den));
        }
        if (up) {
            std::swap(wk.a, wk.a_up);
            std::swap(wk.u, wk.u_up);
        }
    }
    sc.nq.resize(size_t(m) * m);
    for (size_t e = 0; e < Q.size(); ++e) sc.nq[e] = Q[e].v;
    // Eliminate X's rows (a Cholesky without square roots): the pivots' product is
    // |X'V^-1X| = |R_X|^2 and what remains of y'V^-1y is r^2.
    logs.flush();
    const Dual<K>& logdet = logs.sum;
    Dual<K> logdet_rx;
    for (int i = 0; i < p; ++i) {
        const Dual<K> piv = Q[size_t(i) * m + i];
        if (!(piv.v > 0.0)) return false;
        add_log(logdet_rx, piv);
        for (int x = i + 1; x < m; ++x) {
            const Dual<K> f = div(Q[size_t(x) * m + i], piv);
            for (int z = i + 1; z <= x; ++z) sub_mul(Q[size_t(x) * m + z], f, Q[size_t(z) * m + i]);
        }
    }
    const Dual<K> r2 = Q[size_t(p) * m + p];
    if (!(r2.v > 0.0)) return false;
    const double nn = reml ? double(md.n - p) : double(md.n);
    ev.logdet_l = logdet.v;
    ev.logdet_rx = logdet_rx.v;
    ev.r2 = r2.v;
    ev.deviance = logdet.v + (reml ? logdet_rx.v : 0.0) + nn * (1.0 + kLog2Pi + std::log(r2.v / nn));
    if (!std::isfinite(ev.deviance)) return false;
    sc.ng.assign(md.n_theta, 0.0);
    sc.ndr2.assign(md.n_theta, 0.0);
    for (int k = 0; k < K; ++k) {
        const int i = md.theta_at[md.chain[k]];
        sc.ng[i] = logdet.d[k] + (reml ? logdet_rx.d[k] : 0.0) + nn * r2.d[k] / r2.v;
        sc.ndr2[i] = r2.d[k];
    }
    return true;
}

constexpr int kMaxColumns = 16;

// md.center, rows0, means0 and within from the rows, in one pass: [X y] shifted by its first
// row (the intercept column kept), so that the sums lose nothing to cancellation (the GLS
// fit, r^2 and |X'V^-1X| stay the same; solve_beta_nested maps beta back); each run of rows
// of one level summed about the run's first row in local arrays, then merged into its
// level's mean and the within scatter (Chan, Golub & LeVeque 1983).  M = p + 1, or 0 for any.
template <int M>
void level_sums(const double* X, const double* y, int64_t n, int p, const TermInput& finest, Model& md) {
    const int m = M > 0 ? M : p + 1, c0 = md.intercept;
    const int64_t* code = finest.codes;
    double shift[kMaxColumns], first[kMaxColumns], d[kMaxColumns], s[kMaxColumns];
    double S[kMaxColumns * kMaxColumns], W[kMaxColumns * kMaxColumns] = {};
    for (int x = 0; x < m; ++x) shift[x] = x == c0 ? 0.0 : x < p ? X[x] : y[0];
    md.center.assign(shift, shift + m);
    md.rows0.assign(finest.n_levels, 0.0);
    md.means0.assign(size_t(finest.n_levels) * m, 0.0);
    auto load = [&](int64_t i, double* v) {
        for (int x = 0; x < p; ++x) v[x] = X[i * p + x] - shift[x];
        v[p] = y[i] - shift[p];
    };
    for (int64_t run = 0; run < n;) {
        load(run, first);
        std::fill(s, s + m, 0.0);
        std::fill(S, S + m * m, 0.0);
        int64_t i = run + 1;
        for (; i < n && code[i] == code[run]; ++i) {
            load(i, d);
            for (int x = 0; x < m; ++x) {
                d[x] -= first[x];
                s[x] += d[x];
                for (int z = 0; z <= x; ++z) S[x * m + z] += d[x] * d[z];
            }
        }
        const double k = double(i - run), nl = md.rows0[code[run]];
        double* mean = &md.means0[size_t(code[run]) * m];
        for (int x = 0; x < m; ++x) {
            d[x] = first[x] + s[x] / k - mean[x];  // the run's mean less the level's so far
            for (int z = 0; z <= x; ++z) W[x * m + z] += S[x * m + z] - s[x] * s[z] / k;
        }
        for (int x = 0; x < m; ++x) {
            for (int z = 0; z <= x; ++z) W[x * m + z] += nl * k / (nl + k) * d[x] * d[z];
            mean[x] += d[x] * k / (nl + k);
        }
        md.rows0[code[run]] = nl + k;
        run = i;
    }
    md.within.assign(W, W + size_t(m) * m);
}

}  // namespace

bool find_nested_intercepts(const double* X, const double* y, int64_t n, int p, const std::vector<TermInput>& terms,
                            Model& md) {
    const int K = int(terms.size());
    if (K < 2 || K > 4) return false;
    for (const TermInput& t : terms) {
        if (t.z_columns.size() != 1) return false;
        const int c = t.z_columns[0];
        for (int64_t i = 0; i < n; ++i)
            if (X[i * p + c] != 1.0) return false;
    }
    std::vector<int> chain(K);
    for (int k = 0; k < K; ++k) chain[k] = k;
    std::stable_sort(chain.begin(), chain.end(), [&](int a, int b) { return terms[a].n_levels > terms[b].n_levels; });
    std::vector<std::vector<int>> parent(K - 1);
    for (int k = 0; k + 1 < K; ++k) {
        const int64_t* fine = terms[chain[k]].codes;
        const int64_t* coarse = terms[chain[k + 1]].codes;
        std::vector<int>& up = parent[k];
        up.assign(terms[chain[k]].n_levels, -1);
        for (int64_t i = 0; i < n; ++i) {
            int& at = up[fine[i]];
            if (at < 0) at = int(coarse[i]);
            if (at != coarse[i]) return false;
        }
        for (int& at : up) at = std::max(at, 0);  // an empty level adds nothing anywhere
    }
    const int m = p + 1, c0 = terms[0].z_columns[0];
    if (m > kMaxColumns) return false;
    for (const TermInput& t : terms)
        if (t.z_columns[0] != c0) return false;
    md.intercept = c0;
    switch (m) {  // the sums in registers for the common sizes
        case 2: level_sums<2>(X, y, n, p, terms[chain[0]], md); break;
        case 3: level_sums<3>(X, y, n, p, terms[chain[0]], md); break;
        case 4: level_sums<4>(X, y, n, p, terms[chain[0]], md); break;
        case 5: level_sums<5>(X, y, n, p, terms[chain[0]], md); break;
        default: level_sums<0>(X, y, n, p, terms[chain[0]], md);
    }
    md.chain = std::move(chain);
    md.parent = std::move(parent);
    return true;
}

bool evaluate_nested(const Model& md, bool reml, const double* theta, Eval& ev, Scratch& sc, bool want_beta) {
    bool ok = false;
    switch (md.chain.size()) {
        case 2: ok = evaluate_k<2>(md, reml, theta, ev, sc); break;
        case 3: ok = evaluate_k<3>(md, reml, theta, ev, sc); break;
        case 4: ok = evaluate_k<4>(md, reml, theta, ev, sc); break;
        default: return false;
    }
    if (ok && want_beta) solve_beta_nested(md, sc, ev);
    return ok;
}

void solve_beta_nested(const Model& md, const Scratch& sc, Eval& ev) {
    const int p = md.p, m = p + 1, c0 = md.intercept;
    std::vector<double> lx(size_t(p) * p), rx(size_t(p) * p);
    ev.beta.resize(p);
    for (int a = 0; a < p; ++a) {
        ev.beta[a] = sc.nq[size_t(p) * m + a];
        for (int b = 0; b < p; ++b) lx[size_t(a) * p + b] = sc.nq[size_t(std::max(a, b)) * m + std::min(a, b)];
    }
    ev.rx_inv.assign(size_t(p) * p, 0.0);
    if (!la::cholesky(lx.data(), p)) {  // evaluate's elimination succeeded, so only by rounding
        std::fill(ev.beta.begin(), ev.beta.end(), std::nan(""));
        std::fill(ev.rx_inv.begin(), ev.rx_inv.end(), std::nan(""));
        return;
    }
    la::chol_solve(lx.data(), p, ev.beta.data());
    la::chol_inverse(lx.data(), p, rx.data());
    // The centred columns are X A, A = I - e_c0 center': beta = A beta~ + mean(y) e_c0 and
    // Var(beta) = A Var(beta~) A'.
    double shift = md.center[p];
    for (int a = 0; a < p; ++a) shift -= md.center[a] * ev.beta[a];
    ev.beta[c0] += shift;
    std::vector<double> row(p, 0.0);  // center' Var(beta~)
    for (int a = 0; a < p; ++a)
        for (int b = 0; b < p; ++b) row[b] += md.center[a] * rx[size_t(a) * p + b];
    double corner = 0.0;
    for (int b = 0; b < p; ++b) corner += row[b] * md.center[b];
    for (int b = 0; b < p; ++b) {
        rx[size_t(c0) * p + b] -= row[b];
        rx[size_t(b) * p + c0] -= row[b];
    }
    rx[size_t(c0) * p + c0] += corner;
    ev.rx_inv = rx;
}

// The nested ANOVA's moments on the OLS residuals e (their level means e_g): per grouping k
// from the finest, MS_k = sum over its levels of n_g (e_g - e_parent(g))^2 / (L_k - L_k+1),
// and with sigma^2 from the scatter within the finest levels, tau_k^2 ~ (MS_k - MS_k-1) /
// (n / L_k) (MS_-1 = sigma^2), theta_k = tau_k / sigma kept above 0.1 as moment_start does.
std::vector<double> nested_moment_start(const Model& md) {
    const int p = md.p, m = p + 1, K = int(md.chain.size()), L0 = md.nl[md.chain[0]];
    // [X y]'[X y] about the shift, and OLS beta there.
    std::vector<double> T = md.within, xx(size_t(p) * p), beta(p);
    for (int l = 0; l < L0; ++l) {
        const double* mean = &md.means0[size_t(l) * m];
        for (int x = 0; x < m; ++x)
            for (int z = 0; z <= x; ++z) T[size_t(x) * m + z] += md.rows0[l] * mean[x] * mean[z];
    }
    for (int a = 0; a < p; ++a) {
        beta[a] = T[size_t(p) * m + a];
        for (int b = 0; b < p; ++b) xx[size_t(a) * p + b] = T[size_t(std::max(a, b)) * m + std::min(a, b)];
    }
    if (!la::cholesky(xx.data(), p)) return {};
    la::chol_solve(xx.data(), p, beta.data());
    double within = 0.0;  // e'We = v'W v, v = (-beta, 1)
    auto v = [&](int x) { return x < p ? -beta[x] : 1.0; };
    for (int x = 0; x < m; ++x)
        for (int z = 0; z < m; ++z) within += v(x) * v(z) * md.within[size_t(std::max(x, z)) * m + std::min(x, z)];
    int filled = 0;
    for (int l = 0; l < L0; ++l) filled += md.rows0[l] > 0.0;
    if (!(md.n > filled) || !(within > 0.0)) return {};
    const double sigma2 = within / double(md.n - filled);
    std::vector<double> rows(md.rows0), e(L0, 0.0), up_rows, up_e;
    for (int l = 0; l < L0; ++l) {
        const double* mean = &md.means0[size_t(l) * m];
        e[l] = mean[p];
        for (int a = 0; a < p; ++a) e[l] -= beta[a] * mean[a];
    }
    std::vector<double> theta(md.n_theta, 0.0);
    double below = sigma2;
    for (int k = 0; k < K; ++k) {
        const int L = md.nl[md.chain[k]], U = k + 1 < K ? md.nl[md.chain[k + 1]] : 1;
        up_rows.assign(U, 0.0);
        up_e.assign(U, 0.0);
        for (int l = 0; l < L; ++l) {
            const int g = k + 1 < K ? md.parent[k][l] : 0;
            up_rows[g] += rows[l];
            up_e[g] += rows[l] * e[l];
        }
        for (int g = 0; g < U; ++g) up_e[g] = up_rows[g] > 0.0 ? up_e[g] / up_rows[g] : 0.0;
        double ss = 0.0;
        for (int l = 0; l < L; ++l) {
            const double dev = e[l] - up_e[k + 1 < K ? md.parent[k][l] : 0];
            ss += rows[l] * dev * dev;
        }
        const double ms = L > U ? ss / double(L - U) : below;
        const double tau2 = (ms - below) / (double(md.n) / double(L));
        theta[md.theta_at[md.chain[k]]] = std::sqrt(std::max(tau2 / sigma2, 0.01));
        below = ms;
        rows.swap(up_rows);
        e.swap(up_e);
    }
    for (double t : theta)
        if (!std::isfinite(t)) return {};
    return theta;
}

}  // namespace mcps::general
