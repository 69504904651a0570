"""Doctests in the package may use ``MCPower`` (the API their examples document)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict[str, object]) -> None:
    from mcpower_sweep import MCPower

    doctest_namespace["MCPower"] = MCPower
