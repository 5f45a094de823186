"""List Kubernetes node containers through the CRI (``crictl ps``), with pod and namespace.

``container.crictl.ps`` runs ``crictl ps -o json`` against the node's container
runtime (containerd, CRI-O) and returns each container's id, name, attempt,
state, image, creation time and restart count together with the pod name,
namespace and pod id that Kubernetes put in its labels — what you need on a
node when the API server is not answering. Filters: ``all`` (exited too),
``name`` (regular expression), ``namespace``, ``state``. Needs crictl and a
CRI runtime socket; otherwise A003. It only reads.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action

from ._common import cri_check, run_cli

PLUGIN = Plugin("container.crictl.ps", domain="containers", requires=["crictl"], check=cri_check)

STATES = {"running": "CONTAINER_RUNNING", "exited": "CONTAINER_EXITED", "created": "CONTAINER_CREATED", "unknown": "CONTAINER_UNKNOWN"}


class CrictlPsParams(msgspec.Struct, forbid_unknown_fields=True):
    all: bool = False
    name: str | None = None
    namespace: str | None = None
    state: Literal["running", "exited", "created", "unknown"] | None = None


class CriContainer(msgspec.Struct, omit_defaults=True):
    id: str
    name: str
    attempt: int
    state: str
    image: str
    created: float | None
    restart_count: int
    pod_id: str
    pod_name: str = ""
    namespace: str = ""
    image_ref: str = ""
    labels: dict[str, str] = {}


def _nanos(value: Any) -> float | None:
    try:
        return int(value) / 1e9 if value not in (None, "", "0") else None
    except (TypeError, ValueError):
        return None


def parse_crictl_ps(text: str) -> list[CriContainer]:
    """``crictl ps -o json`` (``{"containers": [...]}``) as containers."""
    out = []
    for c in json.loads(text or "{}").get("containers") or []:
        labels = c.get("labels") or {}
        annotations = c.get("annotations") or {}
        meta = c.get("metadata") or {}
        restarts = annotations.get("io.kubernetes.container.restartCount", "0")
        out.append(
            CriContainer(
                id=c.get("id", ""),
                name=meta.get("name", ""),
                attempt=int(meta.get("attempt") or 0),
                state=str(c.get("state", "")).removeprefix("CONTAINER_").lower(),
                image=(c.get("image") or {}).get("image", ""),
                created=_nanos(c.get("createdAt")),
                restart_count=int(restarts) if str(restarts).isdigit() else 0,
                pod_id=c.get("podSandboxId", ""),
                pod_name=labels.get("io.kubernetes.pod.name", ""),
                namespace=labels.get("io.kubernetes.pod.namespace", ""),
                image_ref=c.get("imageRef", ""),
                labels=labels,
            )
        )
    return out


def build_argv(p: CrictlPsParams) -> list[str]:
    argv = ["crictl", "ps", "-o", "json"]
    if p.all:
        argv.append("--all")
    if p.state:
        argv += ["--state", STATES[p.state]]
    if p.name:
        try:
            re.compile(p.name)
        except re.error as exc:
            raise InvalidParams(f"name: {exc}") from exc
        argv += ["--name", p.name]
    return argv


@action("container.crictl.ps", risk=Risk.READ, timeout=60)
async def ps(ctx: ActionContext, p: CrictlPsParams) -> list[CriContainer]:
    """Containers known to the CRI runtime, with pod name and namespace."""
    found = parse_crictl_ps(await run_cli(ctx, build_argv(p)))
    if p.namespace:
        found = [c for c in found if c.namespace == p.namespace]
    return found
