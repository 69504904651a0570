"""Every number stays bit-identical across restructuring.

``tests/data/fingerprint-quick.json`` holds the exact counts of the tutorial's eight
scripts (fixed seed) and of the docs sweep (40 simulations per point), recorded before
the foundation restructuring; ``scripts/fingerprint.py`` reruns both and compares.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_counts_identical_to_the_recorded_fingerprint():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fingerprint.py"), "check",
         str(ROOT / "tests" / "data" / "fingerprint-quick.json"), "--quick"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "identical" in done.stdout
