"""Reading a store imports only what reading needs: no scipy.stats, distributed or engine.

``mcpower-sweep info`` / ``table`` and ``open_results`` on the docs store took ~9 s under
load, mostly imports (scipy.stats alone ~4 s); these guard the lazy imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mcpower_sweep import MCPower
from mcpower_sweep.sweeps.run import sweep

# (xarray imports dask.array whenever dask is installed, and dask.array scipy.sparse.)
NOT_FOR_READING = ("scipy.stats", "scipy.optimize", "distributed", "mcpower_sweep.engine",
                   "mcpower_sweep._native", "mcpower_sweep.design.spec", "matplotlib")
# `info` reads the store through zarr alone: xarray with what it loads (pandas; dask.array
# and with it SciPy, at its first array) was most of its second.
NOT_FOR_INFO = (*NOT_FOR_READING, "xarray", "pandas", "dask", "dask.array", "scipy")


@pytest.fixture(scope="module")
def small_store(dask_client, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("read") / "s.zarr"
    model = (MCPower("y ~ x + (1|g)").set_cluster("g", ICC=0.2, n_clusters=8)
             .set_effects("x=0.4").set_simulations(20).set_seed(3))
    sweep(model, {"sample_size": [160, 240]}, chunk_size=10, out=out, cluster=dask_client,
          progress=False)
    return out


def imported_after(code: str, modules: tuple[str, ...] = NOT_FOR_READING) -> list[str]:
    """Which of ``modules`` a fresh Python has imported after running ``code``."""
    script = (f"import sys\n{code}\nimport json\n"
              f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
              f"{sorted({n.split('.')[0] for n in modules})!r})))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    loaded = json.loads(out.splitlines()[-1])
    return [m for m in modules if m in loaded]


@pytest.mark.parametrize("command", ["info", "table"])
def test_cli_read_commands_import_no_scipy_or_engine(small_store: Path, command: str) -> None:
    code = ("from mcpower_sweep.cli import main\n"
            f"main([{command!r}, {str(small_store)!r}], standalone_mode=False)")
    assert imported_after(code) == []


def test_cli_info_reads_through_zarr_alone(small_store: Path) -> None:
    code = ("from mcpower_sweep.cli import main\n"
            f"main(['info', {str(small_store)!r}], standalone_mode=False)")
    assert imported_after(code, NOT_FOR_INFO) == []


def test_open_results_imports_no_scipy_or_engine(small_store: Path) -> None:
    code = ("from mcpower_sweep import open_results\n"
            f"assert open_results({str(small_store)!r}).power.size == 2")
    assert imported_after(code) == []


def test_z_95_is_the_normal_quantile() -> None:
    from scipy import stats

    from mcpower_sweep.stats import Z_95

    assert Z_95 == float(stats.norm.ppf(0.975))
