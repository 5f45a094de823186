"""Shared pieces of the package plugins: name and spec checks, Debian control
paragraphs and the ``apt-get -s`` transaction lines.

Not a plugin (no entry point); imported by the backends (``_dpkg``, ``_rpm``)
and the ``pkg.*`` plugins. Names are checked with :mod:`agent_core.names`,
the one definition every plugin and ``state/`` share.
"""

from __future__ import annotations

import os
import re

import msgspec

from agent_core import InvalidParams, NotFound, names

#: At most this many packages in one transaction.
MAX_SPECS = 500


def deb_name(name: str, field: str = "name") -> str:
    return names.deb_package(name, field)


def rpm_name(name: str, field: str = "name") -> str:
    return names.rpm_package(name, field)


def package_file(spec: str, suffix: str) -> str:
    """An absolute path to a local package file (``.deb`` / ``.rpm``) that exists."""
    if not spec.endswith(suffix) or any(c.isspace() for c in spec) or "\x00" in spec:
        raise InvalidParams(f"packages: {spec!r} is not a path to a {suffix} file")
    if not os.path.isfile(spec):
        raise NotFound(f"{spec} does not exist")
    return spec


def split_spec(spec: str) -> tuple[str, str | None]:
    """``name=version`` -> ``(name, version)``; the front-end's one spec syntax."""
    name, sep, version = spec.partition("=")
    if sep:
        names.check(version, names.PACKAGE_VERSION, "packages", "a package version")
    return name, version if sep else None


def check_specs(specs: list[str]) -> list[str]:
    if not specs:
        raise InvalidParams("packages: give at least one package")
    if len(specs) > MAX_SPECS:
        raise InvalidParams(f"packages: at most {MAX_SPECS} at a time")
    return specs


def deb_spec(spec: str) -> str:
    """``name``, ``name=version``, ``name/release`` or an absolute path to a ``.deb``."""
    if spec.startswith("/"):
        return package_file(spec, ".deb")
    name, sep, release = spec.partition("/")
    if sep:
        names.check(release, names.PACKAGE_VERSION, "packages", "a release name")
        return deb_name(name, "packages") + "/" + release
    name, version = split_spec(spec)
    deb_name(name, "packages")
    return spec


def pattern(value: str) -> str:
    """A package-name glob (``lib*``, ``python3-?``)."""
    if value.startswith("-"):
        raise InvalidParams(f"pattern: {value!r} is not a package name pattern")
    return names.check(value, names.PACKAGE_GLOB, "pattern", "a package name pattern")


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
    """The version installed, upgraded or downgraded to (empty for a removal)."""
    old_version: str = ""
    """The version replaced (upgrade, downgrade, reinstall) or removed."""
    origin: str = ""
    """apt: the archive; dnf: the repository id (``@commandline`` for a file, ``@repo`` for an installed package)."""
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
