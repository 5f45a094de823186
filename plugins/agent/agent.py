"""The agent itself: version, status, plugins, and plugin packages.

``agent.version`` and ``agent.status`` describe the running agent (journal,
running tasks, connection, residents); ``agent.plugins`` lists every plugin with
its version, availability and whether it is enabled; ``agent.enable`` /
``agent.disable`` switch plugins on this host (persisted); ``agent.install``
unpacks a third-party plugin wheel sent by the center and makes it callable
without a restart, and ``agent.rollback`` returns to the version before.
These actions need a running agent (its kernel); elsewhere they answer A003.
"""

from __future__ import annotations

import base64
import os
import platform
import time
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    InvalidParams,
    NoParams,
    Plugin,
    Risk,
    action,
    code,
)
from agent_core.host import kernel_of

PLUGIN = Plugin("agent", domain="agent")
_STARTED = time.time()


class Version(msgspec.Struct):
    version: str
    python: str
    platform: str
    pid: int
    started: float
    uptime: float


class PluginRow(msgspec.Struct, omit_defaults=True):
    name: str
    version: str
    available: bool
    enabled: bool
    actions: list[str]
    domain: str = ""
    reason: str = ""
    source: str = ""


class PluginList(msgspec.Struct):
    count: int
    available: int
    actions: int
    plugins: list[PluginRow]


class Names(msgspec.Struct, forbid_unknown_fields=True):
    names: list[str]


class Enabled(msgspec.Struct):
    disabled: list[str]


class InstallParams(msgspec.Struct, forbid_unknown_fields=True):
    #: The wheel file, base64-encoded.
    wheel_b64: Annotated[str, code("package")]
    #: Its SHA-256 (hex); the install fails with A015 on a mismatch.
    sha256: str
    #: A trusted publisher's Ed25519 signature (base64) over the SHA-256 hex;
    #: checked by the center, which refuses unsigned packages (C025).
    signature: str = ""


class Installed(msgspec.Struct):
    dist: str
    version: str
    previous: str
    plugins: list[str]


class PackageParams(msgspec.Struct, forbid_unknown_fields=True):
    #: The distribution name as ``agent.install`` and ``agent.plugins`` report it
    #: (``starling_hello``; ``starling-hello`` is the same package).
    dist: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")]


class Uninstalled(msgspec.Struct):
    dist: str
    version: str
    plugins: list[str]


@action("agent.version", risk=Risk.READ, timeout=5)
async def version(ctx: ActionContext, p: NoParams) -> Version:
    """The agent's version, Python, platform, pid and uptime."""
    return Version(
        version=ctx.agent.version,
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        pid=os.getpid(),
        started=_STARTED,
        uptime=round(time.time() - _STARTED, 3),
    )


@action("agent.status", risk=Risk.READ, timeout=5)
async def status(ctx: ActionContext, p: NoParams) -> dict:
    """Connection, running tasks, journal counts and statistics of the agent."""
    return dict(kernel_of(ctx).status())


@action("agent.plugins", risk=Risk.READ, timeout=60)
async def plugins(ctx: ActionContext, p: NoParams) -> PluginList:
    """Every plugin this host has, with version, availability, enablement and actions."""
    rows = [msgspec.convert(d, PluginRow) for d in kernel_of(ctx).plugins()]
    return PluginList(
        count=len(rows),
        available=sum(1 for r in rows if r.available),
        actions=sum(len(r.actions) for r in rows),
        plugins=rows,
    )


@action("agent.enable", risk=Risk.CHANGE, timeout=10)
async def enable(ctx: ActionContext, p: Names) -> Enabled:
    """Enable plugins on this host (persisted across restarts)."""
    return Enabled(disabled=kernel_of(ctx).set_enabled(p.names, True))


@action("agent.disable", risk=Risk.CHANGE, timeout=10)
async def disable(ctx: ActionContext, p: Names) -> Enabled:
    """Disable plugins on this host: their actions then answer A012."""
    if "agent" in p.names:
        raise InvalidParams("the agent plugin cannot disable itself")
    return Enabled(disabled=kernel_of(ctx).set_enabled(p.names, False))


@action("agent.install", risk=Risk.DANGER, timeout=120)
async def install(ctx: ActionContext, p: InstallParams) -> Installed:
    """Install a plugin package (wheel) and load it without restarting the agent."""
    try:
        data = base64.b64decode(p.wheel_b64, validate=True)
    except ValueError as exc:
        raise InvalidParams(f"wheel_b64 is not base64: {exc}") from exc
    done = kernel_of(ctx).install_wheel(data, p.sha256)
    return msgspec.convert(done, Installed, strict=False)


@action("agent.rollback", risk=Risk.DANGER, timeout=60)
async def rollback(ctx: ActionContext, p: PackageParams) -> Installed:
    """Go back to the previously installed version of a plugin package (A017 when it is not installed)."""
    return msgspec.convert(kernel_of(ctx).rollback(p.dist), Installed, strict=False)


@action("agent.uninstall", risk=Risk.DANGER, timeout=60)
async def uninstall(ctx: ActionContext, p: PackageParams) -> Uninstalled:
    """Remove a plugin package installed by ``agent.install`` (every version); its actions answer A001 after."""
    return msgspec.convert(kernel_of(ctx).uninstall(p.dist), Uninstalled, strict=False)
