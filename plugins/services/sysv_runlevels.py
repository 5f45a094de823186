"""SysV init scripts on the host: their LSB headers and the runlevels they run in.

``svc.sysv.runlevels`` lists the services in ``/etc/init.d`` with what their LSB
header says (provides, description, default runlevels, dependencies) and
what the ``/etc/rcN.d`` links actually do: in which runlevels each service is
started (``S``) or killed (``K``) and in what order. Links pointing at a
missing script, and runlevels that differ from the header, are reported as
problems. Reads files only; each service's running state is ``svc.list``.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._sysv import INITDIR, check_dir, is_service, lsb_header, rc_links

PLUGIN = Plugin("svc.sysv.runlevels", domain="services", requires_files=[INITDIR])


class RunlevelsParams(msgspec.Struct, forbid_unknown_fields=True):
    initdir: str = INITDIR
    rcdir: str = "/etc"
    """Where the ``rc0.d`` ... ``rc6.d`` / ``rcS.d`` directories are (``/etc/rc.d`` on Red Hat)."""


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


class SysvServices(msgspec.Struct):
    services: list[SysvService]
    problems: list[str]


def scan(initdir: str, rcdir: str) -> tuple[list[SysvService], list[str]]:
    names = sorted(n for n in os.listdir(initdir) if is_service(initdir, n))
    found, problems = rc_links(rcdir)
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
                links=[
                    RunlevelLink(runlevel=level, kind=kind, order=order)
                    for level, kind, order in found.get(n, [])
                ],
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


@action("svc.sysv.runlevels", risk=Risk.READ, timeout=60)
async def runlevels(ctx: ActionContext, p: RunlevelsParams) -> SysvServices:
    """Init scripts with their LSB header and rcN.d start/kill links, and link problems."""
    services, problems = scan(check_dir(p.initdir, "initdir"), check_dir(p.rcdir, "rcdir"))
    return SysvServices(services=services, problems=problems)
