"""Authorization as a table: every route, who may call it, and what it may see.

One row per route (STYLE 20). The API is built from this table, the OpenAPI
document is generated from it, and ``tests/integration/test_authz.py`` walks
it with every role, in scope and out of scope. Nothing is decided by a check
written by hand in a handler.

Roles, from least to most:

``public``
    anyone (liveness, the code catalogue, the API document).
``enroll``
    an agent holding the fleet enrollment token (checked by the handler).
``account``
    any enabled account with a signed request.
``approver``
    an account with the approver flag.
``admin``
    an admin account.

Guards narrow what a role reaches, per request:

``job-read``
    the job must be the caller's own, or the caller an admin, or an approver
    looking at a job that waits for approval;
``job-cancel``
    the caller's own job, an admin, or an account whose scope would let it run
    that job on every one of its hosts;
``hosts``
    listings show only the hosts in the caller's scope;
``jobs``
    listings show only jobs the caller may read.

``audit`` says whether a call is a write or a decision, and so is written to
the audit log (reads are not).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ._rows import JobRow

__all__ = ["Guard", "Query", "ROUTES", "Role", "RouteSpec"]


class Role(enum.IntEnum):
    PUBLIC = 0
    ENROLL = 1
    ACCOUNT = 2
    APPROVER = 3
    ADMIN = 4


class Guard(enum.StrEnum):
    NONE = "none"
    JOB_READ = "job-read"
    JOB_CANCEL = "job-cancel"
    HOSTS = "hosts"
    JOBS = "jobs"


@dataclass(frozen=True)
class Query:
    """A query parameter: its type, bounds and default (the document and the parser read this)."""

    name: str
    kind: str = "string"  # "string" | "integer" | "boolean"
    minimum: int | None = None
    maximum: int | None = None
    default: Any = None
    enum: tuple[str, ...] = ()
    many: bool = False
    description: str = ""


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: str
    role: Role
    summary: str
    guard: Guard = Guard.NONE
    audit: bool = False
    body: str | None = None
    query: tuple[Query, ...] = ()
    #: Success status and media type.
    status: int = 200
    media: str = "application/json"
    #: Error statuses this route can answer beyond the common ones.
    errors: tuple[int, ...] = ()
    responds: str = "object"
    extra: dict[str, Any] = field(default_factory=dict)
    #: A WebSocket endpoint (its plain GET answers 426); left out of the OpenAPI document.
    websocket: bool = False


_LIMIT = Query("limit", "integer", 1, 10000, 50)
_JOB_STATES = ("running", "pending_approval", "done", "cancelled", "rejected")
_TASK_STATES = ("created", "dispatched", "delivered", "received", "running", "succeeded", "failed", "timed_out", "cancelled")

ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("GET", "/v1/health", "health", Role.PUBLIC, "Liveness of this center"),
    RouteSpec("GET", "/openapi.json", "openapi", Role.PUBLIC, "This document"),
    RouteSpec("GET", "/v1/codes", "codes", Role.PUBLIC, "The error-code catalogue",
              query=(Query("format", enum=("json", "markdown"), default="json"),), media="application/json|text/markdown"),
    RouteSpec("POST", "/v1/agents/register", "register", Role.ENROLL, "Enroll an agent (enrollment token in the body)",
              audit=True, body="RegisterRequest", errors=(400, 403, 413)),
    RouteSpec("GET", "/v1/actions", "actions", Role.ACCOUNT, "Actions the hosts declare that this account may call"),
    RouteSpec("GET", "/v1/hosts", "hosts", Role.ACCOUNT, "Hosts in this account's scope", guard=Guard.HOSTS,
              query=(Query("online", "boolean"), Query("idc"), Query("tag", many=True), Query("host", many=True),
                     Query("limit", "integer", 0, 1_000_000, 0, description="a page of at most this many (0: every host)"),
                     Query("cursor", description="the `next` of the previous page"), Query("tags_all", many=True), Query("tags_none", many=True),
                     Query("exclude", many=True), Query("os", many=True), Query("version", many=True),
                     Query("health", enum=("healthy", "unhealthy")))),
    RouteSpec("POST", "/v1/hosts/{host}/revoke", "revoke_host", Role.ADMIN, "Revoke a host: cut it off and refuse its enrollment",
              audit=True, errors=(404,)),
    RouteSpec("POST", "/v1/hosts/{host}/restore", "restore_host", Role.ADMIN, "Undo a host's revocation", audit=True, errors=(404,)),
    RouteSpec("GET", "/v1/proxies", "proxies", Role.ADMIN, "Proxies and their load"),
    RouteSpec("POST", "/v1/proxies/{proxy}/revoke", "revoke_proxy", Role.ADMIN, "Revoke a proxy", audit=True, errors=(404,)),
    RouteSpec("POST", "/v1/proxies/{proxy}/restore", "restore_proxy", Role.ADMIN, "Undo a proxy's revocation", audit=True, errors=(404,)),
    RouteSpec("POST", "/v1/jobs", "submit", Role.ACCOUNT, "Submit a job: an action on a selection of hosts",
              audit=True, body="JobRequest", status=201, errors=(202, 400, 404, 413)),
    RouteSpec("GET", "/v1/jobs", "jobs", Role.ACCOUNT, "Recent jobs this account may read", guard=Guard.JOBS,
              query=(_LIMIT, Query("cursor", description="the `next` of the previous page"), Query("state", enum=_JOB_STATES),
                     Query("action"), Query("account"))),
    RouteSpec("GET", "/v1/jobs/{job}", "job", Role.ACCOUNT, "A job with per-host results", guard=Guard.JOB_READ, errors=(404,),
              query=(Query("results", "boolean", default=True), Query("state", enum=_TASK_STATES, many=True),
                     Query("offset", "integer", 0, 10_000_000, 0), Query("limit", "integer", 0, 1_000_000, 0))),
    RouteSpec("GET", "/v1/jobs/{job}/wait", "wait", Role.ACCOUNT, "Long-poll until the job completes or the timeout passes",
              guard=Guard.JOB_READ, errors=(404,), query=(Query("timeout", "integer", 0, 300, 30),)),
    RouteSpec("GET", "/v1/jobs/{job}/events", "events", Role.ACCOUNT, "Server-sent progress events, ending with `done`",
              guard=Guard.JOB_READ, media="text/event-stream", errors=(404,),
              query=(Query("results", "boolean", default=False,
                           description="also send each result once as it becomes final (`results` events, outputs clipped)"),)),
    RouteSpec("GET", "/v1/jobs/{job}/output", "output", Role.ACCOUNT, "Server-sent live output of a streaming job",
              guard=Guard.JOB_READ, media="text/event-stream", errors=(404,)),
    RouteSpec("POST", "/v1/jobs/{job}/cancel", "cancel", Role.ACCOUNT, "Cancel a job: running tasks are killed",
              guard=Guard.JOB_CANCEL, audit=True, errors=(404, 409)),
    RouteSpec("POST", "/v1/jobs/{job}/pause", "pause", Role.ACCOUNT, "Pause a job's rollout: no more hosts are released until it is resumed",
              guard=Guard.JOB_CANCEL, audit=True, errors=(404, 409)),
    RouteSpec("POST", "/v1/jobs/{job}/resume", "resume", Role.ACCOUNT, "Resume a paused rollout from where it stood",
              guard=Guard.JOB_CANCEL, audit=True, errors=(404, 409)),
    RouteSpec("POST", "/v1/jobs/{job}/approve", "approve", Role.APPROVER, "Approve a held job (a second person)",
              guard=Guard.JOB_READ, audit=True, errors=(400, 404)),
    RouteSpec("POST", "/v1/jobs/{job}/reject", "reject", Role.APPROVER, "Reject a held job", guard=Guard.JOB_READ, audit=True,
              errors=(400, 404)),
    RouteSpec("POST", "/v1/accounts", "create_account", Role.ADMIN, "Create an account (least privilege unless scoped)",
              audit=True, body="AccountRequest", status=201, errors=(400,)),
    RouteSpec("GET", "/v1/accounts", "accounts", Role.ADMIN, "List accounts"),
    RouteSpec("DELETE", "/v1/accounts/{key}", "delete_account", Role.ADMIN, "Delete an account", audit=True, errors=(400, 404)),
    RouteSpec("POST", "/v1/accounts/{key}/disable", "disable_account", Role.ADMIN, "Disable an account", audit=True, errors=(400, 404)),
    RouteSpec("POST", "/v1/accounts/{key}/enable", "enable_account", Role.ADMIN, "Enable an account", audit=True, errors=(404,)),
    RouteSpec("POST", "/v1/accounts/{key}/rotate", "rotate_account", Role.ADMIN, "Give an account a new secret (shown once)",
              audit=True, errors=(404,)),
    RouteSpec("POST", "/v1/accounts/{key}/mapping", "mapping", Role.ADMIN, "Give an account private command aliases",
              audit=True, body="MappingRequest", errors=(400, 404)),
    RouteSpec("GET", "/v1/audit", "audit", Role.ADMIN, "Audit records",
              query=(Query("after", "integer", 0, 2**53, 0), Query("limit", "integer", 1, 10000, 100),
                     Query("subject", description="only records about this subject (e.g. a terminal session id)"))),
    RouteSpec("GET", "/v1/audit/verify", "audit_verify", Role.ADMIN, "Verify the audit chain"),
    # The file channel (center/_files_api.py, docs/file-transfer.md). Chunks are
    # content-addressed: knowing a hash is what reading it takes; a push or a
    # collect is a job and passes the policy (scopes, `paths`) like any other.
    RouteSpec("POST", "/v1/files/missing", "files_missing", Role.ACCOUNT, "Which of these chunk hashes the center lacks (resumable upload)",
              body="MissingRequest", errors=(400, 413)),
    RouteSpec("PUT", "/v1/files/chunks/{digest}", "files_put", Role.ACCOUNT, "Upload one chunk (raw bytes, at most 8 MiB) named by its SHA-256",
              status=201, errors=(400, 413), extra={"requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}),
    RouteSpec("GET", "/v1/files/chunks/{digest}", "files_get", Role.ACCOUNT, "Download one chunk (raw bytes)",
              media="application/octet-stream", errors=(400, 404)),
    RouteSpec("POST", "/v1/files/push", "files_push", Role.ACCOUNT, "Copy files to hosts from a manifest whose chunks are uploaded (a file.install job)",
              audit=True, body="PushRequest", status=201, errors=(202, 400, 404, 413)),
    RouteSpec("POST", "/v1/files/collect", "files_collect", Role.ACCOUNT, "Collect one file from each host into the chunk store (a file.collect job)",
              audit=True, body="CollectRequest", status=201, errors=(202, 400, 404)),
    # Diagnosis, targeting, host lifecycle, CMDB, chat bot (handlers: center/_api_diag.py).
    RouteSpec("POST", "/v1/targets", "targets", Role.ACCOUNT, "Dry run: the hosts in this account's scope a job request selects",
              body="JobRequest", errors=(404,)),
    RouteSpec("GET", "/v1/hosts/{host}/diag", "host_diag", Role.ACCOUNT, "Diagnose a host in scope; live checks each hop now",
              errors=(404,), query=(Query("live", "boolean", default=True),)),
    RouteSpec("DELETE", "/v1/hosts/{host}", "forget_host", Role.ADMIN, "Forget a host (refused while online unless force)",
              audit=True, errors=(400, 404), query=(Query("force", "boolean", default=False),)),
    RouteSpec("GET", "/v1/cmdb", "cmdb", Role.ADMIN, "The CMDB records as imported"),
    RouteSpec("POST", "/v1/cmdb/import", "cmdb_import", Role.ADMIN, "Import CMDB records", audit=True, body="CmdbImport", errors=(413,)),
    RouteSpec("GET", "/v1/cmdb/check", "cmdb_check", Role.ADMIN, "Every mismatch between the CMDB and the agents"),
    RouteSpec("POST", "/v1/cmdb/sync", "cmdb_sync", Role.ADMIN, "Merge CMDB tags into the hosts' tags", audit=True),
    RouteSpec("POST", "/v1/chat/{tool}", "chat", Role.PUBLIC, "Chat-bot webhook (slack, dingtalk, feishu), verified by the tool's signature",
              audit=True, errors=(401, 404, 413)),
    # The web console (center._console): pages are public files; what they show comes from the routes above.
    RouteSpec("GET", "/ui/", "console_page", Role.PUBLIC, "The web console", media="text/html", errors=(404,)),
    RouteSpec("GET", "/ui/static/{file}", "console_static", Role.PUBLIC, "A file of the web console", media="text/javascript|text/css|text/html",
              errors=(404,)),
    RouteSpec("GET", "/ui/embed.js", "console_embed", Role.PUBLIC, "The script a page of another origin loads to embed a terminal",
              media="text/javascript", errors=(404,)),
    RouteSpec("POST", "/ui/login", "console_login", Role.PUBLIC, "Open a console session with a key id and secret (sets the cookie)",
              audit=True, body="LoginRequest", errors=(400, 401)),
    RouteSpec("GET", "/ui/link", "console_link", Role.PUBLIC, "Open a console session with a one-time login token, then go to /ui/",
              audit=True, status=303, errors=(401,), query=(Query("token", description="the one-time token"),)),
    RouteSpec("GET", "/ui/session", "console_session", Role.ACCOUNT, "Who this session is, and its CSRF token"),
    RouteSpec("POST", "/ui/logout", "console_logout", Role.ACCOUNT, "End this console session", audit=True),
    RouteSpec("POST", "/ui/tokens", "console_token", Role.ACCOUNT, "A one-time console login link for the calling account",
              audit=True),
    # The web terminal (center._terminal, docs/console.md). The WebSocket authenticates itself
    # (console cookie from the console's origin, or an embed token from an allowed origin);
    # a plain HTTP GET is answered 426. Opening a session is an `exec.pty` job: the policy applies.
    RouteSpec("GET", "/api/v1/terminal/ws", "terminal_ws", Role.PUBLIC,
              "The web terminal's WebSocket (upgrade required): ?host=HOST[&token=T][&cols=80&rows=24]",
              status=101, errors=(426,), media="text/plain", websocket=True,
              query=(Query("host", description="host id or hostname"), Query("token", description="an embed token"),
                     Query("cols", "integer", 2, 1000, 80), Query("rows", "integer", 1, 1000, 24))),
    RouteSpec("POST", "/api/v1/terminal/tokens", "terminal_token", Role.ACCOUNT,
              "A short-lived, single-use token that opens one terminal on one host for the calling account",
              audit=True, body="TerminalTokenRequest", status=201, errors=(400, 404)),
)


def role_of(account: Any) -> Role:
    """The highest role an :class:`~center._accounts.Account` holds."""
    if account is None:
        return Role.PUBLIC
    if account.admin:
        return Role.ADMIN
    if account.approver:
        return Role.APPROVER
    return Role.ACCOUNT


def may_call(spec: RouteSpec, account: Any) -> bool:
    """Whether the route's role admits the account (guards come after)."""
    if spec.role <= Role.ENROLL:
        return True
    if account is None:
        return False
    if spec.role == Role.APPROVER:
        return bool(account.approver)
    return role_of(account) >= spec.role


def may_read_job(account: Any, job: JobRow) -> bool:
    return bool(account.admin or job.account == account.key_id or (account.approver and job.state == "pending_approval"))
