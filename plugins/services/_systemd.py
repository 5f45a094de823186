"""Shared pieces of the service plugins: unit names, ``systemctl`` calls and parsing.

Not a plugin (no entry point); imported by the ``svc.*`` and ``timer.*`` plugins.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    ProcessResult,
    names,
)

UNIT_TYPES = (
    "service",
    "socket",
    "target",
    "timer",
    "mount",
    "automount",
    "path",
    "slice",
    "scope",
    "swap",
    "device",
)
_UNIT = re.compile(names.UNIT)
_PATTERN = re.compile(names.UNIT_GLOB)
_STATE = re.compile(r"^[a-z-]{1,32}$")


def systemd_running() -> str | None:
    """systemd is the running init system (``/run/systemd/system`` exists)."""
    if not os.path.isdir("/run/systemd/system"):
        return "systemd is not the running init system (no /run/systemd/system)"
    return None


def unit_name(name: str, default_type: str = "service") -> str:
    """Check a unit name and add ``.service`` when it has no type suffix (A002)."""
    if not _UNIT.match(name) or name.startswith("-"):
        raise InvalidParams(f"unit: {name!r} is not a valid unit name")
    if name.rsplit(".", 1)[-1] not in UNIT_TYPES:
        name = f"{name}.{default_type}"
    return name


def unit_pattern(pattern: str) -> str:
    """A glob over unit names, as ``systemctl list-units PATTERN`` takes it."""
    if not _PATTERN.match(pattern) or pattern.startswith("-"):
        raise InvalidParams(f"pattern: {pattern!r} is not a unit name pattern")
    return pattern


def unit_type(kind: str | None) -> str | None:
    if kind is not None and kind not in UNIT_TYPES:
        raise InvalidParams(f"type: {kind!r} is not one of {', '.join(UNIT_TYPES)}")
    return kind


def list_filters(kind: str | None, state: str | None, pattern: str | None, what: str) -> list[str]:
    """The ``--type``, ``--state`` and name-pattern arguments of ``systemctl list-*``.

    :param what: what a state is a state of, for the error (``unit``, ``unit file``).
    :raises ActionError: A002 when one of them is not valid.
    """
    args = []
    if unit_type(kind):
        args.append(f"--type={kind}")
    if state is not None:
        if not _STATE.match(state):
            raise InvalidParams(f"state: {state!r} is not a {what} state")
        args.append(f"--state={state}")
    if pattern is not None:
        args += ["--", unit_pattern(pattern)]
    return args


async def systemctl(
    ctx: ActionContext, args: Sequence[str], *, root: str | None = None
) -> ProcessResult:
    """Run ``systemctl --no-pager ARGS`` (offline against ``root`` when given)."""
    argv = [
        "systemctl",
        "--no-pager",
        "--no-ask-password",
        *([f"--root={root}"] if root else []),
        *args,
    ]
    return await ctx.run(argv, c_locale=True)


def parse_show(text: str) -> list[dict[str, str]]:
    """``systemctl show`` output: ``Key=value`` lines, one blank line between units."""
    units: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                units.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    if current:
        units.append(current)
    return units


async def show(
    ctx: ActionContext, units: Sequence[str], props: Sequence[str]
) -> list[dict[str, str]]:
    """Properties of ``units`` (in order), raising A008 when systemctl fails."""
    res = await systemctl(ctx, ["show", "-p", ",".join(props), "--", *units])
    if res.exit_code != 0:
        raise ActionError(
            f"systemctl show failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
        )
    return parse_show(res.stdout)


def as_int(value: str | None) -> int | None:
    """systemd prints unset numbers as ``[not set]`` or the max uint64."""
    if not value or not value.lstrip("-").isdigit():
        return None
    n = int(value)
    return None if n >= 2**63 else n


def parse_list(text: str, columns: int) -> list[list[str]]:
    """Rows of ``systemctl list-*  --plain --no-legend``: the last column keeps its spaces."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("●") or line.startswith("*"):
            line = line[1:].strip()  # the failed-unit marker some versions keep
        if not line:
            continue
        parts = line.split(None, columns - 1)
        rows.append(parts + [""] * (columns - len(parts)))
    return rows


# -- one unit's status (svc.status, svc.*) ----------------------------------------

_PROPS = (
    "Id",
    "Description",
    "LoadState",
    "ActiveState",
    "SubState",
    "Result",
    "UnitFileState",
    "UnitFilePreset",
    "FragmentPath",
    "DropInPaths",
    "MainPID",
    "ExecMainStatus",
    "ExecMainCode",
    "NRestarts",
    "MemoryCurrent",
    "CPUUsageNSec",
    "TasksCurrent",
    "ActiveEnterTimestamp",
    "InactiveEnterTimestamp",
    "StatusText",
    "Type",
    "Restart",
    "User",
    "LoadError",
)


class UnitStatus(msgspec.Struct):
    unit: str
    description: str
    load_state: str
    active_state: str
    sub_state: str
    result: str
    enabled: str
    preset: str
    fragment_path: str
    drop_ins: list[str]
    type: str
    restart: str
    user: str
    main_pid: int | None
    exit_status: int | None
    restarts: int | None
    memory_bytes: int | None
    cpu_seconds: float | None
    tasks: int | None
    active_since: str
    inactive_since: str
    status_text: str
    log: list[str]


def to_status(props: dict[str, str], log: list[str]) -> UnitStatus:
    cpu = as_int(props.get("CPUUsageNSec"))
    pid = as_int(props.get("MainPID"))
    return UnitStatus(
        unit=props.get("Id", ""),
        description=props.get("Description", ""),
        load_state=props.get("LoadState", ""),
        active_state=props.get("ActiveState", ""),
        sub_state=props.get("SubState", ""),
        result=props.get("Result", ""),
        enabled=props.get("UnitFileState", ""),
        preset=props.get("UnitFilePreset", ""),
        fragment_path=props.get("FragmentPath", ""),
        drop_ins=props.get("DropInPaths", "").split(),
        type=props.get("Type", ""),
        restart=props.get("Restart", ""),
        user=props.get("User", ""),
        main_pid=pid or None,
        exit_status=as_int(props.get("ExecMainStatus")),
        restarts=as_int(props.get("NRestarts")),
        memory_bytes=as_int(props.get("MemoryCurrent")),
        cpu_seconds=round(cpu / 1e9, 3) if cpu is not None else None,
        tasks=as_int(props.get("TasksCurrent")),
        active_since=props.get("ActiveEnterTimestamp", ""),
        inactive_since=props.get("InactiveEnterTimestamp", ""),
        status_text=props.get("StatusText", ""),
        log=log,
    )


async def unit_props(ctx: ActionContext, unit: str) -> dict[str, str]:
    """Properties of a unit systemd knows, else A017."""
    (props,) = await show(ctx, [unit], _PROPS)
    if props.get("LoadState") == "not-found":
        raise NotFound(f"no unit named {unit} (systemctl: not-found)")
    return props


async def journal_tail(ctx: ActionContext, unit: str, lines: int) -> list[str]:
    if lines <= 0 or ctx.which("journalctl") is None:
        return []
    res = await ctx.run(
        ["journalctl", "--no-pager", "-o", "short-iso", "-n", str(lines), "-u", unit], c_locale=True
    )
    return [ln for ln in res.stdout.splitlines() if ln and not ln.startswith("-- ")]
