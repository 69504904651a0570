#include "simulate_groupings.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "glmm_general.hpp"
#include "simulate.hpp"

namespace mcps {

namespace {

// A literal message stays a pointer until it is thrown (the checks run once per row).
void require(bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(what);
}
void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
}

// Lower Cholesky factor of a positive semi-definite q x q matrix (a zero variance gives a
// zero column, so its effects are exactly 0).
std::vector<double> psd_cholesky(const std::vector<double>& A, int q) {
    std::vector<double> L(size_t(q) * q, 0.0);
    for (int j = 0; j < q; ++j) {
        double d = A[j * q + j];
        for (int k = 0; k < j; ++k) d -= L[j * q + k] * L[j * q + k];
        if (d <= 1e-14 * std::max(1.0, A[j * q + j])) continue;
        const double s = std::sqrt(d);
        L[j * q + j] = s;
        for (int i = j + 1; i < q; ++i) {
            double v = A[i * q + j];
            for (int k = 0; k < j; ++k) v -= L[i * q + k] * L[j * q + k];
            L[i * q + j] = v / s;
        }
    }
    return L;
}

// The units of each block (block codes need not be contiguous), in unit order.
std::vector<std::vector<int64_t>> members(const std::vector<int64_t>& block) {
    std::vector<std::vector<int64_t>> out;
    for (size_t u = 0; u < block.size(); ++u) {
        if (size_t(block[u]) >= out.size()) out.resize(size_t(block[u]) + 1);
        out[size_t(block[u])].push_back(int64_t(u));
    }
    return out;
}

// Predictor values over n units: N(0, 1), Bernoulli(p), or exactly round(p n_b) ones
// (halves up, as the one-grouping engine) at random among the n_b units of each block.
void draw_units(Stream& rng, UnitDraw how, double p, const std::vector<std::vector<int64_t>>& blocks,
                double* out, int64_t n, std::vector<int64_t>& idx) {
    if (how == UnitDraw::normal) {
        rng.fill_normal(out, n);
        return;
    }
    if (how == UnitDraw::bernoulli) {
        rng.fill_bernoulli(out, n, p);
        return;
    }
    std::fill(out, out + n, 0.0);
    for (const auto& units : blocks) {
        idx.assign(units.begin(), units.end());
        const int64_t s = int64_t(idx.size());
        const int64_t ones = int64_t(std::floor(p * double(s) + 0.5));
        for (int64_t i = 0; i < ones; ++i) {  // partial Fisher-Yates: the first `ones` places
            const int64_t j = i + std::min<int64_t>(s - i - 1, int64_t(rng.uniform() * double(s - i)));
            std::swap(idx[i], idx[j]);
            out[idx[i]] = 1.0;
        }
    }
}

// A factor whose first dummy is predictor f, spread over rows.  Independent: one uniform
// per unit picks its level (the dummies' levels by cumulative proportion, the first level
// the rest).  Balanced: in each block of units, exactly round(p_k n_b) (halves up) at
// random for each dummy's level, the rest the first level.
void draw_factor(Stream& rng, const GroupingsDesign& d, const GroupingsPlan& plan, int f, int64_t units,
                 double* values, int64_t n, GroupingsScratch& sc) {
    const int g = d.predictor_unit[f];
    int width = 0;
    while (f + width < int(d.predictor_factor.size()) && d.predictor_factor[f + width] == f) ++width;
    std::vector<int>& level = sc.level;
    level.assign(size_t(units), -1);
    if (d.predictor_draw[f] == UnitDraw::balanced) {
        std::vector<int64_t>& idx = sc.idx;
        for (const auto& block : plan.blocks[size_t(g + 1)]) {
            idx.assign(block.begin(), block.end());
            const int64_t s = int64_t(idx.size());
            int64_t i = 0;
            for (int k = 0; k < width; ++k) {
                const int64_t end = i + int64_t(std::floor(d.predictor_p[f + k] * double(s) + 0.5));
                require(end <= s, "a balanced factor's levels need more units than a block has");
                for (; i < end; ++i) {  // partial Fisher-Yates: the next place of level k
                    const int64_t j = i + std::min<int64_t>(s - i - 1, int64_t(rng.uniform() * double(s - i)));
                    std::swap(idx[i], idx[j]);
                    level[idx[i]] = k;
                }
            }
        }
    } else {
        for (int64_t u = 0; u < units; ++u) {
            const double x = rng.uniform();
            double cum = 0.0;
            for (int k = 0; k < width && level[u] < 0; ++k)
                if (x < (cum += d.predictor_p[f + k])) level[u] = k;
        }
    }
    for (int k = 0; k < width; ++k) {
        double* col = &values[size_t(f + k) * n];
        if (g < 0) {
            for (int64_t i = 0; i < n; ++i) col[i] = level[i] == k ? 1.0 : 0.0;
        } else {
            const int64_t* code = d.codes[g].data();
            for (int64_t i = 0; i < n; ++i) col[i] = level[code[i]] == k ? 1.0 : 0.0;
        }
    }
}

// Column-major columns (p x n) into row-major X (n x p); P = p, or 0 for any p.
template <int P>
void to_rows(const double* cols, int64_t n, double* X, int p_any = 0) {
    const int p = P > 0 ? P : p_any;
    for (int64_t i = 0; i < n; ++i)
        for (int c = 0; c < p; ++c) X[size_t(i) * p + c] = cols[size_t(c) * n + i];
}

}  // namespace

