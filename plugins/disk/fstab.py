"""Check /etc/fstab before the next boot does: syntax, devices, mount points, drift from what is mounted.

``disk.fstab`` parses an fstab file (``/etc/fstab`` or ``path``) and checks
every entry: the line has 4 to 6 fields; the device exists (``/dev`` paths,
``UUID=``/``LABEL=``/``PARTUUID=``/``PARTLABEL=`` through ``/dev/disk/by-*`` or,
without udev, ``blkid``); the mount point exists and is a directory; the
filesystem is mounted there now with the same type (unless ``noauto``); swap
entries are active; no mount point appears twice; the root filesystem has fsck
pass 1. An entry that would not mount without ``nofail`` is what turns a
reboot into an emergency shell. Reads only.
"""

from __future__ import annotations

import os
import shutil

import msgspec

from agent_core import ActionContext, NotFound, Plugin, Risk, abs_path, action
from agent_core.procfs import is_dir, read
from plugins.disk._common import NETWORK_FS, PSEUDO_FS, mount_table, unescape

PLUGIN = Plugin("disk.fstab", domain="disk")

TAGS = {"UUID": "by-uuid", "LABEL": "by-label", "PARTUUID": "by-partuuid", "PARTLABEL": "by-partlabel"}
VIRTUAL_FS = PSEUDO_FS | {"tmpfs", "none", "swap", "overlay"}
NO_FSCK = {"xfs", "btrfs", "zfs", "f2fs"}


class Params(msgspec.Struct, forbid_unknown_fields=True):
    path: str = "/etc/fstab"


class FstabEntry(msgspec.Struct):
    line: int
    spec: str
    file: str
    vfstype: str
    options: list[str]
    freq: int
    passno: int
    mounted: bool
    mounted_type: str
    problems: list[str]


class Fstab(msgspec.Struct):
    path: str
    entries: list[FstabEntry]
    syntax_errors: list[str]
    ok: bool


async def _blkid_tags(ctx: ActionContext) -> dict[tuple[str, str], str]:
    """``(TAG, value) -> device`` from ``blkid -o export`` when /dev/disk/by-* is absent (no udev)."""
    if shutil.which("blkid") is None:
        return {}
    res = await ctx.run(["blkid", "-o", "export"])
    tags: dict[tuple[str, str], str] = {}
    dev = ""
    for line in res.stdout.splitlines():
        key, _, value = line.partition("=")
        if key == "DEVNAME":
            dev = value
        elif key in TAGS and dev:
            tags[(key, value)] = dev
    return tags


def resolve_spec(spec: str, tags: dict[tuple[str, str], str]) -> tuple[str | None, str]:
    """The device node for an fstab spec, or ``None`` with the reason."""
    key, sep, value = spec.partition("=")
    if sep and key in TAGS:
        link = f"/dev/disk/{TAGS[key]}/{value.strip(chr(34))}"
        if os.path.exists(link):
            return os.path.realpath(link), ""
        if (key, value.strip('"')) in tags:
            return tags[(key, value.strip('"'))], ""
        return None, f"no device with {key}={value}"
    if spec.startswith("/dev/"):
        return (spec, "") if os.path.exists(spec) else (None, f"{spec} does not exist")
    return spec, ""


def check_entries(text: str, tags: dict[tuple[str, str], str]) -> tuple[list[FstabEntry], list[str]]:
    table = mount_table()
    mounted = {m.mountpoint: m for m in table}
    swaps = {line.split()[0] for line in (read("/proc/swaps") or "").splitlines()[1:] if line.strip()}
    entries: list[FstabEntry] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        f = line.split()
        if not 4 <= len(f) <= 6 or (len(f) > 4 and not f[4].isdigit()) or (len(f) > 5 and not f[5].isdigit()):
            errors.append(f"line {n}: expected 'spec file type options [freq [passno]]', got {raw.strip()!r}")
            continue
        spec, file, vfstype, opts = unescape(f[0]), unescape(f[1]), f[2], f[3].split(",")
        e = FstabEntry(
            line=n, spec=spec, file=file, vfstype=vfstype, options=opts, freq=int(f[4]) if len(f) > 4 else 0,
            passno=int(f[5]) if len(f) > 5 else 0, mounted=False, mounted_type="", problems=[],
        )  # fmt: skip
        network = vfstype in NETWORK_FS or ":" in spec.split("=", 1)[0] or spec.startswith("//")
        if vfstype == "swap" or file in ("none", "swap"):
            device, why = resolve_spec(spec, tags)
            e.mounted = device in swaps or spec in swaps or (device is not None and os.path.realpath(device) in swaps)
            if why:
                e.problems.append(why)
            elif not e.mounted and "noauto" not in opts:
                e.problems.append("swap not active")
            entries.append(e)
            continue
        if not file.startswith("/"):
            e.problems.append(f"mount point {file!r} is not absolute")
        elif file in seen:
            e.problems.append(f"mount point also on line {seen[file]}")
        seen.setdefault(file, n)
        if file.startswith("/") and not os.path.isdir(file):
            e.problems.append(f"mount point {file} does not exist" if not os.path.exists(file) else f"{file} is not a directory")
        if not network and vfstype not in VIRTUAL_FS:
            _, why = resolve_spec(spec, tags)
            if why:
                e.problems.append(why)
        m = mounted.get(file)
        if m is not None:
            e.mounted, e.mounted_type = True, m.fstype
            if vfstype not in ("auto", m.fstype) and not (vfstype == "nfs" and m.fstype == "nfs4"):
                e.problems.append(f"mounted as {m.fstype}, fstab says {vfstype}")
        elif "noauto" not in opts:
            e.problems.append("not mounted" + (" (nofail)" if "nofail" in opts else ""))
        if file == "/" and vfstype not in NO_FSCK and e.passno != 1:
            e.problems.append("root filesystem should have fsck pass 1")
        entries.append(e)
    return entries, errors


@action("disk.fstab", risk=Risk.READ, timeout=30)
async def fstab(ctx: ActionContext, p: Params) -> Fstab:
    """Every fstab entry checked for syntax, device, mount point, current mount and fsck order."""
    path = abs_path(p.path)
    text = read(path)
    if text is None:
        raise NotFound(f"cannot read {path}")
    tags = {} if is_dir("/dev/disk") else await _blkid_tags(ctx)
    entries, errors = check_entries(text, tags)
    return Fstab(path=path, entries=entries, syntax_errors=errors, ok=not errors and not any(e.problems for e in entries))
