// Python bindings: type conversion only.  Work runs without the GIL; C++ exceptions
// become ValueError (std::invalid_argument) or RuntimeError (anything else).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "bindings_data.hpp"
#include "chunk.hpp"
#include "inference.hpp"
#include "rng.hpp"
#include "simulate.hpp"

namespace py = pybind11;
using namespace mcps;

void register_glmm(py::module_& m);     // bindings_glmm.cpp
void register_robust(py::module_& m);   // bindings_robust.cpp
void register_general(py::module_& m);  // bindings_general.cpp
void register_groupings(py::module_& m);  // bindings_groupings.cpp

namespace {

template <typename T>
py::array_t<T> to_array(const std::vector<T>& v, std::vector<py::ssize_t> shape) {
    py::array_t<T> a(shape);
    if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(T));
    return a;
}

py::dict chunk(const EngineSpec& spec, uint64_t seed, uint64_t start, int64_t count, int n_threads) {
    ChunkOutput out;
    {
        py::gil_scoped_release release;
        out = run_chunk(spec, seed, start, count, n_threads);
    }
    return chunk_output_dict(out);
}

// The one way to make an EngineSpec from Python: every field named, checked once.
EngineSpec make_spec(std::vector<bool> predictor_binary, std::vector<double> predictor_p,
                     std::vector<std::vector<int>> terms, std::vector<double> beta, std::vector<int> z_columns,
                     std::vector<double> re_cov, std::vector<int64_t> cluster_sizes, Estimator estimator,
                     DfMethod df_method, bool row_level, std::vector<Level> predictor_level,
                     std::vector<Allocation> predictor_allocation, double cluster_size_cv,
                     std::vector<double> predictor_mix, std::vector<int> predictor_factor,
                     std::vector<std::vector<int>> joint_tests, GlmFamily family, GlmLink link,
                     int nagq, std::vector<int> fit_columns, std::vector<int> fit_z_columns,
                     Robustness robust, std::vector<std::vector<double>> predictor_values,
                     std::vector<ValuesUse> predictor_values_use) {
    EngineSpec s;
    s.predictor_binary = std::move(predictor_binary);
    s.predictor_p = std::move(predictor_p);
    s.predictor_level = std::move(predictor_level);
    s.predictor_allocation = std::move(predictor_allocation);
    s.terms = std::move(terms);
    s.beta = std::move(beta);
    s.z_columns = std::move(z_columns);
    s.re_cov = std::move(re_cov);
    s.cluster_sizes = std::move(cluster_sizes);
    s.cluster_size_cv = cluster_size_cv;
    s.predictor_mix = std::move(predictor_mix);
    s.predictor_factor = std::move(predictor_factor);
    s.joint_tests = std::move(joint_tests);
    s.estimator = estimator;
    s.df_method = df_method;
    s.row_level = row_level;
    s.family = family;
    s.link = link;
    s.nagq = nagq;
    s.fit_columns = std::move(fit_columns);
    s.fit_z_columns = std::move(fit_z_columns);
    s.robust = std::move(robust);
    s.predictor_values = std::move(predictor_values);
    s.predictor_values_use = std::move(predictor_values_use);
    s.check();
    check_robustness(s);
    return s;
}

