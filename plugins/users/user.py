"""Local user accounts: list, inspect, declare present or absent, lock and unlock.

One action set with one result shape (``User``) whatever the host's tools:
``user.list`` lists the local accounts (``/etc/passwd``, or an image's with
``root``) as people or system accounts, with groups, login shell and password
state; ``user.info`` gives one account (through the name service, so LDAP
accounts count) with the checks before touching it (home owner and mode,
admin group, password dates, authorized keys, running processes);
``user.present`` creates the account or changes only the fields that differ
(uid, primary and supplementary groups, home, shell, comment);
``user.absent`` deletes it (root never, system accounts only when allowed);
``user.lock`` / ``user.unlock`` lock the password and by default expire the
account so SSH keys stop working too. Changes go through shadow-utils
(``useradd``/``usermod``/``userdel``) or, on Alpine-like hosts, busybox
``adduser``/``deluser`` (``backend`` forces one); every change answers ``changed``, the diff, the
commands and the account afterwards, and ``dry_run`` stops before running them.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action

from ._accounts import User, UserChange, find_user, list_users, user_view
from ._backend import BackendName, choose, run_plan
from ._common import check_root, name_ok
from ._plan import UserSpec, diff_text, plan_absent, plan_present

PLUGIN = Plugin("user", domain="users")


class UserListParams(msgspec.Struct, forbid_unknown_fields=True):
    humans_only: bool = False
    """Only accounts with a uid within UID_MIN..UID_MAX (people, not services)."""
    login_only: bool = False
    """Only accounts whose shell allows an interactive login."""
    root: str | None = None
    """Read the account files of an image or chroot instead of ``/``."""


class UserList(msgspec.Struct):
    users: list[User]
    uid_min: int
    uid_max: int


class UserInfoParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    root: str | None = None


class AbsentParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    remove_home: bool = False
    allow_system: bool = False
    """Allow removing an account below UID_MIN (a system account). uid 0 is always refused."""
    dry_run: bool = False
    backend: BackendName | None = None


class LockParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    expire: bool = True
    """Also expire (lock) / un-expire (unlock) the account, which stops key logins too."""
    dry_run: bool = False
    backend: BackendName | None = None


@action("user.list", risk=Risk.READ, timeout=20)
async def user_list(ctx: ActionContext, p: UserListParams) -> UserList:
    """Local accounts with groups, home, shell, system/person class, login shell and password state."""
    root = check_root(p.root)
    users, lo, hi = await ctx.to_thread(list_users, root)
    rows = [u for u in users if not (p.humans_only and (u.system or u.uid > hi)) and not (p.login_only and not u.can_login)]
    return UserList(users=rows, uid_min=lo, uid_max=hi)


@action("user.info", risk=Risk.READ, timeout=30)
async def user_info(ctx: ActionContext, p: UserInfoParams) -> User:
    """One account with home, admin group, password dates, keys and processes (A017 if unknown)."""
    return await ctx.to_thread(user_view, p.name, check_root(p.root), True)


async def _apply(ctx: ActionContext, name: str, plan: list[list[str]], diff: str, backend: str, dry_run: bool) -> UserChange:
    if plan and not dry_run:
        await run_plan(ctx, plan)
    return UserChange(
        name=name,
        changed=bool(diff),
        dry_run=dry_run,
        backend=backend,
        diff=diff,
        commands=plan,
        user=find_user(name),
    )


@action("user.present", risk=Risk.CHANGE, timeout=120)
async def present(ctx: ActionContext, p: UserSpec) -> UserChange:
    """Create the account or change only the fields that differ from the declaration."""
    backend = choose(p.backend)
    plan, diff = plan_present(p, find_user(p.name), backend)
    out = await _apply(ctx, p.name, plan, diff, backend.name, p.dry_run)
    if plan and not p.dry_run:
        left, rest = plan_present(p, out.user, backend)
        if left:
            raise ActionError(f"user {p.name} still differs after {plan[0][0]}: {'; '.join(rest.splitlines())}", code=ErrorCode.A014)
    return out


@action("user.absent", risk=Risk.DANGER, timeout=120)
async def absent(ctx: ActionContext, p: AbsentParams) -> UserChange:
    """Delete the account (optionally with its home); nothing to do when it does not exist."""
    backend = choose(p.backend)
    plan, diff = plan_absent(p.name, find_user(p.name), backend, p.remove_home, p.allow_system)
    return await _apply(ctx, p.name, plan, diff, backend.name, p.dry_run)


async def _lock(ctx: ActionContext, p: LockParams, lock: bool) -> UserChange:
    name_ok(p.name, "name")
    user = user_view(p.name)
    if lock and user.uid == 0:
        raise ActionError("refusing to lock root", code=ErrorCode.A016)
    backend = choose(p.backend)
    plan = backend.lock_user(p.name, p.expire) if lock else backend.unlock_user(p.name, p.expire)
    locked = user.password == "locked" and (user.expired or not p.expire)
    unlocked = user.password != "locked" and not user.expired
    if (locked if lock else unlocked):
        return UserChange(name=p.name, changed=False, dry_run=p.dry_run, backend=backend.name, diff="", commands=[], user=user)
    diff = diff_text([f"{'lock' if lock else 'unlock'} {p.name}" + (" (and expiry)" if p.expire else "")])
    return await _apply(ctx, p.name, plan, diff, backend.name, p.dry_run)


@action("user.lock", risk=Risk.CHANGE, timeout=30)
async def lock(ctx: ActionContext, p: LockParams) -> UserChange:
    """Lock the password and (by default) expire the account so no login works."""
    return await _lock(ctx, p, lock=True)


@action("user.unlock", risk=Risk.CHANGE, timeout=30)
async def unlock(ctx: ActionContext, p: LockParams) -> UserChange:
    """Unlock the password and (by default) clear the account's expiry date."""
    return await _lock(ctx, p, lock=False)
