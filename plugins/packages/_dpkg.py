"""The dpkg backend of ``pkg.*``: dpkg-query and dpkg read, apt-get changes.

Not a plugin. Reads honour ``root`` (an image or chroot with its own
``var/lib/dpkg``); transactions run ``apt-get`` non-interactively, keeping
locally edited configuration files, and ``dry_run`` is ``apt-get -s`` (no
lock taken, nothing changed).
"""

from __future__ import annotations

import os
import re
import time

from agent_core import ActionContext, ActionError, ErrorCode, NotFound, ProcessResult, Unavailable

from ._backend import ChangedFile, Package, Transaction, Update, Updates, transaction
from ._common import (
    Change,
    check_specs,
    deb_name,
    deb_spec,
    is_security,
    parse_apt_simulation,
    parse_paragraphs,
    pattern,
)

_FORMAT = (
    "${binary:Package}\\t${Version}\\t${Architecture}\\t${db:Status-Abbrev}\\t"
    "${Installed-Size}\\t${binary:Summary}\\n"
)
_STATUS = {
    "n": "not-installed",
    "c": "config-files",
    "H": "half-installed",
    "U": "unpacked",
    "F": "half-configured",
    "W": "triggers-awaited",
    "t": "triggers-pending",
    "i": "installed",
}
_BROKEN = ("half-installed", "unpacked", "half-configured", "triggers-awaited")
_RELATIONS = (
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Provides",
)
# dpkg --verify uses the rpm -V layout; dpkg checks only the md5 column ("5").
_VERIFY = re.compile(r"^(missing  |[?.5SMDLUGT]{9}) ([c ]) (/.*?)(?: \((.*)\))?$")
_UNPACK = re.compile(r"^Unpacking (\S+) \(([^)]+)\)(?: over \(([^)]+)\))?")
_REMOVE = re.compile(r"^(Removing|Purging configuration files for) (\S+) \(([^)]+)\)")


def _root_opt(root: str | None) -> list[str]:
    return [f"--root={root}"] if root else []


def _list_mtime(root: str | None, name: str, arch: str) -> int:
    """When dpkg last unpacked ``name``: the mtime of its ``info/NAME[:ARCH].list``."""
    info = os.path.join(root or "/", "var/lib/dpkg/info")
    for base in (f"{name}:{arch}", name):
        try:
            return int(os.stat(os.path.join(info, base + ".list")).st_mtime)
        except OSError:
            continue
    return 0


def parse_rows(text: str, root: str | None = None) -> list[tuple[Package, bool]]:
    """``dpkg-query -W`` rows -> ``(package, needs reinstall)``."""
    rows = []
    for line in text.splitlines():
        f = line.split("\t")
        if len(f) < 6:
            continue
        abbrev = f[3].ljust(3)
        size = f[4].strip()
        name = f[0].split(":")[0]
        rows.append(
            (
                Package(
                    name=name,
                    version=f[1],
                    arch=f[2],
                    backend="dpkg",
                    status=_STATUS.get(abbrev[1], abbrev[1]),
                    held=abbrev[0] == "h",
                    summary=f[5],
                    size=int(size) * 1024 if size.isdigit() else 0,
                    install_time=_list_mtime(root, name, f[2]),
                ),
                abbrev[2] == "R",
            )
        )
    return rows


def _keep(pkg: Package, reinstall: bool, state: str) -> bool:
    if state == "all":
        return pkg.status != "not-installed"
    if state == "installed":
        return pkg.status == "installed"
    if state == "held":
        return pkg.held
    if state == "config-files":
        return pkg.status == "config-files"
    return (reinstall and pkg.status != "not-installed") or pkg.status in _BROKEN


def to_package(f: dict[str, str]) -> Package:
    """One ``dpkg-query -s`` paragraph as a detailed :class:`Package`."""
    summary, _, long = f.get("Description", "").partition("\n")
    status = f.get("Status", "")
    size = f.get("Installed-Size", "0")
    return Package(
        name=f.get("Package", ""),
        version=f.get("Version", ""),
        arch=f.get("Architecture", ""),
        backend="dpkg",
        status=status.split()[-1] if status else "",
        held=status.startswith("hold "),
        summary=summary,
        size=int(size) * 1024 if size.isdigit() else 0,
        source=re.sub(r"\s*\(.*\)", "", f.get("Source", "")) or f.get("Package", ""),
        maintainer=f.get("Maintainer", ""),
        section=f.get("Section", ""),
        homepage=f.get("Homepage", ""),
        essential=f.get("Essential", "") == "yes",
        description=long.strip(),
        relations={
            k.lower(): [
                " | ".join(a.strip() for a in g.split("|")) for g in f[k].split(",") if g.strip()
            ]
            for k in _RELATIONS
            if k in f
        },
        config_files=[ln.split()[0] for ln in f.get("Conffiles", "").splitlines() if ln.split()],
    )


