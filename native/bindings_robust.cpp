// Python bindings of the robustness settings (spec.hpp, Robustness): type conversion only.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "rng.hpp"
#include "simulate.hpp"

namespace py = pybind11;
using namespace mcps;

namespace {

Robustness make_robust(Shape residual_shape, double residual_param, Shape re_shape, double re_param,
                       double het_gamma, std::vector<double> het_weights, double het_center, double het_scale,
                       double effect_jitter, double icc_noise_sd, double residual_change_prob,
                       std::vector<Shape> residual_pool, std::vector<double> residual_pool_param,
                       std::vector<double> variance_draws) {
    Robustness r;
    r.residual_shape = residual_shape;
    r.residual_param = residual_param;
    r.re_shape = re_shape;
    r.re_param = re_param;
    r.het_gamma = het_gamma;
    r.het_weights = std::move(het_weights);
    r.het_center = het_center;
    r.het_scale = het_scale;
    r.effect_jitter = effect_jitter;
    r.icc_noise_sd = icc_noise_sd;
    r.residual_change_prob = residual_change_prob;
    r.residual_pool = std::move(residual_pool);
    r.residual_pool_param = std::move(residual_pool_param);
    r.variance_draws = std::move(variance_draws);
    return r;
}

}  // namespace

void register_robust(py::module_& m) {
    py::enum_<Shape>(m, "Shape", "Shape of a unit-variance draw (residuals, random effects).")
        .value("normal", Shape::normal)
        .value("t", Shape::t)
        .value("right_skewed", Shape::right_skewed)
        .value("left_skewed", Shape::left_skewed)
        .value("uniform", Shape::uniform)
        .value("mixture", Shape::mixture);
    py::enum_<ValuesUse>(m, "ValuesUse", "How a predictor's values are used (spec.hpp).")
        .value("cycle", ValuesUse::cycle)
        .value("quantile", ValuesUse::quantile)
        .value("bootstrap", ValuesUse::bootstrap);
    py::class_<Robustness>(m, "Robustness", "Departures from the textbook model (checked with the EngineSpec).")
        .def(py::init(&make_robust), py::kw_only(), py::arg("residual_shape") = Shape::normal,
             py::arg("residual_param") = 0.0, py::arg("re_shape") = Shape::normal, py::arg("re_param") = 0.0,
             py::arg("het_gamma") = 0.0, py::arg("het_weights") = std::vector<double>{},
             py::arg("het_center") = 0.0, py::arg("het_scale") = 1.0, py::arg("effect_jitter") = 0.0,
             py::arg("icc_noise_sd") = 0.0, py::arg("residual_change_prob") = 0.0,
             py::arg("residual_pool") = std::vector<Shape>{}, py::arg("residual_pool_param") = std::vector<double>{},
             py::arg("variance_draws") = std::vector<double>{})
        .def_readonly("residual_shape", &Robustness::residual_shape)
        .def_readonly("residual_param", &Robustness::residual_param)
        .def_readonly("re_shape", &Robustness::re_shape)
        .def_readonly("re_param", &Robustness::re_param)
        .def_readonly("het_gamma", &Robustness::het_gamma)
        .def_readonly("het_weights", &Robustness::het_weights)
        .def_readonly("het_center", &Robustness::het_center)
        .def_readonly("het_scale", &Robustness::het_scale)
        .def_readonly("effect_jitter", &Robustness::effect_jitter)
        .def_readonly("icc_noise_sd", &Robustness::icc_noise_sd)
        .def_readonly("residual_change_prob", &Robustness::residual_change_prob)
        .def_readonly("residual_pool", &Robustness::residual_pool)
        .def_readonly("residual_pool_param", &Robustness::residual_pool_param)
        .def_readonly("variance_draws", &Robustness::variance_draws);
    m.def("shape_draws", [](Shape shape, double param, uint64_t seed, uint64_t index, int64_t n) {
        std::vector<double> v(n);
        Stream s(seed, index);
        for (auto& x : v) x = draw_shape(s, shape, param);
        py::array_t<double> a(n);
        std::copy(v.begin(), v.end(), a.mutable_data());
        return a;
    }, py::arg("shape"), py::arg("param"), py::arg("seed"), py::arg("index"), py::arg("n"),
       "Unit-variance draws of one shape from one stream (for tests).");
    m.def("simulated_rows", [](const EngineSpec& spec, uint64_t seed, uint64_t index) {
        std::vector<double> v;
        Generator(spec).simulated_rows(seed, index, v);
        const py::ssize_t width = spec.n_fixed() + 2, n = py::ssize_t(v.size()) / width;
        py::array_t<double> a({n, width});
        std::copy(v.begin(), v.end(), a.mutable_data());
        return a;
    }, py::arg("spec"), py::arg("seed"), py::arg("index"),
       "One simulation generated row by row as [cluster, X, y] rows (the engine's data when the "
       "design takes the row path; for tests).");
}
