"""Inspect a Docker container or image: state, health, restarts, mounts, networks, env (masked).

``container.docker.inspect`` reads one container's or image's document from the Docker
Engine API (``GET /containers/{id}/json``, ``GET /images/{name}/json``, what
``docker inspect`` prints) and condenses it into what an operator looks for: for a container its
state (running, exit code, OOM-killed, started/finished, pid), health and
last probe output, restart count and policy, command, image, mounts,
published ports, networks with IP addresses, resource limits and labels; for
an image its tags, digests, size, platform, entrypoint, exposed ports and
layers. Environment variables are shown with secrets masked. ``raw`` adds
the full document (environment masked too). Needs a running daemon (no
docker CLI); otherwise A003. It only reads.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action, mask_env

from ._common import check_ref, docker_api, docker_check, parse_time

PLUGIN = Plugin("container.docker.inspect", domain="containers", check=docker_check)


class InspectParams(msgspec.Struct, forbid_unknown_fields=True):
    target: str
    type: Literal["container", "image"] = "container"
    raw: bool = False


class Mount(msgspec.Struct):
    type: str
    source: str
    destination: str
    rw: bool


class Network(msgspec.Struct):
    name: str
    ip: str
    gateway: str
    mac: str


class Published(msgspec.Struct):
    container_port: str
    host_ip: str
    host_port: str


class ContainerInfo(msgspec.Struct, omit_defaults=True, tag_field="kind", tag="container"):
    id: str
    name: str
    image: str
    image_id: str
    status: str
    running: bool
    exit_code: int
    oom_killed: bool
    pid: int
    started: float | None
    finished: float | None
    restart_count: int
    restart_policy: str
    command: list[str]
    env: dict[str, str]
    masked: list[str]
    labels: dict[str, str]
    mounts: list[Mount]
    ports: list[Published]
    networks: list[Network]
    memory_limit: int
    cpus: float
    privileged: bool
    health: str = ""
    health_failing_streak: int = 0
    health_last_output: str = ""
    error: str = ""
    raw: dict[str, Any] | None = None


class ImageInfo(msgspec.Struct, omit_defaults=True, tag_field="kind", tag="image"):
    id: str
    tags: list[str]
    digests: list[str]
    created: float | None
    size: int
    architecture: str
    os: str
    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    masked: list[str]
    exposed_ports: list[str]
    labels: dict[str, str]
    layers: int
    raw: dict[str, Any] | None = None


def _env(items: list[str] | None) -> tuple[dict[str, str], list[str]]:
    env = {}
    for item in items or []:
        key, _, value = item.partition("=")
        env[key] = value
    return mask_env(env)


def _masked_raw(doc: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    raw = json.loads(json.dumps(doc))
    if isinstance(raw.get("Config"), dict) and raw["Config"].get("Env") is not None:
        raw["Config"]["Env"] = [f"{k}={v}" for k, v in env.items()]
    return raw


def summarize_container(doc: dict[str, Any], raw: bool = False) -> ContainerInfo:
    """The operator's view of one ``docker inspect`` container document."""
    state = doc.get("State") or {}
    config = doc.get("Config") or {}
    host = doc.get("HostConfig") or {}
    health = state.get("Health") or {}
    probes = health.get("Log") or []
    env, masked = _env(config.get("Env"))
    ports = []
    for cport, binds in sorted(((doc.get("NetworkSettings") or {}).get("Ports") or {}).items()):
        for b in binds or []:
            ports.append(Published(container_port=cport, host_ip=b.get("HostIp", ""), host_port=b.get("HostPort", "")))
    networks = [
        Network(name=name, ip=n.get("IPAddress", ""), gateway=n.get("Gateway", ""), mac=n.get("MacAddress", ""))
        for name, n in sorted(((doc.get("NetworkSettings") or {}).get("Networks") or {}).items())
    ]
    policy = host.get("RestartPolicy") or {}
    return ContainerInfo(
        id=doc.get("Id", ""),
        name=doc.get("Name", "").lstrip("/"),
        image=config.get("Image", ""),
        image_id=doc.get("Image", ""),
        status=state.get("Status", ""),
        running=bool(state.get("Running")),
        exit_code=int(state.get("ExitCode") or 0),
        oom_killed=bool(state.get("OOMKilled")),
        pid=int(state.get("Pid") or 0),
        started=parse_time(state.get("StartedAt")),
        finished=parse_time(state.get("FinishedAt")),
        restart_count=int(doc.get("RestartCount") or 0),
        restart_policy=policy.get("Name") or "no",
        command=[doc.get("Path", ""), *(doc.get("Args") or [])] if doc.get("Path") else [],
        env=env,
        masked=masked,
        labels=config.get("Labels") or {},
        mounts=[
            Mount(type=m.get("Type", ""), source=m.get("Source", ""), destination=m.get("Destination", ""), rw=bool(m.get("RW")))
            for m in doc.get("Mounts") or []
        ],
        ports=ports,
        networks=networks,
        memory_limit=int(host.get("Memory") or 0),
        cpus=round((host.get("NanoCpus") or 0) / 1e9, 3),
        privileged=bool(host.get("Privileged")),
        health=health.get("Status", ""),
        health_failing_streak=int(health.get("FailingStreak") or 0),
        health_last_output=(probes[-1].get("Output", "") if probes else "")[:4096],
        error=state.get("Error", ""),
        raw=_masked_raw(doc, env) if raw else None,
    )


def summarize_image(doc: dict[str, Any], raw: bool = False) -> ImageInfo:
    """The operator's view of one ``docker inspect`` image document."""
    config = doc.get("Config") or {}
    env, masked = _env(config.get("Env"))
    return ImageInfo(
        id=doc.get("Id", ""),
        tags=doc.get("RepoTags") or [],
        digests=doc.get("RepoDigests") or [],
        created=parse_time(doc.get("Created")),
        size=int(doc.get("Size") or 0),
        architecture=doc.get("Architecture", ""),
        os=doc.get("Os", ""),
        entrypoint=config.get("Entrypoint") or [],
        cmd=config.get("Cmd") or [],
        env=env,
        masked=masked,
        exposed_ports=sorted((config.get("ExposedPorts") or {}).keys()),
        labels=config.get("Labels") or {},
        layers=len(((doc.get("RootFS") or {}).get("Layers")) or []),
        raw=_masked_raw(doc, env) if raw else None,
    )


def parse_inspect(doc: dict[str, Any], kind: str, raw: bool = False) -> ContainerInfo | ImageInfo:
    """A container's or image's Engine API document, condensed."""
    if not doc:
        raise ActionError("docker returned an empty document", code=ErrorCode.A017)
    return summarize_container(doc, raw) if kind == "container" else summarize_image(doc, raw)


@action("container.docker.inspect", risk=Risk.READ, timeout=60)
async def inspect(ctx: ActionContext, p: InspectParams) -> ContainerInfo | ImageInfo:
    """The essentials of one container or image, secrets in its environment masked."""
    target = check_ref(p.target, "target")
    where = "containers" if p.type == "container" else "images"
    return parse_inspect(await docker_api(f"/{where}/{target}/json"), p.type, p.raw)
