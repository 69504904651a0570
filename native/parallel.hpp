// Running simulations start .. start + count - 1 of a chunk on several threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mcps {

// body(i, scratch) for every i in [0, count), on up to n_threads threads that take blocks of
// 4 in turn; each thread makes its own scratch with make_scratch().  Every simulation writes
// only its own outputs, so the split never changes a result.  The first exception stops the
// other threads and is rethrown here.
template <class MakeScratch, class Body>
void for_each_simulation(int64_t count, int n_threads, MakeScratch make_scratch, Body body) {
    constexpr int64_t kBlock = 4;
    std::atomic<int64_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto worker = [&]() {
        try {
            auto scratch = make_scratch();
            for (;;) {
                const int64_t b0 = next.fetch_add(kBlock);
                if (b0 >= count) break;
                for (int64_t i = b0; i < std::min(count, b0 + kBlock); ++i) body(i, scratch);
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            next.store(count);
        }
    };
    const int nt = int(std::max<int64_t>(1, std::min<int64_t>(n_threads, (count + kBlock - 1) / kBlock)));
    if (nt <= 1) {
        worker();
    } else {
        std::vector<std::thread> pool;
        for (int t = 0; t < nt; ++t) pool.emplace_back(worker);
        for (auto& th : pool) th.join();
    }
    if (error) std::rethrow_exception(error);
}

}  // namespace mcps
