"""Shared pieces of the service plugins: unit names, ``systemctl`` calls and parsing.

Not a plugin (no entry point); imported by the ``svc.*`` plugins, and by
``sched.timer.list`` through :mod:`plugins.services`.
:class:`Systemd` is the systemd backend of ``svc.*`` (see :mod:`._backend`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    ProcessResult,
    Unavailable,
    names,
)

from ._backend import BootChange, Service, ServiceRow

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

#: Active states that count as running.
RUNNING = ("active", "activating", "reloading")

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


def to_status(props: dict[str, str], log: list[str]) -> Service:
    """``systemctl show`` properties of one unit as a :class:`Service`."""
    cpu = as_int(props.get("CPUUsageNSec"))
    pid = as_int(props.get("MainPID"))
    active = props.get("ActiveState", "")
    return Service(
        name=props.get("Id", ""),
        backend="systemd",
        running=active in RUNNING,
        active_state=active,
        sub_state=props.get("SubState", ""),
        enabled=props.get("UnitFileState", ""),
        description=props.get("Description", ""),
        main_pid=pid or None,
        result=props.get("Result", ""),
        load_state=props.get("LoadState", ""),
        preset=props.get("UnitFilePreset", ""),
        fragment_path=props.get("FragmentPath", ""),
        drop_ins=props.get("DropInPaths", "").split(),
        type=props.get("Type", ""),
        restart=props.get("Restart", ""),
        user=props.get("User", ""),
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


# -- the svc.* backend ----------------------------------------------------------------

#: The active states each control verb may leave a unit in.
_WANT = {
    "start": RUNNING,
    "restart": RUNNING,
    "reload": ("active", "reloading"),
    "stop": ("inactive", "failed", "deactivating"),
}
_LINK_CHANGE = re.compile(r"^(Created symlink|Removed|Unlink|Symlink) ?(.*)$")


async def boot_state(ctx: ActionContext, unit: str, root: str | None) -> str:
    """What ``systemctl is-enabled`` says (A017 when there is no unit file)."""
    res = await systemctl(ctx, ["is-enabled", "--", unit], root=root)
    text = res.stdout.strip().splitlines()
    if text:
        return text[0]
    err = res.stderr.strip()
    if "No such file" in err or "not found" in err or "does not exist" in err:
        raise NotFound(f"no unit file for {unit}" + (f" under {root}" if root else ""))
    raise ActionError(f"systemctl is-enabled {unit}: {err}", code=ErrorCode.A008, data=res)


async def change_boot(
    ctx: ActionContext, verb: str, unit: str, now: bool, root: str | None
) -> BootChange:
    """``systemctl enable|disable|mask|unmask [--now]`` and the links it reported."""
    if now and root:
        raise InvalidParams("now: cannot start or stop a unit of another root directory")
    if now and systemd_running():
        raise Unavailable("now: systemd is not running on this host")
    before = await boot_state(ctx, unit, root) if verb != "unmask" else ""
    res = await systemctl(ctx, [verb, *(["--now"] if now else []), "--", unit], root=root)
    if res.exit_code != 0:
        err = res.stderr.strip()
        code = ErrorCode.A017 if "does not exist" in err or "not found" in err else ErrorCode.A014
        raise ActionError(f"systemctl {verb} {unit}: {err}", code=code, data=res)
    lines = (res.stdout + res.stderr).splitlines()
    changes = [m.group(0) for ln in lines if (m := _LINK_CHANGE.match(ln.strip()))]
    after = await boot_state(ctx, unit, root)
    return BootChange(
        name=unit,
        backend="systemd",
        enabled=after,
        changes=changes,
        changed=bool(changes) or after != before,
    )


class Systemd:
    """``systemctl`` for everything; names get ``.service`` when they have no type."""

    name = "systemd"

    def service(self, name: str) -> str:
        return unit_name(name)

    async def status(self, ctx: ActionContext, name: str, log_lines: int) -> Service:
        unit = unit_name(name)
        props = await unit_props(ctx, unit)
        return to_status(props, await journal_tail(ctx, unit, log_lines))

    async def control(self, ctx: ActionContext, verb: str, name: str, no_block: bool) -> Service:
        unit = unit_name(name)
        await unit_props(ctx, unit)  # A017 before anything is queued
        res = await systemctl(ctx, [verb, *(["--no-block"] if no_block else []), "--", unit])
        props = await unit_props(ctx, unit)
        if res.exit_code != 0 or (not no_block and props.get("ActiveState") not in _WANT[verb]):
            state = f"{props.get('ActiveState')} ({props.get('SubState')}), result {props.get('Result')}"
            why = res.stderr.strip().splitlines()
            raise ActionError(
                f"{verb} {unit} failed: {why[0] if why else 'unit is ' + state}; now {state}",
                code=ErrorCode.A014,
                data=to_status(props, await journal_tail(ctx, unit, 20)),
            )
        return to_status(props, [])

    async def boot(
        self, ctx: ActionContext, enable: bool, name: str, now: bool, root: str | None
    ) -> BootChange:
        return await change_boot(ctx, "enable" if enable else "disable", unit_name(name), now, root)

    async def services(
        self, ctx: ActionContext, pattern: str | None, state: str | None, kind: str | None, all: bool
    ) -> list[ServiceRow]:
        args = ["list-units", "--plain", "--no-legend", "--full", *(["--all"] if all else [])]
        filters = list_filters(kind, state, pattern, "unit")
        res = await systemctl(ctx, args + filters)
        if res.exit_code != 0:
            raise ActionError(
                f"systemctl list-units failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
            )
        rows = parse_list(res.stdout, 5)
        files = await systemctl(
            ctx, ["list-unit-files", "--plain", "--no-legend", "--full", *list_filters(kind, None, pattern, "unit")]
        )
        enabled = {r[0]: r[1] for r in parse_list(files.stdout, 3)}
        return [
            ServiceRow(
                name=r[0],
                running=r[2] in RUNNING,
                active_state=r[2],
                sub_state=r[3],
                enabled=enabled.get(r[0], ""),
                description=r[4],
                load_state=r[1],
            )
            for r in rows
        ]


async def reload_daemon(ctx: ActionContext) -> None:
    """``systemctl daemon-reload`` (A014 when it fails)."""
    res = await systemctl(ctx, ["daemon-reload"])
    if res.exit_code != 0:
        raise ActionError(f"daemon-reload failed: {res.stderr.strip()}", code=ErrorCode.A014, data=res)
