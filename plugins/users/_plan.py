"""Plans for the declarative account actions: compare the account with what is
declared and list the backend commands (and a diff) that reach it.

Not a plugin. Shared by ``user.present`` / ``user.absent`` and by
``state.user.present`` (through :mod:`plugins.users`), so both decide the same way and a dry run shows the
commands a real run would use.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import ActionError, ErrorCode

from ._accounts import User, check_comment, check_path, require_group
from ._backend import Backend, BackendName, Plan
from ._common import name_ok, uid_range


class UserSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A declared account: ``None`` leaves a field as it is (or to the tool's default)."""

    name: str
    uid: Annotated[int, msgspec.Meta(ge=0, lt=2**31 - 1)] | None = None
    group: str | None = None
    """Primary group name or gid; must exist. Default on creation: a new group named like the user."""
    groups: list[str] | None = None
    """The exact set of supplementary groups (others are left); ``None`` keeps them."""
    add_groups: list[str] = []
    """Supplementary groups to join, keeping the others."""
    home: str | None = None
    move_home: bool = False
    """With ``home`` on an existing account: move the old home's content there."""
    shell: str | None = None
    comment: str | None = None
    system: bool = False
    """Create as a system account (uid below UID_MIN); also allows ``absent`` on one."""
    create_home: bool = True
    dry_run: bool = False
    backend: BackendName | None = None
    """``shadow`` or ``busybox`` instead of the host's (shadow-utils when it is complete)."""


def diff_text(lines: list[str]) -> str:
    """The ``diff`` of an account change: one line per difference, each ending in a newline
    (the text the state actions answer; empty when nothing differs)."""
    return "".join(f"{line}\n" for line in lines)


def _show(value: object) -> str:
    if isinstance(value, list):
        return ",".join(value) or "(none)"
    return str(value)


def declared(spec: UserSpec, now: User | None) -> dict[str, object]:
    """The declared fields, checked (A002/A017) and normalised (group names, sorted groups)."""
    name_ok(spec.name, "name", new=now is None)
    want: dict[str, object] = {}
    if spec.uid is not None:
        want["uid"] = spec.uid
    if spec.group is not None:
        want["group"] = require_group(spec.group, "group")
    primary = want.get("group", now.group if now else spec.name)
    extra = {require_group(g, "add_groups") for g in spec.add_groups}
    if spec.groups is not None:
        target = {require_group(g, "groups") for g in spec.groups} | extra
    else:
        target = set(now.groups if now else ()) | extra
    target.discard(str(primary))
    if spec.groups is not None or extra:
        want["groups"] = sorted(target)
    if spec.home is not None:
        want["home"] = check_path(spec.home, "home")
    if spec.shell is not None:
        want["shell"] = check_path(spec.shell, "shell")
    if spec.comment is not None:
        want["comment"] = check_comment(spec.comment)
    return want


def plan_present(spec: UserSpec, now: User | None, backend: Backend) -> tuple[Plan, str]:
    """``(commands, diff)`` that make the account match ``spec``; empty when it does."""
    want = declared(spec, now)
    if now is None:
        details = ", ".join(f"{k}={_show(v)}" for k, v in want.items() if v != [])
        plan = backend.add_user(spec.name, want, spec.system, spec.create_home)
        return plan, diff_text([f"+ user {spec.name}" + (f" ({details})" if details else "")])
    changes = {field: value for field, value in want.items() if getattr(now, field) != value}
    if not changes:
        return [], ""
    diff = diff_text([f"{field}: {_show(getattr(now, field))} -> {_show(value)}" for field, value in changes.items()])
    return backend.modify_user(spec.name, changes, spec.move_home, now.groups), diff


def plan_absent(
    name: str, now: User | None, backend: Backend, remove_home: bool, allow_system: bool
) -> tuple[Plan, str]:
    """``(commands, diff)`` that delete the account; root and (unless allowed) system accounts are refused."""
    name_ok(name, "name")
    if now is None:
        return [], ""
    if now.uid == 0:
        raise ActionError(f"refusing to remove {name}: it has uid 0", code=ErrorCode.A016)
    if now.uid < uid_range()[0] and not allow_system:
        raise ActionError(
            f"{name} (uid {now.uid}) is a system account; set allow_system to remove it",
            code=ErrorCode.A016,
        )
    return backend.delete_user(name, remove_home), diff_text([f"- user {name}" + (f" (and {now.home})" if remove_home else "")])
