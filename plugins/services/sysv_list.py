"""SysV init scripts on the host, their runlevels and (optionally) their status.

``sysv.list`` lists the services in ``/etc/init.d`` with what their LSB
header says (provides, description, default runlevels, dependencies) and
what the ``/etc/rcN.d`` links actually do: in which runlevels each service is
started (``S``) or killed (``K``) and in what order. Links pointing at a
missing script are reported as problems. With ``status`` it also runs every
script's ``status`` (slower, and some scripts print noise). Reads files.
"""

from __future__ import annotations

import os
import re

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._sysv import INITDIR, check_dir, is_service, lsb_header, run_script, status_name

PLUGIN = Plugin(
    "sysv.list", domain="services", requires_files=[INITDIR]
)

_LINK = re.compile(r"^([SK])(\d{2})(.+)$")


class SysvListParams(msgspec.Struct, forbid_unknown_fields=True):
    initdir: str = INITDIR
    rcdir: str = "/etc"
    """Where the ``rc0.d`` ... ``rc6.d`` / ``rcS.d`` directories are (``/etc/rc.d`` on Red Hat)."""
    status: bool = False


class RunlevelLink(msgspec.Struct):
    runlevel: str
    kind: str
    """``start`` or ``kill``."""
    order: int


class SysvService(msgspec.Struct):
    name: str
    provides: str
    description: str
    default_start: list[str]
    default_stop: list[str]
    required_start: list[str]
    links: list[RunlevelLink]
    executable: bool
    state: str = ""
    """With ``status``: running, stopped, dead..., else empty."""


class SysvServices(msgspec.Struct):
    services: list[SysvService]
    problems: list[str]


def scan(initdir: str, rcdir: str) -> tuple[list[SysvService], list[str]]:
    names = sorted(n for n in os.listdir(initdir) if is_service(initdir, n))
    links: dict[str, list[RunlevelLink]] = {n: [] for n in names}
    problems: list[str] = []
    for entry in sorted(os.listdir(rcdir)):
        m = re.match(r"^rc([0-6S])\.d$", entry)
        if not m:
            continue
        level_dir = os.path.join(rcdir, entry)
        for link in sorted(os.listdir(level_dir)):
            lm = _LINK.match(link)
            if not lm:
                continue
            path = os.path.join(level_dir, link)
            target = os.path.basename(os.readlink(path)) if os.path.islink(path) else lm.group(3)
            if not os.path.exists(path):
                problems.append(f"{entry}/{link} points to a missing script")
                continue
            kind = "start" if lm.group(1) == "S" else "kill"
            links.setdefault(target, []).append(
                RunlevelLink(runlevel=m.group(1), kind=kind, order=int(lm.group(2)))
            )
    services = []
    for n in names:
        path = os.path.join(initdir, n)
        h = lsb_header(path)
        services.append(
            SysvService(
                name=n,
                provides=h.get("Provides", ""),
                description=h.get("Short-Description", ""),
                default_start=h.get("Default-Start", "").split(),
                default_stop=h.get("Default-Stop", "").split(),
                required_start=h.get("Required-Start", "").split(),
                links=links.get(n, []),
                executable=os.access(path, os.X_OK),
            )
        )
    for s in services:
        started = {lk.runlevel for lk in s.links if lk.kind == "start"}
        if s.default_start and started and started != set(s.default_start):
            problems.append(
                f"{s.name}: started in runlevels {''.join(sorted(started))}, header says {''.join(s.default_start)}"
            )
        if not s.executable:
            problems.append(f"{s.name}: script is not executable")
    return services, problems


@action("sysv.list", risk=Risk.READ, timeout=120)
async def sysv_list(ctx: ActionContext, p: SysvListParams) -> SysvServices:
    """Init scripts with LSB header, rcN.d start/kill links and optionally their status."""
    initdir = check_dir(p.initdir, "initdir")
    rcdir = check_dir(p.rcdir, "rcdir")
    services, problems = scan(initdir, rcdir)
    if p.status:
        for s in services:
            if s.executable:
                res = await run_script(ctx, os.path.join(initdir, s.name), "status")
                s.state = status_name(res.exit_code)
    return SysvServices(services=services, problems=problems)
