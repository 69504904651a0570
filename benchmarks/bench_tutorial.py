"""Interactive speed: the random-slopes tutorial's full example (400 simulations, N = 1500,
30 sites, random slope) through ``MCPower.find_power``, wall time per call, side by side with
MCPower 1.4.1 when it is installed (``pip install ".[bench]"``).

Run: ``python benchmarks/bench_tutorial.py``.
"""

from __future__ import annotations

import contextlib
import io
import time


def full_example(cls, **find_kw):
    model = cls("outcome ~ treatment + motivation + (1 + treatment|site)")
    model.set_simulations(400)
    model.set_cluster("site", ICC=0.2, n_clusters=30, random_slopes=["treatment"],
                      slope_variance=0.1, slope_intercept_corr=0.3)
    model.set_effects("treatment=0.5, motivation=0.3")
    model.set_max_failed_simulations(0.30)
    model.set_seed(1)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        t = time.perf_counter()
        model.find_power(sample_size=1500, **find_kw)
        return time.perf_counter() - t


def main() -> None:
    from mcpower_sweep import MCPower

    ours = min(full_example(MCPower) for _ in range(5))
    print(f"mcpower_sweep find_power (400 sims, N=1500, all cores): {ours * 1000:.0f} ms")
    try:
        from mcpower import MCPower as Reference
    except ImportError:
        print("MCPower 1.4.1 not installed: no comparison")
        return
    ref = min(
        full_example(Reference, verbose=False, progress_callback=False) for _ in range(3)
    )
    print(f"MCPower 1.4.1 find_power (same design):                {ref * 1000:.0f} ms")
    print(f"ratio: {ours / ref:.2f}")


if __name__ == "__main__":
    main()
