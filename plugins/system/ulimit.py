"""Resource limits: the agent's own rlimits and the pam_limits policy on disk.

``sys.ulimit`` reports the soft and hard limits the agent runs with (and so
passes to every command it starts: open files, processes, core size, locked
memory, ...) and parses the policy that login sessions get:
``/etc/security/limits.conf`` and ``limits.d/*.conf`` (every entry with its file
and line), plus systemd's ``DefaultLimit*`` settings. ``user`` keeps only the
entries that apply to that user (by name, ``@group`` or ``*``); ``files`` checks
other files instead, e.g. a candidate before it is deployed. Reads only.
"""

from __future__ import annotations

import glob
import grp
import pwd
import resource

import msgspec

from agent_core import ActionContext, NotFound, Plugin, Risk, abs_path, action
from agent_core.procfs import exists, read

PLUGIN = Plugin("sys.ulimit", domain="system")

LIMITS_CONF = "/etc/security/limits.conf"
LIMITS_DIR = "/etc/security/limits.d"
SYSTEMD_CONF = "/etc/systemd/system.conf"
RLIMITS = {
    "as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
    "fsize": "RLIMIT_FSIZE", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS",
    "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING",
    "stack": "RLIMIT_STACK",
}  # fmt: skip


class Params(msgspec.Struct, forbid_unknown_fields=True):
    user: str | None = None
    files: list[str] = []


class Rlimit(msgspec.Struct):
    name: str
    soft: int | None
    hard: int | None


class LimitEntry(msgspec.Struct):
    domain: str
    type: str
    item: str
    value: str
    file: str
    line: int


class Ulimits(msgspec.Struct):
    agent: list[Rlimit]
    configured: list[LimitEntry]
    systemd_defaults: dict[str, str]
    files: list[str]
    errors: list[str]


def _unlimited(value: int) -> int | None:
    return None if value == resource.RLIM_INFINITY else value


def agent_rlimits() -> list[Rlimit]:
    out = []
    for name, const in RLIMITS.items():
        if hasattr(resource, const):
            soft, hard = resource.getrlimit(getattr(resource, const))
            out.append(Rlimit(name=name, soft=_unlimited(soft), hard=_unlimited(hard)))
    return out


def parse_limits(path: str, text: str) -> tuple[list[LimitEntry], list[str]]:
    """pam_limits syntax: ``<domain> <type> <item> <value>``; ``#`` comments."""
    entries, errors = [], []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 4 or fields[1] not in ("soft", "hard", "-"):
            errors.append(f"{path}:{n}: cannot parse {raw.strip()!r}")
            continue
        entries.append(LimitEntry(domain=fields[0], type=fields[1], item=fields[2], value=fields[3], file=path, line=n))
    return entries, errors


def applies_to(domain: str, user: str, groups: set[str], uid: int) -> bool:
    if domain in ("*", user):
        return True
    if domain.startswith("@"):
        return domain[1:] in groups
    if domain.startswith("%"):
        return domain[1:] in groups or domain == "%"
    lo, sep, hi = domain.partition(":")
    if sep and (lo.isdigit() or hi.isdigit()):
        low = int(lo) if lo else 0
        high = int(hi) if hi else 2**32
        return low <= uid <= high
    return False


def _user_groups(user: str) -> tuple[int, set[str]]:
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise NotFound(f"no such user {user!r}") from None
    groups = {g.gr_name for g in grp.getgrall() if user in g.gr_mem}
    try:
        groups.add(grp.getgrgid(pw.pw_gid).gr_name)
    except KeyError:
        pass
    return pw.pw_uid, groups


@action("sys.ulimit", risk=Risk.READ, timeout=10)
async def ulimit(ctx: ActionContext, p: Params) -> Ulimits:
    """The agent's soft/hard rlimits and the limits.conf/limits.d and systemd default limit policy."""
    files = [abs_path(f, "files") for f in p.files] or [LIMITS_CONF, *sorted(glob.glob(f"{LIMITS_DIR}/*.conf"))]
    configured: list[LimitEntry] = []
    errors: list[str] = []
    for path in files:
        text = read(path)
        if text is None:
            if p.files:
                raise NotFound(f"cannot read {path}")
            continue
        found, bad = parse_limits(path, text)
        configured += found
        errors += bad
    if p.user is not None:
        uid, groups = _user_groups(p.user)
        configured = [e for e in configured if applies_to(e.domain, p.user, groups, uid)]
    systemd = {}
    for line in (read(SYSTEMD_CONF) or "").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith("DefaultLimit"):
            systemd[key] = value
    return Ulimits(
        agent=agent_rlimits(),
        configured=configured,
        systemd_defaults=systemd,
        files=[f for f in files if exists(f)],
        errors=errors,
    )
