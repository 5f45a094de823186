"""Failed systemd units: why each failed and since when; reset them.

``svc.failed`` lists every unit in the ``failed`` state with what systemd
recorded about it: the result (``exit-code``, ``signal``, ``timeout``,
``oom-kill``, ``start-limit-hit``...), the main process's exit status, how
many automatic restarts were tried and when it failed, which is the first
thing to look at after a reboot or a deploy. ``svc.failed.reset`` clears the
failed state (``systemctl reset-failed``) of one unit or all of them, e.g.
after fixing the cause. Needs a running systemd.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, NotFound, Plugin, Risk, action

from ._systemd import as_int, parse_list, show, systemctl, systemd_running, unit_name, unit_type

PLUGIN = Plugin(
    "svc.failed",
    domain="services",
    requires=["systemctl"],
    check=systemd_running,
)

_PROPS = (
    "Id",
    "Description",
    "Result",
    "ExecMainStatus",
    "ExecMainCode",
    "NRestarts",
    "InactiveEnterTimestamp",
    "FragmentPath",
)


class FailedParams(msgspec.Struct, forbid_unknown_fields=True):
    type: str | None = None


class ResetParams(msgspec.Struct, forbid_unknown_fields=True):
    unit: str | None = None
    """One unit, or every failed unit when omitted."""


class FailedUnit(msgspec.Struct):
    unit: str
    description: str
    result: str
    exit_status: int | None
    restarts: int | None
    failed_since: str
    fragment_path: str


class FailedUnits(msgspec.Struct):
    failed: list[FailedUnit]


class Reset(msgspec.Struct):
    reset: list[str]
    still_failed: list[str]


async def _failed_names(ctx: ActionContext, kind: str | None = None) -> list[str]:
    args = ["list-units", "--failed", "--all", "--plain", "--no-legend", "--full"]
    if kind:
        args.append(f"--type={unit_type(kind)}")
    res = await systemctl(ctx, args)
    if res.exit_code != 0:
        raise ActionError(
            f"systemctl list-units failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
        )
    return [row[0] for row in parse_list(res.stdout, 5)]


@action("svc.failed", risk=Risk.READ, timeout=30)
async def failed(ctx: ActionContext, p: FailedParams) -> FailedUnits:
    """Failed units with result, exit status, restart count and failure time."""
    names = await _failed_names(ctx, p.type)
    if not names:
        return FailedUnits(failed=[])
    out = []
    for props in await show(ctx, names, _PROPS):
        out.append(
            FailedUnit(
                unit=props.get("Id", ""),
                description=props.get("Description", ""),
                result=props.get("Result", ""),
                exit_status=as_int(props.get("ExecMainStatus")),
                restarts=as_int(props.get("NRestarts")),
                failed_since=props.get("InactiveEnterTimestamp", ""),
                fragment_path=props.get("FragmentPath", ""),
            )
        )
    return FailedUnits(failed=out)


@action("svc.failed.reset", risk=Risk.CHANGE, timeout=30)
async def reset(ctx: ActionContext, p: ResetParams) -> Reset:
    """Clear the failed state of one unit, or of every failed unit."""
    before = await _failed_names(ctx)
    unit = unit_name(p.unit) if p.unit else None
    if unit is not None and unit not in before:
        raise NotFound(f"{unit} is not in the failed state")
    res = await systemctl(ctx, ["reset-failed", *(["--", unit] if unit else [])])
    if res.exit_code != 0:
        raise ActionError(
            f"reset-failed failed: {res.stderr.strip()}", code=ErrorCode.A014, data=res
        )
    after = await _failed_names(ctx)
    return Reset(reset=[u for u in before if u not in after], still_failed=after)
