// A standalone driver of the engine for AddressSanitizer / UndefinedBehaviorSanitizer
// builds (scripts/sanitize.sh).  It runs chunks of simulations over ordinary and
// degenerate designs, every estimator and df method, one and several threads, the
// engine's input checks, and fit_data on the lme4 fixture CSVs.  Any sanitizer report
// aborts the process (-fno-sanitize-recover=all); engine-level problems (NaN leaking
// into a converged fit, a p-value outside [0, 1]) make it exit non-zero too.
//
// usage: sanitize_main DATA_DIR [SIMULATIONS_PER_DESIGN]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../chunk.hpp"

using namespace mcps;

namespace {

int g_problems = 0;

void problem(const std::string& what) {
    std::fprintf(stderr, "PROBLEM: %s\n", what.c_str());
    ++g_problems;
}

struct Design {
    std::string name;
    EngineSpec spec;
};

// y ~ terms + (z_columns | g) with predictors normal unless marked binary.
EngineSpec make(int n_pred, std::vector<std::vector<int>> terms, std::vector<int> z_columns,
                std::vector<int64_t> sizes, double icc, double slope_var, double corr,
                std::vector<double> binary_p = {}) {
    EngineSpec s;
    s.predictor_binary.assign(n_pred, false);
    s.predictor_p.assign(n_pred, 0.5);
    for (size_t i = 0; i < binary_p.size() && int(i) < n_pred; ++i) {
        if (binary_p[i] > 0.0) {
            s.predictor_binary[i] = true;
            s.predictor_p[i] = binary_p[i];
        }
    }
    s.terms = std::move(terms);
    s.beta.assign(s.terms.size() + 1, 0.0);
    for (size_t k = 1; k < s.beta.size(); ++k) s.beta[k] = 0.1 * double(k);
    s.z_columns = std::move(z_columns);
    const int q = int(s.z_columns.size());
    std::vector<double> sd(q);
    for (int a = 0; a < q; ++a)
        sd[a] = s.z_columns[a] == 0 ? std::sqrt(icc / (1.0 - icc)) : std::sqrt(slope_var);
    s.re_cov.assign(q * q, 0.0);
    for (int a = 0; a < q; ++a)
        for (int b = 0; b < q; ++b) {
            double r = a == b ? 1.0 : 0.0;
            if (a != b && (s.z_columns[a] == 0 || s.z_columns[b] == 0)) r = corr;
            s.re_cov[a * q + b] = r * sd[a] * sd[b];
        }
    s.cluster_sizes = std::move(sizes);
    return s;
}

std::vector<int64_t> even(int j, int64_t n) {
    std::vector<int64_t> v(j, n / j);
    for (int64_t k = 0; k < n % j; ++k) v[k] += 1;
    return v;
}

std::vector<Design> designs() {
    std::vector<Design> d;
    const std::vector<std::vector<int>> xz = {{0}, {1}};
    d.push_back({"8x10 slope", make(2, xz, {0, 1}, even(8, 80), 0.15, 0.1, 0.3)});
    d.push_back({"intercept only", make(2, xz, {0}, even(8, 80), 0.15, 0.0, 0.0)});
    d.push_back({"3 clusters", make(2, xz, {0, 1}, even(3, 60), 0.15, 0.1, 0.0)});
    d.push_back({"5 rows per cluster", make(2, xz, {0, 1}, even(10, 50), 0.15, 0.1, 0.0)});
    d.push_back({"3 clusters of 5 rows", make(2, xz, {0, 1}, even(3, 15), 0.15, 0.1, 0.0)});
    d.push_back({"ICC .9", make(2, xz, {0, 1}, even(8, 80), 0.9, 0.1, 0.0)});
    d.push_back({"ICC 0", make(2, xz, {0, 1}, even(8, 80), 0.0, 0.1, 0.0)});
    d.push_back({"slope variance 0", make(2, xz, {0, 1}, even(8, 80), 0.15, 0.0, 0.0)});
    d.push_back({"correlation 1", make(2, xz, {0, 1}, even(8, 80), 0.2, 0.2, 1.0)});
    d.push_back({"binary p=.05", make(2, xz, {0, 1}, even(6, 30), 0.15, 0.1, 0.0, {0.05})});
    d.push_back({"binary p=.5 both", make(2, xz, {0, 1}, even(8, 80), 0.15, 0.1, 0.0, {0.5, 0.5})});
    d.push_back({"interaction", make(2, {{0}, {1}, {0, 1}}, {0, 1}, even(8, 80), 0.15, 0.1, 0.2)});
    d.push_back({"interaction slope", make(2, {{0}, {1}, {0, 1}}, {0, 3}, even(8, 80), 0.15, 0.1, 0.0)});
    d.push_back({"3 random effects",
                 make(3, {{0}, {1}, {2}}, {0, 1, 2}, even(8, 80), 0.15, 0.1, 0.3)});
    d.push_back({"3 random effects, 3 clusters of 5",
                 make(3, {{0}, {1}, {2}}, {0, 1, 2}, even(3, 15), 0.9, 0.0, 0.0)});
    d.push_back({"slopes without intercept", make(2, xz, {1, 2}, even(8, 80), 0.0, 0.1, 0.0)});
    d.push_back({"unequal sizes", make(2, xz, {0, 1}, {5, 6, 7, 30, 12, 5, 9, 40}, 0.15, 0.1, 0.0)});
    d.push_back({"clusters of 1 and 2 rows", make(1, {{0}}, {0}, {1, 2, 1, 2, 1, 2}, 0.3, 0.0, 0.0)});
    d.push_back({"many clusters", make(2, xz, {0, 1}, even(200, 1000), 0.15, 0.05, 0.0)});
    EngineSpec rows = make(2, xz, {0, 1}, even(8, 80), 0.15, 0.1, 0.3);
    rows.row_level = true;
    d.push_back({"row level", rows});
    EngineSpec big = make(2, xz, {0, 1}, even(8, 80), 0.15, 0.1, 0.0);
    big.beta = {1e6, -1e6, 1e-12};
    d.push_back({"huge effects", big});
    // factors: dummies 0, 1 of a 3-level factor (P = .3, .2, first level .5), x normal,
    // with the joint F test of the dummies; per row, per cluster balanced, and with x
    EngineSpec factor = make(3, {{0}, {1}, {2}}, {0}, even(8, 80), 0.15, 0.0, 0.0, {0.3, 0.2});
    factor.predictor_factor = {0, 0, -1};
    factor.joint_tests = {{1, 2}};
    d.push_back({"factor(3)", factor});
    EngineSpec small_factor = factor;
    small_factor.cluster_sizes = even(3, 15);
    d.push_back({"factor(3), 3 clusters of 5", small_factor});
    EngineSpec between = factor;
    between.predictor_level = {Level::cluster, Level::cluster, Level::observation};
    between.predictor_allocation = {Allocation::balanced, Allocation::balanced, Allocation::independent};
    d.push_back({"factor(3) per cluster, balanced", between});
    EngineSpec crossed = make(3, {{0}, {1}, {2}, {0, 2}, {1, 2}}, {0, 3}, even(8, 80), 0.15, 0.1, 0.0, {0.3, 0.2});
    crossed.predictor_factor = {0, 0, -1};
    crossed.joint_tests = {{1, 2}, {4, 5}};
    d.push_back({"factor(3) x x", crossed});
    return d;
}

void check_chunk(const std::string& name, const ChunkOutput& out) {
    const int p = out.p;
    for (int64_t i = 0; i < out.count; ++i) {
        for (int c = 0; c < p; ++c) {
            const double e = out.estimate[i * p + c], se = out.se[i * p + c], pv = out.pvalue[i * p + c];
            if (out.converged[i]) {
                if (!std::isfinite(e) || !std::isfinite(se) || !(pv >= 0.0 && pv <= 1.0))
                    problem(name + ": converged simulation " + std::to_string(i) + " has a non-finite result");
            } else if (!std::isnan(e) || !std::isnan(pv)) {
                problem(name + ": failed simulation " + std::to_string(i) + " has a non-NaN estimate");
            }
        }
        for (int k = 0; k < out.n_joint; ++k) {
            const double pv = out.joint_pvalue[i * out.n_joint + k];
            if (out.converged[i] ? !(pv >= 0.0 && pv <= 1.0) : !std::isnan(pv))
                problem(name + ": simulation " + std::to_string(i) + " has a joint p-value " + std::to_string(pv));
        }
    }
}

bool same(const ChunkOutput& a, const ChunkOutput& b) {
    if (a.count != b.count || a.converged != b.converged || a.singular != b.singular) return false;
    for (size_t k = 0; k < a.estimate.size(); ++k) {
        const bool both_nan = std::isnan(a.estimate[k]) && std::isnan(b.estimate[k]);
        if (!both_nan && a.estimate[k] != b.estimate[k]) return false;
    }
    return true;
}

void run_designs(int sims) {
    for (auto& d : designs()) {
        for (int method = 0; method < 5; ++method) {
            for (bool reml : {true, false}) {
                if (method == int(DfMethod::kenward_roger) && !reml) continue;  // REML only
                EngineSpec s = d.spec;
                s.df_method = DfMethod(method);
                s.estimator = reml ? Estimator::reml : Estimator::ml;
                const std::string name = d.name + " df=" + std::to_string(method) + (reml ? " REML" : " ML");
                try {
                    const ChunkOutput one = run_chunk(s, 20240611, 0, sims, 1);
                    check_chunk(name, one);
                    if (method == 0 && reml) {
                        // several threads, and a different chunking: identical results
                        const ChunkOutput two = run_chunk(s, 20240611, 0, sims, 2);
                        if (!same(one, two)) problem(name + ": 2 threads differ from 1");
                        const ChunkOutput tail = run_chunk(s, 20240611, uint64_t(sims / 2), sims - sims / 2, 2);
                        for (int64_t i = 0; i < tail.count; ++i)
                            if (tail.converged[i] != one.converged[sims / 2 + i])
                                problem(name + ": chunking changes the result");
                    }
                    int ok = 0;
                    for (auto c : one.converged) ok += c;
                    if (method == 0 && reml)
                        std::printf("%-40s %d/%d fits converged\n", d.name.c_str(), ok, sims);
                } catch (const std::exception& e) {
                    problem(name + ": threw " + e.what());
                }
            }
        }
    }
}

// Inputs the engine must refuse with std::invalid_argument (and no sanitizer report).
void run_bad_specs() {
    const std::vector<std::vector<int>> xz = {{0}, {1}};
    std::vector<std::pair<std::string, std::function<void(EngineSpec&)>>> cases = {
        {"beta too short", [](EngineSpec& s) { s.beta.pop_back(); }},
        {"term refers to missing predictor", [](EngineSpec& s) { s.terms[0] = {7}; }},
        {"empty term", [](EngineSpec& s) { s.terms[0].clear(); }},
        {"z column out of range", [](EngineSpec& s) { s.z_columns[1] = 9; }},
        {"negative z column", [](EngineSpec& s) { s.z_columns[1] = -1; }},
        {"re_cov wrong size", [](EngineSpec& s) { s.re_cov.pop_back(); }},
        {"negative variance", [](EngineSpec& s) { s.re_cov[0] = -1.0; }},
        {"NaN variance", [](EngineSpec& s) { s.re_cov[0] = std::nan(""); }},
        {"one cluster", [](EngineSpec& s) { s.cluster_sizes = {50}; }},
        {"empty cluster", [](EngineSpec& s) { s.cluster_sizes[0] = 0; }},
        {"p outside [0, 1]", [](EngineSpec& s) { s.predictor_p[0] = 2.0; }},
        {"predictor_p too short", [](EngineSpec& s) { s.predictor_p.pop_back(); }},
        {"df_method 7", [](EngineSpec& s) { s.df_method = DfMethod(7); }},
        {"estimator 5", [](EngineSpec& s) { s.estimator = Estimator(5); }},
        {"no random effects", [](EngineSpec& s) { s.z_columns.clear(); s.re_cov.clear(); }},
    };
    for (auto& [name, mutate] : cases) {
        EngineSpec s = make(2, xz, {0, 1}, even(8, 80), 0.15, 0.1, 0.0);
        mutate(s);
        try {
            run_chunk(s, 1, 0, 3, 1);
            problem("bad spec '" + name + "' was accepted");
        } catch (const std::invalid_argument&) {
        } catch (const std::exception& e) {
            problem("bad spec '" + name + "' threw a non-invalid_argument: " + e.what());
        }
    }
    try {
        EngineSpec s = make(2, xz, {0, 1}, even(8, 80), 0.15, 0.1, 0.0);
        run_chunk(s, 1, 0, -1, 1);
        problem("count -1 was accepted");
    } catch (const std::invalid_argument&) {
    }
}

struct Csv {
    std::vector<std::string> cluster;
    std::vector<double> treatment, motivation, y;
};

Csv read_csv(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    Csv c;
    std::string line;
    std::getline(in, line);  // header: cluster,treatment,motivation,y
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::stringstream ss(line);
        std::string f[4];
        for (auto& x : f) std::getline(ss, x, ',');
        c.cluster.push_back(f[0]);
        c.treatment.push_back(std::stod(f[1]));
        c.motivation.push_back(std::stod(f[2]));
        c.y.push_back(std::stod(f[3]));
    }
    return c;
}

