"""Compare the sysctl configuration on disk with the running kernel: drift, missing keys, overrides.

``kernel.sysctl.diff`` reads the sysctl configuration the way ``systemd-sysctl`` and
``sysctl --system`` apply it at boot (``*.conf`` from ``/etc/sysctl.d``,
``/run/sysctl.d``, ``/usr/local/lib/sysctl.d``, ``/usr/lib/sysctl.d``,
``/lib/sysctl.d``, a file name in an earlier directory masking the same name in
a later one, all files in name order, then ``/etc/sysctl.conf``; the last
assignment of a key wins) and compares every key with its running value.
``drift`` lists keys whose running value differs (set by hand and not
persisted, or a config never applied), ``missing`` keys the kernel does not
have, ``overridden`` assignments a later file replaced. ``files`` checks given
files instead, e.g. a candidate before rollout. Reads only.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    NotFound,
    Plugin,
    Risk,
    abs_path,
    action,
)
from agent_core.procfs import listdir, read
from plugins.kernel._common import PROC_SYS, key_path, normalize, read_key

PLUGIN = Plugin("kernel.sysctl.diff", domain="kernel", requires_files=[PROC_SYS])

SEARCH_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
SYSCTL_CONF = "/etc/sysctl.conf"


class Params(msgspec.Struct, forbid_unknown_fields=True):
    files: list[str] = []


class Setting(msgspec.Struct):
    key: str
    value: str
    file: str
    line: int
    optional: bool


class Drift(msgspec.Struct):
    key: str
    configured: str
    running: str
    file: str
    line: int


class Overridden(msgspec.Struct):
    key: str
    value: str
    file: str
    line: int
    by: str


class SysctlDiff(msgspec.Struct):
    files: list[str]
    checked: int
    in_sync: int
    drift: list[Drift]
    missing: list[Setting]
    unreadable: list[str]
    overridden: list[Overridden]
    skipped: list[str]


def config_files() -> list[str]:
    """The files systemd-sysctl would read, in the order it applies them."""
    by_name: dict[str, str] = {}
    for d in SEARCH_DIRS:
        for name in listdir(d):
            if name.endswith(".conf") and name not in by_name:
                by_name[name] = os.path.join(d, name)
    files = [by_name[name] for name in sorted(by_name)]
    if os.path.isfile(SYSCTL_CONF) and os.path.realpath(SYSCTL_CONF) not in {os.path.realpath(f) for f in files}:
        files.append(SYSCTL_CONF)
    return files


def parse(path: str, text: str) -> tuple[list[Setting], list[str]]:
    settings, skipped = [], []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            skipped.append(f"{path}:{n}: not 'key = value'")
            continue
        optional = key.startswith("-")
        key = key.lstrip("-")
        if "*" in key or "?" in key or key.startswith("!"):
            skipped.append(f"{path}:{n}: glob or exclusion {key!r} not checked")
            continue
        settings.append(Setting(key=key, value=value, file=path, line=n, optional=optional))
    return settings, skipped


def diff(files: list[str], explicit: bool) -> SysctlDiff:
    effective: dict[str, Setting] = {}
    overridden: list[Overridden] = []
    skipped: list[str] = []
    for path in files:
        text = read(path)
        if text is None:
            if explicit:
                raise NotFound(f"cannot read {path}")
            continue
        settings, bad = parse(path, text)
        skipped += bad
        for s in settings:
            try:
                ident = key_path(s.key)
            except ActionError:
                skipped.append(f"{s.file}:{s.line}: invalid key {s.key!r}")
                continue
            prev = effective.get(ident)
            if prev is not None and normalize(prev.value) != normalize(s.value):
                overridden.append(Overridden(key=prev.key, value=prev.value, file=prev.file, line=prev.line, by=f"{s.file}:{s.line}"))
            effective[ident] = s
    drift, missing, unreadable = [], [], []
    in_sync = 0
    for ident, s in effective.items():
        try:
            running = read_key(ident)
        except ActionError as exc:
            if exc.code == ErrorCode.A017:
                missing.append(s)
            else:
                unreadable.append(s.key)
            continue
        if running == normalize(s.value):
            in_sync += 1
        else:
            drift.append(Drift(key=s.key, configured=s.value, running=running, file=s.file, line=s.line))
    return SysctlDiff(
        files=files, checked=len(effective), in_sync=in_sync, drift=drift, missing=missing,
        unreadable=unreadable, overridden=overridden, skipped=skipped,
    )  # fmt: skip


@action("kernel.sysctl.diff", risk=Risk.READ, timeout=30)
async def sysctl_diff(ctx: ActionContext, p: Params) -> SysctlDiff:
    """Running kernel values vs the sysctl configuration (or ``files``): drift, missing keys, overrides."""
    files = [abs_path(f, "files") for f in p.files]
    return diff(files or config_files(), explicit=bool(files))
