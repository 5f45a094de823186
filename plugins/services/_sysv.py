"""Shared pieces of the SysV init plugins: script lookup, LSB headers, running scripts.

Not a plugin (no entry point). :class:`Sysv` is the sysv backend of ``svc.*``
(see :mod:`._backend`); ``svc.sysv.runlevels`` reads the LSB headers and links.
"""

from __future__ import annotations

import os
import re

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    ProcessResult,
    Unavailable,
)

from ._backend import INITDIR, BootChange, Service, ServiceRow

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


# -- boot links --------------------------------------------------------------------

_LINK = re.compile(r"^([SK])(\d{2})(.+)$")
#: The runlevels a service is "enabled" in when started there (multi-user ones).
_BOOT_LEVELS = {"2", "3", "4", "5"}


def rc_dir(initdir: str) -> str:
    """Where the ``rcN.d`` directories sit beside ``initdir`` (``/etc``, ``/etc/rc.d``)."""
    return os.path.dirname(os.path.normpath(initdir))


def rc_links(rcdir: str) -> tuple[dict[str, list[tuple[str, str, int]]], list[str]]:
    """``({script: [(runlevel, "start"|"kill", order)]}, problems)`` from ``rcdir/rcN.d``."""
    links: dict[str, list[tuple[str, str, int]]] = {}
    problems: list[str] = []
    try:
        entries = sorted(os.listdir(rcdir))
    except OSError:
        return links, problems
    for entry in entries:
        m = re.match(r"^rc([0-6S])\.d$", entry)
        if not m:
            continue
        level_dir = os.path.join(rcdir, entry)
        for link in sorted(os.listdir(level_dir)):
            lm = _LINK.match(link)
            if not lm:
                continue
            path = os.path.join(level_dir, link)
            target = os.path.basename(os.readlink(path)) if os.path.islink(path) else lm.group(3)
            if not os.path.exists(path):
                problems.append(f"{entry}/{link} points to a missing script")
                continue
            kind = "start" if lm.group(1) == "S" else "kill"
            links.setdefault(target, []).append((m.group(1), kind, int(lm.group(2))))
    return links, problems


def _links_of(rcdir: str, name: str) -> set[str]:
    """``rcN.d/SNNname`` / ``KNNname`` entries that belong to script ``name``."""
    links, _ = rc_links(rcdir)
    return {
        f"rc{level}.d/{'S' if kind == 'start' else 'K'}{order:02d}{name}"
        for level, kind, order in links.get(name, [])
    }


def has_rc_dirs(rcdir: str) -> bool:
    return any(os.path.isdir(os.path.join(rcdir, f"rc{n}.d")) for n in "0123456")


def boot_state(links: list[tuple[str, str, int]], rc_dirs: bool) -> str:
    """``enabled`` when started in a multi-user runlevel, ``disabled`` otherwise, ``""`` unknown."""
    if not rc_dirs:
        return ""
    started = {level for level, kind, _ in links if kind == "start"}
    return "enabled" if started & _BOOT_LEVELS else "disabled"


# -- the svc.* backend ---------------------------------------------------------------

#: LSB status code -> systemd-like active state.
_ACTIVE = {0: "active", 1: "failed", 2: "failed", 3: "inactive"}
#: How many init scripts' ``status`` run at once in ``svc.list``.
_PARALLEL_STATUS = 8
_WANT_RUNNING = {"start": True, "restart": True, "reload": True, "stop": False}


