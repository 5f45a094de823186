"""The rpm backend of ``pkg.*``: rpm reads, dnf (or yum on older systems) changes.

Not a plugin. Reads honour ``root`` (an image or chroot with its own RPM
database); transactions run ``dnf``/``yum`` non-interactively and
``dry_run`` resolves the transaction and answers "no" (``--assumeno``).
"""

from __future__ import annotations

import re
import shutil

from agent_core import ActionContext, ActionError, ErrorCode, NotFound, ProcessResult, Unavailable

from ._backend import ChangedFile, Package, Transaction, Update, Updates, transaction
from ._common import Change, check_specs, package_file, pattern, rpm_name, split_spec

END = "@@starling-end@@"
_LIST_QF = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{INSTALLTIME}\\t%{SIZE}\\t%{SUMMARY}\\n"
_TAGS = (
    "NAME",
    "EPOCH",
    "VERSION",
    "RELEASE",
    "ARCH",
    "INSTALLTIME",
    "SIZE",
    "VENDOR",
    "PACKAGER",
    "GROUP",
    "LICENSE",
    "URL",
    "SOURCERPM",
    "SUMMARY",
)
_INFO_QF = (
    "".join(f"{t}=%{{{t}}}\\n" for t in _TAGS)
    + "REQUIRES=[%{REQUIRENEVRS}, ]\\nPROVIDES=[%{PROVIDENEVRS}, ]\\nDESCRIPTION=%{DESCRIPTION}\\n"
    + END
    + "\\n"
)
_FLAGS = {
    "S": "size",
    "M": "mode",
    "5": "checksum",
    "D": "device",
    "L": "link",
    "U": "owner",
    "G": "group",
    "T": "mtime",
    "P": "capabilities",
}
_KINDS = {"c": "config", "d": "doc", "g": "ghost", "l": "license", "r": "readme", "a": "artifact"}
_VERIFY = re.compile(r"^(missing|[SM5DLUGTP.?]{8,9})\s+(?:([cdglra])\s)?\s*(/.*)$")
_UPDATE = re.compile(r"^(\S+)\.(\w+)\s+(\S+)\s+(\S+)\s*$")
_MISSING = re.compile(r"No match for argument: (\S+)|No package (\S+) available", re.I)
_NOT_INSTALLED = re.compile(r"^Package(?:\(s\))? (\S+) available, but not installed", re.M)
#: dnf: "RPMDB already locked by 123"; yum 3: "Existing lock /var/run/yum.pid: another
#: copy is running as pid 123."
_LOCKED = re.compile(r"already locked by (\d+)|Existing lock .*? as pid (\d+)")
_NOTHING = re.compile(r"Nothing to do|No packages marked for", re.I)
_LOG_LINES = ("Install ", "Upgrade ", "Remove ", "Downgrade ", "Reinstall ", "Error", "Warning")
_SECTIONS = {
    "installing": "install",
    "installing dependencies": "install",
    "installing weak dependencies": "install",
    "installing for dependencies": "install",
    "upgrading": "upgrade",
    "updating": "upgrade",
    "updating for dependencies": "upgrade",
    "downgrading": "downgrade",
    "reinstalling": "reinstall",
    "removing": "remove",
    "removing dependent packages": "remove",
    "removing unused dependencies": "remove",
    "removing for dependencies": "remove",
    "erasing": "remove",
}


def none(value: str) -> str:
    """rpm prints a missing tag as ``(none)``."""
    return "" if value == "(none)" else value


def evr(epoch: str, version: str, release: str) -> str:
    epoch = none(epoch)
    return f"{epoch + ':' if epoch and epoch != '0' else ''}{version}-{release}"


def _int(value: str) -> int:
    return int(value) if value.isdigit() else 0


def manager() -> str | None:
    return shutil.which("dnf") or shutil.which("yum")


async def rpm(ctx: ActionContext, args: list[str], root: str | None) -> ProcessResult:
    return await ctx.run(["rpm", *(["--root", root] if root else []), *args], c_locale=True)


def parse_rows(text: str) -> list[Package]:
    """``rpm -qa --qf _LIST_QF`` rows."""
    rows = []
    for line in text.splitlines():
        f = line.split("\t", 7)
        if len(f) < 8:
            continue
        rows.append(
            Package(
                name=f[0],
                version=evr(f[1], f[2], f[3]),
                arch=none(f[4]),
                backend="rpm",
                install_time=_int(f[5]),
                size=_int(f[6]),
                summary=f[7],
            )
        )
    return rows


