"""What apt installed, upgraded and removed on this host, and who asked.

``pkg.apt.history`` reads apt's transaction log (``/var/log/apt/history.log``
and its rotated, compressed copies) and returns the transactions newest
first: start and end time, the command line, the user who ran it (through
sudo), and every package installed, upgraded (old and new version),
downgraded, removed or purged, with a flag for packages pulled in
automatically. Filter by package name to see when and how a package changed.
Reads files only.
"""

from __future__ import annotations

import gzip
import os
import re
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, NotFound, Plugin, Risk, action

from ._common import deb_name

PLUGIN = Plugin("pkg.apt.history", domain="packages")

_ACTIONS = {
    "Install": "install",
    "Upgrade": "upgrade",
    "Downgrade": "downgrade",
    "Reinstall": "reinstall",
    "Remove": "remove",
    "Purge": "purge",
}
_ITEM = re.compile(r"(\S+?) \(([^)]*)\)(?:, |$)")


class HistoryParams(msgspec.Struct, forbid_unknown_fields=True):
    package: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    logdir: str = "/var/log/apt"


class PackageChange(msgspec.Struct):
    action: str
    package: str
    arch: str
    version: str
    old_version: str
    automatic: bool


class AptTransaction(msgspec.Struct):
    start: str
    end: str
    commandline: str
    requested_by: str
    changes: list[PackageChange]
    error: str


class AptHistory(msgspec.Struct):
    transactions: list[AptTransaction]
    files: list[str]


def parse_items(action: str, value: str) -> list[PackageChange]:
    out = []
    for name, detail in _ITEM.findall(value.strip()):
        pkg, _, arch = name.partition(":")
        parts = [x.strip() for x in detail.split(",")]
        automatic = "automatic" in parts
        versions = [x for x in parts if x != "automatic"]
        if action in ("upgrade", "downgrade") and len(versions) >= 2:
            old, new = versions[0], versions[1]
        elif action in ("remove", "purge"):
            old, new = (versions[0] if versions else ""), ""
        else:
            old, new = "", versions[0] if versions else ""
        out.append(
            PackageChange(
                action=action,
                package=pkg,
                arch=arch,
                version=new,
                old_version=old,
                automatic=automatic,
            )
        )
    return out


def parse_history(text: str) -> list[AptTransaction]:
    out: list[AptTransaction] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(": ")
            if sep:
                fields[key.strip()] = value.strip()
        if "Start-Date" not in fields:
            continue
        changes: list[PackageChange] = []
        for key, verb in _ACTIONS.items():
            if key in fields:
                changes += parse_items(verb, fields[key])
        out.append(
            AptTransaction(
                start=fields["Start-Date"].replace("  ", " "),
                end=fields.get("End-Date", "").replace("  ", " "),
                commandline=fields.get("Commandline", ""),
                requested_by=fields.get("Requested-By", ""),
                changes=changes,
                error=fields.get("Error", ""),
            )
        )
    return out


def _files(logdir: str) -> list[str]:
    """history.log, history.log.1, history.log.2.gz ... newest first."""
    names = [n for n in os.listdir(logdir) if re.match(r"^history\.log(\.\d+)?(\.gz)?$", n)]

    def age(n: str) -> int:
        m = re.match(r"^history\.log\.(\d+)", n)
        return int(m.group(1)) if m else 0

    return [os.path.join(logdir, n) for n in sorted(names, key=age)]


def _read(path: str) -> str:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        return fh.read()


def collect(logdir: str, package: str | None, limit: int) -> AptHistory:
    found: list[AptTransaction] = []
    used: list[str] = []
    for path in _files(logdir):
        used.append(path)
        for tx in reversed(parse_history(_read(path))):
            if package is None or any(c.package == package for c in tx.changes):
                found.append(tx)
                if len(found) >= limit:
                    return AptHistory(transactions=found, files=used)
    return AptHistory(transactions=found, files=used)


def _check_logdir(logdir: str) -> None:
    if not os.path.isabs(logdir):
        raise InvalidParams(f"logdir: {logdir!r} is not an absolute path")
    if not os.path.isdir(logdir):
        raise NotFound(f"{logdir} does not exist (is apt used on this host?)")


@action("pkg.apt.history", risk=Risk.READ, timeout=60)
async def history(ctx: ActionContext, p: HistoryParams) -> AptHistory:
    """apt transactions newest first: when, command, who, and each package change."""

    _check_logdir(p.logdir)
    package = deb_name(p.package, "package") if p.package else None
    return await ctx.to_thread(collect, p.logdir, package, p.limit)
