"""The busybox account backend: ``busybox adduser`` / ``deluser`` / ``addgroup`` / ``delgroup`` / ``passwd``.

Not a plugin: chosen by :func:`plugins.users._backend.choose`, answering its
:class:`~plugins.users._backend.Backend` protocol. Busybox has no ``usermod``
and no ``groupmod``: changing uid, primary group, home, shell or comment of an
existing account, a group's gid, or an account's expiry is refused with A003
naming what to install instead.
"""

from __future__ import annotations

from agent_core import Unavailable

from ._backend import Plan


def _refuse(what: str) -> Unavailable:
    return Unavailable(
        f"{what}: the busybox backend cannot do this (busybox has no usermod/groupmod); "
        "install shadow (apk add shadow) to get them"
    )


class Busybox:
    """busybox's account applets (Alpine-like hosts): create, delete, membership, password lock."""

    name = "busybox"

    def add_user(self, name: str, want: dict[str, object], system: bool, create_home: bool) -> Plan:
        argv = ["busybox", "adduser", "-D"]
        for field, flag in (("home", "-h"), ("shell", "-s"), ("comment", "-g"), ("uid", "-u"), ("group", "-G")):
            if field in want:
                argv += [flag, str(want[field])]
        argv += (["-S"] if system else []) + ([] if create_home else ["-H"])
        groups = want.get("groups")
        return [[*argv, name], *(self.add_member(str(g), name)[0] for g in (groups if isinstance(groups, list) else []))]

    def modify_user(self, name: str, changes: dict[str, object], move_home: bool, now_groups: list[str]) -> Plan:
        fixed = sorted(set(changes) - {"groups"})
        if fixed:
            raise _refuse(f"changing {', '.join(fixed)} of user {name}")
        groups = changes.get("groups")
        if not isinstance(groups, list):
            return []
        target, now = {str(g) for g in groups}, set(now_groups)
        plan = [self.add_member(g, name)[0] for g in sorted(target - now)]
        return plan + [self.remove_member(g, name)[0] for g in sorted(now - target)]

    def delete_user(self, name: str, remove_home: bool) -> Plan:
        return [["busybox", "deluser", *(["--remove-home"] if remove_home else []), name]]

    def lock_user(self, name: str, expire: bool) -> Plan:
        if expire:
            raise _refuse(f"expiring user {name} (give expire: false to only lock the password)")
        return [["busybox", "passwd", "-l", name]]

    def unlock_user(self, name: str, expire: bool) -> Plan:
        if expire:
            raise _refuse(f"clearing the expiry of user {name} (give expire: false)")
        return [["busybox", "passwd", "-u", name]]

    def add_group(self, name: str, gid: int | None, system: bool) -> Plan:
        return [["busybox", "addgroup", *(["-g", str(gid)] if gid is not None else []), *(["-S"] if system else []), name]]

    def set_gid(self, name: str, gid: int) -> Plan:
        raise _refuse(f"changing the gid of group {name}")

    def delete_group(self, name: str) -> Plan:
        return [["busybox", "delgroup", name]]

    def add_member(self, group: str, user: str) -> Plan:
        return [["busybox", "addgroup", user, group]]

    def remove_member(self, group: str, user: str) -> Plan:
        return [["busybox", "delgroup", user, group]]
