"""Read kernel parameters (sysctl) by key or by prefix, straight from /proc/sys.

``kernel.sysctl.get`` returns the current value of each key in ``keys`` (dotted,
``vm.swappiness``, or slashed for names that contain dots,
``net/ipv4/conf/eth0.100/rp_filter``), normalised as ``sysctl`` prints them,
and with ``prefix`` every key under a subtree (``net.ipv4.tcp_``,
``vm.dirty``), up to ``limit``. Keys that do not exist or cannot be read are
listed in ``errors`` instead of failing the whole call; asking only for one
missing key fails with ``A017``. Reads only; no ``sysctl`` program needed.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

from agent_core import ActionContext, ActionError, InvalidParams, Plugin, Risk, action
from plugins.kernel._common import PROC_SYS, key_path, path_key, read_key

PLUGIN = Plugin("kernel.sysctl.get", domain="kernel", requires_files=[PROC_SYS])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    keys: list[str] = []
    prefix: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 5000


class Sysctls(msgspec.Struct):
    values: dict[str, str]
    errors: dict[str, str]
    truncated: bool


def walk_prefix(prefix: str, limit: int) -> tuple[list[str], bool]:
    """Files under the directory part of ``prefix`` whose key starts with ``prefix``."""
    dotted = prefix.replace("/", ".")
    stem = prefix.rstrip("._/")
    base = key_path(stem) if stem else PROC_SYS
    # "net.ipv4.tcp_" names a key stem, not a directory: walk its parent.
    while not os.path.isdir(base) and base != PROC_SYS:
        base = os.path.dirname(base)
    found: list[str] = []
    for root, dirs, files in os.walk(base):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if path_key(path).replace("/", ".").startswith(dotted):
                found.append(path)
                if len(found) >= limit:
                    return found, True
    return found, False


def collect(p: Params) -> Sysctls:
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    truncated = False
    paths = [(k, key_path(k)) for k in p.keys]
    if p.prefix is not None:
        prefixed, truncated = walk_prefix(p.prefix, p.limit)
        paths += [(path_key(path), path) for path in prefixed]
    for key, path in paths:
        try:
            values[key] = read_key(path)
        except ActionError as exc:
            if len(paths) == 1 and p.prefix is None:
                raise
            errors[key] = exc.message
    return Sysctls(values=values, errors=errors, truncated=truncated)


@action("kernel.sysctl.get", risk=Risk.READ, timeout=30)
async def get(ctx: ActionContext, p: Params) -> Sysctls:
    """Values of the given ``keys`` and/or every key under ``prefix``; unreadable keys go to ``errors``."""
    if not p.keys and p.prefix is None:
        raise InvalidParams("give keys and/or prefix")
    if p.prefix is not None and p.prefix.strip("._/"):
        key_path(p.prefix.rstrip("._/"))  # syntax check: A002 for '..' and friends
    return collect(p)
