"""Package repositories configured on the host: apt sources and yum/dnf repos.

``pkg.repos`` reads the repository configuration of every package manager
it finds: apt's one-line ``sources.list`` files and deb822 ``.sources``
files, and the ``.repo`` files of yum/dnf. Each repository comes with its
URIs, suites and components (apt) or base URL / mirror list (yum), whether it
is enabled, how it is signed, and the file and line it came from. Files apt
ignores (wrong extension) and risky settings (``gpgcheck=0``, ``trusted=yes``)
are reported as problems. With ``root`` it reads an image or chroot.
"""

from __future__ import annotations

import configparser
import os
import re

import msgspec

from agent_core import ActionContext, Plugin, Risk, action, root_dir

from ._common import parse_paragraphs

APT_DIR = "etc/apt"
YUM_DIRS = ("etc/yum.repos.d", "etc/distro.repos.d")


def _check() -> str | None:
    """``/etc/apt`` or ``/etc/yum.repos.d`` exists."""
    if os.path.isdir("/" + APT_DIR) or any(os.path.isdir("/" + d) for d in YUM_DIRS):
        return None
    return "no apt or yum repository configuration on this host"


PLUGIN = Plugin("pkg.repos", domain="packages", check=_check)


class ReposParams(msgspec.Struct, forbid_unknown_fields=True):
    root: str | None = None
    enabled_only: bool = False


class Repo(msgspec.Struct):
    manager: str
    """``apt`` or ``yum``."""
    type: str
    """``deb``, ``deb-src`` or ``rpm``."""
    id: str
    name: str
    uris: list[str]
    suites: list[str]
    components: list[str]
    enabled: bool
    signed_by: str
    """apt ``signed-by`` / yum ``gpgkey``."""
    gpgcheck: bool | None
    options: dict[str, str]
    file: str
    line: int


class Repos(msgspec.Struct):
    repos: list[Repo]
    ignored_files: list[str]
    problems: list[str]


_ONE_LINE = re.compile(r"^(#\s*)?(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$")


def parse_one_line(text: str, file: str) -> list[Repo]:
    out = []
    for no, raw in enumerate(text.splitlines(), start=1):
        m = _ONE_LINE.match(raw.strip())
        if not m:
            continue
        disabled, kind, opts, uri, suite, comps = m.groups()
        options = dict(o.split("=", 1) for o in (opts or "").split() if "=" in o)
        out.append(
            Repo(
                manager="apt",
                type=kind,
                id=f"{uri} {suite}",
                name="",
                uris=[uri],
                suites=[suite],
                components=comps.split("#")[0].split(),
                enabled=not disabled,
                signed_by=options.get("signed-by", ""),
                gpgcheck=options.get("trusted") != "yes",
                options=options,
                file=file,
                line=no,
            )
        )
    return out


def parse_deb822(text: str, file: str) -> list[Repo]:
    out = []
    line = 1
    for para in parse_paragraphs(text):
        lower = {k.lower(): v for k, v in para.items()}
        for kind in lower.get("types", "deb").split():
            uris = lower.get("uris", "").split()
            suites = lower.get("suites", "").split()
            out.append(
                Repo(
                    manager="apt",
                    type=kind,
                    id=f"{' '.join(uris)} {' '.join(suites)}",
                    name=lower.get("x-repolib-name", ""),
                    uris=uris,
                    suites=suites,
                    components=lower.get("components", "").split(),
                    enabled=lower.get("enabled", "yes").lower() not in ("no", "false", "0"),
                    signed_by=lower.get("signed-by", "").split("\n")[0]
                    if "BEGIN PGP" not in lower.get("signed-by", "")
                    else "(inline key)",
                    gpgcheck=lower.get("trusted", "no").lower() != "yes",
                    options={
                        k: v
                        for k, v in lower.items()
                        if k
                        not in ("types", "uris", "suites", "components", "enabled", "signed-by")
                    },
                    file=file,
                    line=line,
                )
            )
        line += 1
    return out


def parse_yum(text: str, file: str) -> list[Repo]:
    cp = configparser.RawConfigParser(strict=False, interpolation=None)
    cp.read_string(text, source=file)
    out = []
    for section in cp.sections():
        s = cp[section]

        def flag(key: str, default: bool, s: configparser.SectionProxy = s) -> bool:
            return s.get(key, "1" if default else "0").strip().lower() in ("1", "yes", "true", "on")

        uris = s.get("baseurl", "").split() or [
            u for u in (s.get("mirrorlist", ""), s.get("metalink", "")) if u
        ]
        out.append(
            Repo(
                manager="yum",
                type="rpm",
                id=section,
                name=s.get("name", ""),
                uris=uris,
                suites=[],
                components=[],
                enabled=flag("enabled", True),
                signed_by=s.get("gpgkey", "").strip(),
                gpgcheck=flag("gpgcheck", False),
                options={
                    k: v
                    for k, v in s.items()
                    if k
                    not in (
                        "name",
                        "baseurl",
                        "mirrorlist",
                        "metalink",
                        "enabled",
                        "gpgkey",
                        "gpgcheck",
                    )
                },
                file=file,
                line=0,
            )
        )
    return out


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read(1024 * 1024)


def collect(root: str) -> Repos:
    repos: list[Repo] = []
    ignored: list[str] = []
    problems: list[str] = []
    strip = len(root.rstrip("/"))
    apt = os.path.join(root, APT_DIR)
    main = os.path.join(apt, "sources.list")
    if os.path.isfile(main):
        repos += parse_one_line(_read(main), main[strip:])
    parts = os.path.join(apt, "sources.list.d")
    if os.path.isdir(parts):
        for name in sorted(os.listdir(parts)):
            path = os.path.join(parts, name)
            if name.endswith(".list"):
                repos += parse_one_line(_read(path), path[strip:])
            elif name.endswith(".sources"):
                repos += parse_deb822(_read(path), path[strip:])
            else:
                ignored.append(path[strip:])
    for d in YUM_DIRS:
        ydir = os.path.join(root, d)
        if not os.path.isdir(ydir):
            continue
        for name in sorted(os.listdir(ydir)):
            path = os.path.join(ydir, name)
            if not name.endswith(".repo"):
                ignored.append(path[strip:])
                continue
            try:
                repos += parse_yum(_read(path), path[strip:])
            except configparser.Error as exc:
                problems.append(f"{path[strip:]}: cannot parse: {exc}")
    for r in repos:
        if r.enabled and r.gpgcheck is False:
            what = "gpgcheck=0" if r.manager == "yum" else "trusted=yes"
            problems.append(f"{r.file}: {r.id} is not signature-checked ({what})")
    return Repos(repos=repos, ignored_files=ignored, problems=problems)


@action("pkg.repos", risk=Risk.READ, timeout=20)
async def repos(ctx: ActionContext, p: ReposParams) -> Repos:
    """apt and yum repositories with URIs, suites, enabled state, signing and source file."""
    result = collect(root_dir(p.root) or "/")
    if p.enabled_only:
        result.repos = [r for r in result.repos if r.enabled]
    return result
