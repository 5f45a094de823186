"""The center's audit trail: writes and decisions, MAC-ed and anchored.

Records are queued without blocking the caller and appended in batches from a
worker thread to the MAC-chained log (:mod:`center.security._audit`) in the
center's own database, so several centers share one chain. The key comes from a
file beside the center (``audit.key``), never from the database.

Every ``anchor_interval`` seconds, when the head moved, and once more on
shutdown, the head is anchored outside the database: appended to the anchor
file and sent to any other sink (syslog). :meth:`AuditTrail.verify` checks the
chain against the anchors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import trio

from ._config import CenterConfig
from ._store import AsyncStore, audit_log
from .security import (
    Anchor,
    AnchorSink,
    AuditEntry,
    AuditKeyError,
    AuditKeyRing,
    AuditLog,
    AuditProblem,
    FileAnchorSink,
    SyslogAnchorSink,
    make_anchor,
    rotate_key_file,
)

log = logging.getLogger("starling.audit")

#: Seconds allowed for the last flush and anchor when the center stops.
_SHUTDOWN_GRACE = 5.0


class AuditTrail:
    """The center's audit log with its anchors.

    :param store: the center's store.
    :param key: the audit key ring (``None`` only in tests: unkeyed SHA-256).
    :param anchor_file: where anchors are appended and read back for verification.
    :param sinks: further places anchors go (e.g. :class:`SyslogAnchorSink`).
    :param anchor_interval: seconds between anchors (when the head moved); 0 = only on shutdown.
    :param center_id: written into each anchor.
    """

    def __init__(
        self,
        store: AsyncStore,
        key: AuditKeyRing | bytes | None = None,
        *,
        anchor_file: str | Path | None = None,
        sinks: Sequence[AnchorSink] = (),
        anchor_interval: float = 60.0,
        center_id: str = "",
    ) -> None:
        self.store = store
        self.log = AuditLog(store.sync.engine, audit_log, key=key)
        self.anchors = FileAnchorSink(anchor_file) if anchor_file else None
        self.sinks: list[AnchorSink] = ([self.anchors] if self.anchors else []) + list(sinks)
        self.anchor_interval = anchor_interval
        self.center_id = center_id
        self._queue: list[AuditEntry] = []
        self._wake = trio.Event()
        self._flushed = trio.Event()
        self._anchored: tuple[int, str] | None = None

    def record(self, actor: str, kind: str, subject: str = "", detail: Any = None) -> None:
        """Queue one record (never blocks, never raises)."""
        self._queue.append(AuditEntry(actor or "-", kind, subject[:500], detail, time.time()))
        self._wake.set()

    async def flush(self) -> None:
        batch, self._queue = self._queue, []
        if not batch:
            return
        try:
            await self.store.call(self.log.append_many, batch)
        except BaseException:
            self._queue[:0] = batch  # keep them, in order, for the next try
            raise

    async def run(self, interval: float = 0.1) -> None:
        """Flush queued records every ``interval`` and anchor the head; on
        cancellation (shutdown), flush and anchor once more before returning."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._flush_loop, interval)
                if self.sinks and self.log.keys is not None:
                    nursery.start_soon(self._anchor_loop)
        finally:
            with trio.CancelScope(deadline=trio.current_time() + _SHUTDOWN_GRACE, shield=True):
                try:
                    await self.flush()
                    await self.anchor()
                except Exception:
                    log.exception("audit: final flush/anchor on shutdown failed")

    async def _flush_loop(self, interval: float) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await trio.sleep(interval)
            try:
                await self.flush()
            except Exception:
                log.exception("audit append failed; records kept for the next try")
            done, self._flushed = self._flushed, trio.Event()
            done.set()

    async def _anchor_loop(self) -> None:
        if self.anchor_interval <= 0:
            return
        while True:
            await trio.sleep(self.anchor_interval)
            try:
                await self.anchor()
            except Exception:
                log.exception("audit: anchoring the head failed")

    async def anchor(self) -> bool:
        """Anchor the current head in every sink if it moved since the last anchor.

        A head behind (or beside) the last anchor is never anchored: that is the
        tail cut or rewritten, which :meth:`verify` must keep seeing.

        :returns: whether an anchor was written.
        """
        keys = self.log.keys
        if keys is None or not self.sinks:
            return False
        head = await self.store.call(self.log.head)
        if head is None:
            return False
        if self._anchored is None and self.anchors is not None:
            self._anchored = await trio.to_thread.run_sync(self._last_anchored)
        last = self._anchored
        if last is not None and head[0] <= last[0]:
            if head != last:
                log.error(
                    "audit head is record %d but record %d was anchored before: the log was cut or rewritten; "
                    "not anchoring (run `starling audit verify`)", head[0], last[0],
                )
            return False
        a = make_anchor(keys, head[0], head[1], center=self.center_id)
        failed = 0
        for sink in self.sinks:
            try:
                await trio.to_thread.run_sync(sink.write, a)
            except OSError as exc:
                failed += 1
                log.error("audit: cannot write anchor to %r: %s", sink, exc)
        if failed == len(self.sinks):
            return False  # try again next round
        self._anchored = head
        return True

    def _last_anchored(self) -> tuple[int, str] | None:
        assert self.anchors is not None
        anchors, _problems = self.anchors.read(self.log.keys)
        if not anchors:
            return None
        newest = max(anchors, key=lambda a: a.seq)
        return newest.seq, newest.hash

    def verify_sync(self) -> list[AuditProblem]:
        """Check the chain against the anchors (blocking; run it in a worker thread)."""
        return verify_with_anchors(self.log, self.anchors)[0]

    async def verify(self) -> list[AuditProblem]:
        """:meth:`verify_sync` in a worker thread, after what is queued is written."""
        await self.wait_flushed()
        # Not through the store's limiter: a long verification must not stall the
        # center's writes (SQLite's WAL lets this reader run beside them).
        return await trio.to_thread.run_sync(self.verify_sync)

    def report_sync(self) -> dict[str, Any]:
        """What ``GET /v1/audit/verify`` answers (blocking)."""
        return verify_report(self.log, self.anchors)

    async def report(self) -> dict[str, Any]:
        """:meth:`report_sync` in a worker thread, after what is queued is written."""
        await self.wait_flushed()
        return await trio.to_thread.run_sync(self.report_sync)

    async def wait_flushed(self) -> None:
        """Wait until what was queued so far is written (tests, shutdown)."""
        if self._queue:
            await self._flushed.wait()


