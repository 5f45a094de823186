"""Validated names of host objects: packages, units, users, groups, sysctl keys, hosts.

One definition each, for every plugin (the capability plugins and ``state/``
alike). Each comes two ways: an ``Annotated`` type for a params field, so the
constraint is checked before the action runs and reaches the schema, the center
and the catalogue (``unit: names.Unit``); and a check function for values that
arrive inside other text, raising :class:`~agent_core.InvalidParams` (``A002``)
naming the field.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from ._sdk import InvalidParams

__all__ = [
    "DEB_PACKAGE",
    "DebPackage",
    "GROUP",
    "Group",
    "HOSTNAME",
    "Hostname",
    "PACKAGE",
    "PACKAGE_GLOB",
    "PACKAGE_VERSION",
    "Package",
    "PackageGlob",
    "PackageVersion",
    "RPM_PACKAGE",
    "RpmPackage",
    "SYSCTL_KEY",
    "SysctlKey",
    "UNIT",
    "UNIT_GLOB",
    "USER",
    "USER_NEW",
    "Unit",
    "UnitGlob",
    "User",
    "UserNew",
    "check",
    "deb_package",
    "rpm_package",
    "unit",
    "user",
]

#: Debian policy 5.6.1, plus an optional ``:arch`` qualifier.
DEB_PACKAGE = r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$"
#: RPM names are looser than Debian's.
RPM_PACKAGE = r"^[A-Za-z0-9_][A-Za-z0-9_+.~^-]{0,199}$"
#: A package name for any backend (apt or dnf), with an optional ``:arch``.
PACKAGE = r"^[A-Za-z0-9_][A-Za-z0-9_+.~^-]{0,199}(:[a-z0-9-]+)?$"
PACKAGE_GLOB = r"^[A-Za-z0-9_+.:*?\[\]~^][A-Za-z0-9_+.:*?\[\]~^-]{0,199}$"
PACKAGE_VERSION = r"^[A-Za-z0-9.+~:_-]{1,100}$"
#: systemd unit names (``foo.service``, ``getty@tty1.service``); never starting with ``-``.
UNIT = r"^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]{0,254}$"
UNIT_GLOB = r"^[A-Za-z0-9:_.\\@*?\[\]][A-Za-z0-9:_.\\@*?\[\]-]{0,254}$"
#: What useradd accepts by default (shadow's is_valid_user_name).
USER_NEW = r"^[a-z_][a-z0-9_-]{0,30}\$?$"
#: Any existing account or group, a little wider (LDAP, machine accounts).
USER = r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\$?$"
GROUP = r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$"
SYSCTL_KEY = r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,255}$"
HOSTNAME = r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$"

DebPackage = Annotated[str, msgspec.Meta(pattern=DEB_PACKAGE, max_length=200)]
RpmPackage = Annotated[str, msgspec.Meta(pattern=RPM_PACKAGE)]
Package = Annotated[str, msgspec.Meta(pattern=PACKAGE)]
PackageGlob = Annotated[str, msgspec.Meta(pattern=PACKAGE_GLOB)]
PackageVersion = Annotated[str, msgspec.Meta(pattern=PACKAGE_VERSION)]
Unit = Annotated[str, msgspec.Meta(pattern=UNIT)]
UnitGlob = Annotated[str, msgspec.Meta(pattern=UNIT_GLOB)]
UserNew = Annotated[str, msgspec.Meta(pattern=USER_NEW)]
User = Annotated[str, msgspec.Meta(pattern=USER)]
Group = Annotated[str, msgspec.Meta(pattern=GROUP)]
SysctlKey = Annotated[str, msgspec.Meta(pattern=SYSCTL_KEY)]
Hostname = Annotated[str, msgspec.Meta(pattern=HOSTNAME)]

_COMPILED: dict[str, re.Pattern[str]] = {}


def check(value: str, pattern: str, field: str, what: str) -> str:
    """``value`` when it matches ``pattern``; else :class:`InvalidParams` ``"FIELD: 'v' is not WHAT"``."""
    regex = _COMPILED.get(pattern) or _COMPILED.setdefault(pattern, re.compile(pattern))
    if not regex.match(value):
        raise InvalidParams(f"{field}: {value!r} is not {what}")
    return value


def deb_package(name: str, field: str = "name") -> str:
    return check(name, DEB_PACKAGE, field, "a valid Debian package name")


def rpm_package(name: str, field: str = "name") -> str:
    return check(name, RPM_PACKAGE, field, "a valid package name")


def unit(name: str, field: str = "unit") -> str:
    return check(name, UNIT, field, "a valid unit name")


def user(name: str, field: str = "name", *, new: bool = False) -> str:
    if new:
        return check(name, USER_NEW, field, "a valid new user/group name")
    return check(name, USER, field, "a valid user/group name")
