"""Local user accounts from ``/etc/passwd``, people told apart from services.

``user.list`` parses the local account database and returns every account
with uid, primary gid, comment, home and shell, classified as a human account
(uid within ``UID_MIN``..``UID_MAX`` of ``login.defs``) or a system account,
whether its shell allows an interactive login, and its password state from
``/etc/shadow`` when readable (set, locked, empty, none). Filter to humans
only or to accounts that can log in. With ``root`` it reads an image or
chroot. Only local files are read: LDAP/SSSD users are not listed.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._common import (
    can_login,
    check_root,
    etc,
    password_state,
    read_passwd,
    read_shadow,
    shells,
    uid_range,
)

PLUGIN = Plugin(
    "user.list", domain="users", requires_files=["/etc/passwd"]
)


class UserListParams(msgspec.Struct, forbid_unknown_fields=True):
    humans_only: bool = False
    login_only: bool = False
    """Only accounts whose shell allows an interactive login."""
    root: str | None = None


class UserRow(msgspec.Struct):
    name: str
    uid: int
    gid: int
    comment: str
    home: str
    shell: str
    human: bool
    can_login: bool
    password: str


class UserList(msgspec.Struct):
    users: list[UserRow]
    uid_min: int
    uid_max: int


@action("user.list", risk=Risk.READ, timeout=20)
async def user_list(ctx: ActionContext, p: UserListParams) -> UserList:
    """Accounts with uid, gid, home, shell, human/system class, login shell and password state."""
    root = check_root(p.root)
    lo, hi = uid_range(root)
    valid = shells(root)
    shadow = read_shadow(root)
    have_shadow = bool(shadow) or not _exists(etc(root, "shadow"))
    rows = []
    for e in read_passwd(root):
        row = UserRow(
            name=e.name,
            uid=e.uid,
            gid=e.gid,
            comment=e.gecos,
            home=e.home,
            shell=e.shell,
            human=lo <= e.uid <= hi,
            can_login=can_login(e.shell, valid),
            password=password_state(shadow[e.name][1] if e.name in shadow else None)
            if have_shadow
            else "unknown",
        )
        if (p.humans_only and not row.human) or (p.login_only and not row.can_login):
            continue
        rows.append(row)
    return UserList(users=rows, uid_min=lo, uid_max=hi)


def _exists(path: str) -> bool:
    import os

    return os.path.exists(path)