def sinks_from_config(syslog: str, facility: str = "auth") -> list[AnchorSink]:
    """Extra anchor sinks named in the center's config (``audit_syslog``)."""
    return [SyslogAnchorSink(syslog, facility)] if syslog else []


def make_audit_trail(cfg: CenterConfig, store: AsyncStore) -> AuditTrail:
    """The audit trail a center's config asks for; the key ring is read (or made) here.

    :raises SystemExit: when the key file is unreadable or malformed (the center must
        not run with an audit log nobody can verify).
    """
    try:
        keys = AuditKeyRing.load_or_create(_key_path(cfg))
        sinks = sinks_from_config(cfg.audit_syslog, cfg.audit_syslog_facility)
    except (AuditKeyError, ValueError) as exc:
        raise SystemExit(f"audit: {exc}") from exc
    return AuditTrail(
        store, keys,
        anchor_file=_anchor_path(cfg),
        sinks=sinks, anchor_interval=cfg.audit_anchor_interval, center_id=cfg.center_id,
    )


def verify_with_anchors(log_: AuditLog, anchor_file: FileAnchorSink | None) -> tuple[list[AuditProblem], list[Anchor]]:
    """Problems of the chain checked against the anchors in ``anchor_file``, and the
    anchors whose MAC held."""
    problems: list[AuditProblem] = []
    anchors: list[Anchor] = []
    if anchor_file is not None:
        anchors, problems = anchor_file.read(log_.keys)
    return sorted(problems + log_.verify(anchors=anchors), key=lambda p: p.seq), anchors


def verify_report(log_: AuditLog, anchor_file: FileAnchorSink | None) -> dict[str, Any]:
    """The verification as a JSON-able document: ``ok``, ``head``, the newest
    ``anchor``, ``records`` checked, ``keys`` known and ``problems``."""
    t0 = time.perf_counter()
    problems, anchors = verify_with_anchors(log_, anchor_file)
    head = log_.head()
    newest = max(anchors, key=lambda a: a.seq) if anchors else None
    return {
        "ok": not problems,
        "head": {"seq": head[0], "hash": head[1]} if head else None,
        "anchor": None if newest is None else {"seq": newest.seq, "hash": newest.hash, "time": newest.time, "center": newest.center},
        "anchors": len(anchors),
        "keys": [k.id for k in log_.keys] if log_.keys is not None else [],
        "seconds": round(time.perf_counter() - t0, 3),
        "problems": [{"kind": p.kind, "seq": p.seq, "message": p.message, "detail": str(p)} for p in problems],
    }


