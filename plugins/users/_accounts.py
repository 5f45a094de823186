"""The users capability's result shapes (:class:`User`, :class:`Group` and the
changes) and the reading every backend shares.

Not a plugin (no entry point). ``user.*`` and ``user.group.*`` read accounts
through :func:`user_view` / :func:`list_users` / :func:`group_view` /
:func:`list_groups` and change them through the backend
:func:`plugins.users._backend.choose` picks (``shadow`` or ``busybox``, see
there). Reading is the same for every backend: the name service
(``pwd``/``grp``, so LDAP accounts count) for one account on the live system,
the files under ``root`` for a listing or an image.
"""

from __future__ import annotations

import datetime
import grp
import os
import pwd
import stat
import time

import msgspec

from agent_core import InvalidParams, NotFound

from ._common import (
    can_login,
    login_defs,
    name_ok,
    password_state,
    read_group,
    read_passwd,
    read_shadow,
    shells,
    uid_range,
)

ADMIN_GROUPS = ("sudo", "wheel", "admin")
PROTECTED_GROUPS = frozenset({"root", "sudo", "wheel", "adm", "shadow", "admin"})


# --------------------------------------------------------------------------- shapes


class UserDetail(msgspec.Struct):
    """What ``user.info`` adds to a :class:`User`: the checks before touching an account."""

    home_exists: bool
    home_owner_uid: int | None
    home_mode: str
    home_owned_by_user: bool
    shell_valid: bool
    admin_group: bool
    """Member of sudo, wheel or admin."""
    last_password_change: str | None
    password_expires: str | None
    account_expires: str | None
    authorized_keys: int
    processes: int


class User(msgspec.Struct):
    """One account, the same whatever the action or backend."""

    name: str
    uid: int
    gid: int
    group: str
    """Primary group name (the gid as text when the group does not exist)."""
    groups: list[str]
    """Supplementary groups, sorted (the primary group is not repeated)."""
    comment: str
    home: str
    shell: str
    system: bool
    """uid below ``UID_MIN`` (login.defs): a service account, not a person."""
    can_login: bool
    password: str
    """``set``, ``locked``, ``empty``, ``no-password`` or ``unknown`` (shadow unreadable)."""
    expired: bool
    detail: UserDetail | None = None


class Group(msgspec.Struct):
    """One group, the same whatever the action or backend."""

    name: str
    gid: int
    system: bool
    members: list[str]
    """Supplementary members, as listed in /etc/group."""
    primary_members: list[str]
    """Users whose primary group this is."""
    unknown_members: list[str]
    """Listed members that are not users."""


class UserChange(msgspec.Struct):
    """What ``user.present`` / ``absent`` / ``lock`` / ``unlock`` did (or would do)."""

    name: str
    changed: bool
    dry_run: bool
    backend: str
    diff: str
    """One line per difference, each ending in a newline (``+ user x``, ``shell: /bin/sh -> /bin/bash``),
    as the state actions' ``diff``; empty when nothing changed."""
    commands: list[list[str]]
    user: User | None
    """The account afterwards (``None`` when it does not exist)."""


class GroupChange(msgspec.Struct):
    """What ``user.group.present`` / ``absent`` did (or would do)."""

    name: str
    changed: bool
    dry_run: bool
    backend: str
    diff: str
    """One line per difference (``+ group g``, ``gid: 1001 -> 1002``, ``+ member x``), as :class:`UserChange`'s."""
    commands: list[list[str]]
    group: Group | None


# --------------------------------------------------------------------------- reading


def _day(days: str) -> str | None:
    if not days or not days.lstrip("-").isdigit() or int(days) < 0:
        return None
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=int(days))).isoformat()


def _expired(shadow: list[str] | None) -> bool:
    expire = shadow[7] if shadow and len(shadow) > 7 else ""
    return expire.isdigit() and int(expire) * 86400 <= time.time()


def _password(shadow: dict[str, list[str]], name: str, have_shadow: bool) -> str:
    if not have_shadow:
        return "unknown"
    return password_state(shadow[name][1] if name in shadow else None)


def list_users(root: str = "/") -> tuple[list[User], int, int]:
    """Every local account (the files under ``root``) and the UID_MIN..UID_MAX range."""
    lo, hi = uid_range(root)
    valid = shells(root)
    shadow = read_shadow(root)
    have_shadow = bool(shadow) or not os.path.exists(os.path.join(root, "etc", "shadow"))
    groups = read_group(root)
    by_gid = {g.gid: g.name for g in groups}
    out = []
    for e in read_passwd(root):
        primary = by_gid.get(e.gid, str(e.gid))
        out.append(
            User(
                name=e.name,
                uid=e.uid,
                gid=e.gid,
                group=primary,
                groups=sorted(g.name for g in groups if e.name in g.members and g.name != primary),
                comment=e.gecos,
                home=e.home,
                shell=e.shell,
                system=e.uid < lo,
                can_login=can_login(e.shell, valid),
                password=_password(shadow, e.name, have_shadow),
                expired=_expired(shadow.get(e.name)),
            )
        )
    return out, lo, hi


