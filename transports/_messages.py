"""The wire: every message any two Starling roles exchange.

One tagged union (``t`` is the tag) encoded as MessagePack. Structs are
map-encoded with defaults omitted, so a newer peer may add optional fields
without breaking an older one; anything incompatible bumps ``PROTOCOL_VERSION``,
which both sides state in ``hello``/``welcome``.

Who sends what::

    agent  -> proxy : enroll hello ping ack output result stream_* chunk_get chunk_put error
    proxy  -> agent : enrolled welcome pong task cancel result_ack drain stream_* chunk_data chunk_ack error
    proxy  -> center: hello ping dispatch_ack events results presence load_report enrollments stream_* chunk_get chunk_put error
    center -> proxy : welcome pong dispatch cancel result_ack revoke balance enrolled_batch stream_* chunk_data chunk_ack error

The ``chunk_*`` messages (the file channel, see docs/file-transfer.md) and the
enrollment messages (``enroll``, ``enrolled``, ``enrollments``,
``enrolled_batch``: docs/identity.md) are optional extensions of protocol
version 1: a peer that does not know them answers nothing or refuses them
(``P003``), and the asking side times out or falls back (an agent enrolls over
HTTPS instead) and reports it.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)


class Message(msgspec.Struct, tag_field="t", omit_defaults=True, kw_only=True):
    """Base of every wire message."""


# --- shared pieces (not messages themselves) -------------------------------------


class DiskUsage(msgspec.Struct, omit_defaults=True):
    mount: str
    total: int
    used: int


class Health(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The small health summary an agent attaches to its heartbeats."""

    load1: float = 0.0
    cpus: int = 1
    mem_total: int = 0
    mem_available: int = 0
    disks: list[DiskUsage] = []
    uptime: float = 0.0
    agent_rss: int = 0
    running: int = 0
    throttle: str = ""
    residents: dict[str, str] = {}
    #: The agent's wall clock when it sampled this (the center derives clock skew).
    clock: float = 0.0


class TaskSignature(msgspec.Struct, omit_defaults=True, kw_only=True):
    """End-to-end signature: one Ed25519 signature per job over a Merkle root
    of its task ids; each task carries its own inclusion proof."""

    key_id: str
    root: bytes
    signature: bytes
    proof: list[bytes] = []
    index: int = 0
    expires: float = 0.0
    nonce: bytes = b""


class JobSpec(msgspec.Struct, omit_defaults=True, kw_only=True):
    """What every task of one job shares; sent once per dispatch."""

    job_id: str
    action: str
    params: msgspec.Raw  # MessagePack bytes, kept verbatim so signatures cover them
    timeout: float
    deadline: float
    stream: bool = False
    account: str = ""
    key_id: str = ""
    root: bytes = b""
    signature: bytes = b""
    #: When the center created the job (POSIX time); signed, see transports._signing.
    issued: float = 0.0
    expires: float = 0.0
    nonce: bytes = b""


class TaskRef(msgspec.Struct, omit_defaults=True, array_like=True):
    task_id: str
    agent_id: str
    proof: list[bytes] = []
    index: int = 0


class TaskEvent(msgspec.Struct, omit_defaults=True, array_like=True):
    """A state transition seen by an agent or proxy, reported upstream."""

    task_id: str
    state: str
    at: float
    code: str = ""
    message: str = ""


class AgentState(msgspec.Struct, omit_defaults=True, kw_only=True):
    agent_id: str
    online: bool
    at: float
    health: Health | None = None
    carrier: str = ""
    peer: str = ""
    code: str = ""
    running: list[str] = []


# --- connection ------------------------------------------------------------------


class Hello(Message, tag="hello", kw_only=True):
    version: int = PROTOCOL_VERSION
    versions: list[int] = msgspec.field(default_factory=lambda: [PROTOCOL_VERSION])
    role: Literal["agent", "proxy"]
    node_id: str
    credential: bytes = b""
    #: Proof of possession: the agent's Ed25519 signature over (node_id, ts).
    proof: bytes = b""
    ts: float = 0.0
    idc: str = ""
    carrier: str = ""
    software: str = ""
    features: list[str] = []
    #: A proxy running as several worker processes on one port: which worker
    #: this link is ("w0", "w1" ...; "" for a single-process proxy). The center
    #: knows each worker as ``"<node_id>.<worker>"`` and balances the host as one.
    worker: str = ""


class Welcome(Message, tag="welcome", kw_only=True):
    version: int = PROTOCOL_VERSION
    session: str
    heartbeat: float = 10.0
    server_time: float = 0.0
    center_key: bytes = b""  # center's Ed25519 public key (to proxies)
    revoked: list[str] = []


class Ping(Message, tag="ping", kw_only=True):
    seq: int
    health: Health | None = None


class Pong(Message, tag="pong", kw_only=True):
    seq: int


