"""Change a running process's CPU priority (nice) and I/O priority (ionice), for all its threads.

``proc.renice`` sets the nice value (-20 highest .. 19 lowest) of every thread
of ``pid`` (Linux keeps nice per thread, so renicing only the main thread
leaves worker threads untouched) and, optionally, its I/O scheduling class
(``idle``: only when the disk is otherwise unused; ``best-effort`` with
``ionice_level`` 0..7; ``none``). The real-time I/O class is refused: it can
starve the whole host. Each thread is reported with its old and new nice.
pid 1 and the agent itself are refused; lowering nice needs root.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
)
from agent_core.procfs import listdir
from plugins.processes._common import check_expected_name, get_process, guard_target

PLUGIN = Plugin("proc.renice", domain="processes", requires_files=["/proc/self/task"])

IOCLASS = {"none": 0, "best-effort": 2, "idle": 3}


class Params(msgspec.Struct, forbid_unknown_fields=True):
    pid: int
    nice: Annotated[int, msgspec.Meta(ge=-20, le=19)] | None = None
    ionice_class: Literal["idle", "best-effort", "none"] | None = None
    ionice_level: Annotated[int, msgspec.Meta(ge=0, le=7)] = 4
    expect_name: str | None = None


class ThreadNice(msgspec.Struct):
    tid: int
    old: int
    new: int


class Reniced(msgspec.Struct):
    pid: int
    name: str
    threads: list[ThreadNice]
    ionice_old: str
    ionice_new: str


def renice_threads(pid: int, nice: int | None) -> list[ThreadNice]:
    out = []
    for tid in (int(t) for t in listdir(f"/proc/{pid}/task")):
        try:
            old = os.getpriority(os.PRIO_PROCESS, tid)
            if nice is not None and nice != old:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
            out.append(ThreadNice(tid=tid, old=old, new=os.getpriority(os.PRIO_PROCESS, tid)))
        except ProcessLookupError:
            continue  # the thread ended meanwhile
    return out


def _ionice_text(proc: object) -> str:
    value = proc.ionice()  # type: ignore[attr-defined]
    names = {v: k for k, v in IOCLASS.items()} | {1: "realtime"}
    return f"{names.get(int(value.ioclass), str(value.ioclass))}/{value.value}"


@action("proc.renice", risk=Risk.CHANGE, timeout=15)
async def renice(ctx: ActionContext, p: Params) -> Reniced:
    """Set the nice value of every thread of ``pid`` and optionally its I/O class (idle/best-effort/none)."""
    import psutil

    if p.nice is None and p.ionice_class is None:
        raise InvalidParams("give nice and/or ionice_class")
    guard_target(p.pid)
    proc = get_process(p.pid)
    check_expected_name(proc, p.expect_name)
    try:
        io_old = _ionice_text(proc)
        threads = renice_threads(p.pid, p.nice)
        if p.ionice_class is not None:
            cls = IOCLASS[p.ionice_class]
            for tid in (t.tid for t in threads):
                try:
                    psutil.Process(tid).ionice(cls, p.ionice_level if cls == 2 else None)
                except psutil.NoSuchProcess:
                    continue
        io_new = _ionice_text(proc)
    except psutil.NoSuchProcess:
        raise NotFound(f"process {p.pid} exited") from None
    except psutil.AccessDenied as exc:
        raise ActionError(f"not allowed to change priority of pid {p.pid}: {exc}", code=ErrorCode.A016) from None
    return Reniced(pid=p.pid, name=proc.name(), threads=threads, ionice_old=io_old, ionice_new=io_new)