void GroupingsDesign::check() const {
    const int n_pred = int(predictor_draw.size());
    const int G = int(codes.size());
    const int64_t n = n_rows();
    require(n_pred <= 64, "at most 64 predictors are supported");
    require(int(predictor_p.size()) == n_pred && int(predictor_unit.size()) == n_pred,
            "predictor_p and predictor_unit must have one entry per predictor");
    require(G >= 1, "at least one grouping factor is needed");
    require(int(n_levels.size()) == G && int(z_columns.size()) == G && int(re_cov.size()) == G &&
                int(level_block.size()) == G,
            "n_levels, z_columns, re_cov and level_block need one entry per grouping");
    require(n_fixed() <= kMaxFixedEffects, "too many fixed effects");
    require(int(beta.size()) == n_fixed(), "beta needs the intercept and one entry per term");
    for (const auto& t : terms) {
        require(!t.empty(), "a fixed-effect term has no predictor");
        for (int v : t) require(v >= 0 && v < n_pred, "term refers to predictor " + std::to_string(v));
    }
    for (int v = 0; v < n_pred; ++v) {
        const int u = predictor_unit[v];
        require(u >= -1 && u < G, "predictor_unit of predictor " + std::to_string(v) + " is not a grouping");
        require(int(predictor_draw[v]) >= 0 && int(predictor_draw[v]) <= 3, "predictor_draw is not a UnitDraw");
        const bool fixed = predictor_draw[v] == UnitDraw::fixed;
        const size_t given = size_t(v) < predictor_fixed.size() ? predictor_fixed[v].size() : 0;
        require(fixed ? given == size_t(n_rows()) && u == -1 : given == 0,
                "predictor_fixed gives a value per row of each fixed predictor (drawn on rows), none of the others");
        require(predictor_p[v] >= 0.0 && predictor_p[v] <= 1.0, "binary predictor probability outside [0, 1]");
    }
    require(predictor_fixed.size() <= size_t(n_pred), "predictor_fixed has more entries than predictors");
    require(predictor_mix.empty() || predictor_mix.size() == size_t(n_pred) * size_t(n_pred),
            "predictor_mix must be n_pred x n_pred (or empty)");
    for (int v = 0; v < n_pred && !predictor_mix.empty(); ++v)
        for (int u = 0; u < n_pred; ++u)
            require(u == v || predictor_mix[size_t(v) * n_pred + u] == 0.0 ||
                        (u < v && predictor_draw[u] == UnitDraw::normal && predictor_draw[v] == UnitDraw::normal &&
                         predictor_unit[u] == predictor_unit[v]),
                    "predictor_mix mixes only earlier normal predictors drawn on the same units");
    require(predictor_factor.empty() || int(predictor_factor.size()) == n_pred,
            "predictor_factor needs one entry per predictor (or none)");
    for (int v = 0; v < n_pred && !predictor_factor.empty(); ++v) {
        const int f = predictor_factor[v];
        if (f < 0) continue;
        require(f <= v && predictor_factor[f] == f, "predictor_factor must point at the factor's first dummy");
        require(f == v || predictor_factor[v - 1] == f, "a factor's dummies must be consecutive");
        require(predictor_draw[v] != UnitDraw::normal && predictor_draw[v] == predictor_draw[f] &&
                    predictor_unit[v] == predictor_unit[f],
                "a factor's dummies are binary, drawn alike and on the same units");
    }
    require(n > n_fixed(), "fewer rows than fixed effects");
    for (auto b : row_block) require(b >= 0 && b < n, "row_block code out of range");
    for (int g = 0; g < G; ++g) {
        require(n_levels[g] >= 2, "a grouping factor needs at least 2 levels");
        require(int64_t(codes[g].size()) == n, "codes need one entry per row for every grouping");
        for (auto c : codes[g]) require(c >= 0 && c < n_levels[g], "grouping code out of range");
        require(int(level_block[g].size()) == n_levels[g], "level_block needs one entry per level");
        for (auto b : level_block[g]) require(b >= 0 && b < n_levels[g], "level_block code out of range");
        const int q = int(z_columns[g].size());
        require(q >= 1 && q <= kMaxRandomEffects, "each grouping needs 1 to " + std::to_string(kMaxRandomEffects) +
                                                      " random effects");
        for (int c : z_columns[g]) require(c >= 0 && c < n_fixed(), "z_columns entry is not a fixed column");
        require(int(re_cov[g].size()) == q * q, "re_cov of each grouping must be q x q");
        for (int a = 0; a < q; ++a) require(re_cov[g][a * q + a] >= 0.0, "re_cov has a negative variance");
    }
    require(!fit_grouping.empty() && fit_grouping.size() == fit_z_columns.size(),
            "fit_grouping and fit_z_columns need one entry per fitted term");
    for (size_t k = 0; k < fit_grouping.size(); ++k) {
        require(fit_grouping[k] >= 0 && fit_grouping[k] < G, "fit_grouping entry is not a grouping");
        require(!fit_z_columns[k].empty(), "a fitted term has no random effect");
        for (int c : fit_z_columns[k])
            require(c >= 0 && c < n_fixed(), "fit_z_columns entry is not a fixed column");
    }
    std::vector<int> seen(fit_grouping.size(), 0);
    require(component_order.size() == fit_grouping.size(), "component_order needs one entry per fitted term");
    for (int k : component_order) {
        require(k >= 0 && k < int(fit_grouping.size()) && !seen[k], "component_order is not a permutation");
        seen[k] = 1;
    }
    for (const auto& cols : joint_tests)
        for (int c : cols) require(c >= 1 && c < n_fixed(), "joint test column is not a fixed effect");
    require(estimator == Estimator::reml || estimator == Estimator::ml, "estimator is not an Estimator");
    require(df_method == DfMethod::satterthwaite || df_method == DfMethod::kenward_roger ||
                df_method == DfMethod::residual || df_method == DfMethod::z,
            "with several groupings the df methods are satterthwaite, kenward_roger, residual and z");
    require(df_method != DfMethod::kenward_roger || estimator == Estimator::reml,
            "df_method = kenward_roger needs the REML estimator");
    if (family != GlmFamily::gaussian) {
        check_glmm_options(family, link, 1, 1);
        require(df_method == DfMethod::z, "a GLMM with several groupings is tested by Wald z (df_method = z)");
    } else {
        require(link == GlmLink::identity, "a gaussian outcome has the identity link");
    }
}

