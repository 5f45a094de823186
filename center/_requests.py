"""Every request body the API accepts, as typed structs with their limits.

The handlers decode into these (unknown fields, wrong types and values out of
range are ``C001`` naming the field), and the OpenAPI document is built from
them, so the document and the center cannot disagree.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from transports import Catalogue

from ._accounts import Scope
from ._rollout import Rollout
from ._select import Selector

__all__ = [
    "AccountRequest",
    "JobRequest",
    "MappingRequest",
    "MAX_DEADLINE",
    "MAX_TIMEOUT",
    "RegisterRequest",
]

#: A task may run at most a week; a job may wait at most a week for delivery.
MAX_TIMEOUT = 7 * 86400.0
MAX_DEADLINE = 7 * 86400.0

ActionName = Annotated[str, msgspec.Meta(min_length=3, max_length=128, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$")]
HostRef = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Idc = Annotated[str, msgspec.Meta(max_length=64)]


class JobRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What a caller submits: an action, its params, and the hosts to run it on."""

    action: ActionName
    params: dict[str, Any] = {}
    hosts: Annotated[list[HostRef], msgspec.Meta(max_length=200_000)] = []
    tags: Annotated[list[Tag], msgspec.Meta(max_length=100)] = []
    idc: Idc = ""
    all: bool = False
    #: Seconds each task may run; default: the action's declared timeout.
    timeout: Annotated[float, msgspec.Meta(ge=0.01, le=MAX_TIMEOUT)] | None = None
    #: Seconds from now after which undelivered tasks fail; 0: timeout + the center's grace.
    deadline: Annotated[float, msgspec.Meta(ge=0, le=MAX_DEADLINE)] = 0.0
    #: Hosts offline at submission: "fail" now (E001) or "wait" for them until the deadline.
    offline: Literal["fail", "wait"] = "fail"
    stream: bool = False
    #: Refinements of the targets: tags AND/exclude, IDCs, OS, agent version, health.
    select: Selector | None = None
    #: Rollout controls: concurrency, error threshold, waves, skipping unhealthy hosts.
    rollout: Rollout | None = None


class AccountRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    scopes: Scope = msgspec.field(default_factory=Scope)
    #: Refused through the API: approvers are created on the center host (``--local``).
    approver: bool = False
    admin: bool = False


class MappingRequest(msgspec.Struct, forbid_unknown_fields=True):
    commands: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]], msgspec.Meta(min_length=1, max_length=1000)]


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(max_length=512)]
    identity: dict[str, Any]
    version: Annotated[str, msgspec.Meta(max_length=64)] = ""
    #: The agent's Ed25519 public key, base64 (32 raw bytes).
    public_key: Annotated[str, msgspec.Meta(max_length=64)] = ""
    #: SHA-256 of the agent's action catalogue; the document comes when the center asks.
    catalogue_digest: Annotated[str, msgspec.Meta(pattern=r"^([0-9a-f]{64})?$")] = ""
    catalogue: Catalogue | None = None
    #: The agent's proof of key possession (base64 Ed25519 signature over key,
    #: identity and ``ts``: transports.signing.enroll_message); checked when given.
    proof: Annotated[str, msgspec.Meta(max_length=128)] = ""
    ts: float = 0.0
