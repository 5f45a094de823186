"""Ensure a kernel parameter has a value, persistently in sysctl.conf and (optionally) right now.

``state.sysctl.present`` makes ``key = value`` the one active assignment of
``key`` in a sysctl configuration file (``/etc/sysctl.conf`` by default;
an existing assignment is rewritten in place, later duplicates removed,
comments kept) and, with ``apply``, writes the value to ``/proc/sys`` when the
running kernel differs. It returns ``changed``, a diff of the file plus a
``runtime: old -> new`` line, and a comment; ``dry_run`` only reports; a
second run changes nothing. A key the kernel does not have is A017 when
applying. Changes kernel settings (unless ``dry_run``).
"""

from __future__ import annotations

import errno
import os
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
    abs_path,
    action,
    names,
)

from ._common import StateResult, ensure_text, read_text

PLUGIN = Plugin("state.sysctl.present", domain="state")

_KEY = re.compile(names.SYSCTL_KEY)
_ASSIGN = re.compile(r"^\s*-?\s*(?P<key>[A-Za-z0-9_][A-Za-z0-9_./-]*)\s*=\s*(?P<value>.*?)\s*$")


class SysctlParams(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    value: str | int
    path: str = "/etc/sysctl.conf"
    apply: bool = True
    proc_root: str = "/proc/sys"
    dry_run: bool = False


def norm_key(key: str) -> str:
    return key.replace("/", ".")


def norm_value(value: str | int) -> str:
    # The kernel prints multi-value settings with tabs ("32768\t60999"); compare blank-insensitively.
    return " ".join(str(value).split())


def edit(text: str, key: str, value: str) -> str:
    """``text`` with exactly one active ``key = value`` (the first one rewritten in place)."""
    out: list[str] = []
    done = False
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        stripped = body.lstrip()
        m = _ASSIGN.match(body) if stripped and stripped[0] not in "#;" else None
        if m and norm_key(m.group("key")) == key:
            if done:
                continue  # a later duplicate would override ours when sysctl --system reads the file
            done = True
            if norm_value(m.group("value")) == value:
                out.append(line)
            else:
                out.append(f"{key} = {value}{line[len(body):] or chr(10)}")
            continue
        out.append(line)
    if not done:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append(f"{key} = {value}\n")
    return "".join(out)


def _runtime(proc: str) -> str:
    try:
        with open(proc) as fh:
            return norm_value(fh.read())
    except FileNotFoundError:
        raise NotFound(f"the running kernel has no {proc}") from None


def _set_runtime(proc: str, value: str) -> None:
    try:
        with open(proc, "w") as fh:
            fh.write(value)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            raise InvalidParams(f"the kernel refused {value!r} for {proc}") from exc
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise ActionError(f"may not write {proc}: {exc.strerror}", code=ErrorCode.A016) from exc
        raise


@action("state.sysctl.present", risk=Risk.CHANGE, timeout=30)
async def present(ctx: ActionContext, p: SysctlParams) -> StateResult:
    """Ensure ``key = value`` in the sysctl file and, with ``apply``, in the running kernel."""
    if not _KEY.match(p.key) or ".." in p.key:
        raise InvalidParams(f"key: {p.key!r} is not a sysctl key like 'net.ipv4.ip_forward'")
    value = norm_value(p.value)
    if not value or "\n" in str(p.value):
        raise InvalidParams("value: required, on one line")
    key = norm_key(p.key)
    path = abs_path(p.path)
    proc = os.path.join(abs_path(p.proc_root, "proc_root"), *key.split("."))
    runtime_line = ""
    if p.apply:
        now = _runtime(proc)
        if now != value:
            runtime_line = f"runtime: {now} -> {value}\n"
    old = read_text(path)
    result = ensure_text(path, old, edit(old or "", key, value), dry_run=p.dry_run, what=f"{key} in {path}")
    result.name = key
    if runtime_line:
        if not p.dry_run:
            _set_runtime(proc, value)
            if _runtime(proc) != value:
                raise ActionError(f"{key} reads back {_runtime(proc)!r} after writing {value!r}", code=ErrorCode.A014)
        result.changed = True
        result.diff += runtime_line
        result.comment += "; would set it in the running kernel" if p.dry_run else "; set in the running kernel"
    return result
