"""Shared pieces of the container plugins: the Docker Engine API, the other runtimes' CLIs,
and decoding what they answer.

Not a plugin. Docker is asked through its Engine API on the daemon's socket
(:func:`docker_api`: exact JSON, numbers as numbers, no CLI needed on the host);
``podman`` and ``crictl`` through their CLIs, which print human-sized numbers
(``1.09kB``, ``9.5MiB / 3.8GiB``), Go timestamps, port maps and label lists that
the parsers here turn into numbers and structures. Failures become catalogue
codes either way (daemon down → A003, unknown container → A017).
"""

from __future__ import annotations

import datetime
import json
import os
import re
from typing import Any, NoReturn

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    ProcessResult,
    Unavailable,
)

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

class Port(msgspec.Struct, omit_defaults=True):
    container_port: int
    protocol: str
    host_ip: str = ""
    host_port: int | None = None


#: The Engine API version asked for: Docker 20.10 and newer answer it (1.41).
DOCKER_API = "v1.41"


def docker_endpoint() -> tuple[str, str]:
    """``("unix", socket path)`` or ``("tcp", "http://host:port")`` from ``DOCKER_HOST``."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return "unix", DOCKER_SOCKET
    if host.startswith("unix://"):
        return "unix", host[len("unix://") :]
    if host.startswith("tcp://"):
        return "tcp", "http://" + host[len("tcp://") :]
    return "", host


def docker_check() -> str | None:
    """Why docker cannot work here (no daemon socket), or None. Cheap: nothing is called."""
    kind, where = docker_endpoint()
    if not kind:
        return f"DOCKER_HOST={where!r}: only unix:// and tcp:// daemons are supported"
    if kind == "unix" and not os.path.exists(where):
        return f"docker daemon socket {where} not found (dockerd not running)"
    return None


async def docker_api(path: str, params: dict[str, Any] | None = None, *, raw: bool = False) -> Any:
    """GET ``path`` of the Engine API (``/containers/json``) and return its JSON (bytes if ``raw``).

    A daemon that is not there is A003, an unknown container or image A017, a refusal
    A016; any other error answer A008 with the daemon's own message.
    """
    import httpx  # the agent's HTTP client; loaded with the first docker action

    kind, where = docker_endpoint()
    if not kind:
        raise Unavailable(f"DOCKER_HOST={where!r}: only unix:// and tcp:// daemons are supported")
    transport = httpx.AsyncHTTPTransport(uds=where) if kind == "unix" else None
    base = "http://docker" if kind == "unix" else where
    query = {k: v for k, v in (params or {}).items() if v is not None}
    try:
        async with httpx.AsyncClient(transport=transport, base_url=base, timeout=60) as client:
            resp = await client.get(f"/{DOCKER_API}{path}", params=query)
    except httpx.TransportError as exc:
        raise Unavailable(f"docker daemon at {where} not reachable: {exc or type(exc).__name__}") from exc
    if resp.status_code >= 400:
        try:
            message = resp.json().get("message", "")
        except ValueError:
            message = resp.text[:300]
        message = f"docker: {message or resp.reason_phrase}"
        if resp.status_code == 404:
            raise NotFound(message)
        if resp.status_code in (401, 403):
            raise ActionError(message, code=ErrorCode.A016)
        raise ActionError(f"{message} (HTTP {resp.status_code})", code=ErrorCode.A008)
    return resp.content if raw else resp.json()


def docker_filters(filters: dict[str, list[str]]) -> str | None:
    """The Engine API's ``filters`` query value (a JSON object of lists), or None."""
    return json.dumps(filters, sort_keys=True) if filters else None


def epoch(value: int | float | str | None) -> float | None:
    """The Engine API's times: unix seconds (lists) or RFC 3339 (documents)."""
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    return parse_time(value)


def cri_check() -> str | None:
    """Why crictl cannot work here (no CRI runtime socket, no crictl.yaml), or None."""
    if os.path.exists("/etc/crictl.yaml") or os.environ.get("CONTAINER_RUNTIME_ENDPOINT"):
        return None
    if any(os.path.exists(s) for s in CRI_SOCKETS):
        return None
    return "no CRI runtime socket (containerd/CRI-O) and no /etc/crictl.yaml"


def check_ref(ref: str, field: str = "container") -> str:
    if not REF.match(ref):
        raise InvalidParams(f"{field}: {ref!r} is not a container/image name or id")
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
        raise NotFound(f"{argv[0]}: {last}")
    if "permission denied" in low:
        raise ActionError(f"{argv[0]}: {last}", code=ErrorCode.A016)
    raise ActionError(f"{' '.join(argv[:3])} exited {res.exit_code}: {last}", code=ErrorCode.A008, data=res)


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