def find_user(name: str, root: str = "/") -> User | None:
    """One account or ``None``: through the name service on ``/``, the files otherwise."""
    name_ok(name, "name")
    if root != "/":
        return next((u for u in list_users(root)[0] if u.name == name), None)
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return None
    try:
        primary = grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        primary = str(pw.pw_gid)
    shadow = read_shadow()
    have_shadow = bool(shadow) or not os.path.exists("/etc/shadow")
    valid = shells()
    return User(
        name=pw.pw_name,
        uid=pw.pw_uid,
        gid=pw.pw_gid,
        group=primary,
        groups=sorted(g.gr_name for g in grp.getgrall() if name in g.gr_mem and g.gr_name != primary),
        comment=pw.pw_gecos,
        home=pw.pw_dir,
        shell=pw.pw_shell,
        system=pw.pw_uid < uid_range()[0],
        can_login=can_login(pw.pw_shell, valid),
        password=_password(shadow, name, have_shadow),
        expired=_expired(shadow.get(name)),
    )


def user_view(name: str, root: str = "/", detail: bool = False) -> User:
    """The account ``name`` (A017 when there is none), with :class:`UserDetail` if asked."""
    user = find_user(name, root)
    if user is None:
        raise NotFound(f"no user named {name!r}" + (f" under {root}" if root != "/" else " on this host"))
    if detail:
        user.detail = _detail(user, root)
    return user


def _detail(user: User, root: str) -> UserDetail:
    home = os.path.join(root, user.home.lstrip("/"))
    try:
        st = os.stat(home)
        owner: int | None = st.st_uid
        mode = f"{stat.S_IMODE(st.st_mode):04o}"
    except OSError:
        owner, mode = None, ""
    shadow = read_shadow(root).get(user.name)
    last = shadow[2] if shadow and len(shadow) > 2 else ""
    maxdays = shadow[4] if shadow and len(shadow) > 4 else ""
    expires = None
    if last.isdigit() and maxdays.isdigit() and int(maxdays) < 99999:
        expires = _day(str(int(last) + int(maxdays)))
    all_groups = [user.group, *user.groups]
    return UserDetail(
        home_exists=owner is not None,
        home_owner_uid=owner,
        home_mode=mode,
        home_owned_by_user=owner == user.uid,
        shell_valid=user.shell in shells(root),
        admin_group=any(g in ADMIN_GROUPS for g in all_groups),
        last_password_change=_day(last) if last != "0" else "must change at next login",
        password_expires=expires,
        account_expires=_day(shadow[7]) if shadow and len(shadow) > 7 else None,
        authorized_keys=_count_keys(home),
        processes=_processes(user.uid) if root == "/" else 0,
    )


def _count_keys(home: str) -> int:
    try:
        with open(os.path.join(home, ".ssh", "authorized_keys"), encoding="utf-8", errors="replace") as fh:
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


def list_groups(root: str = "/") -> list[Group]:
    """Every local group (the files under ``root``) with primary members added."""
    users = read_passwd(root)
    known = {u.name for u in users}
    gid_min = int(login_defs(root).get("GID_MIN", "1000"))
    return [
        Group(
            name=g.name,
            gid=g.gid,
            system=g.gid < gid_min,
            members=g.members,
            primary_members=sorted(u.name for u in users if u.gid == g.gid),
            unknown_members=[m for m in g.members if m not in known],
        )
        for g in read_group(root)
    ]


def find_group(name: str, root: str = "/") -> Group | None:
    name_ok(name, "name")
    if root != "/":
        return next((g for g in list_groups(root) if g.name == name), None)
    try:
        g = grp.getgrnam(name)
    except KeyError:
        return None
    users = pwd.getpwall()
    known = {u.pw_name for u in users}
    return Group(
        name=g.gr_name,
        gid=g.gr_gid,
        system=g.gr_gid < int(login_defs().get("GID_MIN", "1000")),
        members=list(g.gr_mem),
        primary_members=sorted(u.pw_name for u in users if u.pw_gid == g.gr_gid),
        unknown_members=[m for m in g.gr_mem if m not in known],
    )


def group_view(name: str, root: str = "/") -> Group:
    group = find_group(name, root)
    if group is None:
        raise NotFound(f"no group named {name!r}")
    return group


def require_group(name: str, field: str) -> str:
    """``name`` (or a gid as text) as a group name that exists, else A017."""
    try:
        return grp.getgrgid(int(name)).gr_name if name.isdigit() else grp.getgrnam(name_ok(name, field)).gr_name
    except KeyError:
        raise NotFound(f"{field}: no group named {name!r}") from None


def check_path(value: str, field: str) -> str:
    if not os.path.isabs(value) or ":" in value or "\n" in value:
        raise InvalidParams(f"{field}: {value!r} must be an absolute path without ':'")
    return value


def check_comment(value: str) -> str:
    if ":" in value or "\n" in value or len(value) > 256:
        raise InvalidParams("comment: must not contain ':' or newlines (at most 256 characters)")
    return value
