"""Ensure an IP address maps to host names in /etc/hosts (or that the mapping is gone).

``state.hosts.entry`` edits a hosts file (``/etc/hosts`` by default): with
``present`` it makes sure the line for ``ip`` carries every name in
``names`` (adding a line if there is none) and removes those names from
lines of other addresses, so each name resolves to one address; with
``present: false`` it removes the names from the address's line, dropping the
line once it has no names left. Other lines, comments included, stay as they
are. It returns ``changed``, a unified diff and a comment; ``dry_run`` only
reports; a second run changes nothing. Changes the hosts file (unless
``dry_run``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, abs_path, action, names

from ._common import StateResult, ensure_text, read_text

PLUGIN = Plugin("state.hosts.entry", domain="state")

_HOST = re.compile(names.HOSTNAME)


class HostsParams(msgspec.Struct, forbid_unknown_fields=True):
    ip: str
    names: Annotated[list[str], msgspec.Meta(min_length=1, max_length=64)]
    present: bool = True
    path: str = "/etc/hosts"
    dry_run: bool = False


def _same_ip(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a.split("%")[0]) == ipaddress.ip_address(b.split("%")[0])
    except ValueError:
        return a == b


def _render(ip: str, names: list[str], comment: str, eol: str) -> str:
    return f"{ip}\t{' '.join(names)}" + (f"\t#{comment}" if comment else "") + eol


def edit(text: str, ip: str, names: list[str], present: bool) -> str:
    """``text`` with ``ip`` ↔ ``names`` ensured present or absent."""
    wanted = set(names)
    out: list[str] = []
    own_line = False
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        eol = line[len(body) :]
        content, sep, comment = body.partition("#")
        fields = content.split()
        if len(fields) < 2:
            out.append(line)  # comments, blank lines
            continue
        addr, hosts = fields[0], fields[1:]
        mine = _same_ip(addr, ip)
        if present and mine and not own_line:
            own_line = True
            keep = hosts + [n for n in names if n not in hosts]
        elif present or mine:
            # Our names leave other addresses (one name, one address) and, when
            # removing, our own line; a second line for our ip loses them too.
            keep = [h for h in hosts if h not in wanted]
        else:
            keep = hosts
        if keep == hosts:
            out.append(line)
        elif keep:
            out.append(_render(addr, keep, comment if sep else "", eol or "\n"))
    if present and not own_line:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append(_render(ip, names, "", "\n"))
    return "".join(out)


@action("state.hosts.entry", risk=Risk.CHANGE, timeout=30)
async def entry(ctx: ActionContext, p: HostsParams) -> StateResult:
    """Ensure ``ip`` carries ``names`` in the hosts file (or, with ``present: false``, does not)."""
    try:
        ip = str(ipaddress.ip_address(p.ip))
    except ValueError:
        raise InvalidParams(f"ip: {p.ip!r} is not an IP address") from None
    for name in p.names:
        if not _HOST.match(name):
            raise InvalidParams(f"names: {name!r} is not a host name")
    path = abs_path(p.path)
    old = read_text(path)
    if old is None and not p.present:
        return StateResult(name=ip, changed=False, dry_run=p.dry_run, diff="", comment=f"{path} does not exist")
    result = ensure_text(path, old, edit(old or "", ip, p.names, p.present), dry_run=p.dry_run, what=f"{ip} in {path}")
    result.name = ip
    return result
