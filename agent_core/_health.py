"""The health summary sent with every heartbeat (psutil behind a small probe)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from transports import DiskUsage, Health

MAIN_MOUNTS = ("/", "/var", "/home", "/data", "/tmp", "/var/lib/docker")


def disk_usage(mounts: Iterable[str] = MAIN_MOUNTS) -> list[DiskUsage]:
    seen: set[int] = set()
    out = []
    for mount in mounts:
        try:
            st = os.statvfs(mount)
            dev = os.stat(mount).st_dev
        except OSError:
            continue
        if dev in seen:
            continue
        seen.add(dev)
        total = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        out.append(DiskUsage(mount=mount, total=total, used=total - free))
    return out


def collect_health(
    running: int = 0, throttle: str = "", residents: dict[str, str] | None = None, mounts: Iterable[str] = ()
) -> Health:
    import psutil

    vm = psutil.virtual_memory()
    try:
        rss = psutil.Process().memory_info().rss
    except psutil.Error:
        rss = 0
    return Health(
        load1=round(os.getloadavg()[0], 2),
        cpus=os.cpu_count() or 1,
        mem_total=vm.total,
        mem_available=vm.available,
        disks=disk_usage((*MAIN_MOUNTS, *mounts)),
        uptime=round(time.time() - psutil.boot_time(), 1),
        agent_rss=rss,
        running=running,
        throttle=throttle,
        residents=residents or {},
        clock=time.time(),
    )
