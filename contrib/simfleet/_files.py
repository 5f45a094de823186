"""``file.install`` for simulated identities, through the real file-channel code.

Each identity fetches chunks with the agent's own
:class:`agent_core._chunks.ChunkClient` over its own connection, and gathers
and verifies them with :func:`plugins.files._transfer.gather` and
:func:`plugins.files._transfer.stream_file` — the same code a real agent runs.
What differs is only where bytes rest, so that a thousand identities fit in
one process: a verified chunk is kept on disk ONCE per process (content
addressed, shared by the identities), and each identity records which chunks
it holds and which files it installed in an append-only log, so "held" and
"installed" survive a ``kill -9`` of the process exactly as a real agent's
state dir does. A "file" is never written to a target path: a simulated host
has no file system; its whole-file SHA-256 is checked like the real one.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from agent_core import ActionError
from agent_core.host import ChunkClient
from plugins.files.install import InstallParams, InstallResult
from plugins.files.transfer import Planned, gather, stream_file
from transports import ErrorCode, JobSpec, Result, encode_value

if TYPE_CHECKING:
    from agent_core.host import AgentSession


class SimChunks:
    """Chunk bytes on disk once per process, and per-identity held/installed sets."""

    def __init__(self, root: Path) -> None:
        self.root = root / "chunks"
        self.root.mkdir(parents=True, exist_ok=True)
        self.held: dict[str, set[str]] = {}
        self.installed: dict[str, set[str]] = {}
        log = root / "held.log"
        if log.exists():
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) != 3:
                    continue  # a torn last line from a kill
                kind, agent, digest = parts
                if kind == "H":
                    self.held.setdefault(agent, set()).add(digest)
                elif kind == "D":
                    self.held.get(agent, set()).discard(digest)
                elif kind == "I":
                    self.installed.setdefault(agent, set()).add(digest)
        self._log = log.open("a")

    def record(self, kind: str, agent: str, digest: str) -> None:
        self._log.write(f"{kind} {agent} {digest}\n")
        self._log.flush()  # in the page cache: survives kill -9 of this process

    def view(self, agent: str) -> AgentChunks:
        return AgentChunks(self, agent)


class AgentChunks:
    """One identity's view: the :class:`plugins.files._transfer.ChunkStore` protocol."""

    def __init__(self, shared: SimChunks, agent: str) -> None:
        self.shared = shared
        self.agent = agent
        self.mine = shared.held.setdefault(agent, set())

    def has(self, digest: str) -> bool:
        return digest in self.mine and (self.shared.root / digest).exists()

    def put(self, digest: str, data: bytes) -> None:
        path = self.shared.root / digest
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=self.shared.root, prefix=".in-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        self.mine.add(digest)
        self.shared.record("H", self.agent, digest)

    def read(self, digest: str) -> bytes:
        return (self.shared.root / digest).read_bytes()

    def discard(self, digest: str) -> None:
        if digest in self.mine:
            self.mine.discard(digest)
            self.shared.record("D", self.agent, digest)


def _fail(task_id: str, code: ErrorCode, message: str, started: float, state: str = "failed") -> Result:
    return Result(task_id=task_id, state=state, code=code.value, message=message, started=started, finished=time.time())


async def install(agent: AgentSession, task_id: str, job: JobSpec, scope: trio.CancelScope) -> Result:
    """Run one ``file.install`` task for ``agent``; returns its Result."""
    started = time.time()
    try:
        p = msgspec.msgpack.decode(bytes(job.params), type=InstallParams)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _fail(task_id, ErrorCode.A002, f"invalid parameters: {exc}", started)
    fleet: Any = agent.owner
    shared = fleet.files
    store = shared.view(agent.agent_id)
    installed = shared.installed.setdefault(agent.agent_id, set())
    files = [e for e in p.files if e.kind == "file"]
    planned = [Planned(path=e.path, target=e.path, status="same" if e.sha256 in installed else "new", size=e.size) for e in files]
    result = InstallResult(files=planned, dry_run=p.dry_run, new=sum(1 for x in planned if x.status == "new"),
                           same=sum(1 for x in planned if x.status == "same"))
    todo = [e for e, x in zip(files, planned, strict=True) if x.status != "same"]
    outcome: Result | None = None
    with scope, trio.move_on_after(job.timeout if job.timeout > 0 else 3600) as timer:
        try:
            if not p.dry_run:
                wanted = [c for e in todo for c in e.chunks]
                stats = await gather(wanted, chunk_client(agent), store, parallel=p.parallel)
                result.held_chunks, result.fetched_chunks = stats["held"], stats["fetched"]
                result.fetched_bytes, result.corrupt_chunks = stats["fetched_bytes"], stats["corrupt"]
                fleet.stats["file_bytes"] += stats["fetched_bytes"]
                for e in todo:
                    digest = await trio.to_thread.run_sync(stream_file, e, store, None)
                    if digest != e.sha256:
                        for c in e.chunks:
                            store.discard(c)
                        raise ActionError(f"{e.path}: assembled SHA-256 {digest} is not the manifest's", code=ErrorCode.A015)
                    installed.add(str(e.sha256))
                    shared.record("I", agent.agent_id, str(e.sha256))
                for c in dict.fromkeys(wanted):
                    store.discard(c)
            outcome = Result(task_id=task_id, state="succeeded", data=encode_value(result), started=started, finished=time.time())
        except ActionError as exc:
            outcome = _fail(task_id, exc.code, exc.message, started)
    if timer.cancelled_caught:
        return _fail(task_id, ErrorCode.A005, f"timed out after {job.timeout:g}s", started, "timed_out")
    if outcome is None:
        return _fail(task_id, ErrorCode.A006, "cancelled", started, "cancelled")
    return outcome


def chunk_client(agent: AgentSession) -> ChunkClient:
    """The identity's file channel, made on its first file task."""
    if agent.chunks is None:
        agent.chunks = ChunkClient(agent.send)
        if agent.channel is not None:
            agent.chunks.link_up()
    return agent.chunks

