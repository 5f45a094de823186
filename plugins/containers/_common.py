"""Shared pieces of the container plugins: running the CLIs, and decoding what they print.

Not a plugin. ``docker``/``podman``/``crictl`` print human-sized numbers
(``1.09kB``, ``9.5MiB / 3.8GiB``), percentages, Go timestamps, port maps and
label lists inside their JSON; the parsers here turn those into numbers and
structures, and :func:`run_cli` turns the CLIs' failures into catalogue codes
(daemon down → A003, unknown container → A017).
"""

from __future__ import annotations

import datetime
import json
import os
import re
from typing import Any, NoReturn

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, ProcessResult, Unavailable

DOCKER_SOCKET = "/var/run/docker.sock"
CRI_SOCKETS = (
    "/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/var/run/cri-dockerd.sock",
    "/run/k3s/containerd/containerd.sock",
)

_DAEMON_DOWN = (
    "cannot connect to the docker daemon",
    "is the docker daemon running",
    "error during connect",
    "connect: connection refused",
    "connect: no such file or directory",
    "failed to connect",
    "transport: error while dialing",
)
_NOT_FOUND = ("no such container", "no such object", "no such image", "not found")

#: A container or image reference: a name, an id, or repo[:tag][@digest].
REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,254}$")

_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4, "pb": 1000**5,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4, "pib": 1024**5,
}
_SIZE = re.compile(r"^\s*([0-9.]+)\s*([A-Za-z]*)\s*$")
_PORT = re.compile(
    r"^(?:(?P<ip>\[?[0-9a-fA-F:.]*\]?):(?P<hport>\d+)(?:-(?P<hend>\d+))?->)?(?P<cport>\d+)(?:-(?P<cend>\d+))?/(?P<proto>\w+)$"
)


class Port(msgspec.Struct, omit_defaults=True):
    container_port: int
    protocol: str
    host_ip: str = ""
    host_port: int | None = None


def docker_check() -> str | None:
    """Why docker cannot work here (no daemon socket), or None. Cheap: no process is run."""
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return None  # tcp:// or ssh://: only a real call can tell
    sock = host[len("unix://") :] if host else DOCKER_SOCKET
    if not os.path.exists(sock):
        return f"docker daemon socket {sock} not found (dockerd not running)"
    return None


def cri_check() -> str | None:
    """Why crictl cannot work here (no CRI runtime socket, no crictl.yaml), or None."""
    if os.path.exists("/etc/crictl.yaml") or os.environ.get("CONTAINER_RUNTIME_ENDPOINT"):
        return None
    if any(os.path.exists(s) for s in CRI_SOCKETS):
        return None
    return "no CRI runtime socket (containerd/CRI-O) and no /etc/crictl.yaml"


def check_ref(ref: str, field: str = "container") -> str:
    if not REF.match(ref):
        raise ActionError(f"{field}: {ref!r} is not a container/image name or id", code=ErrorCode.A002)
    return ref


async def run_cli(ctx: ActionContext, argv: list[str]) -> str:
    """Run a container CLI and return its stdout; map its failures to catalogue codes."""
    res = await ctx.run(argv)
    if res.exit_code != 0:
        raise_for(argv, res)
    return res.stdout


def raise_for(argv: list[str], res: ProcessResult) -> NoReturn:
    """Raise the catalogue error that a failed container CLI call means."""
    err = (res.stderr or res.stdout).strip()
    last = err.splitlines()[-1] if err else f"exit status {res.exit_code}"
    low = err.lower()
    if any(m in low for m in _DAEMON_DOWN):
        raise Unavailable(f"{argv[0]}: {last}")
    if any(m in low for m in _NOT_FOUND):
        raise ActionError(f"{argv[0]}: {last}", code=ErrorCode.A017)
    if "permission denied" in low:
        raise ActionError(f"{argv[0]}: {last}", code=ErrorCode.A016)
    raise ActionError(f"{' '.join(argv[:3])} exited {res.exit_code}: {last}", code=ErrorCode.A008, data=res)


def json_lines(text: str) -> list[dict[str, Any]]:
    """``--format '{{json .}}'`` output: one JSON object per line."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse_size(text: str | None) -> int | None:
    """``1.09kB``, ``187MB``, ``9.5MiB``, ``0B`` → bytes (SI and binary units)."""
    if not text:
        return None
    m = _SIZE.match(text)
    if not m:
        return None
    unit = (m.group(2) or "b").lower()
    if unit not in _UNITS:
        return None
    return int(float(m.group(1)) * _UNITS[unit])


def parse_pair(text: str | None) -> tuple[int | None, int | None]:
    """``12.3MB / 4.1kB`` → the two sizes in bytes."""
    if not text or "/" not in text:
        return None, None
    a, _, b = text.partition("/")
    return parse_size(a), parse_size(b)


def parse_percent(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(text.strip().rstrip("%"))
    except ValueError:
        return None  # "--" for a stopped container


def parse_time(text: str | None) -> float | None:
    """Docker's ``2024-01-15 10:20:30 +0000 UTC`` and RFC 3339 (nanoseconds too) → epoch."""
    if not text:
        return None
    s = text.strip()
    m = re.match(r"^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?", s)
    if not m:
        return None
    frac = (m.group(3) or "")[:7]  # Python takes microseconds at most
    tz = m.group(4) or "+0000"
    if tz == "Z":
        tz = "+0000"
    stamp = datetime.datetime.strptime(f"{m.group(1)} {m.group(2)}{frac} {tz.replace(':', '')}",
                                       "%Y-%m-%d %H:%M:%S" + (".%f" if frac else "") + " %z")
    if stamp.year < 1971:
        return None  # Go's zero time, "0001-01-01T00:00:00Z": never happened
    return stamp.timestamp()


def parse_ports(text: str | None) -> list[Port]:
    """``0.0.0.0:8080->80/tcp, :::8080->80/tcp, 443/tcp`` → one :class:`Port` per mapping."""
    out: list[Port] = []
    for part in (text or "").split(","):
        m = _PORT.match(part.strip())
        if not m:
            continue
        cstart = int(m.group("cport"))
        count = int(m.group("cend") or cstart) - cstart + 1
        hstart = int(m.group("hport")) if m.group("hport") else None
        for i in range(min(count, 1024)):
            out.append(
                Port(
                    container_port=cstart + i,
                    protocol=m.group("proto"),
                    host_ip=(m.group("ip") or "").strip("[]"),
                    host_port=hstart + i if hstart is not None else None,
                )
            )
    return out


def parse_labels(text: str | None) -> dict[str, str]:
    """``a=b,com.example.x=y`` → dict (docker's ``.Labels`` in ``--format`` output)."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[key.strip()] = value
        elif out and part:
            # A value that itself contained a comma: glue it back to the previous label.
            last = next(reversed(out))
            out[last] += "," + part
    return out


def split_list(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]