class Drain(Message, tag="drain", kw_only=True):
    """Proxy asks an idle agent to reconnect elsewhere."""

    reason: str = ""
    retry_after: float = 0.0
    avoid: list[str] = []


class ErrorMsg(Message, tag="error", kw_only=True):
    code: str
    message: str = ""
    ref: str = ""


# --- tasks ------------------------------------------------------------------------


class Dispatch(Message, tag="dispatch", kw_only=True):
    """Center -> proxy: one batch per job per proxy."""

    dispatch_id: str
    job: JobSpec
    tasks: list[TaskRef]


class DispatchAck(Message, tag="dispatch_ack", kw_only=True):
    dispatch_id: str
    rejected: list[TaskEvent] = []


class Task(Message, tag="task", kw_only=True):
    """Proxy -> agent: one task for one host."""

    task_id: str
    job: JobSpec
    proof: list[bytes] = []
    index: int = 0


class Ack(Message, tag="ack", kw_only=True):
    """Agent -> proxy: the task is received (or what it already knew of it)."""

    task_id: str
    state: str = "received"
    at: float = 0.0


class Events(Message, tag="events", kw_only=True):
    """Proxy -> center: a batch of task state transitions."""

    events: list[TaskEvent]


class Output(Message, tag="output", kw_only=True):
    task_id: str
    stream: int = 1
    seq: int = 0
    data: bytes = b""


class Result(Message, tag="result", kw_only=True):
    task_id: str
    state: str
    code: str = ""
    message: str = ""
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    #: The action's result value, MessagePack-encoded (empty: none).
    data: bytes = b""
    started: float = 0.0
    finished: float = 0.0
    truncated: bool = False
    #: The agent's Ed25519 signature over the result (see ``transports._signing``).
    sig: bytes = b""


class Results(Message, tag="results", kw_only=True):
    """Proxy -> center: a batch of results."""

    results: list[Result]


class ResultAck(Message, tag="result_ack", kw_only=True):
    task_ids: list[str]


class Cancel(Message, tag="cancel", kw_only=True):
    task_ids: list[str]
    reason: str = ""
    #: The host of each task (parallel to ``task_ids``), so a proxy routes a
    #: cancel in O(1) even to an agent that reconnected since the dispatch.
    agent_ids: list[str] = []


# --- fleet --------------------------------------------------------------------


class Presence(Message, tag="presence", kw_only=True):
    """Proxy -> center: agents that came, went, or sent a heartbeat."""

    agents: list[AgentState]
    full: bool = False  # True: this is every agent the proxy holds


class LoadReport(Message, tag="load_report", kw_only=True):
    proxy_id: str
    idc: str = ""
    connections: int = 0
    capacity: int = 0
    load1: float = 0.0
    cpus: int = 1
    rss: int = 0
    urls: list[str] = []


class Balance(Message, tag="balance", kw_only=True):
    """Center -> proxy: hold at most ``target`` agents; drain idle ones above it.
    With ``agents``, drain those (idle ones) instead: borrowed agents whose own
    IDC has room again (``target`` is then -1)."""

    target: int
    rate: int = 100  # agents per second
    agents: list[str] = []


class Revoke(Message, tag="revoke", kw_only=True):
    agent_ids: list[str]
    #: Agents whose revocation was undone: they may connect again.
    restored: list[str] = []


# --- enrollment through the proxy (docs/identity.md) ------------------------------
#
# An agent without an identity sends ``enroll`` as the first message of its
# connection to a proxy, instead of ``hello``. The proxy batches enrollments
# into ``enrollments`` on its authenticated link; the center checks each one
# (token, identity, key proof: the same checks as ``POST /v1/agents/register``),
# upserts the batch in one transaction and answers ``enrolled_batch``, one
# ``enrolled`` per request, matched by ``ref``. The proxy relays each to its
# agent, which then sends its ``hello`` on the same connection.


class Enroll(Message, tag="enroll", kw_only=True):
    """Agent -> proxy (and, batched, proxy -> center): one host asks to be enrolled."""

    #: The proxy's number for this request on its link (0 from an agent).
    ref: int = 0
    token: str
    #: sn, hostname, ip, os, idc, tags ... (the agent's identity; the center checks each field).
    identity: dict[str, Any]
    version: str = ""
    #: The agent's Ed25519 public key (32 bytes).
    public_key: bytes
    #: The agent's signature over (public key, identity, ts): proof of key possession.
    proof: bytes
    ts: float
    catalogue_digest: str = ""


