"""Live resource use of Docker containers: CPU, memory, network, block I/O, pids (``docker stats``).

``container.docker.stats`` takes one sample from the Docker Engine API
(``GET /containers/{id}/stats?stream=false``, all running containers or the
ones named, up to 16 at once) and computes what ``docker stats`` shows: CPU
percent over the daemon's own two readings, memory used (without the
reclaimable page cache) and limit in bytes and percent, network
received/sent, block read/written, and the number of processes. Sorted by
CPU, highest first, so the noisy neighbour is on top. Needs a running daemon
(no docker CLI); otherwise A003. It only reads.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from agent_core import ActionContext, ActionError, Plugin, Risk, action

from ._common import check_ref, docker_api, docker_check

PLUGIN = Plugin("container.docker.stats", domain="containers", check=docker_check)


class StatsParams(msgspec.Struct, forbid_unknown_fields=True):
    containers: Annotated[list[str], msgspec.Meta(max_length=1000)] = []


class Usage(msgspec.Struct):
    id: str
    name: str
    cpu_percent: float | None
    mem_used: int | None
    mem_limit: int | None
    mem_percent: float | None
    net_rx: int | None
    net_tx: int | None
    block_read: int | None
    block_write: int | None
    pids: int | None


#: Containers sampled at once: each sample takes the daemon about a second.
PARALLEL = 16


def _blkio(doc: dict[str, Any], op: str) -> int | None:
    rows = (doc.get("blkio_stats") or {}).get("io_service_bytes_recursive")
    if rows is None:
        return None
    return sum(int(r.get("value") or 0) for r in rows if str(r.get("op", "")).lower() == op)


def parse_stats(doc: dict[str, Any]) -> Usage:
    """One ``GET /containers/{id}/stats?stream=false`` document, computed like ``docker stats``."""
    cpu, pre = doc.get("cpu_stats") or {}, doc.get("precpu_stats") or {}
    cpu_delta = ((cpu.get("cpu_usage") or {}).get("total_usage") or 0) - ((pre.get("cpu_usage") or {}).get("total_usage") or 0)
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    cpu_percent = round(cpu_delta / sys_delta * cpus * 100, 2) if sys_delta > 0 and cpu_delta >= 0 else None
    mem = doc.get("memory_stats") or {}
    detail = mem.get("stats") or {}
    # cgroup v2 reports inactive_file, v1 total_inactive_file: page cache the kernel can take back.
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0)) or 0
    used = max(0, mem["usage"] - cache) if "usage" in mem else None
    limit = mem.get("limit")
    nets = doc.get("networks")
    return Usage(
        id=doc.get("id", ""),
        name=str(doc.get("name", "")).lstrip("/"),
        cpu_percent=cpu_percent,
        mem_used=used,
        mem_limit=limit,
        mem_percent=round(used / limit * 100, 2) if used is not None and limit else None,
        net_rx=sum(n.get("rx_bytes", 0) for n in nets.values()) if nets is not None else None,
        net_tx=sum(n.get("tx_bytes", 0) for n in nets.values()) if nets is not None else None,
        block_read=_blkio(doc, "read"),
        block_write=_blkio(doc, "write"),
        pids=(doc.get("pids_stats") or {}).get("current"),
    )


async def sample(refs: list[str]) -> list[Usage]:
    """One sample of each container named, concurrently, highest CPU first."""
    import trio

    out: list[Usage] = []
    failed: list[ActionError] = []
    limiter = trio.CapacityLimiter(PARALLEL)

    async def one(ref: str) -> None:
        async with limiter:
            if failed:
                return
            try:
                out.append(parse_stats(await docker_api(f"/containers/{ref}/stats", {"stream": "false"})))
            except ActionError as exc:  # the first failure is the answer, with its own code
                failed.append(exc)

    async with trio.open_nursery() as nursery:
        for ref in refs:
            nursery.start_soon(one, ref)
    if failed:
        raise failed[0]
    out.sort(key=lambda u: (-(u.cpu_percent or 0.0), u.name))
    return out


@action("container.docker.stats", risk=Risk.READ, timeout=60)
async def stats(ctx: ActionContext, p: StatsParams) -> list[Usage]:
    """One sample of CPU, memory, network, block I/O and pids per running container."""
    refs = [check_ref(c) for c in p.containers]
    if not refs:
        refs = [row["Id"] for row in await docker_api("/containers/json")]
    return await sample(refs)
