// Several random-effect terms: the data's cross-products (see lmm_general.hpp), with the
// dense columns ordered so that a nested design keeps its blocks.
//
// When every term's levels each lie within one level of a top term (pupils in classes in
// schools), the other terms' columns are ordered school by school: the dense matrix S of
// lmm_general.cpp is then block diagonal by school with a border ([X y]), its rows' first
// nonzero columns (the envelope, lo) stay inside their school, and the envelope Cholesky
// and selected inversion there cost per school what the dense ones cost for the whole.
// Crossed designs keep the order by term and a full envelope.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "lmm_general.hpp"

namespace mcps::general {

namespace {

// The term with the fewest levels whose every level contains whole levels of every other
// term, or -1 when there is none (crossed factors).  Empty levels nest anywhere.
int top_term(const std::vector<TermInput>& terms, int64_t n) {
    const int K = int(terms.size());
    std::vector<int> order(K);
    for (int k = 0; k < K; ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return terms[a].n_levels < terms[b].n_levels; });
    std::vector<int64_t> parent;
    for (int t : order) {
        bool nests = true;
        for (int k = 0; k < K && nests; ++k) {
            if (k == t) continue;
            parent.assign(terms[k].n_levels, -1);
            for (int64_t i = 0; i < n; ++i) {
                int64_t& at = parent[terms[k].codes[i]];
                if (at < 0) at = terms[t].codes[i];
                if (at != terms[t].codes[i]) {
                    nests = false;
                    break;
                }
            }
        }
        if (nests) return t;
    }
    return -1;
}

// Adds the lower triangle of [x y]'[x y] over rows [from, to) to W ((p + 1) x (p + 1));
// P = p, or 0 for any p.
template <int P>
void sum_run(const double* X, const double* y, int64_t from, int64_t to, double* W, int p_any = 0) {
    const int p = P > 0 ? P : p_any, m = p + 1;
    constexpr int kMax = P > 0 ? (P + 1) * (P + 2) / 2 : 1;
    if (P == 0) {
        for (int64_t i = from; i < to; ++i) {
            const double* xi = X + i * p;
            for (int s = 0; s < p; ++s)
                for (int t = 0; t <= s; ++t) W[s * m + t] += xi[s] * xi[t];
            for (int t = 0; t < p; ++t) W[p * m + t] += y[i] * xi[t];
            W[p * m + p] += y[i] * y[i];
        }
        return;
    }
    double acc[kMax] = {};
    for (int64_t i = from; i < to; ++i) {
        const double* xi = X + i * p;
        int e = 0;
        for (int s = 0; s < p; ++s)
            for (int t = 0; t <= s; ++t) acc[e++] += xi[s] * xi[t];
        for (int t = 0; t < p; ++t) acc[e++] += y[i] * xi[t];
        acc[e] += y[i] * y[i];
    }
    int e = 0;
    for (int s = 0; s <= p; ++s)
        for (int t = 0; t <= s; ++t) W[s * m + t] += acc[e++];
}

}  // namespace

