"""One kernel module in detail: loaded or built in, its parameters' live values, version, holders.

``kernel.modinfo`` looks ``name`` up in ``/sys/module`` (which lists loaded
modules and built-in ones that have parameters) and reports whether it is
loaded as a module or built into the kernel, its init state, reference count,
holders, version and source version, taint, and the current value of every
parameter (``/sys/module/NAME/parameters``: the values in force, which can
differ from ``modprobe.d``). When ``modinfo`` (kmod) is installed it adds the
module file, license, description, dependencies and parameter descriptions.
Reads only.
"""

from __future__ import annotations

import re
import shutil

import msgspec

from agent_core import (
    ActionContext,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
)
from agent_core.procfs import exists, listdir, read, read_int

SYS_MODULE = "/sys/module"
PLUGIN = Plugin("kernel.modinfo", domain="kernel", requires_files=[SYS_MODULE])
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class Params(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class ModInfo(msgspec.Struct):
    name: str
    present_in_sysfs: bool
    builtin: bool
    initstate: str
    refcount: int | None
    holders: list[str]
    version: str
    srcversion: str
    taint: str
    parameters: dict[str, str]
    unreadable_parameters: list[str]
    modinfo: dict[str, list[str]] = {}


def parse_modinfo(text: str) -> dict[str, list[str]]:
    """``modinfo`` output: ``key:   value`` lines; repeated keys (alias, parm, depends) collect."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and " " not in key.strip():
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def from_sysfs(name: str) -> ModInfo:
    d = f"{SYS_MODULE}/{name}"
    params: dict[str, str] = {}
    unreadable: list[str] = []
    for param in listdir(f"{d}/parameters"):
        value = read(f"{d}/parameters/{param}")
        if value is None:
            unreadable.append(param)
        else:
            params[param] = value
    initstate = read(f"{d}/initstate") or ""
    return ModInfo(
        name=name,
        present_in_sysfs=exists(d),
        # Loadable modules have an initstate; built-in ones only show their parameters.
        builtin=exists(d) and not initstate,
        initstate=initstate,
        refcount=read_int(f"{d}/refcnt"),
        holders=listdir(f"{d}/holders"),
        version=read(f"{d}/version") or "",
        srcversion=read(f"{d}/srcversion") or "",
        taint=read(f"{d}/taint") or "",
        parameters=params,
        unreadable_parameters=unreadable,
    )


@action("kernel.modinfo", risk=Risk.READ, timeout=15)
async def modinfo(ctx: ActionContext, p: Params) -> ModInfo:
    """Loaded/built-in state, live parameter values, version, refcount and holders of module ``name``."""
    if not _NAME.match(p.name):
        raise InvalidParams(f"invalid module name {p.name!r}")
    name = p.name.replace("-", "_")  # the kernel names modules with underscores
    info = from_sysfs(name)
    if shutil.which("modinfo"):
        res = await ctx.run(["modinfo", p.name])
        if res.exit_code == 0:
            info.modinfo = parse_modinfo(res.stdout)
    if not info.present_in_sysfs and not info.modinfo:
        raise NotFound(f"no kernel module {p.name!r} (not loaded, not built in with parameters, not installed)")
    return info
