"""Live resource use of Docker containers: CPU, memory, network, block I/O, pids (``docker stats``).

``docker.stats`` takes one ``docker stats --no-stream`` sample for all
running containers (or the ones named) and converts docker's human strings
into numbers: CPU percent, memory used and limit in bytes and percent,
network received/sent, block read/written, and the number of processes.
Sorted by CPU, highest first, so the noisy neighbour is on top. Needs the
docker CLI and a running daemon; otherwise A003. It only reads.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._common import check_ref, docker_check, json_lines, parse_pair, parse_percent, run_cli

PLUGIN = Plugin("docker.stats", description=__doc__.splitlines()[0], domain="containers", requires=["docker"], check=docker_check)


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


def parse_stats(text: str) -> list[Usage]:
    """Lines of ``docker stats --no-stream --format '{{json .}}'`` as numbers."""
    out = []
    for row in json_lines(text):
        mem_used, mem_limit = parse_pair(row.get("MemUsage"))
        rx, tx = parse_pair(row.get("NetIO"))
        rd, wr = parse_pair(row.get("BlockIO"))
        pids = row.get("PIDs", "")
        out.append(
            Usage(
                id=row.get("ID", row.get("Container", "")),
                name=row.get("Name", ""),
                cpu_percent=parse_percent(row.get("CPUPerc")),
                mem_used=mem_used,
                mem_limit=mem_limit,
                mem_percent=parse_percent(row.get("MemPerc")),
                net_rx=rx,
                net_tx=tx,
                block_read=rd,
                block_write=wr,
                pids=int(pids) if str(pids).isdigit() else None,
            )
        )
    out.sort(key=lambda u: -(u.cpu_percent or 0.0))
    return out


@action("docker.stats", risk=Risk.READ, timeout=60)
async def stats(ctx: ActionContext, p: StatsParams) -> list[Usage]:
    """One sample of CPU, memory, network, block I/O and pids per running container."""
    names = [check_ref(c) for c in p.containers]
    argv = ["docker", "stats", "--no-stream", "--no-trunc", "--format", "{{json .}}", *names]
    return parse_stats(await run_cli(ctx, argv))
