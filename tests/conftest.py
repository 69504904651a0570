"""Shared fixtures: one in-process Dask cluster for the tests that only need a cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def dask_client() -> Iterator[object]:
    """A session-wide in-process cluster (two single-threaded workers, no processes).

    The engine releases the GIL, so threads run chunks in parallel; tests that need real
    worker processes (kills, signals, imports) start their own cluster instead.
    """
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client