void run_fixtures(const std::string& dir) {
    const char* cases[] = {"c01", "c02", "c03", "c04", "c05", "c06", "c07",
                           "c08", "c09", "c10", "c11", "c12", "c21", "c22"};
    for (const char* name : cases) {
        Csv d = read_csv(dir + "/" + name + ".csv");
        const int64_t n = int64_t(d.y.size());
        std::map<std::string, int64_t> code;
        std::vector<int64_t> g(n);
        for (int64_t i = 0; i < n; ++i) {
            auto it = code.emplace(d.cluster[i], int64_t(code.size())).first;
            g[i] = it->second;
        }
        const int p = 3;
        std::vector<double> X(n * p);
        for (int64_t i = 0; i < n; ++i) {
            X[i * p] = 1.0;
            X[i * p + 1] = d.treatment[i];
            X[i * p + 2] = d.motivation[i];
        }
        for (const std::vector<int>& z : {std::vector<int>{0, 1}, std::vector<int>{0},
                                          std::vector<int>{0, 1, 2}}) {
            for (bool diagonal : {false, true})
            for (bool reml : {true, false}) {
                for (int method = 0; method <= int(DfMethod::kenward_roger); ++method) {
                    if (!reml && DfMethod(method) == DfMethod::kenward_roger) continue;  // refused
                    try {
                        DataFitOutput out = fit_data(X.data(), d.y.data(), g.data(), n, p, int(code.size()), z,
                                                     diagonal, reml ? Estimator::reml : Estimator::ml,
                                                     DfMethod(method));
                        if (out.fit.converged)
                            for (int c = 0; c < p; ++c)
                                if (!std::isfinite(out.fit.beta[c]) || !(out.tests.pvalue[c] >= 0.0 &&
                                                                         out.tests.pvalue[c] <= 1.0))
                                    problem(std::string(name) + ": converged fit with a non-finite result");
                    } catch (const std::exception& e) {
                        problem(std::string(name) + ": fit_data threw " + e.what());
                    }
                }
            }
        }
        std::printf("fixture %s: %lld rows, %zu clusters fitted\n", name, (long long)n, code.size());
    }
    // Bad data is refused, not read out of bounds.
    const double X[6] = {1, 0.1, 1, 0.2, 1, 0.3};
    const double y[3] = {1, 2, 3};
    const int64_t g_bad[3] = {0, 1, 5};
    try {
        fit_data(X, y, g_bad, 3, 2, 2, {0}, false, Estimator::reml, DfMethod::satterthwaite);
        problem("group code out of range was accepted");
    } catch (const std::invalid_argument&) {
    }
    const int64_t g_ok[3] = {0, 1, 1};
    try {
        fit_data(X, y, g_ok, 3, 2, 2, {0, 4}, false, Estimator::reml, DfMethod::satterthwaite);
        problem("random-effect column out of range was accepted");
    } catch (const std::invalid_argument&) {
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DATA_DIR [SIMULATIONS_PER_DESIGN]\n", argv[0]);
        return 2;
    }
    const int sims = argc > 2 ? std::atoi(argv[2]) : 40;
    run_designs(sims);
    run_bad_specs();
    run_fixtures(argv[1]);
    if (g_problems) {
        std::fprintf(stderr, "%d problem(s)\n", g_problems);
        return 1;
    }
    std::printf("sanitize_main: all designs and fixtures ran clean\n");
    return 0;
}