GroupingsPlan::GroupingsPlan(const GroupingsDesign& d) {
    const int G = int(d.codes.size());
    size_t at = 0;
    for (int g = 0; g < G; ++g) {
        const int q = int(d.z_columns[g].size());
        chol.push_back(psd_cholesky(d.re_cov[g], q));
        b_at.push_back(at);
        at += size_t(d.n_levels[g]) * q;
    }
    b_at.push_back(at);
    blocks.resize(size_t(G) + 1);
    for (size_t v = 0; v < d.predictor_draw.size(); ++v) {
        const int g = d.predictor_unit[v];
        if (d.predictor_draw[v] == UnitDraw::balanced && blocks[size_t(g + 1)].empty())
            blocks[size_t(g + 1)] = members(g < 0 ? d.row_block : d.level_block[g]);
    }
    run_at.resize(size_t(G));
    run_level.resize(size_t(G));
    const int64_t n = d.n_rows();
    for (int g = 0; g < G; ++g) {
        const int64_t* code = d.codes[g].data();
        int64_t runs = 0;
        for (int64_t i = 0; i < n; ++i) runs += i == 0 || code[i] != code[i - 1];
        if (runs * 4 > n) continue;  // short runs: row by row is as fast
        for (int64_t i = 0; i < n; ++i)
            if (i == 0 || code[i] != code[i - 1]) {
                run_at[g].push_back(i);
                run_level[g].push_back(code[i]);
            }
        run_at[g].push_back(n);
    }
    term_at.push_back(0);
    for (const auto& t : d.terms) {
        term_pred.insert(term_pred.end(), t.begin(), t.end());
        term_at.push_back(int(term_pred.size()));
    }
}

