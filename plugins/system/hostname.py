"""Read and set the host name, checking it against /etc/hostname and /etc/hosts.

``sys.hostname.get`` reports the kernel's host name, the static name in
``/etc/hostname``, the pretty name from ``/etc/machine-info`` and the
``/etc/hosts`` lines that name the host (the usual source of its FQDN); it
resolves through DNS only when asked (``resolve``). ``sys.hostname.set``
validates the new name (RFC 1123 labels), sets it in the kernel and, with
``persist``, writes ``/etc/hostname`` atomically; ``dry_run`` only reports what
would change.
"""

from __future__ import annotations

import re
import socket

import msgspec

from agent_core import ActionContext, InvalidParams, NotFound, Plugin, Risk, action, atomic_write
from agent_core.procfs import read

PLUGIN = Plugin("sys.hostname", domain="system")

HOSTNAME_FILE = "/etc/hostname"
HOSTS_FILE = "/etc/hosts"
MACHINE_INFO = "/etc/machine-info"
HOST_NAME_MAX = 64  # the kernel's limit for one host name (sethostname(2))
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class GetParams(msgspec.Struct, forbid_unknown_fields=True):
    resolve: bool = False


class HostsLine(msgspec.Struct):
    address: str
    names: list[str]
    line: int


class HostnameInfo(msgspec.Struct):
    hostname: str
    short: str
    static: str
    pretty: str
    fqdn: str
    matches_static: bool
    hosts_entries: list[HostsLine]
    resolved: list[str] = []


class SetParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    persist: bool = True
    dry_run: bool = False


class HostnameChange(msgspec.Struct):
    old: str
    new: str
    changed: bool
    persisted: bool
    dry_run: bool
    steps: list[str]


def validate_hostname(name: str) -> str:
    """Return ``name`` if it is a valid host name, else raise ``A002``."""
    if not name or len(name) > HOST_NAME_MAX:
        raise InvalidParams(f"host name must be 1..{HOST_NAME_MAX} characters, got {len(name)}")
    bad = [label for label in name.split(".") if not _LABEL.match(label)]
    if bad:
        raise InvalidParams(
            f"invalid host name {name!r}: label {bad[0]!r} must be 1-63 letters, digits or '-', "
            "not starting or ending with '-'",
        )
    return name


def hosts_entries(hostname: str, path: str = HOSTS_FILE) -> list[HostsLine]:
    """The ``/etc/hosts`` lines listing ``hostname`` or its short form."""
    short = hostname.split(".")[0]
    out = []
    for n, raw in enumerate((read(path) or "").splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if len(fields) >= 2 and (hostname in fields[1:] or short in fields[1:]):
            out.append(HostsLine(address=fields[0], names=fields[1:], line=n))
    return out


def _machine_info_pretty() -> str:
    for line in (read(MACHINE_INFO) or "").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "PRETTY_HOSTNAME":
            return value.strip().strip('"')
    return ""


@action("sys.hostname.get", risk=Risk.READ, timeout=15)
async def get(ctx: ActionContext, p: GetParams) -> HostnameInfo:
    """Kernel host name, static and pretty names, FQDN from /etc/hosts (or DNS with ``resolve``)."""
    name = socket.gethostname()
    static = (read(HOSTNAME_FILE) or "").strip()
    entries = hosts_entries(name)
    # Like `hostname -f` with files first: the first name on the host's line is canonical.
    fqdn = next((e.names[0] for e in entries if "." in e.names[0]), name)
    resolved: list[str] = []
    if p.resolve:
        try:
            infos = socket.getaddrinfo(name, None, flags=socket.AI_CANONNAME)
        except OSError as exc:
            raise NotFound(f"cannot resolve {name!r}: {exc}") from exc
        resolved = sorted({str(info[4][0]) for info in infos})
        fqdn = next((info[3] for info in infos if info[3]), fqdn)
    return HostnameInfo(
        hostname=name,
        short=name.split(".")[0],
        static=static,
        pretty=_machine_info_pretty(),
        fqdn=fqdn,
        matches_static=(static == name) if static else True,
        hosts_entries=entries,
        resolved=resolved,
    )


@action("sys.hostname.set", risk=Risk.CHANGE, timeout=15)
async def set_(ctx: ActionContext, p: SetParams) -> HostnameChange:
    """Set the kernel host name and, with ``persist``, /etc/hostname; ``dry_run`` changes nothing."""
    new = validate_hostname(p.name.strip())
    old = socket.gethostname()
    static = (read(HOSTNAME_FILE) or "").strip()
    steps = []
    if new != old:
        steps.append(f"sethostname {old!r} -> {new!r}")
    if p.persist and static != new:
        steps.append(f"write {HOSTNAME_FILE}: {static!r} -> {new!r}")
    if not p.dry_run:
        if new != old:
            socket.sethostname(new)
        if p.persist and static != new:
            atomic_write(HOSTNAME_FILE, new + "\n")
    return HostnameChange(
        old=old,
        new=new,
        changed=bool(steps),
        persisted=p.persist and not p.dry_run,
        dry_run=p.dry_run,
        steps=steps,
    )
