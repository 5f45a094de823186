"""The environment a process, the agent, or a command the agent starts sees, secrets always masked.

``proc.environ`` answers "which config does this daemon really run with" and
"why does this command behave differently under the agent than in my shell"
in one result shape: the variables (names that look like secrets masked whole,
passwords inside URLs masked, both listed in ``masked`` — there is no way to
reveal them), each ``PATH`` entry and whether it exists, the proxy settings,
the user, uid and groups, the umask and the working directory. With ``pid``
it reads ``/proc/PID/environ`` (the environment the process was started with:
later ``setenv`` calls are not visible) and its status; without, it shows the
agent itself; with ``command: true`` it starts a small probe through the
agent's runner (``process`` then names it: ``starling-probe``), as ``exec.run`` would start a command, and reports what that
child really received. ``names`` and ``prefix`` narrow the variables. Reads
only (another user's process needs root).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import sys
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
    mask_env,
)
from agent_core.procfs import is_dir

PLUGIN = Plugin("proc.environ", domain="processes", requires_files=["/proc/self/environ"])

PROXY_VARS = ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy")


class Params(msgspec.Struct, forbid_unknown_fields=True):
    pid: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """A process to read; none: the agent itself (or, with ``command``, a new command)."""
    command: bool = False
    """Show what a command started by the agent (``exec.run``) receives, by starting a probe."""
    names: list[str] = []
    """Keep only these variables."""
    prefix: str | None = None
    """Keep only variables whose names start with this."""


class PathEntry(msgspec.Struct):
    dir: str
    exists: bool


class Environ(msgspec.Struct):
    source: str
    """``process``, ``agent`` or ``command``."""
    pid: int
    process: str
    """The process's name as the kernel reports it (``/proc/PID/status``): the daemon's for
    ``pid``, the agent's, or for ``command`` the probe's, ``starling-probe``, not its interpreter's."""
    variables: dict[str, str]
    masked: list[str]
    """Names whose value is masked whole (``***``) or has a URL password masked."""
    count: int
    """Variables in the whole environment, before ``names`` / ``prefix``."""
    path: list[PathEntry]
    proxies: dict[str, str]
    user: str
    uid: int
    groups: list[str]
    umask: str | None
    """``None`` when the kernel does not say (before Linux 4.7)."""
    cwd: str | None
    """``None`` when not readable."""


def parse_environ(raw: bytes) -> dict[str, str]:
    """NUL-separated ``KEY=value`` entries; entries without ``=`` (rare, set by exec tricks) are skipped."""
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


class _Facts(msgspec.Struct):
    env: dict[str, str]
    pid: int
    process: str
    uid: int
    gids: list[int]
    umask: str | None
    cwd: str | None


def _status(pid: int | str) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def _of_process(pid: int) -> _Facts:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            raw = fh.read()
        status = _status(pid)
    except FileNotFoundError:
        raise NotFound(f"no process with pid {pid}") from None
    except PermissionError:
        raise ActionError(f"may not read the environment of pid {pid} (run the agent as root)", code=ErrorCode.A016) from None
    try:
        cwd: str | None = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = None
    return _Facts(
        env=parse_environ(raw),
        pid=pid,
        process=status.get("Name", ""),
        uid=int(status["Uid"].split()[1]),  # effective
        gids=[int(g) for g in status.get("Groups", "").split()],
        umask=status.get("Umask"),
        cwd=cwd,
    )


def _of_agent() -> _Facts:
    return _Facts(
        env=dict(os.environ),
        pid=os.getpid(),
        process=_status("self").get("Name", ""),
        uid=os.geteuid(),
        gids=os.getgroups(),
        umask=_status("self").get("Umask"),
        cwd=os.getcwd(),
    )


#: The probe's process name (at most 15 bytes: the kernel's comm).
PROBE_NAME = "starling-probe"
# The probe a command-view starts: it names itself (its comm, what ps and /proc/PID/status
# show), then reports its own environment and identity as JSON, its name read back from the kernel.
_PROBE = (
    "import json, os\n"
    f"open('/proc/self/comm', 'w').write({PROBE_NAME!r})\n"
    "st = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)\n"
    "print(json.dumps({'env': dict(os.environ), 'pid': os.getpid(), 'process': st['Name'].strip(), "
    "'uid': os.geteuid(), 'gids': os.getgroups(), 'umask': st.get('Umask', '').strip() or None, "
    "'cwd': os.getcwd()}))\n"
)


async def _of_command(ctx: ActionContext) -> _Facts:
    res = await ctx.run([sys.executable, "-I", "-c", _PROBE])
    if res.exit_code != 0:
        raise ActionError(f"the probe command failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res)
    return msgspec.convert(json.loads(res.stdout), _Facts)


def _name(fn, ident: int) -> str:  # type: ignore[no-untyped-def]
    try:
        return str(fn(ident)[0])
    except KeyError:
        return str(ident)


def view(facts: _Facts, source: str, names: list[str], prefix: str | None) -> Environ:
    """The one result shape, every value passed through the one masker."""
    env = facts.env
    chosen = {k: v for k, v in env.items() if prefix is None or k.startswith(prefix)}
    variables, masked = mask_env(chosen, names)
    everything, _ = mask_env(env)
    proxies = {n: everything[n] for key in PROXY_VARS for n in (key, key.upper()) if n in everything}
    return Environ(
        source=source,
        pid=facts.pid,
        process=facts.process,
        variables=variables,
        masked=masked,
        count=len(env),
        path=[PathEntry(dir=d, exists=is_dir(d)) for d in env.get("PATH", "").split(":") if d],
        proxies=proxies,
        user=_name(pwd.getpwuid, facts.uid),
        uid=facts.uid,
        groups=sorted({_name(grp.getgrgid, g) for g in facts.gids}),
        umask=facts.umask,
        cwd=facts.cwd,
    )


@action("proc.environ", risk=Risk.READ, timeout=15)
async def environ(ctx: ActionContext, p: Params) -> Environ:
    """Environment (secrets masked), PATH, proxies, user, umask and cwd of ``pid``, the agent or a new command."""
    if p.command and p.pid is not None:
        raise InvalidParams("give pid or command, not both")
    if p.command:
        facts, source = await _of_command(ctx), "command"
    elif p.pid is not None:
        facts, source = await ctx.to_thread(_of_process, p.pid), "process"
    else:
        facts, source = _of_agent(), "agent"
    return view(facts, source, p.names, p.prefix)
