"""List Podman containers with state, pod, ports, exit code and restarts (``podman ps``).

``container.podman.ps`` runs ``podman ps --pod --format json`` (all containers with
``all``, optionally only those of one ``pod``) and returns each container's
id, names, image, command, state, status, pid, exit code, creation and start
times, restart count, pod id and name, published ports and labels. Podman is
daemonless, so it works wherever the CLI is installed (root's containers when
the agent runs as root); otherwise A003. It only reads.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._common import Port, check_ref, parse_time, run_cli

PLUGIN = Plugin("container.podman.ps", domain="containers", requires=["podman"])


class PodmanPsParams(msgspec.Struct, forbid_unknown_fields=True):
    all: bool = False
    pod: str | None = None


class PodmanContainer(msgspec.Struct, omit_defaults=True):
    id: str
    names: list[str]
    image: str
    command: list[str]
    state: str
    status: str
    created: float | None
    started: float | None = None
    pid: int = 0
    exit_code: int = 0
    restarts: int = 0
    pod_id: str = ""
    pod_name: str = ""
    ports: list[Port] = []
    labels: dict[str, str] = {}


def _epoch(value: Any) -> float | None:
    # Podman prints unix seconds; some versions a timestamp string. Zero or negative = never.
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    return parse_time(value) if isinstance(value, str) else None


def _ports(items: list[dict[str, Any]] | None) -> list[Port]:
    out = []
    for p in items or []:
        for i in range(min(max(1, int(p.get("range") or 1)), 1024)):
            out.append(
                Port(
                    container_port=int(p.get("container_port", 0)) + i,
                    protocol=p.get("protocol", "tcp"),
                    host_ip=p.get("host_ip", ""),
                    host_port=int(p["host_port"]) + i if p.get("host_port") else None,
                )
            )
    return out


def parse_podman_ps(text: str) -> list[PodmanContainer]:
    """``podman ps --format json`` (a JSON array) as containers."""
    out = []
    for c in json.loads(text or "[]") or []:
        cmd = c.get("Command") or []
        out.append(
            PodmanContainer(
                id=c.get("Id", ""),
                names=c.get("Names") or [],
                image=c.get("Image", ""),
                command=cmd if isinstance(cmd, list) else [str(cmd)],
                state=c.get("State", ""),
                status=c.get("Status", ""),
                created=_epoch(c.get("Created")),
                started=_epoch(c.get("StartedAt")),
                pid=int(c.get("Pid") or 0),
                exit_code=int(c.get("ExitCode") or 0),
                restarts=int(c.get("Restarts") or 0),
                pod_id=c.get("Pod", ""),
                pod_name=c.get("PodName", ""),
                ports=_ports(c.get("Ports")),
                labels=c.get("Labels") or {},
            )
        )
    return out


@action("container.podman.ps", risk=Risk.READ, timeout=60)
async def ps(ctx: ActionContext, p: PodmanPsParams) -> list[PodmanContainer]:
    """Podman containers with state, pid, exit code, restarts, pod and ports."""
    # --pod: without it podman leaves PodName empty (the pod id alone is filled in).
    argv = ["podman", "ps", "--pod", "--format", "json"]
    if p.all:
        argv.append("--all")
    if p.pod:
        argv += ["--filter", f"pod={check_ref(p.pod, 'pod')}"]
    return parse_podman_ps(await run_cli(ctx, argv))
