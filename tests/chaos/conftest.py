"""Fixtures: whole clusters on loopback (see ``_cluster.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._cluster import Cluster

REAL_AGENTS = 3


def _cluster(tmp_path_factory: pytest.TempPathFactory, proxies: int, sims: int) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("chaos"), proxies=proxies)
    try:
        cluster.start_center()
        for pid in cluster.proxy_ids:
            cluster.start_proxy(pid)
        for i in range(1, REAL_AGENTS + 1):
            cluster.start_agent(i)
        cluster.start_simfleet(sims)
        cluster.wait_all_online(sims + REAL_AGENTS, timeout=120)
        yield cluster
    finally:
        cluster.stop_all()


@pytest.fixture(scope="module")
def one_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Center, one proxy, 3 real agents and 500 simulated ones."""
    yield from _cluster(tmp_path_factory, 1, 500)


@pytest.fixture(scope="module")
def two_proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Center, two proxies, 3 real agents and 1,000 simulated ones."""
    yield from _cluster(tmp_path_factory, 2, 1000)