def parse_blocks(text: str) -> list[Package]:
    """``rpm -q --qf _INFO_QF`` blocks, one per installed instance."""
    out = []
    for block in text.split(END + "\n"):
        if not block.strip():
            continue
        head, _, desc = block.partition("DESCRIPTION=")
        f: dict[str, str] = {}
        for line in head.splitlines():
            k, sep, v = line.partition("=")
            if sep:
                f[k] = none(v)
        out.append(
            Package(
                name=f.get("NAME", ""),
                version=evr(f.get("EPOCH", ""), f.get("VERSION", ""), f.get("RELEASE", "")),
                arch=f.get("ARCH", ""),
                backend="rpm",
                summary=f.get("SUMMARY", ""),
                size=_int(f.get("SIZE", "")),
                install_time=_int(f.get("INSTALLTIME", "")),
                source=f.get("SOURCERPM", ""),
                maintainer=f.get("PACKAGER", ""),
                vendor=f.get("VENDOR", ""),
                section=f.get("GROUP", "") if f.get("GROUP") != "Unspecified" else "",
                homepage=f.get("URL", ""),
                license=f.get("LICENSE", ""),
                description=desc.strip(),
                relations={
                    key.lower(): [r for r in f.get(key, "").split(", ") if r]
                    for key in ("REQUIRES", "PROVIDES")
                    if f.get(key)
                },
            )
        )
    return out


def parse_verify(text: str) -> list[ChangedFile]:
    out = []
    for line in text.splitlines():
        m = _VERIFY.match(line)
        if not m:
            continue
        flags, kind, path = m.groups()
        problems = (
            ["missing"] if flags == "missing" else [w for ch, w in _FLAGS.items() if ch in flags]
        )
        out.append(ChangedFile(path=path, problems=problems, kind=_KINDS.get(kind or "", "")))
    return out


def parse_transaction(text: str) -> list[Change]:
    """The package table dnf/yum print before asking "Is this ok"."""
    changes: list[Change] = []
    action = ""
    carry: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.lower().startswith("transaction summary"):
            break
        if stripped.endswith(":") and stripped[:-1].lower() in _SECTIONS:
            action, carry = _SECTIONS[stripped[:-1].lower()], []
            continue
        if not action or not stripped or not line.startswith(" "):
            continue
        fields = carry + line.split()
        if len(fields) < 4:
            carry = fields  # a long name wraps onto the next line
            continue
        carry = []
        name, arch, version, repo = fields[:4]
        changes.append(Change(action=action, package=name, version=version, arch=arch, origin=repo))
    return changes


def with_old_versions(changes: list[Change], installed: dict[tuple[str, str], str]) -> list[Change]:
    """The shape dpkg's backend answers: an upgrade, downgrade or reinstall carries the
    version it replaces (``installed``, read before the transaction) in ``old_version``; a
    removal carries the removed version there, and no ``version``."""
    for c in changes:
        if c.action == "remove":
            c.old_version, c.version = c.version, ""
        elif c.action in ("upgrade", "downgrade", "reinstall"):
            c.old_version = installed.get((c.package, c.arch), "")
    return changes


def last_error(text: str) -> str:
    """dnf's last ``Error:`` with the lines that explain it, on one line.

    A dependency problem is ``Error:`` followed by indented ``Problem: ...`` lines.
    """
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Error")]
    if not starts:
        return ""
    block = [lines[starts[-1]]]
    for ln in lines[starts[-1] + 1 :]:
        if not ln.startswith(" "):
            break
        block.append(ln)
    return " ".join(" ".join(block).split())


def parse_check_update(text: str) -> list[Update]:
    out = []
    for line in text.splitlines():
        if line.startswith(("Obsoleting", "Security:")):
            break
        if m := _UPDATE.match(line):
            out.append(
                Update(
                    name=m.group(1),
                    arch=m.group(2),
                    current="",
                    candidate=m.group(3),
                    origin=m.group(4),
                    security=False,
                )
            )
    return out


def parse_security(text: str) -> set[str]:
    """Package names from ``updateinfo list --security`` (``ADVISORY  TYPE  NEVRA``)."""
    names = set()
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 3 and ("/Sec" in f[1] or f[1].lower() == "security"):
            nevra = f[-1]
            m = re.match(r"^(.+)-[^-]+-[^-]+\.\w+$", nevra)
            names.add(m.group(1) if m else nevra)
    return names


