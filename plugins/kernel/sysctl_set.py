"""Set kernel parameters (sysctl) all-or-nothing, optionally persisted to /etc/sysctl.d.

``kernel.sysctl.set`` takes ``values`` (key -> new value), checks every key first
(exists, writable), records the old values, then writes them in order; if the
kernel rejects one (``EINVAL``: out of range, wrong format) the keys already
written are restored and the call fails with ``A014``, so a host is never left
half-tuned. Each key is read back and reported with old, requested and
effective value. ``persist`` (a file name like ``60-tuning.conf``) also writes
the keys into ``/etc/sysctl.d`` so they survive a reboot, updating lines that
set the same keys. ``dry_run`` validates and reports without writing.
"""

from __future__ import annotations

import os
import re
import stat

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
    atomic_write,
)
from plugins.kernel._common import PROC_SYS, key_path, normalize, read_key

PLUGIN = Plugin("kernel.sysctl.set", domain="kernel", requires_files=[PROC_SYS])

SYSCTL_D = "/etc/sysctl.d"
_CONF_NAME = re.compile(r"^[A-Za-z0-9_.\-]+\.conf$")


class Params(msgspec.Struct, forbid_unknown_fields=True):
    values: dict[str, str | int]
    dry_run: bool = False
    persist: str | None = None


class Change(msgspec.Struct):
    key: str
    old: str
    requested: str
    new: str
    changed: bool


class SysctlSet(msgspec.Struct):
    changes: list[Change]
    dry_run: bool
    persisted_to: str = ""


def _write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value + "\n")


def check_writable(key: str, path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise NotFound(f"no sysctl {key}") from None
    if stat.S_ISDIR(mode):
        raise InvalidParams(f"{key} is a group of keys, not a key")
    if not mode & 0o222:
        raise ActionError(f"sysctl {key} is read-only", code=ErrorCode.A016)


def apply(plan: list[tuple[str, str, str, str]]) -> list[Change]:
    """Write each (key, path, old, new); on the first failure restore the written ones and raise A014."""
    done: list[tuple[str, str, str]] = []
    for key, path, old, new in plan:
        try:
            _write(path, new)
        except OSError as exc:
            restore_errors = []
            for k, pth, prev in reversed(done):
                try:
                    _write(pth, prev)
                except OSError as rexc:
                    restore_errors.append(f"{k}: {rexc.strerror}")
            msg = f"kernel refused {key} = {new!r}: {exc.strerror or exc}; restored {len(done) - len(restore_errors)} earlier key(s)"
            if restore_errors:
                msg += f"; could NOT restore {', '.join(restore_errors)}"
            raise ActionError(msg, code=ErrorCode.A014, data={"failed": key, "restored": [k for k, _, _ in done]}) from exc
        done.append((key, path, old))
    changes = []
    for k, path, old, new in plan:
        now = read_key(path)
        changes.append(Change(key=k, old=old, requested=new, new=now, changed=normalize(old) != now))
    return changes


def persist(name: str, values: dict[str, str]) -> str:
    """Write ``values`` into ``SYSCTL_D/name``: replace lines setting the same keys, append the rest."""
    path = os.path.join(SYSCTL_D, name)
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        lines = ["# Written by Starling kernel.sysctl.set"]
    pending = dict(values)
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip().lstrip("-").replace("/", ".")
        if "=" in line and not line.lstrip().startswith(("#", ";")) and key in {k.replace("/", ".") for k in pending}:
            match = next(k for k in pending if k.replace("/", ".") == key)
            out.append(f"{match} = {pending.pop(match)}")
        else:
            out.append(line)
    out += [f"{k} = {v}" for k, v in pending.items()]
    os.makedirs(SYSCTL_D, exist_ok=True)
    atomic_write(path, "\n".join(out) + "\n")
    return path


def run(p: Params) -> SysctlSet:
    if not p.values:
        raise InvalidParams("values must name at least one key")
    if p.persist is not None and not _CONF_NAME.match(p.persist):
        raise InvalidParams("persist must be a file name ending in .conf (no directories)")
    plan = []
    for key, raw in p.values.items():
        value = str(raw).strip()
        if "\n" in value or not value:
            raise InvalidParams(f"value for {key} must be one non-empty line")
        path = key_path(key)
        check_writable(key, path)
        plan.append((key, path, read_key(path), value))
    if p.dry_run:
        changes = [Change(key=k, old=old, requested=new, new=old, changed=normalize(old) != normalize(new)) for k, _, old, new in plan]
        return SysctlSet(changes=changes, dry_run=True)
    result = SysctlSet(changes=apply(plan), dry_run=False)
    if p.persist is not None:
        result.persisted_to = persist(p.persist, {k: new for k, _, _, new in plan})
    return result


@action("kernel.sysctl.set", risk=Risk.CHANGE, timeout=30)
async def set_(ctx: ActionContext, p: Params) -> SysctlSet:
    """Write ``values`` to /proc/sys all-or-nothing (rolled back on a rejected value); ``persist`` to sysctl.d."""
    return run(p)
