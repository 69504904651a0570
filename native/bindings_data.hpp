// What the fits' bindings share: checks of data passed from Python and conversion of
// results (type conversion only).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "inference.hpp"

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

// The joint F tests of a fit as a list of {F, num_df, den_df, pvalue}.
inline pybind11::list joint_tests_list(const std::vector<JointTest>& tests) {
    pybind11::list out;
    for (const auto& j : tests) {
        pybind11::dict row;
        row["F"] = j.F;
        row["num_df"] = j.num_df;
        row["den_df"] = j.den_df;
        row["pvalue"] = j.pvalue;
        out.append(row);
    }
    return out;
}

}  // namespace mcps
