"""List Docker containers with state, health, ports, labels and networks (``docker ps``).

``docker.ps`` runs ``docker ps --no-trunc --format '{{json .}}'`` (all
containers with ``all``, server-side ``filters`` such as
``{"status": "exited"}`` or ``{"label": "app=web"}``) and turns each line into
typed fields: full id, names, image, command, creation time, state, status
text, health, published ports, labels, networks and mounts, plus sizes with
``size``. Needs the docker CLI and a running daemon; otherwise A003. It only
reads.
"""

from __future__ import annotations

import re

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from plugins.files._common import bad

from ._common import (
    Port,
    docker_check,
    json_lines,
    parse_labels,
    parse_ports,
    parse_size,
    parse_time,
    run_cli,
    split_list,
)

PLUGIN = Plugin("docker.ps", description=__doc__.splitlines()[0], domain="containers", requires=["docker"], check=docker_check)

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


def parse_ps(text: str) -> list[Container]:
    """Lines of ``docker ps --format '{{json .}}'`` as containers."""
    out = []
    for row in json_lines(text):
        status = row.get("Status", "")
        health = _HEALTH.search(status)
        rw = root = None
        size = row.get("Size") or ""
        if size and size not in ("0B", "N/A"):
            # "1.09kB (virtual 187MB)": the writable layer, then the whole filesystem.
            m = re.match(r"^(\S+)(?: \(virtual (\S+)\))?", size)
            if m:
                rw, root = parse_size(m.group(1)), parse_size(m.group(2))
        out.append(
            Container(
                id=row.get("ID", ""),
                names=split_list(row.get("Names")),
                image=row.get("Image", ""),
                command=str(row.get("Command", "")).strip('"'),
                state=row.get("State", ""),
                status=status,
                created=parse_time(row.get("CreatedAt")),
                health=health.group(1).replace("health: ", "") if health else "",
                ports=parse_ports(row.get("Ports")),
                labels=parse_labels(row.get("Labels")),
                networks=split_list(row.get("Networks")),
                mounts=split_list(row.get("Mounts")),
                size_rw=rw,
                size_root_fs=root,
            )
        )
    return out


def build_argv(p: PsParams) -> list[str]:
    argv = ["docker", "ps", "--no-trunc", "--format", "{{json .}}"]
    if p.all:
        argv.append("--all")
    if p.size:
        argv.append("--size")
    for key, value in sorted(p.filters.items()):
        if key not in FILTERS:
            raise bad(f"filters: unknown filter {key!r}; one of {', '.join(sorted(FILTERS))}")
        argv += ["--filter", f"{key}={value}"]
    return argv


@action("docker.ps", risk=Risk.READ, timeout=60)
async def ps(ctx: ActionContext, p: PsParams) -> list[Container]:
    """Containers (running, or all) with state, health, ports, labels and networks."""
    return parse_ps(await run_cli(ctx, build_argv(p)))
