// What both fits' bindings check about data passed from Python (type conversion only).
#pragma once

#include <pybind11/numpy.h>

#include <stdexcept>
#include <string>

namespace mcps {

// X is rows x fixed effects, y and group one entry per row.
inline void check_rows(const pybind11::array& X, const pybind11::array& y, const pybind11::array& group) {
    if (X.ndim() != 2) throw std::invalid_argument("X must be a 2-d array (rows x fixed effects)");
    if (y.ndim() != 1 || group.ndim() != 1) throw std::invalid_argument("y and group must be 1-d arrays");
    const auto n = X.shape(0);
    if (y.shape(0) != n || group.shape(0) != n)
        throw std::invalid_argument("X has " + std::to_string(n) + " rows but y has " + std::to_string(y.shape(0)) +
                                    " and group has " + std::to_string(group.shape(0)));
}

}  // namespace mcps
