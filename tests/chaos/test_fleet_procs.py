"""The simulated fleet over several processes and source addresses: every
identity is a real agent session (own key, hello proof, signed results)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from contrib.simfleet._cli import merge_status

from ._cluster import Cluster

SIMS = 60
SOURCES = ["127.0.0.2", "127.0.0.3"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("fleetprocs"))
    try:
        c.start_center()
        c.start_proxy("proxy-1")
        c.start_simfleet(SIMS, procs=2, sources=SOURCES)
        c.wait_all_online(SIMS, timeout=120)
        yield c
    finally:
        c.stop_all()


def test_two_processes_two_sources_one_job(cluster: Cluster) -> None:
    c = cluster
    c.wait_until(lambda: c.sim_status().get("procs") == 2 and c.sim_status()["connected"] == SIMS, 30, "status of both")
    status = c.sim_status()
    assert status["count"] == SIMS and status["registered"] == SIMS
    # Each process has its own range, journal and key seed.
    root = c.root / "simfleet"
    assert sorted(p.name for p in root.glob("p*") if p.is_dir()) == ["p0", "p1"]
    assert (root / "p0" / "fleet-seed").read_bytes() != (root / "p1" / "fleet-seed").read_bytes()
    # Connections to the proxy leave from the given source addresses.
    proxy_port = int(next(p for p in c.client.proxies() if p["id"] == "proxy-1")["urls"][0].rsplit(":", 1)[1])
    sources = set()
    for pid in status["pids"]:
        for conn in psutil.Process(pid).net_connections(kind="tcp"):
            if conn.raddr and conn.raddr.port == proxy_port and conn.status == psutil.CONN_ESTABLISHED:
                sources.add(conn.laddr.ip)
    assert sources == set(SOURCES)
    # A job reaches every identity; results are signed (the center drops
    # unsigned results from hosts enrolled with a key, and every host has one).
    job = c.wait_job(c.submit("echo hi"), 60)
    ok = [r for r in job["results"] if r["state"] == "succeeded" and r["stdout"] == "hi\n"]
    assert len(ok) == SIMS, job["counts"]
    c.wait_until(lambda: c.sim_status()["executions"] == SIMS, 10, "executions counted")
    assert c.sim_status()["executed_twice"] == 0


def test_merge_status_sums() -> None:
    a = {"pid": 1, "count": 2, "registered": 2, "connected": 1, "by_proxy": {"p": 1}, "executions": 3,
         "executed_twice": 0, "journal": {"succeeded": 3}, "rss": 10, "stats": {"tasks": 3}, "time": 0}
    b = {**a, "pid": 2, "by_proxy": {"p": 2, "q": 1}, "journal": {"failed": 1}}
    got = merge_status([a, b])
    assert got["pids"] == [1, 2] and got["count"] == 4 and got["connected"] == 2 and got["rss"] == 20
    assert got["by_proxy"] == {"p": 3, "q": 1} and got["journal"] == {"succeeded": 3, "failed": 1}
    assert got["stats"] == {"tasks": 6}


def test_state_dirs_are_separate(tmp_path: Path) -> None:
    from contrib.simfleet._cli import _child_argv

    argv = ["--center", "https://c", "--token", "t", "--count", "10", "--state-dir", str(tmp_path), "--procs", "2",
            "--source", "127.0.0.2"]
    child = _child_argv(argv, 5, 5, tmp_path / "p1", "")
    assert child[child.index("--first") + 1] == "5" and child[child.index("--count") + 1] == "5"
    assert child[child.index("--state-dir") + 1] == str(tmp_path / "p1")
    assert "--procs" not in child and child[child.index("--source") + 1] == "127.0.0.2"
