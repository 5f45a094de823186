"""Row records: what the store returns, typed as its columns.

Each record is a frozen :class:`msgspec.Struct` whose fields are named and
typed as the columns they come from (``center/_store.py``, ``center/_records.py``),
so a reader learns a row's shape from one class and mypy checks every use.
Columns that hold JSON text are decoded on the way out (``tags``, ``health``,
``urls``, a task's ``data``); columns a LEFT JOIN may leave empty are optional.

The store builds them from row tuples (``Store`` methods, the hot paths with
explicit keywords, no dict in between); the HTTP API turns them back into the
JSON it has always answered at its edge (``center._api``: explicit views for jobs
and tasks, :func:`msgspec.structs.asdict` plus its extra keys for hosts and
proxies). Free-form data stays a dict: identity facts, job params, health
summaries, diagnosis documents.

This module imports nothing of the center, so any module may import it.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

__all__ = [
    "AccountRow",
    "CmdbRow",
    "DiagnosisRow",
    "DueTask",
    "FailedTask",
    "HostRow",
    "HostStatus",
    "JobRow",
    "NewTask",
    "OnHost",
    "ProxyRow",
    "RolloutRow",
    "TaskRow",
    "TaskState",
    "TaskTarget",
    "UpgradeTask",
]


class HostRow(msgspec.Struct, frozen=True, kw_only=True):
    """An ``agents`` row: one enrolled host (fields in column order, as the API lists them)."""

    id: str
    sn: str
    hostname: str
    ip: str
    os: str
    idc: str
    #: Decoded from the column's JSON list.
    tags: list[str]
    version: str
    proxy_id: str | None
    carrier: str
    online: bool
    code: str
    last_seen: float
    #: The agent's last health summary, decoded from JSON (free-form: what the agent reports).
    health: dict[str, Any]
    registered: float
    revoked: bool
    public_key: str
    catalogue: str


class ProxyRow(msgspec.Struct, frozen=True, kw_only=True):
    """A ``proxies`` row: a proxy as its last load report left it."""

    id: str
    idc: str
    #: Decoded from the column's JSON list.
    urls: list[str]
    connections: int
    capacity: int
    load1: float
    cpus: int
    rss: int
    online: bool
    last_seen: float
    revoked: bool


class JobRow(msgspec.Struct, frozen=True, kw_only=True):
    """A ``jobs`` row, as :meth:`Store.create_job` takes it and :meth:`Store.job` returns it."""

    id: str
    account: str
    action: str
    #: The request's params as JSON text (free-form: the action's own).
    params: str
    #: The params as the agent receives them (MessagePack, signed in the job spec).
    params_raw: bytes
    #: The request's selection as JSON text (hosts, tags, idc, all).
    targets: str
    created: float
    timeout: float
    deadline: float
    total: int
    state: str
    offline: str
    stream: bool
    finished: float | None = None


class NewTask(msgspec.Struct, frozen=True, kw_only=True):
    """A ``tasks`` row as :meth:`Store.create_job` inserts it (the other columns start empty)."""

    id: str
    job_id: str
    agent_id: str
    deadline: float
    created: float
    state: str = "created"


class TaskTarget(msgspec.Struct, frozen=True, kw_only=True):
    """A task and its host: what a (re-)dispatch needs."""

    id: str
    job_id: str
    agent_id: str


class TaskState(msgspec.Struct, frozen=True, kw_only=True):
    """A task's state and the proxy it went through (cancel, approval, rollout)."""

    id: str
    job_id: str
    agent_id: str
    state: str
    proxy_id: str | None


class TaskRow(msgspec.Struct, frozen=True, kw_only=True):
    """A whole ``tasks`` row with its host's name, IP and IDC (None when the host was forgotten)."""

    id: str
    job_id: str
    agent_id: str
    state: str
    code: str
    message: str
    exit_code: int | None
    stdout: str
    stderr: str
    #: The result's data, decoded from JSON (free-form: the action's own result).
    data: Any
    truncated: bool
    proxy_id: str | None
    deadline: float
    attempts: int
    created: float
    dispatched: float | None
    delivered: float | None
    received: float | None
    running: float | None
    finished: float | None
    hostname: str | None
    ip: str | None
    idc: str | None


class DueTask(msgspec.Struct, frozen=True, kw_only=True):
    """A non-final task past its deadline, with what its host last reported (the
    host's columns are None when the host was forgotten) and its job's state."""

    id: str
    state: str
    agent_id: str
    online: bool | None
    code: str | None
    #: The host's health summary as JSON text (decoded only if a finding needs it).
    health: str | None
    last_seen: float | None
    proxy_id: str | None
    revoked: bool | None
    version: str | None
    job_state: str
    action: str


class FailedTask(msgspec.Struct, frozen=True, kw_only=True):
    """A failed task without a diagnosis yet (``center._diagnosis``)."""

    id: str
    job_id: str
    agent_id: str
    code: str
    message: str


class DiagnosisRow(msgspec.Struct, frozen=True, kw_only=True):
    """A ``task_diagnoses`` row (``center._diagnosis``): a failed task's diagnosis as made then."""

    task_id: str
    job_id: str
    #: The diagnosis document as JSON text (free-form: findings with their evidence).
    doc: str


class RolloutRow(msgspec.Struct, frozen=True, kw_only=True):
    """A ``rollouts`` row (``center._rollout``): a job's rollout and how far it got."""

    job_id: str
    #: The :class:`center._rollout.Rollout` as JSON text.
    spec: str
    state: str
    released: int
    wave: int
    wave_end: int
    total: int
    next_at: float
    reason: str


class AccountRow(msgspec.Struct, frozen=True, kw_only=True):
    """An ``accounts`` row (``center._accounts``): an API key and what it may do."""

    key_id: str
    #: Sealed with the accounts key (``v1:`` + AES-GCM), never plain text.
    secret: str
    name: str
    #: The account's :class:`center._accounts.Scope` as JSON text.
    scopes: str
    approver: bool
    admin: bool
    disabled: bool
    created: float
    #: Command aliases as JSON text (``{"alias": "real command"}``).
    mapping: str
    created_by: str
    rotated: float | None


class CmdbRow(msgspec.Struct, frozen=True, kw_only=True):
    """A ``cmdb_hosts`` row (``center._cmdb``): the CMDB's view of one host."""

    id: int
    sn: str
    ip: str
    hostname: str
    owner: str
    idc: str
    #: Decoded from the column's JSON list.
    tags: list[str]
    imported: float


class UpgradeTask(msgspec.Struct, frozen=True, kw_only=True):
    """A non-final task of an ``agent.upgrade`` job, with its job's params (JSON text)."""

    id: str
    agent_id: str
    params: str


class OnHost(Protocol):
    """Any task record that names its job and host (what dispatch and rollouts read)."""

    @property
    def id(self) -> str: ...

    @property
    def job_id(self) -> str: ...

    @property
    def agent_id(self) -> str: ...


class HostStatus(Protocol):
    """What a host's findings are made of (``center._diagnosis.host_findings``):
    a :class:`HostRow`, or the host columns a :class:`DueTask` carries."""

    @property
    def online(self) -> bool | None: ...

    @property
    def code(self) -> str | None: ...

    @property
    def health(self) -> dict[str, Any] | str | None: ...

    @property
    def last_seen(self) -> float | None: ...

    @property
    def proxy_id(self) -> str | None: ...

    @property
    def revoked(self) -> bool | None: ...

    @property
    def version(self) -> str | None: ...
