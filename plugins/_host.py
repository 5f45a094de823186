"""Small readers of ``/proc`` and ``/sys`` shared by the host-inspection plugins.

Everything here is cheap, synchronous and stdlib-only: procfs and sysfs reads
do not block on disk. Readers return ``None`` (or an empty value) for a file
that is missing or unreadable, because on a given kernel many optional files
simply do not exist; the plugins decide what absence means.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from agent_core import ActionError, ErrorCode

SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|"
    r"auth|cookie|session|signature|_key$|^key$",
    re.IGNORECASE,
)
MASK = "***"


def read(path: str) -> str | None:
    """The text of ``path`` without its trailing newline, or ``None``."""
    try:
        with open(path, errors="replace") as fh:
            return fh.read().rstrip("\n")
    except OSError:
        return None


def read_int(path: str) -> int | None:
    text = read(path)
    if text is None:
        return None
    try:
        return int(text.split()[0], 0) if text.strip() else None
    except ValueError:
        return None


def listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def parse_colon_kv(text: str) -> dict[str, str]:
    """``Key:   value`` lines (``/proc/meminfo``, ``/proc/PID/status``) to a dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def kib_value(value: str) -> int:
    """``"123 kB"`` to bytes; a bare number is returned unchanged."""
    parts = value.split()
    if not parts:
        return 0
    number = int(parts[0])
    return number * 1024 if len(parts) > 1 and parts[1].lower() == "kb" else number


def parse_cpulist(text: str | None) -> list[int]:
    """A kernel cpu list (``"0-3,8,10-11"``) to the list of CPU numbers."""
    cpus: list[int] = []
    for part in (text or "").strip().split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return cpus


def selected(text: str | None) -> str:
    """The bracketed choice of a sysfs selector (``"always [madvise] never"`` -> ``madvise``)."""
    match = re.search(r"\[([^\]]+)\]", text or "")
    return match.group(1) if match else (text or "").strip()


def exists(path: str) -> bool:
    return os.path.exists(path)


def is_dir(path: str) -> bool:
    return os.path.isdir(path)


def systemd_running() -> bool:
    """True when systemd is PID 1 (``sd_booted()``'s test)."""
    return os.path.isdir("/run/systemd/system")


def pids() -> list[int]:
    """Every process id visible in ``/proc``."""
    return sorted(int(name) for name in listdir("/proc") if name.isdigit())


def mask_environ(env: Mapping[str, str], names: Iterable[str] = ()) -> tuple[dict[str, str], list[str]]:
    """Mask values whose variable name looks like a secret.

    :param names: when given, keep only these variables.
    :returns: the (masked) variables and the sorted names that were masked.
    """
    wanted = set(names)
    out: dict[str, str] = {}
    masked: list[str] = []
    for key in sorted(env):
        if wanted and key not in wanted:
            continue
        if SECRET_NAME.search(key) and env[key]:
            out[key] = MASK
            masked.append(key)
        else:
            out[key] = env[key]
    return out, masked


def require_absolute(path: str, field: str = "path") -> str:
    """Reject relative or empty paths with ``A002`` (an agent has no useful cwd)."""
    if not path or not os.path.isabs(path):
        raise ActionError(f"{field} must be an absolute path, got {path!r}", code=ErrorCode.A002)
    return os.path.normpath(path)