def _key_path(cfg: CenterConfig) -> Path:
    return Path(cfg.audit_key_file) if cfg.audit_key_file else Path(cfg.state_dir) / "audit.key"


def _anchor_path(cfg: CenterConfig) -> Path:
    return Path(cfg.audit_anchor_file) if cfg.audit_anchor_file else Path(cfg.state_dir) / "audit-anchors.jsonl"


def local_audit_log(cfg: CenterConfig, store: Any) -> AuditLog:
    """The audit log of the center configured in ``cfg``, MAC-ed with its key ring, for
    tools that write on the center host without the center (local account creation).

    :raises StarlingError: C030 when the key file is malformed.
    """
    from transports import ErrorCode, StarlingError

    try:
        keys = AuditKeyRing.load_or_create(_key_path(cfg))
    except (AuditKeyError, OSError) as exc:
        raise StarlingError(f"audit key: {exc}", code=ErrorCode.C030) from exc
    return AuditLog(store.engine, audit_log, key=keys)


def verify_offline(config_path: str) -> dict[str, Any]:
    """Verify the audit log of the center configured in ``config_path`` without it:
    its database, key ring and anchor file are read directly (``starling audit verify -c``).

    :raises StarlingError: C030 when the config or the key file cannot be used.
    """
    from transports import ErrorCode, StarlingError

    from ._config import ConfigError, load
    from ._store import Store

    try:
        cfg = load(CenterConfig, config_path, "center")
        keys = AuditKeyRing.load(_key_path(cfg))
    except (ConfigError, AuditKeyError) as exc:
        raise StarlingError(str(exc), code=ErrorCode.C030) from exc
    db = Path(cfg.state_dir) / "center.db"
    if not cfg.db and not db.exists():
        raise StarlingError(f"no database at {db}: is {config_path} the center's config?", code=ErrorCode.C030)
    store = Store(cfg.db or f"sqlite:///{db}")
    try:
        return verify_report(AuditLog(store.engine, audit_log, key=keys), FileAnchorSink(_anchor_path(cfg)))
    except sa.exc.SQLAlchemyError as exc:
        raise StarlingError(f"cannot read the audit log: {str(exc).splitlines()[0]}", code=ErrorCode.C016) from exc
    finally:
        store.engine.dispose()


def rotate_from_config(config_path: str, console: Any) -> int:
    """``starling audit rotate-key -c center.toml``: add a key to the ring."""
    from transports import ErrorCode, StarlingError

    from ._config import ConfigError, load

    try:
        cfg = load(CenterConfig, config_path, "center")
        path = _key_path(cfg)
        if not path.exists():
            raise AuditKeyError(f"no audit key ring at {path}: the center makes it on first start; nothing to rotate")
        key = rotate_key_file(path)
    except (ConfigError, AuditKeyError, OSError) as exc:
        raise StarlingError(str(exc), code=ErrorCode.C030) from exc
    console.print(
        f"new audit key [bold]{key.id}[/bold] added to {path}; restart the center to sign with it, "
        "and copy the file to every center sharing this database. Keep the old keys: old records need them."
    )
    return 0


def print_report(doc: dict[str, Any], console: Any, err_console: Any) -> None:
    """The human form of a verification report."""
    head = doc.get("head") or {}
    anchor = doc.get("anchor") or {}
    where = f"{head.get('seq', 0)} records, head {str(head.get('hash', ''))[:16]}…"
    if anchor:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(anchor["time"]))
        where += f"; newest of {doc.get('anchors', 0)} anchors: record {anchor['seq']} at {when}"
    else:
        where += "; no anchor yet"
    if doc["ok"]:
        console.print(f"[green]audit log intact[/green]: {where}")
        return
    err_console.print(f"[bold red]audit log tampered[/bold red]: {len(doc['problems'])} problem(s); {where}")
    for p in doc["problems"][:50]:
        err_console.print(f"  seq {p['seq']}: [bold]{p['kind']}[/bold] — {p.get('message') or p['detail']}")
    if len(doc["problems"]) > 50:
        err_console.print(f"  … and {len(doc['problems']) - 50} more (--json lists all)")
