"""Report AppArmor status: enabled or not, loaded profiles by mode, confined processes.

``sec.apparmor`` reads the kernel's view directly — the ``apparmor`` module
parameter and the profile list in securityfs
(``/sys/kernel/security/apparmor/profiles``) — and counts profiles in each
mode (enforce, complain, kill, unconfined). It then walks ``/proc`` for the
label of every process to list which are confined and by which profile, as
``aa-status`` does, without needing the AppArmor tools. A kernel without
AppArmor gets ``enabled: false``. It only reads.
"""

from __future__ import annotations

import os
import re

import msgspec

from agent_core import ActionContext, Plugin, Risk, abs_path, action

PLUGIN = Plugin("sec.apparmor", domain="security")

_PROFILE = re.compile(r"^(?P<name>.+) \((?P<mode>[a-z]+)\)$")


class ApparmorParams(msgspec.Struct, forbid_unknown_fields=True):
    securityfs: str = "/sys/kernel/security/apparmor"
    module_param: str = "/sys/module/apparmor/parameters/enabled"
    processes: bool = True


class Profile(msgspec.Struct):
    name: str
    mode: str


class Confined(msgspec.Struct):
    pid: int
    comm: str
    profile: str
    mode: str


class ApparmorStatus(msgspec.Struct):
    enabled: bool
    profiles_loaded: int
    modes: dict[str, int]
    profiles: list[Profile]
    confined: list[Confined]


def parse_profiles(text: str) -> list[Profile]:
    """Lines ``name (mode)`` as securityfs lists them; names may contain blanks."""
    out = []
    for line in text.splitlines():
        m = _PROFILE.match(line.strip())
        if m:
            out.append(Profile(name=m.group("name"), mode=m.group("mode")))
    return out


def _label(pid: str) -> str | None:
    # Newer kernels keep the AppArmor label under attr/apparmor/, older under attr/.
    for path in (f"/proc/{pid}/attr/apparmor/current", f"/proc/{pid}/attr/current"):
        try:
            with open(path) as fh:
                return fh.read().strip("\x00\n ")
        except OSError:
            continue
    return None


def confined_processes() -> list[Confined]:
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        label = _label(pid)
        if not label or label == "unconfined":
            continue
        m = _PROFILE.match(label)
        name, mode = (m.group("name"), m.group("mode")) if m else (label, "")
        try:
            with open(f"/proc/{pid}/comm") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        out.append(Confined(pid=int(pid), comm=comm, profile=name, mode=mode))
    return sorted(out, key=lambda c: c.pid)


def _status(p: ApparmorParams) -> ApparmorStatus:
    try:
        with open(p.module_param) as fh:
            enabled = fh.read().strip().upper().startswith("Y")
    except OSError:
        enabled = False
    try:
        with open(os.path.join(p.securityfs, "profiles")) as fh:
            profiles = parse_profiles(fh.read())
    except OSError:
        profiles = []
    modes: dict[str, int] = {}
    for prof in profiles:
        modes[prof.mode] = modes.get(prof.mode, 0) + 1
    return ApparmorStatus(
        enabled=enabled,
        profiles_loaded=len(profiles),
        modes=modes,
        profiles=profiles,
        confined=confined_processes() if p.processes and enabled else [],
    )


@action("sec.apparmor", risk=Risk.READ, timeout=30)
async def apparmor(ctx: ActionContext, p: ApparmorParams) -> ApparmorStatus:
    """Whether AppArmor is on, its profiles by mode, and which processes it confines."""
    abs_path(p.securityfs, "securityfs")
    abs_path(p.module_param, "module_param")
    return _status(p)
