"""Enable, disable, mask or unmask systemd units for boot; works offline too.

``svc.boot.enable`` / ``svc.boot.disable`` create or remove the symlinks
that start a unit at boot (from its ``[Install]`` section),
``svc.boot.mask`` / ``svc.boot.unmask`` forbid or allow starting it at all,
and ``svc.boot.state`` reads the enablement (``enabled``, ``disabled``,
``static``, ``masked``, ``alias``...). Each change reports the symlinks it
created or removed. With ``root`` they act on another root directory (an
image or a chroot) without any running systemd; ``now`` also starts or stops
the unit on the live system. Needs ``systemctl``.
"""

from __future__ import annotations

import re

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    Unavailable,
    action,
    root_dir,
)

from ._systemd import systemctl, systemd_running, unit_name

PLUGIN = Plugin(
    "svc.boot", domain="services", requires=["systemctl"]
)

_CHANGE = re.compile(r"^(Created symlink|Removed|Unlink|Symlink) ?(.*)$")


class BootParams(msgspec.Struct, forbid_unknown_fields=True):
    unit: str
    root: str | None = None
    """Act on the unit files under this directory instead of the live system."""
    now: bool = False
    """Also start (enable/unmask) or stop (disable/mask) the unit now."""


class StateParams(msgspec.Struct, forbid_unknown_fields=True):
    unit: str
    root: str | None = None


class BootState(msgspec.Struct):
    unit: str
    state: str
    """What ``systemctl is-enabled`` says: enabled, disabled, static, masked, indirect, alias..."""


class BootChange(msgspec.Struct):
    unit: str
    state: str
    changes: list[str]
    """The symlinks systemctl created or removed, as it reported them."""
    changed: bool


async def _state(ctx: ActionContext, unit: str, root: str | None) -> str:
    res = await systemctl(ctx, ["is-enabled", "--", unit], root=root)
    text = res.stdout.strip().splitlines()
    if text:
        return text[0]
    err = res.stderr.strip()
    if "No such file" in err or "not found" in err or "does not exist" in err:
        raise NotFound(
            f"no unit file for {unit}" + (f" under {root}" if root else "")
        )
    raise ActionError(f"systemctl is-enabled {unit}: {err}", code=ErrorCode.A008, data=res)


async def _change(ctx: ActionContext, verb: str, p: BootParams) -> BootChange:
    unit = unit_name(p.unit)
    root = root_dir(p.root)
    if p.now and root:
        raise InvalidParams("now: cannot start or stop a unit of another root directory")
    if p.now and systemd_running():
        raise Unavailable("now: systemd is not running on this host")
    before = await _state(ctx, unit, root) if verb != "unmask" else ""
    res = await systemctl(ctx, [verb, *(["--now"] if p.now else []), "--", unit], root=root)
    lines = (res.stdout + res.stderr).splitlines()
    if res.exit_code != 0:
        err = res.stderr.strip()
        code = ErrorCode.A017 if "does not exist" in err or "not found" in err else ErrorCode.A014
        raise ActionError(f"systemctl {verb} {unit}: {err}", code=code, data=res)
    changes = [m.group(0) for ln in lines if (m := _CHANGE.match(ln.strip()))]
    after = await _state(ctx, unit, root)
    return BootChange(
        unit=unit, state=after, changes=changes, changed=bool(changes) or after != before
    )


@action("svc.boot.state", risk=Risk.READ, timeout=20)
async def state(ctx: ActionContext, p: StateParams) -> BootState:
    """Whether a unit starts at boot: enabled, disabled, static, masked..."""
    unit = unit_name(p.unit)
    return BootState(unit=unit, state=await _state(ctx, unit, root_dir(p.root)))


@action("svc.boot.enable", risk=Risk.CHANGE, timeout=60)
async def enable(ctx: ActionContext, p: BootParams) -> BootChange:
    """Start a unit at boot (its ``[Install]`` symlinks); ``now`` also starts it."""
    return await _change(ctx, "enable", p)


@action("svc.boot.disable", risk=Risk.CHANGE, timeout=60)
async def disable(ctx: ActionContext, p: BootParams) -> BootChange:
    """Stop starting a unit at boot; ``now`` also stops it."""
    return await _change(ctx, "disable", p)


@action("svc.boot.mask", risk=Risk.DANGER, timeout=60)
async def mask(ctx: ActionContext, p: BootParams) -> BootChange:
    """Forbid starting a unit at all (links it to /dev/null); ``now`` also stops it."""
    return await _change(ctx, "mask", p)


@action("svc.boot.unmask", risk=Risk.CHANGE, timeout=60)
async def unmask(ctx: ActionContext, p: BootParams) -> BootChange:
    """Allow a masked unit to be started again."""
    return await _change(ctx, "unmask", p)
