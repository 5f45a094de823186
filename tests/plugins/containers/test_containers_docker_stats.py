"""container.docker.stats against a real daemon: one sample computed like `docker stats`."""

from __future__ import annotations

from plugins.containers.docker_stats import parse_stats

DOC = {
    "id": "abc", "name": "/web",
    "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000}, "system_cpu_usage": 110_000_000_000, "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000}, "system_cpu_usage": 100_000_000_000},
    "memory_stats": {"usage": 120 * 2**20, "limit": 1024 * 2**20, "stats": {"inactive_file": 20 * 2**20}},
    "networks": {"eth0": {"rx_bytes": 10, "tx_bytes": 20}, "eth1": {"rx_bytes": 1, "tx_bytes": 2}},
    "blkio_stats": {"io_service_bytes_recursive": [{"op": "read", "value": 4096}, {"op": "write", "value": 512}]},
    "pids_stats": {"current": 3},
}  # fmt: skip


def test_parse_computes_like_the_cli():
    u = parse_stats(DOC)
    assert (u.name, u.cpu_percent, u.mem_used, u.mem_percent) == ("web", 20.0, 100 * 2**20, 9.77)
    assert (u.net_rx, u.net_tx, u.block_read, u.block_write, u.pids) == (11, 22, 4096, 512, 3)
    assert parse_stats({"id": "x", "name": "/y"}).cpu_percent is None


async def test_docker_stats_real(dockerd, containers, docker_action):
    out = await docker_action("container.docker.stats", {})
    assert out.ok, out.message
    (web,) = [u for u in out.value if u["id"] == containers["web"]]  # running ones only
    assert web["pids"] >= 1 and web["mem_used"] > 0 and web["cpu_percent"] is not None
    assert web["net_rx"] is None  # --network none: no interfaces to count
    named = await docker_action("container.docker.stats", {"containers": [containers["web"][:12]]})
    assert [u["id"] for u in named.value] == [containers["web"]]


async def test_docker_stats_errors(docker_action, no_daemon_action):
    assert (await docker_action("container.docker.stats", {"containers": ["$(reboot)"]})).code == "A002"
    assert (await docker_action("container.docker.stats", {"containers": ["st-no-such-container"]})).code == "A017"
    assert (await no_daemon_action("container.docker.stats", {})).code == "A003"