class Sysv:
    """The init scripts in ``initdir``, run the way ``service`` runs them."""

    name = "sysv"

    def __init__(self, initdir: str = INITDIR) -> None:
        self.initdir = initdir

    def service(self, name: str) -> str:
        return script(check_dir(self.initdir, "initdir"), self._bare(name))

    @staticmethod
    def _bare(name: str) -> str:
        """``cron.service`` (a systemd-style name) is the script ``cron``."""
        return name.removesuffix(".service")

    async def status(self, ctx: ActionContext, name: str, log_lines: int) -> Service:
        path = self.service(name)
        return await self._status(ctx, path)

    async def _status(self, ctx: ActionContext, path: str) -> Service:
        res = await run_script(ctx, path, "status")
        name = os.path.basename(path)
        links, _ = rc_links(rc_dir(self.initdir))
        header = lsb_header(path)
        return Service(
            name=name,
            backend=self.name,
            running=res.exit_code == 0,
            active_state=_ACTIVE.get(res.exit_code, "unknown"),
            sub_state=status_name(res.exit_code),
            enabled=boot_state(links.get(name, []), has_rc_dirs(rc_dir(self.initdir))),
            description=header.get("Short-Description", ""),
            fragment_path=path,
            exit_status=res.exit_code,
            status_text=(res.stdout + res.stderr).strip(),
        )

    async def control(self, ctx: ActionContext, verb: str, name: str, no_block: bool) -> Service:
        path = self.service(name)
        res = await run_script(ctx, path, verb)
        output = (res.stdout + res.stderr).strip()
        after = await self._status(ctx, path)
        if res.exit_code != 0 or after.running != _WANT_RUNNING[verb]:
            last = output.splitlines()[-1] if output else ""
            after.log = output.splitlines()[-20:]
            raise ActionError(
                f"{after.name} {verb} exited {res.exit_code}; service is {after.sub_state}: {last}",
                code=ErrorCode.A014,
                data=after,
            )
        after.log = output.splitlines()[-20:]
        return after

    async def boot(
        self, ctx: ActionContext, enable: bool, name: str, now: bool, root: str | None
    ) -> BootChange:
        if root:
            raise InvalidParams("root: the sysv backend changes only the live system's links")
        path = self.service(name)
        if os.path.dirname(path) not in ("/etc/init.d", "/etc/rc.d/init.d"):
            raise InvalidParams(
                f"initdir: update-rc.d and chkconfig manage only the system's init scripts, not {self.initdir}"
            )
        bare = os.path.basename(path)
        rcdir = rc_dir(self.initdir)
        before = _links_of(rcdir, bare)
        if not enable and not before:  # no links: it does not start at boot already
            return BootChange(
                name=bare, backend=self.name, enabled="disabled", changes=[], changed=False
            )
        if ctx.which("update-rc.d"):
            # "defaults" only creates missing links; once a disable has turned the S links
            # into K links, "enable" is what turns them back.
            verb = ("enable" if before else "defaults") if enable else "disable"
            argv = ["update-rc.d", bare, verb]
        elif ctx.which("chkconfig"):
            argv = ["chkconfig", bare, "on" if enable else "off"]
        else:
            raise Unavailable("neither update-rc.d nor chkconfig is installed")
        res = await ctx.run(argv, c_locale=True)
        if res.exit_code != 0:
            raise ActionError(
                f"{argv[0]} {bare} failed: {res.stderr.strip()}", code=ErrorCode.A014, data=res
            )
        after = _links_of(rcdir, bare)
        if now:
            await self.control(ctx, "start" if enable else "stop", bare, False)
        changes = [f"removed {ln}" for ln in sorted(before - after)]
        changes += [f"created {ln}" for ln in sorted(after - before)]
        return BootChange(
            name=bare,
            backend=self.name,
            enabled=boot_state(rc_links(rcdir)[0].get(bare, []), True),
            changes=changes,
            changed=bool(changes),
        )

    async def services(
        self,
        ctx: ActionContext,
        pattern: str | None,
        state: str | None,
        kind: str | None,
        all: bool,
    ) -> list[ServiceRow]:
        import fnmatch

        if kind not in (None, "service"):
            raise InvalidParams(f"type: the sysv backend has services only, not {kind!r}")
        initdir = check_dir(self.initdir, "initdir")
        links, _ = rc_links(rc_dir(initdir))
        rc_dirs = has_rc_dirs(rc_dir(initdir))
        names = [
            n
            for n in sorted(os.listdir(initdir))
            if is_service(initdir, n) and not (pattern and not fnmatch.fnmatchcase(n, pattern))
        ]
        codes = await self._statuses(ctx, initdir, names)
        rows = []
        for name in names:
            path = os.path.join(initdir, name)
            code = codes.get(name)
            if code is None:
                active, sub = "unknown", "not executable"
            else:
                active, sub = _ACTIVE.get(code, "unknown"), status_name(code)
            if state is not None and state not in (active, sub):
                continue
            if not all and active == "inactive" and state is None:
                continue
            rows.append(
                ServiceRow(
                    name=name,
                    running=active == "active",
                    active_state=active,
                    sub_state=sub,
                    enabled=boot_state(links.get(name, []), rc_dirs),
                    description=lsb_header(path).get("Short-Description", ""),
                )
            )
        return rows

    @staticmethod
    async def _statuses(ctx: ActionContext, initdir: str, names: list[str]) -> dict[str, int]:
        """Each executable script's ``status`` exit code, a few scripts at a time."""
        import trio

        codes: dict[str, int] = {}
        limit = trio.CapacityLimiter(_PARALLEL_STATUS)

        async def one(name: str) -> None:
            async with limit:
                codes[name] = (
                    await run_script(ctx, os.path.join(initdir, name), "status")
                ).exit_code

        async with trio.open_nursery() as nursery:
            for name in names:
                if os.access(os.path.join(initdir, name), os.X_OK):
                    nursery.start_soon(one, name)
        return codes
