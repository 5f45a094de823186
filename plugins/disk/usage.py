"""Filesystem space per mount: size, used, available and use%, like df, with a threshold.

``disk.usage`` lists every mounted filesystem that holds data (pseudo
filesystems such as proc, sysfs and cgroup are skipped; a filesystem mounted at
several places is listed once, with its other mount points) and asks the kernel
(``statvfs``) for its size, used and available bytes and the blocks reserved
for root. ``used_percent`` is computed as df does, against the space a normal
user can get, so it reaches 100% before the disk is physically full. ``path``
answers for the one filesystem holding that path; ``threshold`` lists the
mounts at or above it. A hung network mount answers with an error instead
of hanging the agent. Reads only.
"""

from __future__ import annotations

import math
import os
from typing import Annotated

import msgspec

from agent_core import ActionContext, NotFound, Plugin, Risk, abs_path, action
from agent_core.procfs import exists
from plugins.disk._common import Mount, distinct_filesystems, mount_for, mount_table, statvfs_each

PLUGIN = Plugin("disk.usage", domain="disk", requires_files=["/proc/self/mountinfo"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    path: str | None = None
    threshold: Annotated[float, msgspec.Meta(ge=0, le=100)] = 90.0
    all: bool = False


class Usage(msgspec.Struct):
    mountpoint: str
    source: str
    fstype: str
    total: int
    used: int
    available: int
    free: int
    reserved: int
    used_percent: float
    read_only: bool
    also_mounted_at: list[str] = []
    error: str = ""


class DiskUsage(msgspec.Struct):
    filesystems: list[Usage]
    over_threshold: list[str]


def df_percent(used: int, available: int) -> float:
    """df's Use%: used over what users can have (used + available), rounded up to 0.01."""
    denom = used + available
    return math.ceil(10000.0 * used / denom) / 100.0 if denom else 0.0


def select(table: list[Mount], p: Params) -> list[tuple[Mount, list[str]]]:
    """The mounts to report, each with the other places the same filesystem is mounted."""
    if p.path is not None:
        path = abs_path(p.path)
        if not exists(path):
            raise NotFound(f"{path} does not exist")
        m = mount_for(path, table)
        if m is None:
            raise NotFound(f"no mount holds {path}")
        return [(m, [])]
    return distinct_filesystems(table, include_pseudo=p.all)


@action("disk.usage", risk=Risk.READ, timeout=30)
async def usage(ctx: ActionContext, p: Params) -> DiskUsage:
    """Size, used, available, reserved and df-style use% per filesystem (or for the one holding ``path``)."""
    picked = select(mount_table(), p)
    stats = await statvfs_each([m.mountpoint for m, _ in picked])
    out = []
    for m, others in picked:
        st = stats.get(m.mountpoint)
        entry = Usage(
            mountpoint=m.mountpoint, source=m.source, fstype=m.fstype, total=0, used=0, available=0, free=0,
            reserved=0, used_percent=0.0, read_only=m.read_only, also_mounted_at=others,
        )  # fmt: skip
        if not isinstance(st, os.statvfs_result):
            entry.error = str(st)
            out.append(entry)
            continue
        if st.f_blocks == 0 and not p.all and p.path is None:
            continue  # size-less mounts (autofs triggers, some fuse)
        frsize = st.f_frsize or st.f_bsize
        entry.total, entry.free, entry.available = st.f_blocks * frsize, st.f_bfree * frsize, st.f_bavail * frsize
        entry.used = entry.total - entry.free
        entry.reserved = entry.free - entry.available
        entry.used_percent = df_percent(entry.used, entry.available)
        out.append(entry)
    return DiskUsage(filesystems=out, over_threshold=[u.mountpoint for u in out if not u.error and u.used_percent >= p.threshold])
