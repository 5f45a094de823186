"""Everything about one user account in one answer.

``user.info`` resolves an account through the system's name service (so
LDAP/SSSD accounts work too) and gathers what an operator checks before
touching it: uid, primary and extra groups (and whether one of them grants
sudo), home directory (exists, owner, mode), shell (valid, allows login),
password state and expiry dates from ``/etc/shadow``, how many SSH keys are
authorized, and how many processes run as the user right now. An unknown user
fails with ``A017``. Read only.
"""

from __future__ import annotations

import datetime
import grp
import os
import stat

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._common import can_login, password_state, read_shadow, require_user, shells

PLUGIN = Plugin("user.info", domain="users")

_ADMIN_GROUPS = ("sudo", "wheel", "admin")


class UserInfoParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class Home(msgspec.Struct):
    path: str
    exists: bool
    owner_uid: int | None
    mode: str
    owned_by_user: bool


class UserInfo(msgspec.Struct):
    name: str
    uid: int
    gid: int
    group: str
    groups: list[str]
    admin_group: bool
    """Member of sudo, wheel or admin."""
    comment: str
    shell: str
    shell_valid: bool
    can_login: bool
    home: Home
    password: str
    last_password_change: str | None
    password_expires: str | None
    account_expires: str | None
    authorized_keys: int
    processes: int


def _day(days: str) -> str | None:
    if not days or not days.lstrip("-").isdigit() or int(days) < 0:
        return None
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=int(days))).isoformat()


def _count_keys(home: str) -> int:
    try:
        with open(
            os.path.join(home, ".ssh", "authorized_keys"), encoding="utf-8", errors="replace"
        ) as fh:
            return sum(1 for ln in fh if ln.strip() and not ln.lstrip().startswith("#"))
    except OSError:
        return 0


def _processes(uid: int) -> int:
    import psutil

    n = 0
    for proc in psutil.process_iter(["uids"]):
        uids = proc.info.get("uids")
        if uids is not None and uids.real == uid:
            n += 1
    return n


def gather(name: str) -> UserInfo:
    pw = require_user(name, "name")
    groups = sorted(
        {grp.getgrgid(g).gr_name for g in os.getgrouplist(pw.pw_name, pw.pw_gid) if _has_gid(g)}
    )
    try:
        primary = grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        primary = str(pw.pw_gid)
    try:
        st = os.stat(pw.pw_dir)
        home = Home(
            path=pw.pw_dir,
            exists=True,
            owner_uid=st.st_uid,
            mode=f"{stat.S_IMODE(st.st_mode):04o}",
            owned_by_user=st.st_uid == pw.pw_uid,
        )
    except OSError:
        home = Home(path=pw.pw_dir, exists=False, owner_uid=None, mode="", owned_by_user=False)
    shadow = read_shadow().get(name)
    last = shadow[2] if shadow and len(shadow) > 2 else ""
    maxdays = shadow[4] if shadow and len(shadow) > 4 else ""
    expires = None
    if last.isdigit() and maxdays.isdigit() and int(maxdays) < 99999:
        expires = _day(str(int(last) + int(maxdays)))
    valid = shells()
    return UserInfo(
        name=pw.pw_name,
        uid=pw.pw_uid,
        gid=pw.pw_gid,
        group=primary,
        groups=groups,
        admin_group=any(g in _ADMIN_GROUPS for g in groups),
        comment=pw.pw_gecos,
        shell=pw.pw_shell,
        shell_valid=pw.pw_shell in valid,
        can_login=can_login(pw.pw_shell, valid),
        home=home,
        password=password_state(shadow[1] if shadow else None),
        last_password_change=_day(last) if last != "0" else "must change at next login",
        password_expires=expires,
        account_expires=_day(shadow[7]) if shadow and len(shadow) > 7 else None,
        authorized_keys=_count_keys(pw.pw_dir),
        processes=_processes(pw.pw_uid),
    )


def _has_gid(gid: int) -> bool:
    try:
        grp.getgrgid(gid)
        return True
    except KeyError:
        return False


@action("user.info", risk=Risk.READ, timeout=30)
async def user_info(ctx: ActionContext, p: UserInfoParams) -> UserInfo:
    """Groups, sudo membership, home, shell, password and expiry, keys and processes of a user."""

    return await ctx.to_thread(gather, p.name)
