"""List Docker containers with state, health, ports, labels and networks (``docker ps``).

``container.docker.ps`` asks the Docker Engine API (``GET /containers/json`` on the
daemon's socket) for the running containers (all with ``all``; server-side
``filters`` such as ``{"status": "exited"}`` or ``{"label": "app=web"}``) and
returns typed fields: full id, names, image, command, creation time, state,
status text, health, published ports, labels, networks and mounts, plus sizes
with ``size``. Needs a running daemon (no docker CLI); otherwise A003. It only
reads.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action

from ._common import Port, docker_api, docker_check, docker_filters, epoch

PLUGIN = Plugin("container.docker.ps", domain="containers", check=docker_check)

FILTERS = {"id", "name", "label", "status", "ancestor", "health", "network", "volume", "publish", "expose", "exited", "before", "since"}
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")


class PsParams(msgspec.Struct, forbid_unknown_fields=True):
    all: bool = False
    filters: dict[str, str] = {}
    size: bool = False


class Container(msgspec.Struct, omit_defaults=True):
    id: str
    names: list[str]
    image: str
    command: str
    state: str
    status: str
    created: float | None = None
    health: str = ""
    ports: list[Port] = []
    labels: dict[str, str] = {}
    networks: list[str] = []
    mounts: list[str] = []
    size_rw: int | None = None
    size_root_fs: int | None = None


def _ports(items: list[dict[str, Any]] | None) -> list[Port]:
    out = [
        Port(
            container_port=int(p.get("PrivatePort") or 0),
            protocol=p.get("Type", "tcp"),
            host_ip=p.get("IP", ""),
            host_port=p.get("PublicPort"),
        )
        for p in items or []
    ]
    return sorted(out, key=lambda p: (p.container_port, p.protocol, p.host_ip, p.host_port or 0))


def parse_ps(rows: list[dict[str, Any]]) -> list[Container]:
    """``GET /containers/json`` as containers."""
    out = []
    for row in rows:
        status = row.get("Status", "")
        health = _HEALTH.search(status)
        networks = ((row.get("NetworkSettings") or {}).get("Networks")) or {}
        out.append(
            Container(
                id=row.get("Id", ""),
                names=[n.lstrip("/") for n in row.get("Names") or []],
                image=row.get("Image", ""),
                command=row.get("Command", ""),
                state=row.get("State", ""),
                status=status,
                created=epoch(row.get("Created")),
                health=health.group(1).replace("health: ", "") if health else "",
                ports=_ports(row.get("Ports")),
                labels=row.get("Labels") or {},
                networks=sorted(networks),
                mounts=[m.get("Name") or m.get("Source", "") for m in row.get("Mounts") or []],
                # The daemon leaves SizeRw out when the writable layer is empty.
                size_rw=row.get("SizeRw", 0 if "SizeRootFs" in row else None),
                size_root_fs=row.get("SizeRootFs"),
            )
        )
    return out


def build_query(p: PsParams) -> dict[str, Any]:
    """The query of ``GET /containers/json`` for these params."""
    for key in p.filters:
        if key not in FILTERS:
            raise InvalidParams(f"filters: unknown filter {key!r}; one of {', '.join(sorted(FILTERS))}")
    return {
        "all": "1" if p.all else None,
        "size": "1" if p.size else None,
        "filters": docker_filters({k: [v] for k, v in sorted(p.filters.items())}),
    }


@action("container.docker.ps", risk=Risk.READ, timeout=60)
async def ps(ctx: ActionContext, p: PsParams) -> list[Container]:
    """Containers (running, or all) with state, health, ports, labels and networks."""
    return parse_ps(await docker_api("/containers/json", build_query(p)))
