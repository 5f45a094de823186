"""Installed systemd unit files and whether each starts at boot.

``svc.unitfiles`` is ``systemctl list-unit-files`` as data: every unit file
installed on the host with its enablement state (``enabled``, ``disabled``,
``static``, ``masked``, ``generated``, ``alias``...) and the vendor preset,
filtered by type, state or name pattern, with counts per state. Unlike
``svc.list`` it needs no running systemd, and with ``root`` it inspects an
image or chroot. Needs ``systemctl``; changes nothing.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action, root_dir

from ._systemd import list_filters, parse_list, systemctl

PLUGIN = Plugin(
    "svc.unitfiles", domain="services", requires=["systemctl"]
)


class UnitFilesParams(msgspec.Struct, forbid_unknown_fields=True):
    type: str | None = None
    state: str | None = None
    """``enabled``, ``disabled``, ``static``, ``masked``..."""
    pattern: str | None = None
    root: str | None = None


class UnitFileRow(msgspec.Struct):
    unit: str
    state: str
    preset: str


class UnitFiles(msgspec.Struct):
    unit_files: list[UnitFileRow]
    by_state: dict[str, int]


@action("svc.unitfiles", risk=Risk.READ, timeout=30)
async def unitfiles(ctx: ActionContext, p: UnitFilesParams) -> UnitFiles:
    """Installed unit files with enablement state and vendor preset."""
    args = ["list-unit-files", "--plain", "--no-legend", "--full"]
    args += list_filters(p.type, p.state, p.pattern, "unit file")
    res = await systemctl(ctx, args, root=root_dir(p.root))
    # No match is exit status 1 with nothing printed: an empty list, not an error.
    if res.exit_code != 0 and res.stderr.strip():
        raise ActionError(
            f"systemctl list-unit-files failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
        )
    rows = [
        UnitFileRow(unit=r[0], state=r[1], preset=r[2].strip()) for r in parse_list(res.stdout, 3)
    ]
    return UnitFiles(unit_files=rows, by_state=dict(Counter(r.state for r in rows)))
