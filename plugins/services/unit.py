"""Show a systemd unit file as systemd will read it, drop-ins merged.

``svc.unit`` finds a unit's file on the unit search path (``/etc``, ``/run``,
``/usr/local/lib``, ``/usr/lib``, ``/lib``), falling back to the template for
an instance such as ``getty@tty1.service``, collects its drop-in ``.conf``
files in the order systemd applies them, and returns every section and key
after the merge (an empty assignment resets a list, as in systemd), plus the
raw text of each file. It reads files only, so it works without a running
systemd and, with ``root``, on an image or chroot.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import ActionContext, InvalidParams, NotFound, Plugin, Risk, action, root_dir

from ._systemd import unit_name

#: systemd's system unit search path, highest priority first.
SEARCH_PATH = (
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)


def _check() -> str | None:
    """A systemd unit directory exists (``/lib/systemd/system`` or ``/etc/systemd/system``)."""
    if any(os.path.isdir(d) for d in SEARCH_PATH):
        return None
    return "no systemd unit directory on this host"


PLUGIN = Plugin("svc.unit", domain="services", check=_check)


class UnitParams(msgspec.Struct, forbid_unknown_fields=True):
    unit: str
    root: str | None = None
    raw: bool = False
    """Also return the text of the unit file and of each drop-in."""


class UnitFile(msgspec.Struct):
    unit: str
    path: str
    """The unit file used; empty for a unit that only exists as drop-ins."""
    masked: bool
    aliases_of: str
    """Set when ``unit`` is a symlink to another unit file (an alias)."""
    template: str
    drop_ins: list[str]
    sections: dict[str, dict[str, list[str]]]
    raw: dict[str, str]


def parse_unit(text: str, into: dict[str, dict[str, list[str]]]) -> None:
    """Merge one unit file's ``[Section]`` / ``Key=value`` lines into ``into``."""
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if pending:
            line = pending + " " + line
            pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            into.setdefault(section, {})
            continue
        key, sep, value = line.partition("=")
        if not sep or not section:
            continue
        values = into[section].setdefault(key.strip(), [])
        value = value.strip()
        if value:
            values.append(value)
        else:
            values.clear()  # "Key=" resets what earlier files set


def _find(root: str, name: str) -> tuple[str, str]:
    """The first ``(dir, path)`` holding ``name`` on the search path, or ``("", "")``."""
    for d in SEARCH_PATH:
        path = os.path.join(root, d.lstrip("/"), name)
        if os.path.lexists(path):
            return d, path
    return "", ""


def _drop_ins(root: str, names: list[str]) -> list[str]:
    """Drop-in files for ``names`` (unit, template, type) over the search path.

    A file name in a higher-priority directory hides the same name below it;
    the survivors are applied in file-name order, as systemd does.
    """
    chosen: dict[str, str] = {}
    for d in SEARCH_PATH:
        for name in names:
            ddir = os.path.join(root, d.lstrip("/"), f"{name}.d")
            try:
                entries = os.listdir(ddir)
            except OSError:
                continue
            for entry in entries:
                if entry.endswith(".conf") and entry not in chosen:
                    chosen[entry] = os.path.join(ddir, entry)
    return [chosen[k] for k in sorted(chosen)]


def _resolve(root: str, path: str) -> str:
    """Follow symlinks inside ``root``: an absolute link target is relative to the root."""
    for _ in range(16):
        if not os.path.islink(path):
            return path
        link = os.readlink(path)
        if link == "/dev/null":
            return link
        path = (
            os.path.join(root, link.lstrip("/"))
            if link.startswith("/")
            else os.path.join(os.path.dirname(path), link)
        )
    raise InvalidParams(f"{path}: too many levels of symbolic links")


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read(1024 * 1024)


def load_unit(root: str, unit: str, want_raw: bool) -> UnitFile:
    prefix, _, suffix = unit.rpartition(".")
    template = ""
    if "@" in prefix and not prefix.endswith("@"):
        template = prefix.split("@", 1)[0] + "@." + suffix
    _, path = _find(root, unit)
    if not path and template:
        _, path = _find(root, template)
    target = _resolve(root, path) if path else ""
    masked = target == "/dev/null"
    if target and not masked and not os.path.isfile(target):
        raise NotFound(
            f"{path} is a link to {os.readlink(path)}, which does not exist"
        )
    aliases_of = ""
    if path and os.path.islink(path) and not masked:
        name = os.path.basename(target)
        if name not in (unit, template):
            aliases_of = name
    names = [unit, *([template] if template else []), f"{suffix}"]
    if "-" in prefix:  # foo-bar-baz.service also reads foo-.service.d and foo-bar-.service.d
        parts = prefix.split("-")
        names += [f"{'-'.join(parts[:i])}-.{suffix}" for i in range(1, len(parts))]
    drop_ins = _drop_ins(root, names)
    if not path and not drop_ins:
        raise NotFound(
            f"no unit file for {unit}" + (f" under {root}" if root != "/" else ""),
        )
    sections: dict[str, dict[str, list[str]]] = {}
    raw: dict[str, str] = {}
    files = ([target] if target and not masked else []) + drop_ins
    for f in files:
        text = _read(f)
        parse_unit(text, sections)
        if want_raw:
            raw[f] = text
    strip = len(root.rstrip("/"))
    return UnitFile(
        unit=unit,
        path=path[strip:] if path else "",
        masked=masked,
        aliases_of=aliases_of,
        template=template if path.endswith(template) and template else "",
        drop_ins=[d[strip:] for d in drop_ins],
        sections=sections,
        raw={k[strip:]: v for k, v in raw.items()},
    )


@action("svc.unit", risk=Risk.READ, timeout=10)
async def unit(ctx: ActionContext, p: UnitParams) -> UnitFile:
    """A unit's file, template, drop-ins and merged sections (optionally the raw texts)."""
    name = unit_name(p.unit)
    root = root_dir(p.root) or "/"
    return load_unit(root, name, p.raw)
