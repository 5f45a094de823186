"""The running kernel's build configuration: is option X built in, a module, or off?

``kernel.kconfig`` reads the configuration the running kernel was built with,
from ``/proc/config.gz`` (``CONFIG_IKCONFIG_PROC``) or
``/boot/config-$(uname -r)``, and answers for the ``options`` asked
(``CONFIG_`` prefix optional: ``BPF_SYSCALL``, ``CONFIG_NUMA``) with ``y``,
``m``, a value, or ``n`` when not set, or lists every option starting with
``prefix`` (``CONFIG_NF_``). Before rolling out software that needs eBPF,
cgroup v2 controllers or a filesystem, ask the fleet. Reads only.
"""

from __future__ import annotations

import gzip
import os
import re

import msgspec

from agent_core import (
    ActionContext,
    InvalidParams,
    Plugin,
    Risk,
    Unavailable,
    action,
)
from agent_core.procfs import read

PROC_CONFIG = "/proc/config.gz"
_OPTION = re.compile(r"^(CONFIG_)?[A-Z0-9_]+$")


def sources() -> list[str]:
    return [PROC_CONFIG, f"/boot/config-{os.uname().release}", f"/lib/modules/{os.uname().release}/build/.config"]


def _check() -> str | None:
    """`/proc/config.gz` or `/boot/config-RELEASE` present."""
    if any(os.path.exists(p) for p in sources()):
        return None
    return "no kernel config: neither /proc/config.gz nor /boot/config-<release>"


PLUGIN = Plugin("kernel.kconfig", domain="kernel", check=_check)


class Params(msgspec.Struct, forbid_unknown_fields=True):
    options: list[str] = []
    prefix: str | None = None


class KernelConfig(msgspec.Struct):
    source: str
    release: str
    values: dict[str, str]
    total_options: int


def parse_config(text: str) -> dict[str, str]:
    """``CONFIG_X=y`` lines and ``# CONFIG_X is not set`` (as ``n``); strings keep their quotes off."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_"):
            key, _, value = line.partition("=")
            out[key] = value.strip('"')
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            out[line[2:-len(" is not set")]] = "n"
    return out


def load() -> tuple[str, str]:
    for path in sources():
        if path.endswith(".gz"):
            try:
                with gzip.open(path, "rt", errors="replace") as fh:
                    return path, fh.read()
            except OSError:
                continue
        text = read(path)
        if text is not None:
            return path, text
    raise Unavailable("kernel config not readable")


@action("kernel.kconfig", risk=Risk.READ, timeout=15)
async def config(ctx: ActionContext, p: Params) -> KernelConfig:
    """Build setting (y/m/value/n) of each of ``options`` or of every option under ``prefix``."""
    if not p.options and p.prefix is None:
        raise InvalidParams("give options and/or prefix")
    bad = [o for o in p.options + ([p.prefix] if p.prefix else []) if not _OPTION.match(o)]
    if bad:
        raise InvalidParams(f"invalid option names {bad} (e.g. CONFIG_BPF_SYSCALL)")
    source, text = load()
    table = parse_config(text)
    values: dict[str, str] = {}
    for opt in p.options:
        key = opt if opt.startswith("CONFIG_") else f"CONFIG_{opt}"
        values[key] = table.get(key, "n")  # absent from .config means not selectable: off
    if p.prefix:
        want = p.prefix if p.prefix.startswith("CONFIG_") else f"CONFIG_{p.prefix}"
        values.update({k: v for k, v in table.items() if k.startswith(want)})
    return KernelConfig(source=source, release=os.uname().release, values=values, total_options=len(table))