def parse_verify(text: str) -> list[ChangedFile]:
    out = []
    for line in text.splitlines():
        m = _VERIFY.match(line)
        if not m:
            continue
        flags, conf, path, _ = m.groups()
        if flags.startswith("missing"):
            problems = ["missing"]
        else:
            problems = ["checksum"] if "5" in flags else ["attributes"]
        out.append(ChangedFile(path=path, problems=problems, kind="config" if conf == "c" else ""))
    return out


def from_real_run(text: str) -> list[Change]:
    """A real run prints dpkg's ``Unpacking x (new) over (old)`` / ``Removing x (ver)`` lines."""
    out: list[Change] = []
    for line in text.splitlines():
        if m := _UNPACK.match(line):
            name, new, old = m.groups()
            out.append(
                Change(
                    action="upgrade" if old else "install",
                    package=name.split(":")[0],
                    version=new,
                    old_version=old or "",
                )
            )
        elif m := _REMOVE.match(line):
            verb, name, ver = m.groups()
            action = "remove" if verb == "Removing" else "purge"
            if action == "purge" and any(c.package == name.split(":")[0] for c in out):
                continue
            out.append(Change(action=action, package=name.split(":")[0], old_version=ver))
    return out


def held_back(text: str) -> list[str]:
    """The packages ``apt-get upgrade`` keeps back (they need a full upgrade)."""
    out: list[str] = []
    grab = False
    for line in text.splitlines():
        if line.startswith("The following packages have been kept back"):
            grab = True
            continue
        if grab:
            if not line.startswith(" "):
                break
            out += line.split()
    return out


def lists_age() -> float | None:
    """Seconds since ``apt-get update`` last refreshed the package lists."""
    newest = 0.0
    try:
        for entry in os.scandir("/var/lib/apt/lists"):
            if entry.name.endswith(("Packages", "Release", "InRelease", ".lz4", ".xz", ".gz")):
                newest = max(newest, entry.stat().st_mtime)
    except OSError:
        return None
    return round(time.time() - newest, 1) if newest else None