class Rpm:
    """rpm for reading, dnf (or yum) for transactions."""

    name = "rpm"

    def spec(self, value: str, field: str = "packages") -> str:
        """``name``, ``name=version`` (dnf's ``name-version``) or an absolute ``.rpm`` path."""
        if value.startswith("/"):
            return package_file(value, ".rpm")
        name, version = split_spec(value)
        rpm_name(name, field)
        return f"{name}-{version}" if version else name

    async def packages(
        self, ctx: ActionContext, pattern_: str | None, state: str, root: str | None
    ) -> list[Package]:
        if state in ("held", "config-files", "broken"):
            return []  # dpkg states: an RPM database has none of them
        args = ["-qa", "--qf", _LIST_QF, *([pattern(pattern_)] if pattern_ else [])]
        res = await rpm(ctx, args, root)
        if res.exit_code != 0:
            raise ActionError(
                f"rpm -qa failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
            )
        return sorted(parse_rows(res.stdout), key=lambda p: p.name)

    async def info(self, ctx: ActionContext, name: str, root: str | None) -> list[Package]:
        res = await rpm(ctx, ["-q", "--qf", _INFO_QF, "--", rpm_name(name)], root)
        if res.exit_code != 0:
            if "is not installed" in res.stdout + res.stderr:
                raise NotFound(f"package {name} is not installed")
            raise ActionError(f"rpm -q failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res)
        found = parse_blocks(res.stdout)
        cfg = await rpm(ctx, ["-qc", "--", name], root)
        config = [ln for ln in cfg.stdout.splitlines() if ln.startswith("/")]
        for pkg in found:
            pkg.config_files = config
        return found

    async def installed(self, ctx: ActionContext, name: str) -> str | None:
        found = await self._versions(ctx, [rpm_name(name)])
        return next(iter(found.values()), None)

    async def files(
        self, ctx: ActionContext, name: str, root: str | None
    ) -> tuple[list[str], list[str], list[str]]:
        res = await rpm(ctx, ["-ql", "--", rpm_name(name)], root)
        if res.exit_code != 0:
            if "is not installed" in res.stdout + res.stderr:
                raise NotFound(f"package {name} is not installed")
            raise ActionError(
                f"rpm -ql failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
            )
        cfg = await rpm(ctx, ["-qc", "--", name], root)
        paths = [ln for ln in res.stdout.splitlines() if ln.startswith("/")]
        return paths, [ln for ln in cfg.stdout.splitlines() if ln.startswith("/")], []

    async def verify(
        self, ctx: ActionContext, name: str | None, root: str | None
    ) -> list[ChangedFile]:
        args = ["-V", "--", rpm_name(name)] if name else ["-Va"]
        res = await rpm(ctx, args, root)
        if res.exit_code != 0 and "is not installed" in res.stdout + res.stderr:
            raise NotFound(f"package {name} is not installed")
        changes = parse_verify(res.stdout)
        if res.exit_code != 0 and not changes:
            raise ActionError(f"rpm -V failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res)
        return changes

    async def install(
        self,
        ctx: ActionContext,
        specs: list[str],
        *,
        dry_run: bool,
        no_recommends: bool,
        reinstall: bool,
    ) -> Transaction:
        opts = ["--setopt=install_weak_deps=False"] if no_recommends else []
        verb = "reinstall" if reinstall else "install"
        return await self._run(ctx, verb, opts, [self.spec(s) for s in check_specs(specs)], dry_run)

    async def remove(
        self, ctx: ActionContext, names: list[str], *, dry_run: bool, purge: bool, autoremove: bool
    ) -> Transaction:
        # rpm always removes unedited config files (edited ones stay as .rpmsave) and dnf
        # removes unneeded dependencies by default: purge and autoremove change nothing here.
        specs = [rpm_name(n, "packages") for n in check_specs(names)]
        return await self._run(ctx, "remove", [], specs, dry_run)

    async def upgrade(
        self, ctx: ActionContext, specs: list[str], *, dry_run: bool, full: bool
    ) -> Transaction:
        # dnf upgrade already installs and obsoletes what an upgrade needs: full is implied.
        return await self._run(ctx, "upgrade", [], [self.spec(s) for s in specs], dry_run)

    async def updates(self, ctx: ActionContext, *, cache_only: bool) -> Updates:
        exe = self._manager()
        base = [exe, "-q", *(["-C"] if cache_only else [])]
        res = await ctx.run([*base, "check-update"], c_locale=True)
        # check-update: 0 = nothing to update, 100 = updates listed, anything else = error.
        if res.exit_code not in (0, 100):
            raise ActionError(
                f"{exe} check-update failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
            )
        found = parse_check_update(res.stdout)
        if found:
            sec = await ctx.run([*base, "updateinfo", "list", "--security"], c_locale=True)
            names = parse_security(sec.stdout)
            current = await self._versions(ctx, sorted({u.name for u in found}))
            for u in found:
                u.security = u.name in names
                u.current = current.get((u.name, u.arch)) or next(
                    (v for (n, _), v in current.items() if n == u.name), ""
                )
        return Updates(
            backend=self.name,
            updates=found,
            count=len(found),
            security=sum(1 for u in found if u.security),
            held_back=[],
            lists_age_seconds=None,
        )

    async def _versions(
        self, ctx: ActionContext, names: list[str] | None = None
    ) -> dict[tuple[str, str], str]:
        """``(name, arch) -> [epoch:]version-release`` of the installed ``names`` (all when None)."""
        qf = "%{NAME}\\t%{ARCH}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\n"
        res = await rpm(
            ctx, ["-q", "--qf", qf, "--", *names] if names else ["-qa", "--qf", qf], None
        )
        # rpm -q NAMES exits 1 when one of them is not installed; its rows still come.
        if res.exit_code != 0 and not names:
            raise ActionError(
                f"rpm -qa failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
            )
        out = {}
        for line in res.stdout.splitlines():
            f = line.split("\t")
            if len(f) == 5:
                out[(f[0], none(f[1]))] = evr(f[2], f[3], f[4])
        return out

    def _manager(self) -> str:
        exe = manager()
        if exe is None:
            raise Unavailable("neither dnf nor yum is installed")
        return exe

    async def _run(
        self, ctx: ActionContext, verb: str, opts: list[str], specs: list[str], dry_run: bool
    ) -> Transaction:
        exe = self._manager()
        tail = ["--", *specs] if specs else []
        # dnf's table names only the new version: the old one is read from rpm first.
        before = await self._versions(ctx)
        # exit_on_lock: fail at once where another dnf/yum holds the lock (as apt-get does),
        # instead of waiting for it until the action's timeout.
        res = await ctx.run(
            [
                exe,
                "--assumeno" if dry_run else "-y",
                "--setopt=exit_on_lock=True",
                *opts,
                verb,
                *tail,
            ],
            c_locale=True,
        )
        out = res.stdout + res.stderr
        # dnf: "No match for argument: x"; yum 3: "No Match for argument: x", "No package x
        # available"; both: "Package x available, but not installed" before an upgrade's.
        missing = {a or b for a, b in _MISSING.findall(out)}
        idle = set(_NOT_INSTALLED.findall(out))
        # A removal of what is not installed, or an upgrade of what is not installed, has
        # nothing to do (as apt-get answers); a name no repository knows is A017.
        unknown = sorted(missing - idle) if verb != "remove" else []
        if unknown:
            raise NotFound(f"no package named {', '.join(unknown)} in the enabled repositories")
        if idle and verb == "reinstall":
            raise NotFound(f"{', '.join(sorted(idle))}: not installed, so not reinstalled")
        nothing = bool(_NOTHING.search(out))
        changes = with_old_versions(parse_transaction(res.stdout), before)
        # --assumeno answers the prompt "no": dnf then exits 1 ("Operation aborted").
        if res.exit_code != 0 and not (dry_run and changes) and not nothing:
            if locked := _LOCKED.search(out):
                raise ActionError(
                    f"another package manager (pid {locked.group(1) or locked.group(2)}) holds"
                    " the rpm lock; retry later",
                    code=ErrorCode.A014,
                    data=res,
                )
            raise ActionError(
                f"{exe} {verb} failed: {last_error(out) or f'exit status {res.exit_code}'}",
                code=ErrorCode.A014,
                data=res,
            )
        log = "\n".join(
            ln
            for ln in out.splitlines()
            if ln.startswith(_LOG_LINES) or _MISSING.search(ln) or _NOT_INSTALLED.search(ln)
        )
        return transaction(self.name, exe.rsplit("/", 1)[-1], dry_run, changes, nothing, log)
