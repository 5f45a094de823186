"""The agent's own environment: variables (secrets masked), PATH, proxies, user, umask.

``sys.env`` answers "why does this command behave differently under the
agent than in my shell": the environment variables the agent passes to the
commands it runs (values of names that look like secrets are masked, always),
each ``PATH`` entry and whether it exists, the HTTP proxy settings (with any
password in the URL masked), the user and groups the agent runs as, its
umask and working directory. Reads only the agent's own process.
"""

from __future__ import annotations

import grp
import os
import pwd
import re

import msgspec

from agent_core import MASK, ActionContext, Plugin, Risk, action, mask_env
from agent_core.procfs import is_dir

PLUGIN = Plugin("sys.env", domain="system")

PROXY_VARS = ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy")
_URL_PASSWORD = re.compile(r"(://[^:/@]+:)[^@/]+@")


class Params(msgspec.Struct, forbid_unknown_fields=True):
    names: list[str] = []
    prefix: str | None = None


class PathEntry(msgspec.Struct):
    dir: str
    exists: bool


class AgentEnv(msgspec.Struct):
    variables: dict[str, str]
    masked: list[str]
    path: list[PathEntry]
    proxies: dict[str, str]
    user: str
    uid: int
    groups: list[str]
    umask: str
    cwd: str
    pid: int


def _umask() -> int:
    # os.umask can only be read by setting it; Linux exposes it in status without races.
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def _name(fn, ident: int) -> str:
    try:
        return fn(ident)[0]
    except KeyError:
        return str(ident)


@action("sys.env", risk=Risk.READ, timeout=10)
async def env(ctx: ActionContext, p: Params) -> AgentEnv:
    """The agent's environment variables (secret-looking values masked), PATH check, proxies, user and umask."""
    environ = dict(os.environ)
    if p.prefix:
        environ = {k: v for k, v in environ.items() if k.startswith(p.prefix)}
    variables, masked = mask_env(environ, p.names)
    proxies = {}
    for key in PROXY_VARS:
        for name in (key, key.upper()):
            if name in os.environ:
                proxies[name] = _URL_PASSWORD.sub(rf"\g<1>{MASK}@", os.environ[name])
    for name, value in proxies.items():
        if name in variables and name not in masked:
            variables[name] = value
    return AgentEnv(
        variables=variables,
        masked=masked,
        path=[PathEntry(dir=d, exists=is_dir(d)) for d in os.environ.get("PATH", "").split(":") if d],
        proxies=proxies,
        user=_name(pwd.getpwuid, os.geteuid()),
        uid=os.geteuid(),
        groups=sorted({_name(grp.getgrgid, g) for g in os.getgroups()}),
        umask=f"{_umask():04o}",
        cwd=os.getcwd(),
        pid=os.getpid(),
    )
