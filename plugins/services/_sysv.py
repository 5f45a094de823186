"""Shared pieces of the SysV init plugins: script lookup, LSB headers, running scripts.

Not a plugin (no entry point); imported by ``sysv`` and ``sysv.list``.
"""

from __future__ import annotations

import os
import re

from agent_core import ActionContext, ActionError, ErrorCode, InvalidParams, NotFound, ProcessResult

INITDIR = "/etc/init.d"
#: Files in init.d that are not services.
NOT_SERVICES = {
    "README",
    "skeleton",
    "rc",
    "rcS",
    "functions",
    "halt",
    "killall",
    "single",
    "reboot",
    "sendsigs",
}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+@-]{0,127}$")

#: LSB exit codes of ``status``: https://refspecs.linuxfoundation.org/LSB_5.0.0/LSB-Core-generic/LSB-Core-generic/iniscrptact.html
LSB_STATUS = {
    0: "running",
    1: "dead (pid file exists)",
    2: "dead (lock file exists)",
    3: "stopped",
    4: "unknown",
}


def check_dir(path: str, field: str) -> str:
    if not os.path.isabs(path):
        raise InvalidParams(f"{field}: {path!r} is not an absolute path")
    if not os.path.isdir(path):
        raise NotFound(f"{field}: {path} is not a directory")
    return os.path.normpath(path)


def is_service(initdir: str, name: str) -> bool:
    path = os.path.join(initdir, name)
    return (
        bool(_NAME.match(name))
        and name not in NOT_SERVICES
        and not name.endswith((".dpkg-old", ".dpkg-new", ".dpkg-dist", ".rpmsave", ".rpmnew", "~"))
        and os.path.isfile(path)
    )


def script(initdir: str, name: str) -> str:
    """The path of service ``name``'s init script: A002 for a bad name, A017 when absent."""
    if not _NAME.match(name):
        raise InvalidParams(f"name: {name!r} is not a valid init script name")
    path = os.path.join(initdir, name)
    if not os.path.isfile(path):
        raise NotFound(f"no init script {path}")
    if not os.access(path, os.X_OK):
        raise ActionError(f"{path} is not executable", code=ErrorCode.A016)
    return path


def lsb_header(path: str) -> dict[str, str]:
    """The ``### BEGIN INIT INFO`` block of an init script (continuation lines joined)."""
    info: dict[str, str] = {}
    key = ""
    inside = False
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh):
                if n > 200:
                    break
                if line.startswith("### BEGIN INIT INFO"):
                    inside = True
                elif line.startswith("### END INIT INFO"):
                    break
                elif inside and line.startswith("#"):
                    body = line[1:]
                    k, sep, v = body.partition(":")
                    if (
                        sep
                        and k.strip()
                        and not k.startswith((" \t", "  "))
                        and " " not in k.strip()
                    ):
                        key = k.strip()
                        info[key] = v.strip()
                    elif key and body.strip():
                        info[key] += " " + body.strip()
    except OSError:
        pass
    return info


def script_env() -> dict[str, str]:
    """What ``service`` gives a script: a clean environment, C locale, dumb terminal."""
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TERM": "dumb",
    }


async def run_script(ctx: ActionContext, path: str, verb: str) -> ProcessResult:
    return await ctx.run([path, verb], env=script_env(), cwd="/", c_locale=True)


def status_name(code: int) -> str:
    return LSB_STATUS.get(code, "unknown" if code >= 4 else f"exit {code}")
