// Python binding of the fit with several random-effect terms (type conversion only;
// see lmm_general.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "bindings_data.hpp"
#include "lmm_general.hpp"

namespace py = pybind11;
using namespace mcps;

namespace {

using Doubles = py::array_t<double, py::array::c_style | py::array::forcecast>;
using Codes = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

py::array_t<double> array_of(const std::vector<double>& v, std::vector<py::ssize_t> shape) {
    py::array_t<double> a(shape);
    if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(double));
    return a;
}

py::dict fit_general_py(Doubles X, Doubles y, Codes codes, std::vector<int> n_levels,
                        std::vector<std::vector<int>> z_columns, Estimator estimator, DfMethod df_method,
                        std::vector<std::vector<int>> joint_tests, bool nested_kernel) {
    if (X.ndim() != 2 || y.ndim() != 1) throw std::invalid_argument("X must be 2-d and y 1-d");
    const int64_t n = X.shape(0);
    const int p = int(X.shape(1));
    const size_t K = n_levels.size();
    if (y.shape(0) != n) throw std::invalid_argument("X and y have different numbers of rows");
    if (codes.ndim() != 2 || size_t(codes.shape(0)) != K || codes.shape(1) != n || z_columns.size() != K)
        throw std::invalid_argument("codes must be (terms x rows) with one n_levels and z_columns entry per term");
    std::vector<general::TermInput> terms(K);
    for (size_t k = 0; k < K; ++k) {
        terms[k].codes = codes.data() + k * n;
        terms[k].n_levels = n_levels[k];
        terms[k].z_columns = z_columns[k];
    }
    general::Result out;
    {
        py::gil_scoped_release release;
        out = general::fit_general(X.data(), y.data(), n, p, terms, estimator, df_method, joint_tests,
                                   /*first_converged=*/false, nested_kernel);
    }
    const py::ssize_t pp = p;
    py::dict d;
    d["beta"] = array_of(out.beta, {pp});
    d["vcov"] = array_of(out.vcov, {pp, pp});
    d["se"] = array_of(out.se, {pp});
    d["df"] = array_of(out.df, {pp});
    d["pvalue"] = array_of(out.pvalue, {pp});
    d["theta"] = array_of(out.theta, {py::ssize_t(out.theta.size())});
    py::list re_cov;
    for (size_t k = 0; k < K; ++k) {
        const py::ssize_t q = py::ssize_t(z_columns[k].size());
        re_cov.append(array_of(out.re_cov[k], {q, q}));
    }
    d["re_cov"] = re_cov;
    d["sigma2"] = out.sigma2;
    d["deviance"] = out.deviance;
    d["converged"] = out.converged;
    d["singular"] = out.singular;
    d["iterations"] = out.iterations;
    d["evaluations"] = out.evaluations;
    d["joint"] = joint_tests_list(out.joint);
    return d;
}

// The profiled deviance and its exact gradient at theta, for tests that hold the gradient
// to finite differences of the deviance.
py::tuple general_deviance_py(Doubles X, Doubles y, Codes codes, std::vector<int> n_levels,
                              std::vector<std::vector<int>> z_columns, std::vector<double> theta, Estimator estimator,
                              bool nested_kernel) {
    const int64_t n = X.shape(0);
    std::vector<general::TermInput> terms(n_levels.size());
    if (X.ndim() != 2 || y.shape(0) != n || codes.ndim() != 2 || size_t(codes.shape(0)) != terms.size() ||
        codes.shape(1) != n || z_columns.size() != terms.size())
        throw std::invalid_argument("X, y, codes, n_levels and z_columns do not fit together");
    for (size_t k = 0; k < terms.size(); ++k) {
        terms[k].codes = codes.data() + k * n;
        terms[k].n_levels = n_levels[k];
        terms[k].z_columns = z_columns[k];
    }
    const general::Model md = general::build_model(X.data(), y.data(), n, int(X.shape(1)), terms, nested_kernel);
    if (int(theta.size()) != md.n_theta) throw std::invalid_argument("theta has the wrong length");
    general::Eval ev;
    general::Scratch sc;
    std::vector<double> g;
    if (!general::gradient(md, estimator == Estimator::reml, theta.data(), ev, sc, g))
        return py::make_tuple(std::numeric_limits<double>::infinity(), py::none());
    return py::make_tuple(ev.deviance, array_of(g, {py::ssize_t(g.size())}));
}

}  // namespace

void register_general(py::module_& m) {
    m.def("fit_general", &fit_general_py, py::arg("X"), py::arg("y"), py::arg("codes"), py::arg("n_levels"),
          py::arg("z_columns"), py::kw_only(), py::arg("estimator") = Estimator::reml,
          py::arg("df_method") = DfMethod::satterthwaite, py::arg("joint_tests") = std::vector<std::vector<int>>{},
          py::arg("nested_kernel") = true,
          "Fit an LMM with several random-effect terms (codes: terms x rows; the first term is blocked; "
          "nested_kernel=False: nested intercepts too by the general path, for tests).");
    m.def("general_deviance", &general_deviance_py, py::arg("X"), py::arg("y"), py::arg("codes"),
          py::arg("n_levels"), py::arg("z_columns"), py::arg("theta"), py::kw_only(),
          py::arg("estimator") = Estimator::reml, py::arg("nested_kernel") = true,
          "The profiled deviance of an LMM with several random-effect terms at theta and its gradient.");
}
