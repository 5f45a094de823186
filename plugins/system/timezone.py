"""Read and set the system time zone (/etc/localtime and /etc/timezone).

``sys.timezone.get`` reports the configured zone (from the ``/etc/localtime``
link, else ``/etc/timezone``), whether those two agree, the current UTC offset,
abbreviation and daylight-saving state, and whether the RTC keeps local time
(``/etc/adjtime``). ``sys.timezone.set`` checks that the zone exists in the
tz database (``/usr/share/zoneinfo``, a real TZif file), then repoints
``/etc/localtime`` atomically and updates ``/etc/timezone`` where the
distribution keeps one; ``dry_run`` only reports the plan. Running programs
keep their old zone until restarted.
"""

from __future__ import annotations

import os
import re
import time

import msgspec

from agent_core import (
    ActionContext,
    InvalidParams,
    NoParams,
    NotFound,
    Plugin,
    Risk,
    action,
)
from agent_core.procfs import read

PLUGIN = Plugin("sys.timezone", domain="system")

LOCALTIME = "/etc/localtime"
TIMEZONE_FILE = "/etc/timezone"
ADJTIME = "/etc/adjtime"
ZONEINFO = "/usr/share/zoneinfo"
_ZONE = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")


class TimezoneInfo(msgspec.Struct):
    zone: str
    source: str
    localtime_link: str
    timezone_file: str
    consistent: bool
    utc_offset: int
    abbreviation: str
    dst: bool
    rtc_local: bool | None


class SetParams(msgspec.Struct, forbid_unknown_fields=True):
    zone: str
    dry_run: bool = False


class TimezoneChange(msgspec.Struct):
    old: str
    new: str
    changed: bool
    dry_run: bool
    steps: list[str]


def _zone_from_link(target: str) -> str:
    marker = "zoneinfo/"
    i = target.find(marker)
    return target[i + len(marker):] if i >= 0 else ""


def current_zone() -> tuple[str, str, str, str]:
    """``(zone, source, link target, /etc/timezone content)``."""
    try:
        link = os.readlink(LOCALTIME)
    except OSError:
        link = ""
    file_zone = (read(TIMEZONE_FILE) or "").strip()
    if link and _zone_from_link(link):
        return _zone_from_link(link), LOCALTIME, link, file_zone
    if file_zone:
        return file_zone, TIMEZONE_FILE, link, file_zone
    return os.environ.get("TZ", "UTC").lstrip(":"), "TZ" if "TZ" in os.environ else "default", link, file_zone


@action("sys.timezone.get", risk=Risk.READ, timeout=10)
async def get(ctx: ActionContext, p: NoParams) -> TimezoneInfo:
    """Configured zone, where it comes from, UTC offset, abbreviation, DST and RTC mode."""
    zone, source, link, file_zone = current_zone()
    now = time.localtime()
    adj = (read(ADJTIME) or "").splitlines()
    return TimezoneInfo(
        zone=zone,
        source=source,
        localtime_link=link,
        timezone_file=file_zone,
        consistent=not (link and file_zone) or _zone_from_link(link) == file_zone,
        utc_offset=now.tm_gmtoff,
        abbreviation=now.tm_zone,
        dst=bool(now.tm_isdst > 0),
        rtc_local=(adj[2].strip() == "LOCAL") if len(adj) >= 3 else None,
    )


def zone_path(zone: str) -> str:
    """The tz database file for ``zone``; ``A002`` for a malformed name, ``A017`` if absent."""
    if not _ZONE.match(zone) or ".." in zone.split("/"):
        raise InvalidParams(f"invalid time zone name {zone!r} (expected e.g. 'Europe/Berlin')")
    path = os.path.join(ZONEINFO, zone)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise NotFound(f"time zone {zone!r} not found under {ZONEINFO}") from None
    if magic != b"TZif":
        raise NotFound(f"{path} is not a tz database file")
    return path


def apply_zone(zone: str, target: str, link: str, file_zone: str, *, dry_run: bool) -> list[str]:
    """Repoint /etc/localtime and rewrite /etc/timezone as needed; return the steps (taken or planned)."""
    steps = []
    write_file = os.path.exists(TIMEZONE_FILE) and file_zone != zone
    if link != target:
        steps.append(f"link {LOCALTIME} -> {target}")
    if write_file:
        steps.append(f"write {TIMEZONE_FILE}: {zone}")
    if dry_run:
        return steps
    if link != target:
        tmp = f"{LOCALTIME}.starling-tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(target, tmp)
        os.replace(tmp, LOCALTIME)  # atomic: readers see the old or the new zone
    if write_file:
        with open(TIMEZONE_FILE, "w") as fh:
            fh.write(zone + "\n")
    return steps


@action("sys.timezone.set", risk=Risk.CHANGE, timeout=15)
async def set_(ctx: ActionContext, p: SetParams) -> TimezoneChange:
    """Point /etc/localtime at ``zone`` (and update /etc/timezone if present); ``dry_run`` changes nothing."""
    target = zone_path(p.zone)
    old, _, link, file_zone = current_zone()
    steps = apply_zone(p.zone, target, link, file_zone, dry_run=p.dry_run)
    return TimezoneChange(old=old, new=p.zone, changed=bool(steps), dry_run=p.dry_run, steps=steps)