Model build_model(const double* X, const double* y, int64_t n, int p, const std::vector<TermInput>& terms,
                  bool nested_kernel) {
    if (terms.empty()) throw std::invalid_argument("the model has no random-effect term");
    Model md;
    md.n = int(n);
    md.p = p;
    const int K = int(terms.size());
    int e = 0;  // random effects of the other terms in one row
    for (int k = 0; k < K; ++k) {
        const TermInput& t = terms[k];
        if (t.n_levels < 1) throw std::invalid_argument("a grouping factor has no levels");
        if (t.z_columns.empty() || t.z_columns.size() > 8)
            throw std::invalid_argument("a random-effect term has " + std::to_string(t.z_columns.size()) +
                                        " columns: 1 to 8 are supported");
        for (int c : t.z_columns)
            if (c < 0 || c >= p) throw std::invalid_argument("random-effect column " + std::to_string(c) + " is not a column of X");
        for (int64_t i = 0; i < n; ++i)
            if (t.codes[i] < 0 || t.codes[i] >= t.n_levels) throw std::invalid_argument("grouping code out of range");
        md.pk.push_back(int(t.z_columns.size()));
        md.nl.push_back(t.n_levels);
        md.theta_at.push_back(md.n_theta);
        md.n_theta += md.pk[k] * (md.pk[k] + 1) / 2;
        if (k > 0) {
            md.q_rest += t.n_levels * md.pk[k];
            e += md.pk[k];
        }
    }
    // Nested intercepts need only their own sums (lmm_nested_intercepts.cpp).
    md.nested = nested_kernel && find_nested_intercepts(X, y, n, p, terms, md);
    if (md.nested) return md;
    // The dense columns of the other terms: by block of the top term (one block if none),
    // then by term and level.
    md.top = top_term(terms, n);
    const int n_blocks = md.top < 0 ? 1 : md.nl[md.top];
    std::vector<std::vector<int>> block(K);
    std::vector<int> count(n_blocks + 1, 0);
    for (int k = 1; k < K; ++k) {
        block[k].assign(md.nl[k], 0);
        if (md.top >= 0)
            for (int64_t i = 0; i < n; ++i) block[k][terms[k].codes[i]] = int(terms[md.top].codes[i]);
        for (int l = 0; l < md.nl[k]; ++l) count[block[k][l] + 1] += md.pk[k];
    }
    for (int b = 0; b < n_blocks; ++b) count[b + 1] += count[b];
    md.level_at.assign(K, {});
    md.rest_term.resize(md.q_rest);
    md.rest_col.resize(md.q_rest);
    for (int k = 1; k < K; ++k) {
        md.level_at[k].resize(md.nl[k]);
        for (int l = 0; l < md.nl[k]; ++l) {
            int& at = count[block[k][l]];
            md.level_at[k][l] = at;
            for (int c = 0; c < md.pk[k]; ++c) {
                md.rest_term[at + c] = k;
                md.rest_col[at + c] = c;
            }
            at += md.pk[k];
        }
    }
    const int p0 = md.pk[0], L0 = md.nl[0], qr = md.q_rest, r = qr + p + 1;
    md.q1 = L0 * p0;
    md.r = r;
    md.D1.assign(size_t(L0) * p0 * p0, 0.0);
    md.B.assign(size_t(L0) * p0 * r, 0.0);
    md.C.assign(size_t(r) * r, 0.0);
    // The envelope: each row's first structurally nonzero column (whole level blocks, as
    // T_k mixes a level's columns), at most its own level's first.
    md.lo.assign(r, 0);
    for (int a = 0; a < qr; ++a) md.lo[a] = a - md.rest_col[a];
    // Per level of term 0: the first columns of the other terms' levels it shares rows with.
    std::vector<std::vector<int>> meets(L0);
    // Rows in runs with the same levels (data sorted by cluster) are summed in W, the lower
    // triangle of [x y]'[x y] (every z is a column of x), then added to D1, B and C at once.
    const int m = p + 1, ne = e + p + 1;
    std::vector<double> W(size_t(m) * m, 0.0);
    std::vector<int> idx(ne), wat(ne);  // per dense column of the run: its index, its column of W
    for (int c = 0; c <= p; ++c) {
        idx[e + c] = qr + c;
        wat[e + c] = c;
    }
    for (int k = 1, a = 0; k < K; ++k)
        for (int c : terms[k].z_columns) wat[a++] = c;
    const std::vector<int>& z0 = terms[0].z_columns;
    std::vector<double> Wf(size_t(m) * m);  // W with both triangles
    auto wv = [&](int a, int b) { return Wf[size_t(a) * m + b]; };
    int64_t run = 0;  // the run's first row
    auto flush = [&](int64_t end) {
        if (end == run) return;
        for (int a = 0; a < m; ++a)
            for (int b = 0; b <= a; ++b) Wf[size_t(a) * m + b] = Wf[size_t(b) * m + a] = W[size_t(a) * m + b];
        const int j = int(terms[0].codes[run]);
        for (int k = 1, a = 0; k < K; ++k)
            for (int c = 0, at = md.level_at[k][terms[k].codes[run]]; c < md.pk[k]; ++c) idx[a++] = at + c;
        double* D = &md.D1[size_t(j) * p0 * p0];
        for (int a = 0; a < p0; ++a)
            for (int b = 0; b < p0; ++b) D[a * p0 + b] += wv(z0[a], z0[b]);
        double* Bj = &md.B[size_t(j) * p0 * r];
        for (int a = 0; a < ne; ++a) {
            for (int c = 0; c < p0; ++c) Bj[size_t(c) * r + idx[a]] += wv(z0[c], wat[a]);
            double* Ca = &md.C[size_t(idx[a]) * r];
            for (int b = 0; b < ne; ++b) Ca[idx[b]] += wv(wat[a], wat[b]);
        }
        for (int a = 0; a < e; ++a) {
            if (md.rest_col[idx[a]] == 0 && (meets[j].empty() || meets[j].back() != idx[a])) meets[j].push_back(idx[a]);
            for (int b = 0; b < e; ++b) md.lo[idx[a]] = std::min(md.lo[idx[a]], idx[b] - md.rest_col[idx[b]]);
        }
        std::fill(W.begin(), W.end(), 0.0);
        run = end;
    };
    std::vector<const int64_t*> code(K);
    for (int k = 0; k < K; ++k) code[k] = terms[k].codes;
    for (int64_t i = 1; i <= n; ++i) {
        bool same = i < n;
        for (int k = 0; k < K && same; ++k) same = code[k][i] == code[k][i - 1];
        if (same) continue;
        switch (p) {  // the sums in registers for the common sizes
            case 1: sum_run<1>(X, y, run, i, W.data()); break;
            case 2: sum_run<2>(X, y, run, i, W.data()); break;
            case 3: sum_run<3>(X, y, run, i, W.data()); break;
            case 4: sum_run<4>(X, y, run, i, W.data()); break;
            default: sum_run<0>(X, y, run, i, W.data(), p);
        }
        flush(i);
    }
    // A level of term 0 touches whole blocks (all columns of a level of another term), and
    // the rows it touches meet in S.
    md.touch.assign(L0, {});
    for (int j = 0; j < L0; ++j) {
        std::vector<int>& mj = meets[j];
        std::sort(mj.begin(), mj.end());
        mj.erase(std::unique(mj.begin(), mj.end()), mj.end());
        std::vector<int>& tj = md.touch[j];
        tj.reserve(mj.size() * 8 + size_t(p + 1));
        for (int a : mj)
            for (int c = 0; c < md.pk[md.rest_term[a]]; ++c) tj.push_back(a + c);
        for (int a = qr; a < r; ++a) tj.push_back(a);
        for (int a : tj) md.lo[a] = std::min(md.lo[a], tj.front());
    }
    md.uniform = md.touch[0].back() - md.touch[0].front() == int(md.touch[0].size()) - 1;
    for (int j = 1; j < L0 && md.uniform; ++j) md.uniform = md.touch[j] == md.touch[0];
    for (int a = 0; a < qr;) {  // the whole level block takes its columns' first
        const int width = md.pk[md.rest_term[a]];
        int lo = md.lo[a];
        for (int c = 1; c < width; ++c) lo = std::min(lo, md.lo[a + c]);
        for (int c = 0; c < width; ++c) md.lo[a + c] = lo;
        a += width;
    }
    // hi[x]: one past the last rest row whose envelope reaches x; the rows of each column
    // below its diagonal within the envelope.
    md.hi.assign(qr, 0);
    for (int b = 0; b < qr; ++b) md.hi[md.lo[b]] = std::max(md.hi[md.lo[b]], b + 1);
    for (int x = 1; x < qr; ++x) md.hi[x] = std::max(md.hi[x], md.hi[x - 1]);
    md.env_ptr.assign(r + 1, 0);
    for (int k = 0; k < r; ++k)
        for (int j = md.lo[k]; j < k; ++j) ++md.env_ptr[j + 1];
    for (int j = 0; j < r; ++j) md.env_ptr[j + 1] += md.env_ptr[j];
    md.env_idx.resize(md.env_ptr[r]);
    std::vector<int> fill(md.env_ptr.begin(), md.env_ptr.end() - 1);
    for (int k = 0; k < r; ++k)
        for (int j = md.lo[k]; j < k; ++j) md.env_idx[fill[j]++] = k;
    return md;
}

}  // namespace mcps::general
