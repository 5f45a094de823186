"""Mask, unmask or read the boot state of systemd units; works offline too.

``svc.boot.mask`` / ``svc.boot.unmask`` forbid or allow starting a unit at
all (a link to ``/dev/null``), and ``svc.boot.state`` reads its enablement
(``enabled``, ``disabled``, ``static``, ``masked``, ``alias``...). Each change
reports the symlinks it created or removed. With ``root`` they act on another
root directory (an image or a chroot) without any running systemd; ``now``
also stops the unit on the live system when masking. Enabling and disabling
at boot, for systemd and sysv alike, is ``svc.enable`` / ``svc.disable``.
Needs ``systemctl``.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, Plugin, Risk, action, names, root_dir

from ._backend import BootChange
from ._systemd import boot_state, change_boot, unit_name

PLUGIN = Plugin("svc.boot", domain="services", requires=["systemctl"])


class BootParams(msgspec.Struct, forbid_unknown_fields=True):
    unit: names.Unit
    root: str | None = None
    """Act on the unit files under this directory instead of the live system."""
    now: bool = False
    """Also stop (mask) or start (unmask) the unit now."""


class StateParams(msgspec.Struct, forbid_unknown_fields=True):
    unit: names.Unit
    root: str | None = None


class BootState(msgspec.Struct):
    unit: str
    state: str
    """What ``systemctl is-enabled`` says: enabled, disabled, static, masked, indirect, alias..."""


@action("svc.boot.state", risk=Risk.READ, timeout=20)
async def state(ctx: ActionContext, p: StateParams) -> BootState:
    """Whether a unit starts at boot: enabled, disabled, static, masked..."""
    unit = unit_name(p.unit)
    return BootState(unit=unit, state=await boot_state(ctx, unit, root_dir(p.root)))


@action("svc.boot.mask", risk=Risk.DANGER, timeout=60)
async def mask(ctx: ActionContext, p: BootParams) -> BootChange:
    """Forbid starting a unit at all (links it to /dev/null); ``now`` also stops it."""
    return await change_boot(ctx, "mask", unit_name(p.unit), p.now, root_dir(p.root))


@action("svc.boot.unmask", risk=Risk.CHANGE, timeout=60)
async def unmask(ctx: ActionContext, p: BootParams) -> BootChange:
    """Allow a masked unit to be started again."""
    return await change_boot(ctx, "unmask", unit_name(p.unit), p.now, root_dir(p.root))