class Enrolled(Message, tag="enrolled", kw_only=True):
    """Center -> proxy -> agent: the answer to one ``enroll``. ``code`` set: refused
    (C001 malformed, C017 token, C019 revoked host, C042 key proof, ...)."""

    ref: int = 0
    code: str = ""
    message: str = ""
    agent_id: str = ""
    credential: str = ""
    #: The IDC's proxies, least loaded first: ``{"id", "urls", "idc"}`` each.
    proxies: list[dict[str, str | list[str]]] = []
    heartbeat: float = 10.0
    center_time: float = 0.0
    #: The center's task-signing public keys (base64), by key id.
    center_keys: dict[str, str] = {}
    #: The center does not know the catalogue digest: send the document (over HTTPS).
    catalogue_wanted: bool = False


class Enrollments(Message, tag="enrollments", kw_only=True):
    """Proxy -> center: enrollments gathered from the proxy's agents."""

    items: list[Enroll]


class EnrolledBatch(Message, tag="enrolled_batch", kw_only=True):
    """Center -> proxy: one answer per enrollment of an ``enrollments``."""

    items: list[Enrolled]


# --- streams (terminal, file transfer) ------------------------------------------
#
# A terminal session (docs/console.md) is a signed ``exec.pty`` task whose params
# name a ``stream_id`` chosen at random by the center. The center sends
# ``stream_open`` to the proxy before the task (the proxy records which agent and
# which center link the stream belongs to); the agent sends ``stream_open`` up
# when its PTY runs. ``stream_data`` carries keystrokes down and screen output up
# (the proxy coalesces small writes), ``stream_resize`` the window size, and
# ``stream_close`` ends the stream from either side with a code and, from the
# agent, the shell's exit ``status``.
#
# ``stream_credit`` is per-stream flow control of the output (agent -> center),
# like an SSH channel window: the center grants the agent ``window`` bytes in
# the task's signed params, and returns credit with ``stream_credit`` as the
# browser takes the output; the agent sends output only while it has credit and
# otherwise stops reading the PTY. It is an optional extension of protocol
# version 1: a proxy says it relays it with the feature ``stream_credit`` in its
# ``hello``, an agent by declaring the ``window`` param of ``exec.pty``; the
# center grants a window only when both do (else: no window, as before), and a
# peer that does not know the message skips it (``Channel`` ignores unknown tags).


class StreamOpen(Message, tag="stream_open", kw_only=True):
    stream_id: int
    kind: str
    #: MessagePack-encoded params (empty: none).
    params: bytes = b""
    agent_id: str = ""


class StreamData(Message, tag="stream_data", kw_only=True):
    stream_id: int
    seq: int = 0
    data: bytes = b""
    #: center -> agent: the session key's MAC (see transports._streamauth); empty upstream.
    mac: bytes = b""


class StreamResize(Message, tag="stream_resize", kw_only=True):
    stream_id: int
    cols: int
    rows: int
    seq: int = 0
    mac: bytes = b""


class StreamCredit(Message, tag="stream_credit", kw_only=True):
    """center -> agent: ``grant`` more bytes of output may be sent on the stream."""

    stream_id: int
    grant: int
    seq: int = 0
    mac: bytes = b""


class StreamClose(Message, tag="stream_close", kw_only=True):
    stream_id: int
    code: str = ""
    message: str = ""
    #: The shell's exit status when it exited by itself (agent -> center).
    status: int | None = None
    seq: int = 0
    mac: bytes = b""


# --- file channel: content-addressed chunks (docs/file-transfer.md) ------------


class ChunkGet(Message, tag="chunk_get", kw_only=True):
    """Ask for one chunk by its SHA-256 (agent -> proxy, proxy -> center).
    ``refresh``: the last copy failed verification, do not serve it from a cache."""

    req: int
    hash: str
    refresh: bool = False


class ChunkData(Message, tag="chunk_data", kw_only=True):
    """The chunk asked for by ``req``, or ``code``/``message`` when it cannot be had."""

    req: int
    hash: str
    data: bytes = b""
    code: str = ""
    message: str = ""


class ChunkPut(Message, tag="chunk_put", kw_only=True):
    """Hand one chunk of a collected file upstream (agent -> proxy -> center)."""

    req: int
    hash: str
    data: bytes


class ChunkAck(Message, tag="chunk_ack", kw_only=True):
    """The center stored (or refused, with ``code``) the chunk of ``req``."""

    req: int
    hash: str
    code: str = ""
    message: str = ""


AnyMessage = (
    Hello
    | Welcome
    | Ping
    | Pong
    | Drain
    | ErrorMsg
    | Dispatch
    | DispatchAck
    | Task
    | Ack
    | Events
    | Output
    | Result
    | Results
    | ResultAck
    | Cancel
    | Presence
    | LoadReport
    | Revoke
    | Balance
    | StreamOpen
    | StreamData
    | StreamResize
    | StreamClose
    | StreamCredit
    | ChunkGet
    | ChunkData
    | ChunkPut
    | ChunkAck
    | Enroll
    | Enrolled
    | Enrollments
    | EnrolledBatch
)
