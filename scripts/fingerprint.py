"""Fingerprint of every number the project produces, to show a change kept them bit-identical.

Records, as exact integers:

- the counts of the docs sweep (``scenarios/random-slopes-docs.yaml``, 490 points x 800
  simulations): ``n_sims``, ``n_success``, ``n_singular`` and ``n_significant`` per point;
- the counts behind every ``find_power`` / ``find_sample_size`` call of the tutorial's eight
  scripts (``tests/data/tutorial/``), run with only the import changed and a fixed seed set
  right after construction (scripts that set their own seed keep it).

Usage::

    python scripts/fingerprint.py record OUT.json [--quick]
    python scripts/fingerprint.py check  OUT.json [--quick]

``check`` exits non-zero, naming the first difference, when anything changed.  ``--quick``
runs the sweep with 40 simulations per point (enough to catch any change in the engine).
The committed ``tests/data/fingerprint-quick.json`` was recorded before the foundation
restructuring; ``tests/test_fingerprint.py`` checks the quick form.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import runpy
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "tests" / "data" / "tutorial"
SCENARIO = ROOT / "scenarios" / "random-slopes-docs.yaml"
SEED = 20261126


def _counts(ds: Any) -> dict[str, list[Any]]:
    out = {}
    for name in ("n_sims", "n_success", "n_singular", "n_significant"):
        if name in ds:
            out[name] = ds[name].values.astype("int64").tolist()
    return out


def tutorial_counts() -> dict[str, list[dict[str, Any]]]:
    """Counts of every power run in each tutorial script, in call order."""
    import mcpower_sweep

    cls = mcpower_sweep.MCPower
    calls: list[dict[str, Any]] = []
    originals = {name: getattr(cls, name) for name in ("__init__", "find_power",
                                                       "find_sample_size")}

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        originals["__init__"](self, *args, **kwargs)
        self.set_seed(SEED)

    def recorder(name: str) -> Any:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = originals[name](self, *args, **kwargs)
            calls.append({"call": name, **_counts(result.to_xarray())})
            return result
        return call

    out: dict[str, list[dict[str, Any]]] = {}
    try:
        cls.__init__ = init
        cls.find_power = recorder("find_power")
        cls.find_sample_size = recorder("find_sample_size")
        for script in sorted(TUTORIAL.glob("*.py")):
            calls.clear()
            with contextlib.redirect_stdout(io.StringIO()):
                runpy.run_path(str(script), run_name="__main__")
            out[script.name] = list(calls)
    finally:
        for name, fn in originals.items():
            setattr(cls, name, fn)
    return out


def sweep_counts(quick: bool) -> dict[str, Any]:
    """Counts of the docs sweep (full, or 40 simulations per point with ``quick``)."""
    import mcpower_sweep
    from mcpower_sweep.scenario import load_scenario

    scenario = load_scenario(SCENARIO)
    kwargs = scenario.sweep_kwargs()
    if quick:
        kwargs["simulations"] = 40
    with tempfile.TemporaryDirectory() as tmp:
        kwargs.update(out=Path(tmp) / "fp.zarr", workers=2, progress=False)
        ds = mcpower_sweep.sweep(scenario.model, scenario.design_grid(), **kwargs)
        return _counts(ds.load())


def _like(got: Any, want: Any) -> Any:
    """``got`` restricted to the keys ``want`` has (later versions may record more)."""
    if isinstance(want, dict) and isinstance(got, dict):
        return {k: _like(got.get(k), v) for k, v in want.items()}
    if isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        return [_like(g, w) for g, w in zip(got, want, strict=True)]
    return got


def _first_difference(got: Any, want: Any, where: str = "") -> str | None:
    """Path of the first entry where ``got`` and ``want`` differ (None: identical)."""
    if isinstance(want, dict) and isinstance(got, dict):
        for k in want:
            found = _first_difference(got.get(k), want[k], f"{where}/{k}")
            if found:
                return found
        return None
    return None if got == want else where or "/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("record", "check"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    got = {"tutorial": tutorial_counts(), "docs_sweep": sweep_counts(args.quick)}
    if args.action == "record":
        args.path.write_text(json.dumps(got, separators=(",", ":")) + "\n")
        print(f"recorded {args.path}")
        return 0
    want = json.loads(args.path.read_text())
    first = _first_difference(_like(got, want), want)
    if first is not None:
        print(f"DIFFERENT: {first}", file=sys.stderr)
        return 1
    print(f"identical to {args.path}: {len(got['tutorial'])} tutorial scripts and "
          "the docs sweep")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
