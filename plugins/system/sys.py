"""Describe the host: OS, kernel, CPU, memory, uptime.

``sys.info`` gathers what an operator checks first on an unknown machine, from
``/proc``, ``/etc/os-release`` and ``uname``, without running any program.
"""

from __future__ import annotations

import os
import platform
import socket
import time

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action

PLUGIN = Plugin("sys", domain="system")


class SysInfo(msgspec.Struct):
    hostname: str
    fqdn: str
    os: str
    os_id: str
    os_version: str
    kernel: str
    arch: str
    cpus: int
    mem_total: int
    uptime: float
    boot_time: float
    load: tuple[float, float, float]


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    data: dict[str, str] = {}
    try:
        with open(path) as fh:
            for line in fh:
                key, sep, value = line.strip().partition("=")
                if sep and key and not key.startswith("#"):
                    data[key] = value.strip().strip('"')
    except OSError:
        pass
    return data


def _meminfo_total() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _uptime() -> float:
    with open("/proc/uptime") as fh:
        return float(fh.read().split()[0])


@action("sys.info", risk=Risk.READ, timeout=10)
async def info(ctx: ActionContext, p: NoParams) -> SysInfo:
    """Hostname, OS release, kernel, architecture, CPUs, memory, uptime and load."""
    rel = os_release()
    up = _uptime()
    return SysInfo(
        hostname=socket.gethostname(),
        fqdn=socket.getfqdn(),
        os=rel.get("PRETTY_NAME", platform.system()),
        os_id=rel.get("ID", ""),
        os_version=rel.get("VERSION_ID", ""),
        kernel=platform.release(),
        arch=platform.machine(),
        cpus=os.cpu_count() or 1,
        mem_total=_meminfo_total(),
        uptime=up,
        boot_time=round(time.time() - up, 3),
        load=os.getloadavg(),
    )