class Dpkg:
    """dpkg-query / dpkg for reading, apt-get for transactions."""

    name = "dpkg"

    def spec(self, value: str, field: str = "packages") -> str:
        return deb_spec(value)

    async def packages(
        self, ctx: ActionContext, pattern_: str | None, state: str, root: str | None
    ) -> list[Package]:
        argv = ["dpkg-query", *_root_opt(root), "-W", f"-f={_FORMAT}"]
        if pattern_ is not None:
            argv += ["--", pattern(pattern_)]
        res = await ctx.run(argv, c_locale=True)
        if res.exit_code != 0 and "no packages found" not in res.stderr:
            raise ActionError(
                f"dpkg-query failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
            )
        rows = await ctx.to_thread(parse_rows, res.stdout, root)
        return [pkg for pkg, reinstall in rows if _keep(pkg, reinstall, state)]

    async def info(self, ctx: ActionContext, name: str, root: str | None) -> list[Package]:
        deb_name(name)
        res = await ctx.run(["dpkg-query", *_root_opt(root), "-s", "--", name], c_locale=True)
        err = res.stderr.strip()
        if res.exit_code != 0 and not res.stdout.strip():
            if (
                "not installed" in err
                or "no packages found" in err.lower()
                or "is not available" in err
            ):
                raise NotFound(f"package {name} is not known to dpkg")
            raise ActionError(f"dpkg-query failed: {err}", code=ErrorCode.A008, data=res)
        found = [to_package(f) for f in parse_paragraphs(res.stdout) if f.get("Package")]
        if not found:
            raise NotFound(f"package {name} is not known to dpkg")
        for pkg in found:
            pkg.install_time = _list_mtime(root, pkg.name, pkg.arch)
        return found

    async def installed(self, ctx: ActionContext, name: str) -> str | None:
        res = await ctx.run(
            ["dpkg-query", "-W", "-f", "${Status}\t${Version}\n", "--", deb_name(name)],
            c_locale=True,
        )
        for line in res.stdout.splitlines():
            status, _, version = line.partition("\t")
            if status.split()[-1:] == ["installed"]:
                return version
        return None

    async def files(
        self, ctx: ActionContext, name: str, root: str | None
    ) -> tuple[list[str], list[str], list[str]]:
        deb_name(name)
        res = await ctx.run(["dpkg-query", *_root_opt(root), "-L", "--", name], c_locale=True)
        if res.exit_code != 0:
            if "not installed" in res.stderr:
                raise NotFound(f"package {name} is not installed")
            raise ActionError(
                f"dpkg-query failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
            )
        paths: list[str] = []
        diversions: list[str] = []
        for line in res.stdout.splitlines():
            if line.startswith(("diverted by", "package diverts others to", "locally diverted to")):
                diversions.append(f"{paths[-1] if paths else ''}: {line.strip()}")
            elif line.startswith("/") and line != "/.":
                paths.append(line)
        conf = await ctx.run(
            ["dpkg-query", *_root_opt(root), "-W", "-f=${Conffiles}\\n", "--", name], c_locale=True
        )
        config = [ln.split()[0] for ln in conf.stdout.splitlines() if ln.strip()]
        return paths, config, diversions

    async def verify(
        self, ctx: ActionContext, name: str | None, root: str | None
    ) -> list[ChangedFile]:
        argv = ["dpkg", *_root_opt(root), "--verify"]
        if name is not None:
            argv += ["--", deb_name(name)]
        res = await ctx.run(argv, c_locale=True)
        if res.exit_code != 0 and not res.stdout.strip():
            if "not installed" in res.stderr:
                raise NotFound(f"package {name} is not installed")
            raise ActionError(
                f"dpkg --verify failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
            )
        return parse_verify(res.stdout)

    async def install(
        self,
        ctx: ActionContext,
        specs: list[str],
        *,
        dry_run: bool,
        no_recommends: bool,
        reinstall: bool,
    ) -> Transaction:
        flags = (["--no-install-recommends"] if no_recommends else []) + (
            ["--reinstall"] if reinstall else []
        )
        return await self._apt(ctx, "install", flags, self._specs(specs), dry_run)

    async def remove(
        self, ctx: ActionContext, names: list[str], *, dry_run: bool, purge: bool, autoremove: bool
    ) -> Transaction:
        flags = (["--purge"] if purge else []) + (["--autoremove"] if autoremove else [])
        return await self._apt(
            ctx, "remove", flags, [deb_name(n, "packages") for n in check_specs(names)], dry_run
        )

    async def upgrade(
        self, ctx: ActionContext, specs: list[str], *, dry_run: bool, full: bool
    ) -> Transaction:
        if specs:
            return await self._apt(ctx, "install", ["--only-upgrade"], self._specs(specs), dry_run)
        return await self._apt(ctx, "dist-upgrade" if full else "upgrade", [], [], dry_run)

    async def updates(self, ctx: ActionContext, *, cache_only: bool) -> Updates:
        # apt answers from the lists on disk anyway: cache_only changes nothing here.
        if ctx.which("apt-get") is None:
            raise Unavailable("apt-get is not installed")
        res = await ctx.run(
            ["apt-get", "-s", "-q", "-o", "Debug::NoLocking=1", "upgrade"], c_locale=True
        )
        if res.exit_code != 0:
            raise ActionError(
                f"apt-get -s upgrade failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
            )
        found = [
            Update(
                name=c.package,
                arch=c.arch,
                current=c.old_version,
                candidate=c.version,
                origin=c.origin,
                security=is_security(c.origin),
            )
            for c in parse_apt_simulation(res.stdout)
            if c.action == "upgrade"
        ]
        return Updates(
            backend=self.name,
            updates=found,
            count=len(found),
            security=sum(1 for u in found if u.security),
            held_back=held_back(res.stdout),
            lists_age_seconds=lists_age(),
        )

    def _specs(self, specs: list[str]) -> list[str]:
        return [deb_spec(s) for s in check_specs(specs)]

    async def _apt(
        self, ctx: ActionContext, verb: str, flags: list[str], specs: list[str], dry_run: bool
    ) -> Transaction:
        if ctx.which("apt-get") is None:
            raise Unavailable("apt-get is not installed (dpkg alone cannot resolve dependencies)")
        argv = [
            "apt-get",
            "-y",
            "-q",
            "-o",
            "Dpkg::Options::=--force-confold",
            "-o",
            "Dpkg::Options::=--force-confdef",
        ]
        if dry_run:
            # A simulation takes no lock, so it works beside a running apt and as any user.
            argv += ["-s", "-o", "Debug::NoLocking=1"]
        tail = ["--", *specs] if specs else []
        res = await ctx.run([*argv, *flags, verb, *tail], c_locale=True)
        out = res.stdout + res.stderr
        if res.exit_code != 0:
            _raise_apt_error(verb, out, res)
        changes = parse_apt_simulation(res.stdout) if dry_run else from_real_run(res.stdout)
        log = "\n".join(
            ln
            for ln in res.stdout.splitlines()
            if " upgraded, " in ln or ln.startswith(("W: ", "N: "))
        )
        return transaction(self.name, "apt-get", dry_run, changes, not changes, log)


def _raise_apt_error(verb: str, out: str, res: ProcessResult) -> None:
    lines = out.splitlines()
    missing = [ln for ln in lines if "Unable to locate" in ln or "no installation candidate" in ln]
    missing += [ln for ln in lines if "Version '" in ln and "was not found" in ln]
    if missing:
        raise NotFound(missing[0].removeprefix("E: "))
    if "Could not get lock" in out or "Unable to acquire" in out:
        raise ActionError(
            "another package manager holds the dpkg lock; retry later",
            code=ErrorCode.A014,
            data=res,
        )
    if "Permission denied" in out or "are you root" in out:
        raise ActionError("apt-get needs root to change packages", code=ErrorCode.A016, data=res)
    errors = [ln for ln in lines if ln.startswith("E: ")]
    raise ActionError(
        f"apt-get {verb} failed: {errors[-1] if errors else f'exit status {res.exit_code}'}",
        code=ErrorCode.A014,
        data=res,
    )
