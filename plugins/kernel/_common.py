"""Helpers shared by the sysctl plugins: key syntax, /proc/sys paths, values as sysctl prints them."""

from __future__ import annotations

import os
import re

from agent_core import ActionError, ErrorCode, InvalidParams, NotFound

PROC_SYS = "/proc/sys"
_KEY = re.compile(r"^[A-Za-z0-9_\-.:@/+]+$")


def key_path(key: str) -> str:
    """The ``/proc/sys`` file of ``key``: dotted (``net.ipv4.ip_forward``) or slashed
    (``net/ipv4/conf/eth0.100/rp_filter``, for names that contain dots); ``A002`` if malformed."""
    if not key or not _KEY.match(key) or key.startswith("/") or key.endswith(("/", ".")):
        raise InvalidParams(f"invalid sysctl key {key!r}")
    parts = key.split("/") if "/" in key else key.split(".")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidParams(f"invalid sysctl key {key!r}")
    return os.path.join(PROC_SYS, *parts)


def path_key(path: str) -> str:
    """``/proc/sys/net/ipv4/ip_forward`` -> ``net.ipv4.ip_forward``; slashed when a name holds a dot."""
    rel = os.path.relpath(path, PROC_SYS)
    parts = rel.split(os.sep)
    return "/".join(parts) if any("." in p for p in parts) else ".".join(parts)


def normalize(value: str) -> str:
    """Values compare as sysctl prints them: whitespace runs (tabs in multi-value keys) become one space."""
    return " ".join(value.split())


def read_key(path: str) -> str:
    """The value of one sysctl file; ``A017`` if the key does not exist, ``A016`` if unreadable."""
    try:
        with open(path) as fh:
            return normalize(fh.read())
    except FileNotFoundError:
        raise NotFound(f"no sysctl {path_key(path)}") from None
    except IsADirectoryError:
        raise InvalidParams(f"{path_key(path)} is a group of keys, not a key (use prefix)") from None
    except PermissionError:
        raise ActionError(f"sysctl {path_key(path)} is not readable (write-only or root-only)", code=ErrorCode.A016) from None
