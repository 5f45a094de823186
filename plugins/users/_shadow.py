"""The shadow-utils account backend: useradd, usermod, userdel, groupadd, groupmod, groupdel, gpasswd.

Not a plugin: chosen by :func:`plugins.users._backend.choose`, answering its
:class:`~plugins.users._backend.Backend` protocol.
"""

from __future__ import annotations

from ._backend import Plan

_FLAGS = {"uid": "-u", "group": "-g", "groups": "-G", "home": "-d", "shell": "-s", "comment": "-c"}


def _arg(field: str, value: object) -> list[str]:
    return [_FLAGS[field], ",".join(value) if isinstance(value, list) else str(value)]


class Shadow:
    """shadow-utils (Debian, RHEL, SUSE): every change an account or group can need."""

    name = "shadow"

    def add_user(self, name: str, want: dict[str, object], system: bool, create_home: bool) -> Plan:
        argv = ["useradd"]
        for field, value in want.items():
            if field != "groups" or value:
                argv += _arg(field, value)
        argv += (["-r"] if system else []) + (["-m"] if create_home else ["-M"])
        return [[*argv, "--", name]]

    def modify_user(self, name: str, changes: dict[str, object], move_home: bool, now_groups: list[str]) -> Plan:
        argv = ["usermod"]
        for field, value in changes.items():
            argv += _arg(field, value)
            if field == "home" and move_home:
                argv.append("-m")
        return [[*argv, "--", name]]

    def delete_user(self, name: str, remove_home: bool) -> Plan:
        return [["userdel", *(["-r"] if remove_home else []), "--", name]]

    def lock_user(self, name: str, expire: bool) -> Plan:
        # Expiry date 1 = 1970-01-02: in the past, so PAM refuses every login method.
        return [["usermod", "-L", *(["-e", "1"] if expire else []), "--", name]]

    def unlock_user(self, name: str, expire: bool) -> Plan:
        return [["usermod", "-U", *(["-e", ""] if expire else []), "--", name]]

    def add_group(self, name: str, gid: int | None, system: bool) -> Plan:
        return [["groupadd", *(["-g", str(gid)] if gid is not None else []), *(["-r"] if system else []), "--", name]]

    def set_gid(self, name: str, gid: int) -> Plan:
        return [["groupmod", "-g", str(gid), "--", name]]

    def delete_group(self, name: str) -> Plan:
        return [["groupdel", "--", name]]

    def add_member(self, group: str, user: str) -> Plan:
        return [["gpasswd", "-a", user, group]]

    def remove_member(self, group: str, user: str) -> Plan:
        return [["gpasswd", "-d", user, group]]
