"""Static host names from ``/etc/hosts``, parsed and checked.

``net.hosts`` reads a hosts file and returns every entry (address, canonical
name, aliases, line number), optionally only the entries for one name, and
lists the mistakes that make name resolution surprising: a name mapped to
several addresses (only the first wins), malformed addresses, and lines with
an address but no name. It also says whether ``/etc/nsswitch.conf`` consults
the file before DNS. Reads files only.
"""

from __future__ import annotations

import ipaddress
import os

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action

from ._common import check_hostname, read_config

PLUGIN = Plugin("net.hosts", domain="network")


class HostsParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str = "/etc/hosts"
    name: str | None = None
    """Only the entries that carry this name (case-insensitive)."""


class HostEntry(msgspec.Struct):
    line: int
    address: str
    names: list[str]
    comment: str = ""


class HostsFile(msgspec.Struct):
    path: str
    entries: list[HostEntry]
    problems: list[str]
    files_before_dns: bool | None
    """From ``/etc/nsswitch.conf``: ``None`` when it does not say."""


def parse_hosts(text: str) -> tuple[list[HostEntry], list[str]]:
    entries: list[HostEntry] = []
    problems: list[str] = []
    for no, raw in enumerate(text.splitlines(), start=1):
        body, _, comment = raw.partition("#")
        fields = body.split()
        if not fields:
            continue
        addr, names = fields[0], fields[1:]
        try:
            ipaddress.ip_address(addr.split("%")[0])
        except ValueError:
            problems.append(f"line {no}: {addr!r} is not an IP address")
            continue
        if not names:
            problems.append(f"line {no}: address {addr} has no name")
            continue
        entries.append(HostEntry(line=no, address=addr, names=names, comment=comment.strip()))
    first: dict[str, HostEntry] = {}
    for e in entries:
        for n in e.names:
            key = n.lower()
            seen = first.get(key)
            fam = ":" in e.address
            if seen is None:
                first[key] = e
            elif seen.address != e.address and (":" in seen.address) == fam:
                problems.append(
                    f"line {e.line}: {n} -> {e.address} is shadowed by line {seen.line} ({seen.address})"
                )
    return entries, problems


def files_before_dns(path: str = "/etc/nsswitch.conf") -> bool | None:
    try:
        with open(path) as fh:
            for line in fh:
                key, _, value = line.partition("#")[0].partition(":")
                if key.strip() == "hosts":
                    sources = [w for w in value.split() if not w.startswith("[")]
                    if "files" not in sources:
                        return False
                    return "dns" not in sources or sources.index("files") < sources.index("dns")
    except OSError:
        pass
    return None


@action("net.hosts", risk=Risk.READ, timeout=10)
async def hosts(ctx: ActionContext, p: HostsParams) -> HostsFile:
    """Entries of a hosts file (optionally for one name) and the conflicts in it."""
    if not os.path.isabs(p.path):
        raise InvalidParams(f"path: {p.path!r} is not an absolute path")
    if p.name is not None:
        check_hostname(p.name, "name")
    entries, problems = parse_hosts(read_config(p.path))
    if p.name is not None:
        want = p.name.lower()
        entries = [e for e in entries if want in (n.lower() for n in e.names)]
    return HostsFile(
        path=p.path, entries=entries, problems=problems, files_before_dns=files_before_dns()
    )