py::dict fit_py(py::array_t<double, py::array::c_style | py::array::forcecast> X,
             py::array_t<double, py::array::c_style | py::array::forcecast> y,
             py::array_t<int64_t, py::array::c_style | py::array::forcecast> group, int n_groups,
             std::vector<int> z_columns, bool uncorrelated, Estimator estimator, DfMethod df_method,
             std::vector<std::vector<int>> joint_tests) {
    check_rows(X, y, group);
    const int64_t n = X.shape(0);
    const int p = int(X.shape(1));
    DataFitOutput out;
    {
        py::gil_scoped_release release;
        out = fit_data(X.data(), y.data(), group.data(), n, p, n_groups, z_columns, uncorrelated, estimator,
                       df_method, joint_tests);
    }
    const py::ssize_t pp = p, q = py::ssize_t(z_columns.size());
    py::dict d;
    d["beta"] = to_array(out.fit.beta, {pp});
    d["vcov"] = to_array(out.fit.vcov, {pp, pp});
    d["se"] = to_array(out.tests.se, {pp});
    d["df"] = to_array(out.tests.df, {pp});
    d["pvalue"] = to_array(out.tests.pvalue, {pp});
    d["theta"] = to_array(out.fit.theta, {py::ssize_t(out.fit.theta.size())});
    d["re_cov"] = to_array(out.fit.re_cov, {q, q});
    d["sigma2"] = out.fit.sigma2;
    d["deviance"] = out.fit.deviance;
    d["converged"] = out.fit.converged;
    d["singular"] = out.fit.singular;
    d["iterations"] = out.fit.iterations;
    d["joint"] = joint_tests_list(out.joint);
    return d;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "mcpower_sweep's native engine: simulation, LMM fits and Wald tests";
    m.attr("__version__") = MCPS_VERSION;

    m.attr("MAX_FIXED_EFFECTS") = kMaxFixedEffects;
    m.attr("MAX_RANDOM_EFFECTS") = kMaxRandomEffects;
    m.attr("MIN_CLUSTER_SIZE") = kMinClusterSize;

    py::enum_<DfMethod>(m, "DfMethod", "Reference distribution (degrees of freedom) of the Wald t tests.")
        .value("satterthwaite", DfMethod::satterthwaite)
        .value("between_within", DfMethod::between_within)
        .value("residual", DfMethod::residual)
        .value("z", DfMethod::z)
        .value("kenward_roger", DfMethod::kenward_roger);
    py::enum_<Estimator>(m, "Estimator", "Fit criterion of the mixed model.")
        .value("reml", Estimator::reml)
        .value("ml", Estimator::ml);

    py::enum_<Level>(m, "Level", "Where a predictor varies: within clusters or only between them.")
        .value("observation", Level::observation)
        .value("cluster", Level::cluster);
    py::enum_<Allocation>(m, "Allocation", "How a binary predictor's ones are placed.")
        .value("independent", Allocation::independent)
        .value("balanced", Allocation::balanced);
    register_robust(m);  // Shape, Robustness (EngineSpec's default needs them)
    register_glmm(m);  // GlmFamily, GlmLink (EngineSpec's defaults need them), fit_glmm
    register_general(m);  // fit_general: several random-effect terms
    register_groupings(m);  // simulations with several grouping factors

    py::class_<EngineSpec>(m, "EngineSpec", "A checked, read-only description of a simulated design.")
        .def(py::init(&make_spec), py::kw_only(), py::arg("predictor_binary"), py::arg("predictor_p"),
             py::arg("terms"), py::arg("beta"), py::arg("z_columns"), py::arg("re_cov"), py::arg("cluster_sizes"),
             py::arg("estimator"), py::arg("df_method"), py::arg("row_level") = false,
             py::arg("predictor_level") = std::vector<Level>{},
             py::arg("predictor_allocation") = std::vector<Allocation>{}, py::arg("cluster_size_cv") = 0.0,
             py::arg("predictor_mix") = std::vector<double>{}, py::arg("predictor_factor") = std::vector<int>{},
             py::arg("joint_tests") = std::vector<std::vector<int>>{},
             py::arg("family") = GlmFamily::gaussian, py::arg("link") = GlmLink::identity, py::arg("nagq") = 1,
             py::arg("fit_columns") = std::vector<int>{}, py::arg("fit_z_columns") = std::vector<int>{},
             py::arg("robust") = Robustness(),
             py::arg("predictor_values") = std::vector<std::vector<double>>{},
             py::arg("predictor_values_use") = std::vector<ValuesUse>{})
        .def_readonly("predictor_binary", &EngineSpec::predictor_binary)
        .def_readonly("predictor_p", &EngineSpec::predictor_p)
        .def_readonly("predictor_level", &EngineSpec::predictor_level)
        .def_readonly("predictor_allocation", &EngineSpec::predictor_allocation)
        .def_readonly("terms", &EngineSpec::terms)
        .def_readonly("beta", &EngineSpec::beta)
        .def_readonly("z_columns", &EngineSpec::z_columns)
        .def_readonly("re_cov", &EngineSpec::re_cov)
        .def_readonly("cluster_sizes", &EngineSpec::cluster_sizes)
        .def_readonly("cluster_size_cv", &EngineSpec::cluster_size_cv)
        .def_readonly("predictor_mix", &EngineSpec::predictor_mix)
        .def_readonly("predictor_factor", &EngineSpec::predictor_factor)
        .def_readonly("joint_tests", &EngineSpec::joint_tests)
        .def_readonly("estimator", &EngineSpec::estimator)
        .def_readonly("df_method", &EngineSpec::df_method)
        .def_readonly("row_level", &EngineSpec::row_level)
        .def_readonly("family", &EngineSpec::family)
        .def_readonly("link", &EngineSpec::link)
        .def_readonly("nagq", &EngineSpec::nagq)
        .def_readonly("fit_columns", &EngineSpec::fit_columns)
        .def_readonly("fit_z_columns", &EngineSpec::fit_z_columns)
        .def_readonly("robust", &EngineSpec::robust)
        .def_readonly("predictor_values", &EngineSpec::predictor_values)
        .def_readonly("predictor_values_use", &EngineSpec::predictor_values_use);

    m.def("run_chunk", &chunk, py::arg("spec"), py::arg("seed"), py::arg("start"), py::arg("count"),
          py::arg("n_threads") = 1, "Simulate and fit simulations start .. start + count - 1 of seed.");
    m.def("fit", &fit_py, py::arg("X"), py::arg("y"), py::arg("group"), py::arg("n_groups"), py::arg("z_columns"),
          py::kw_only(), py::arg("uncorrelated") = false, py::arg("estimator") = Estimator::reml, py::arg("df_method") = DfMethod::satterthwaite,
          py::arg("joint_tests") = std::vector<std::vector<int>>{},
          "Fit a one-factor LMM to data.");
    m.def("cross_products", [](const EngineSpec& spec, uint64_t seed, uint64_t index) {
        Problem pr;
        Generator(spec).generate(seed, index, pr);
        const py::ssize_t J = pr.n_clusters, m = pr.p + 1;
        py::dict d;
        d["cross"] = to_array(pr.cross, {J, m, m});
        d["colsum"] = to_array(pr.colsum, {J, m});
        d["rows"] = to_array(pr.rows, {J});
        return d;
    }, py::arg("spec"), py::arg("seed"), py::arg("index"),
       "Per-cluster cross-products [X y]'[X y], column sums and rows of one simulation (for tests).");
    m.def("two_sided_p", &two_sided_p, py::arg("t"), py::arg("df"), "Two-sided p-value of a t (df=inf: z).");
    m.def("normal_draws", [](uint64_t seed, uint64_t index, int64_t n) {
        std::vector<double> v(n);
        Stream s(seed, index);
        for (auto& x : v) x = s.normal();
        return to_array(v, {py::ssize_t(n)});
    }, py::arg("seed"), py::arg("index"), py::arg("n"), "Standard normal draws of one stream (for tests).");
}
