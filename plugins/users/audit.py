"""Consistency and safety audit of the local account databases.

``user.audit`` cross-checks ``/etc/passwd``, ``/etc/shadow`` and
``/etc/group`` and reports, with a severity each: accounts other than root
with uid 0, duplicate user names, uids or group gids, accounts with an empty
password (anyone can log in), password hashes in weak old formats (DES, MD5),
accounts missing from shadow or shadow entries without an account, primary
groups that do not exist, group members that are not users, and login
accounts whose home directory is missing or writable by others. With
``root`` it audits an image or chroot. Read only.
"""

from __future__ import annotations

import os
import stat
from collections import Counter

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._common import can_login, check_root, etc, read_group, read_passwd, read_shadow, shells

PLUGIN = Plugin(
    "user.audit",
    domain="users",
    requires_files=["/etc/passwd"],
)

_RANK = {"high": 0, "medium": 1, "low": 2}


class AuditParams(msgspec.Struct, forbid_unknown_fields=True):
    root: str | None = None


class Finding(msgspec.Struct):
    severity: str
    """``high``, ``medium`` or ``low``."""
    check: str
    subject: str
    message: str


class Audit(msgspec.Struct):
    ok: bool
    findings: list[Finding]
    counts: dict[str, int]
    shadow_readable: bool


def audit(root: str) -> Audit:
    users = read_passwd(root)
    groups = read_group(root)
    shadow = read_shadow(root)
    shadow_readable = bool(shadow) or not os.path.exists(etc(root, "shadow"))
    valid = shells(root)
    found: list[Finding] = []

    def add(severity: str, check: str, subject: str, message: str) -> None:
        found.append(Finding(severity=severity, check=check, subject=subject, message=message))

    for u in users:
        if u.uid == 0 and u.name != "root":
            add("high", "uid0", u.name, f"{u.name} has uid 0: a second root account")
    for name, n in Counter(u.name for u in users).items():
        if n > 1:
            add("high", "duplicate-name", name, f"user {name} is defined {n} times in passwd")
    for uid, n in Counter(u.uid for u in users).items():
        if n > 1:
            sharing = ", ".join(u.name for u in users if u.uid == uid)
            add("medium", "duplicate-uid", str(uid), f"uid {uid} is shared by {sharing}")
    for gid, n in Counter(g.gid for g in groups).items():
        if n > 1:
            sharing = ", ".join(g.name for g in groups if g.gid == gid)
            add("low", "duplicate-gid", str(gid), f"gid {gid} is shared by groups {sharing}")
    gids = {g.gid for g in groups}
    names = {u.name for u in users}
    for u in users:
        if u.gid not in gids:
            add(
                "medium",
                "missing-group",
                u.name,
                f"{u.name}'s primary gid {u.gid} is not in /etc/group",
            )
        if shadow_readable and shadow and u.name not in shadow:
            add("medium", "no-shadow", u.name, f"{u.name} has no /etc/shadow entry")
        hashed = shadow[u.name][1] if u.name in shadow else None
        if hashed == "":
            add(
                "high",
                "empty-password",
                u.name,
                f"{u.name} has an empty password: anyone can log in",
            )
        elif hashed and not hashed.startswith(("!", "*")):
            if hashed.startswith("$1$"):
                add("medium", "weak-hash", u.name, f"{u.name}'s password uses MD5-crypt")
            elif not hashed.startswith("$") and len(hashed) == 13:
                add("medium", "weak-hash", u.name, f"{u.name}'s password uses DES-crypt")
        if can_login(u.shell, valid) and u.home not in ("", "/", "/nonexistent"):
            home = os.path.join(root, u.home.lstrip("/"))
            try:
                st = os.stat(home)
            except OSError:
                add(
                    "low",
                    "home-missing",
                    u.name,
                    f"{u.name} can log in but home {u.home} does not exist",
                )
                continue
            if st.st_mode & stat.S_IWOTH:
                add("high", "home-writable", u.name, f"{u.name}'s home {u.home} is world-writable")
            elif st.st_uid not in (u.uid, 0):
                add(
                    "medium",
                    "home-owner",
                    u.name,
                    f"{u.name}'s home {u.home} is owned by uid {st.st_uid}",
                )
    for name in sorted(set(shadow) - names):
        add(
            "low",
            "orphan-shadow",
            name,
            f"/etc/shadow has an entry for {name}, who is not in /etc/passwd",
        )
    for g in groups:
        for m in g.members:
            if m not in names:
                add("low", "unknown-member", g.name, f"group {g.name} lists {m}, who is not a user")
    found.sort(key=lambda f: (_RANK[f.severity], f.check, f.subject))
    counts = dict(Counter(f.severity for f in found))
    return Audit(
        ok=not any(f.severity == "high" for f in found),
        findings=found,
        counts=counts,
        shadow_readable=shadow_readable,
    )


@action("user.audit", risk=Risk.READ, timeout=30)
async def user_audit(ctx: ActionContext, p: AuditParams) -> Audit:
    """Findings with severity: extra uid 0, duplicates, empty or weak passwords, orphans, bad homes."""

    return await ctx.to_thread(audit, check_root(p.root))
