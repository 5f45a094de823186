"""The users capability's backends: what each answers, and the one chosen at run time.

Not a plugin (no entry point). ``user.*``, ``user.group.*`` and
``state.user.present`` (through :mod:`plugins.users`) call :func:`choose` and then the backend's methods;
the backends are :class:`~plugins.users._shadow.Shadow` (shadow-utils
``useradd`` / ``usermod`` / ``userdel`` / ``groupadd`` / ``groupmod`` /
``groupdel`` / ``gpasswd``: Debian, RHEL, SUSE) and
:class:`~plugins.users._busybox.Busybox` (``busybox adduser`` / ``deluser`` /
``addgroup`` / ``delgroup`` / ``passwd``, where only those exist: Alpine-like
hosts). Salt's virtual modules are the model: one interface, the tool the
host has behind it.

A backend only *plans* (returns argv lists); the actions run the plans with
:func:`run_plan`, so a dry run and ``state.user.present`` show exactly the
commands a real run would use.

Errors: ``A002`` an unknown backend name, ``A003`` the backend's tools are
missing, or a change the backend cannot make (busybox has no ``usermod``:
changing uid, primary group, home, shell or comment of an existing account);
running a plan maps the tools' failures as :func:`~plugins.users._common.shadow_tool` does.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Annotated, Protocol

import msgspec

from agent_core import ActionContext, InvalidParams, Unavailable

from ._common import shadow_tool

BACKENDS = ("shadow", "busybox")
SHADOW_TOOLS = ("useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel", "gpasswd")
BUSYBOX_APPLETS = ("adduser", "deluser", "addgroup", "delgroup")

BackendName = Annotated[str, msgspec.Meta(pattern="^(shadow|busybox)$")]
"""The ``backend`` parameter of the account actions: forces one instead of the host's."""

Plan = list[list[str]]


class Backend(Protocol):
    """Plans account changes as argv lists for one family of tools (one shape whatever the tool)."""

    name: str

    def add_user(self, name: str, want: dict[str, object], system: bool, create_home: bool) -> Plan:
        """Create ``name`` with the declared fields of ``want`` (uid, group, groups, home, shell, comment)."""
        ...

    def modify_user(self, name: str, changes: dict[str, object], move_home: bool, now_groups: list[str]) -> Plan:
        """``changes`` holds only the fields that differ; ``groups`` is the whole new set."""
        ...

    def delete_user(self, name: str, remove_home: bool) -> Plan: ...

    def lock_user(self, name: str, expire: bool) -> Plan: ...

    def unlock_user(self, name: str, expire: bool) -> Plan: ...

    def add_group(self, name: str, gid: int | None, system: bool) -> Plan: ...

    def set_gid(self, name: str, gid: int) -> Plan: ...

    def delete_group(self, name: str) -> Plan: ...

    def add_member(self, group: str, user: str) -> Plan: ...

    def remove_member(self, group: str, user: str) -> Plan: ...


def missing_shadow_tools() -> list[str]:
    """The shadow-utils programs not on PATH."""
    return [t for t in SHADOW_TOOLS if shutil.which(t) is None]


def missing_busybox_applets() -> list[str]:
    """The account applets this host's ``busybox`` lacks (all of them when there is no busybox)."""
    exe = shutil.which("busybox")
    if exe is None:
        return list(BUSYBOX_APPLETS)
    try:
        listed = subprocess.run([exe, "--list"], capture_output=True, text=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return list(BUSYBOX_APPLETS)
    return [a for a in BUSYBOX_APPLETS if a not in listed]


def _why_not(backend: str) -> str | None:
    if backend == "shadow":
        missing = missing_shadow_tools()
        return f"shadow-utils lacks {', '.join(missing)}" if missing else None
    missing = missing_busybox_applets()
    if not missing:
        return None
    return "busybox is not installed" if shutil.which("busybox") is None else f"busybox has no {'/'.join(missing)} applet"


def choose(backend: str | None = None) -> Backend:
    """The backend to use: ``backend`` when given (``shadow``/``busybox``), else shadow-utils
    when all of its tools are on PATH, else busybox's applets.

    :raises ActionError: A002 for an unknown backend name, A003 when its tools are missing.
    """
    from ._busybox import Busybox
    from ._shadow import Shadow

    if backend is not None and backend not in BACKENDS:
        raise InvalidParams(f"backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    tried = [backend] if backend is not None else list(BACKENDS)
    reasons = []
    for name in tried:
        why = _why_not(name)
        if why is None:
            return Shadow() if name == "shadow" else Busybox()
        reasons.append(why)
    raise Unavailable(f"no account tools: {' and '.join(reasons)}")


async def run_plan(ctx: ActionContext, plan: Plan) -> None:
    """Run a backend's commands in order, each failure mapped to a catalogue code."""
    for argv in plan:
        what = " ".join(argv[:2]) if argv[0] == "busybox" else argv[0]
        await shadow_tool(ctx, argv, what)