void simulate_groupings(const GroupingsDesign& d, uint64_t seed, uint64_t index, std::vector<double>& X,
                        std::vector<double>& y) {
    GroupingsScratch sc;
    simulate_groupings(d, GroupingsPlan(d), seed, index, X, y, sc);
}

void simulate_groupings(const GroupingsDesign& d, const GroupingsPlan& plan, uint64_t seed, uint64_t index,
                        std::vector<double>& X, std::vector<double>& y, GroupingsScratch& sc) {
    const int64_t n = d.n_rows();
    const int p = d.n_fixed(), G = int(d.codes.size()), n_pred = int(d.predictor_draw.size());
    Stream rng(seed, index);
    // Random effects: per grouping, per level, b = L z.
    std::vector<double>& b = sc.b;
    b.assign(plan.b_at[size_t(G)], 0.0);
    for (int g = 0; g < G; ++g) {
        const int q = int(d.z_columns[g].size());
        const double* L = plan.chol[g].data();
        double z[kMaxRandomEffects];
        for (int l = 0; l < d.n_levels[g]; ++l) {
            rng.fill_normal(z, q);
            double* bl = &b[plan.b_at[g] + size_t(l) * q];
            for (int a = 0; a < q; ++a)
                for (int c = 0; c <= a; ++c) bl[a] += L[a * q + c] * z[c];
        }
    }
    // Predictors on their units, then spread over the rows.
    std::vector<double>& values = sc.values;
    std::vector<double>& unit = sc.unit;
    values.resize(size_t(n_pred) * n);
    for (int v = 0; v < n_pred; ++v) {
        const int g = d.predictor_unit[v];
        const int64_t units = g < 0 ? n : d.n_levels[g];
        double* col = &values[size_t(v) * n];
        if (d.predictor_draw[v] == UnitDraw::fixed) {  // laid out by the design, no draw
            std::copy(d.predictor_fixed[v].begin(), d.predictor_fixed[v].end(), col);
            continue;
        }
        const int f = d.predictor_factor.empty() ? -1 : d.predictor_factor[v];
        if (f >= 0) {  // a factor: all its dummies at its first, one level per unit
            if (f == v) draw_factor(rng, d, plan, v, units, values.data(), n, sc);
            continue;
        }
        if (g < 0) {  // drawn on the rows: straight into its column
            draw_units(rng, d.predictor_draw[v], d.predictor_p[v], plan.blocks[0], col, n, sc.idx);
            continue;
        }
        unit.resize(size_t(units));
        draw_units(rng, d.predictor_draw[v], d.predictor_p[v], plan.blocks[size_t(g + 1)], unit.data(), units,
                   sc.idx);
        const std::vector<int64_t>& at = plan.run_at[g];
        if (at.empty()) {
            const int64_t* code = d.codes[g].data();
            for (int64_t i = 0; i < n; ++i) col[i] = unit[code[i]];
        } else {
            for (size_t r = 0; r + 1 < at.size(); ++r)
                std::fill(col + at[r], col + at[r + 1], unit[plan.run_level[g][r]]);
        }
    }
    // Correlated normals: the last first, so that the draws it mixes are still the raw z
    // (mixing the spread columns is mixing the units' values: they share their units).
    for (int v = n_pred - 1; v >= 0 && !d.predictor_mix.empty(); --v) {
        const double* m = &d.predictor_mix[size_t(v) * n_pred];
        bool mixed = m[v] != 1.0;
        for (int u = 0; u < v; ++u) mixed = mixed || m[u] != 0.0;
        if (!mixed) continue;
        double* col = &values[size_t(v) * n];
        for (int64_t i = 0; i < n; ++i) {
            double x = m[v] * col[i];
            for (int u = 0; u < v; ++u)
                if (m[u] != 0.0) x += m[u] * values[size_t(u) * n + i];
            col[i] = x;
        }
    }
    X.resize(size_t(n) * p);
    y.resize(size_t(n));
    const bool gaussian = d.family == GlmFamily::gaussian;
    if (gaussian)
        rng.fill_normal(y.data(), n);  // the residuals (variance 1)
    else
        std::fill(y.begin(), y.end(), 0.0);
    // The fixed columns column by column (the predictors' product, from 1), then eta
    // summed in each row in the same order as ever: the fixed columns', then each
    // grouping's random effects; column-wise passes the compiler can pipeline.
    std::vector<double>& cols = sc.cols;
    std::vector<double>& eta = sc.eta;
    cols.resize(size_t(p) * n);
    eta.resize(size_t(n));
    std::fill(cols.begin(), cols.begin() + n, 1.0);
    double e0 = 0.0;
    e0 += 1.0 * d.beta[0];
    for (int c = 1; c < p; ++c) {  // a term has at least one predictor (check)
        double* col = &cols[size_t(c) * n];
        const double* v0 = &values[size_t(plan.term_pred[plan.term_at[c - 1]]) * n];
        for (int64_t i = 0; i < n; ++i) col[i] = 1.0 * v0[i];
        for (int k = plan.term_at[c - 1] + 1; k < plan.term_at[c]; ++k) {
            const double* v = &values[size_t(plan.term_pred[k]) * n];
            for (int64_t i = 0; i < n; ++i) col[i] *= v[i];
        }
        const double bc = d.beta[c];
        if (c == 1) {
            for (int64_t i = 0; i < n; ++i) eta[i] = e0 + col[i] * bc;
        } else {
            for (int64_t i = 0; i < n; ++i) eta[i] += col[i] * bc;
        }
    }
    if (p == 1) std::fill(eta.begin(), eta.end(), e0);
    for (int g = 0; g < G; ++g) {
        const int q = int(d.z_columns[g].size());
        const double* bg = &b[plan.b_at[g]];
        const int64_t* code = d.codes[g].data();
        const std::vector<int64_t>& at = plan.run_at[g];
        for (int a = 0; a < q; ++a) {
            const double* col = &cols[size_t(d.z_columns[g][a]) * n];
            if (at.empty()) {
                for (int64_t i = 0; i < n; ++i) eta[i] += col[i] * bg[size_t(code[i]) * q + a];
                continue;
            }
            for (size_t r = 0; r + 1 < at.size(); ++r) {  // one effect per run: no gather
                const double e = bg[size_t(plan.run_level[g][r]) * q + a];
                for (int64_t i = at[r]; i < at[r + 1]; ++i) eta[i] += col[i] * e;
            }
        }
    }
    for (int64_t i = 0; i < n; ++i) y[i] += eta[i];
    switch (p) {  // the columns into X's rows, unrolled for the common sizes
        case 2: to_rows<2>(cols.data(), n, X.data()); break;
        case 3: to_rows<3>(cols.data(), n, X.data()); break;
        case 4: to_rows<4>(cols.data(), n, X.data()); break;
        default: to_rows<0>(cols.data(), n, X.data(), p);
    }
    if (!gaussian)  // y holds eta: the outcome given it, row by row
        for (int64_t i = 0; i < n; ++i) y[i] = draw_outcome(d.family, d.link, y[i], rng);
}

}  // namespace mcps
