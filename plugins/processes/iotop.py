"""Which processes do the disk I/O: per-process read and write rates over an interval (iotop).

``proc.iotop`` samples ``/proc/*/io`` twice, ``interval`` seconds apart, and ranks
processes by the bytes they made the storage layer read and write per second
(``read_bytes``/``write_bytes``: real block I/O, page cache hits excluded),
next to their logical read/write rates through system calls (``rchar``/``wchar``,
cache included). The answer to "the disk is at 100%, who is doing it". Only
processes present in both samples are counted. Reads only; root sees everyone.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from agent_core.procfs import parse_colon_kv, pids, read

PLUGIN = Plugin("proc.iotop", domain="processes", requires_files=["/proc/self/io"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    interval: Annotated[float, msgspec.Meta(ge=0.1, le=60)] = 1.0
    top: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 15


class ProcIO(msgspec.Struct):
    pid: int
    name: str
    read_bytes_per_s: float
    write_bytes_per_s: float
    rchar_per_s: float
    wchar_per_s: float


class IoTop(msgspec.Struct):
    interval: float
    processes: list[ProcIO]
    total_read_bytes_per_s: float
    total_write_bytes_per_s: float
    unreadable: int


def sample() -> tuple[dict[int, tuple[str, dict[str, int]]], int]:
    """pid -> (comm, io counters); also how many processes could not be read."""
    out: dict[int, tuple[str, dict[str, int]]] = {}
    unreadable = 0
    for pid in pids():
        text = read(f"/proc/{pid}/io")
        if text is None:
            unreadable += 1
            continue
        counters = {k: int(v) for k, v in parse_colon_kv(text).items() if v.isdigit()}
        out[pid] = ((read(f"/proc/{pid}/comm") or ""), counters)
    return out, unreadable


@action("proc.iotop", risk=Risk.READ, timeout=120)
async def io(ctx: ActionContext, p: Params) -> IoTop:
    """Processes ranked by block I/O bytes/s read plus written over ``interval``, with syscall-level rates."""
    first, _ = sample()
    await ctx.sleep(p.interval)
    second, unreadable = sample()
    rows = []
    for pid, (name, after) in second.items():
        if pid not in first or first[pid][0] != name:
            continue  # new process, or the pid was reused

        def rate(key: str, before: dict[str, int] = first[pid][1], after: dict[str, int] = after) -> float:
            return round(max(0, after.get(key, 0) - before.get(key, 0)) / p.interval, 1)

        rows.append(
            ProcIO(pid=pid, name=name, read_bytes_per_s=rate("read_bytes"), write_bytes_per_s=rate("write_bytes"),
                   rchar_per_s=rate("rchar"), wchar_per_s=rate("wchar"))  # fmt: skip
        )
    rows.sort(key=lambda r: (-(r.read_bytes_per_s + r.write_bytes_per_s), -(r.rchar_per_s + r.wchar_per_s), r.pid))
    return IoTop(
        interval=p.interval,
        processes=rows[: p.top],
        total_read_bytes_per_s=round(sum(r.read_bytes_per_s for r in rows), 1),
        total_write_bytes_per_s=round(sum(r.write_bytes_per_s for r in rows), 1),
        unreadable=unreadable,
    )
