"""Running kernel: release, build, command line and security switches.

``sys.kernelinfo`` reports ``uname`` (release, version, machine), the full
``/proc/version`` banner (compiler and build host), the boot command line both
raw and split into arguments, and the switches an operator checks on a
suspicious host: kernel lockdown, module loading disabled,
``kptr_restrict``, ``dmesg_restrict``, unprivileged BPF and the ASLR level.
``arg`` returns the value(s) of one command-line argument. Reads only.
"""

from __future__ import annotations

import os
import platform
import shlex

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from agent_core.procfs import read, selected

PLUGIN = Plugin("sys.kernelinfo", domain="system")

SWITCHES = {
    "kptr_restrict": "/proc/sys/kernel/kptr_restrict",
    "dmesg_restrict": "/proc/sys/kernel/dmesg_restrict",
    "modules_disabled": "/proc/sys/kernel/modules_disabled",
    "unprivileged_bpf_disabled": "/proc/sys/kernel/unprivileged_bpf_disabled",
    "randomize_va_space": "/proc/sys/kernel/randomize_va_space",
    "yama_ptrace_scope": "/proc/sys/kernel/yama/ptrace_scope",
    "sysrq": "/proc/sys/kernel/sysrq",
    "panic_on_oops": "/proc/sys/kernel/panic_on_oops",
}


class Params(msgspec.Struct, forbid_unknown_fields=True):
    arg: str | None = None


class CmdlineArg(msgspec.Struct):
    key: str
    value: str | None = None


class KernelInfo(msgspec.Struct):
    release: str
    version: str
    machine: str
    banner: str
    cmdline: str
    args: list[CmdlineArg]
    lockdown: str
    switches: dict[str, int]
    arg_values: list[str] = []


def parse_cmdline(text: str) -> list[CmdlineArg]:
    """Split a kernel command line (quotes allowed, as the kernel does) into arguments."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        out.append(CmdlineArg(key=key, value=value if sep else None))
    return out


@action("sys.kernelinfo", risk=Risk.READ, timeout=10)
async def kernel(ctx: ActionContext, p: Params) -> KernelInfo:
    """uname, /proc/version, the parsed boot command line and kernel hardening switches."""
    uname = os.uname()
    cmdline = read("/proc/cmdline") or ""
    args = parse_cmdline(cmdline)
    switches = {}
    for name, path in SWITCHES.items():
        text = read(path)
        if text is not None and text.strip().lstrip("-").isdigit():
            switches[name] = int(text)
    return KernelInfo(
        release=uname.release,
        version=uname.version,
        machine=platform.machine(),
        banner=read("/proc/version") or "",
        cmdline=cmdline,
        args=args,
        lockdown=selected(read("/sys/kernel/security/lockdown")) or "unknown",
        switches=switches,
        arg_values=[a.value or "" for a in args if a.key == p.arg] if p.arg else [],
    )
