"""Shared pieces of the package plugins: name checks, roots, Debian control
paragraphs and the ``apt-get -s`` transaction lines.

Not a plugin (no entry point); imported by the ``deb.*``, ``rpm.*``, ``apt*``,
``yum*``, ``pkg.*`` and ``pip`` plugins.
"""

from __future__ import annotations

import os
import re

import msgspec

from agent_core import InvalidParams, NotFound, names

# Debian policy 5.6.1 (plus an optional :arch qualifier); RPM names are looser.
_DEB_NAME = re.compile(names.DEB_PACKAGE)
_RPM_NAME = re.compile(names.RPM_PACKAGE)
_GLOB = re.compile(names.PACKAGE_GLOB)
_VERSION = re.compile(names.PACKAGE_VERSION)


def deb_name(name: str, field: str = "name") -> str:
    if not _DEB_NAME.match(name):
        raise InvalidParams(f"{field}: {name!r} is not a valid Debian package name")
    return name


def deb_spec(spec: str) -> str:
    """``name``, ``name=version``, ``name/release`` or an absolute path to a ``.deb``."""
    if spec.startswith("/"):
        if not spec.endswith(".deb") or any(c.isspace() for c in spec):
            raise InvalidParams(f"packages: {spec!r} is not a path to a .deb file")
        if not os.path.isfile(spec):
            raise NotFound(f"{spec} does not exist")
        return spec
    m = re.match(r"^([^=/]+)(?:[=/](.+))?$", spec)
    if not m:
        raise InvalidParams(f"packages: {spec!r} is not a package name")
    deb_name(m.group(1), "packages")
    if m.group(2) is not None and not _VERSION.match(m.group(2)):
        raise InvalidParams(f"packages: {spec!r} has an invalid version or release")
    return spec


def rpm_name(name: str, field: str = "name") -> str:
    if not _RPM_NAME.match(name) or len(name) > 200:
        raise InvalidParams(f"{field}: {name!r} is not a valid package name")
    return name


def pattern(value: str) -> str:
    """A package-name glob (``lib*``, ``python3-?``)."""
    if not _GLOB.match(value) or value.startswith("-"):
        raise InvalidParams(f"pattern: {value!r} is not a package name pattern")
    return value


def abs_path(path: str, field: str = "path") -> str:
    if not path.startswith("/") or "\x00" in path:
        raise InvalidParams(f"{field}: {path!r} is not an absolute path")
    return os.path.normpath(path)


def parse_paragraphs(text: str) -> list[dict[str, str]]:
    """RFC 822-style paragraphs (dpkg status, ``dpkg-query -s``, deb822 sources).

    Continuation lines (starting with a space) are joined with newlines; a
    line holding only `` .`` is an empty line inside a long description.
    """
    out: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if cur:
                out.append(cur)
                cur, key = {}, ""
            continue
        if line[0] in " \t":
            if key:
                body = line.strip()
                cur[key] += "\n" + ("" if body == "." else body)
            continue
        if line.startswith("#"):
            continue
        k, sep, v = line.partition(":")
        if sep:
            key = k.strip()
            cur[key] = v.strip()
    if cur:
        out.append(cur)
    return out


class Change(msgspec.Struct):
    """One step of a package transaction (what apt/dnf did or would do)."""

    action: str
    """``install``, ``upgrade``, ``downgrade``, ``reinstall``, ``remove``, ``purge``."""
    package: str
    version: str = ""
    old_version: str = ""
    origin: str = ""
    arch: str = ""


_SIM = re.compile(
    r"^(Inst|Remv|Purg) (\S+)(?: \[([^\]]+)\])?(?: \((\S+)(?: (.*?))?(?: \[([^\]]+)\])?\))?"
)


def parse_apt_simulation(text: str) -> list[Change]:
    """The ``Inst``/``Remv``/``Purg`` lines of ``apt-get -s`` (``Conf`` lines repeat ``Inst``)."""
    out: list[Change] = []
    for line in text.splitlines():
        m = _SIM.match(line)
        if not m:
            continue
        verb, pkg, old, new, origin, arch = m.groups()
        if verb == "Inst":
            action = "upgrade" if old else "install"
            if old and new and old == new:
                action = "reinstall"
        else:
            action = "remove" if verb == "Remv" else "purge"
        out.append(
            Change(
                action=action,
                package=pkg,
                version=new or "",
                old_version=old or "",
                origin=(origin or "").strip(),
                arch=arch or "",
            )
        )
    return out


def is_security(origin: str) -> bool:
    return "security" in origin.lower()
