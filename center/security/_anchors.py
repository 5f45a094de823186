"""Anchors: the audit log's head, written from time to time outside the database.

A chain of MACs shows an edited record, but not a cut-off tail (the shorter log is
still a valid chain), nor a rewrite by someone who holds the key. An anchor is the
head ``(seq, mac)`` at a moment, itself MAC-ed with the audit key, sent to places
the database's writers cannot reach:

* :class:`FileAnchorSink`: an append-only file, one JSON object per line (0600),
  which verification reads back;
* :class:`SyslogAnchorSink`: one syslog message per anchor (local ``/dev/log`` or a
  remote collector over UDP), for a copy on another machine.

Any object with ``write(anchor)`` (:class:`AnchorSink`) can be added.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import logging.handlers
import os
import socket
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

from transports import open_private_append, tighten_private

from ._audit import Anchor, AuditProblem
from ._auditkeys import AuditKeyRing

__all__ = [
    "AnchorSink",
    "FileAnchorSink",
    "SyslogAnchorSink",
    "check_anchor",
    "make_anchor",
]

_DOMAIN = "starling-audit-anchor-v1"


def _anchor_payload(a: Anchor) -> bytes:
    return json.dumps(
        [_DOMAIN, a.key_id, a.center, a.seq, a.hash, round(a.time * 1_000_000)], separators=(",", ":")
    ).encode()


def make_anchor(keys: AuditKeyRing, seq: int, head_hash: str, *, center: str = "", at: float | None = None) -> Anchor:
    """An anchor for the head ``(seq, head_hash)``, MAC-ed with the ring's current key."""
    key = keys.current
    t = round((time.time() if at is None else at) * 1_000_000) / 1_000_000
    a = Anchor(seq=seq, hash=head_hash, time=t, center=center, key_id=key.id)
    mac = hmac.new(key.secret, _anchor_payload(a), hashlib.sha256).hexdigest()
    return Anchor(seq, head_hash, t, center, key.id, mac)


def check_anchor(keys: AuditKeyRing, a: Anchor) -> str | None:
    """Why ``a`` is not a genuine anchor, or ``None`` when its MAC holds."""
    secret = keys.get(a.key_id)
    if secret is None:
        return f"anchor of record {a.seq} is MAC-ed with key {a.key_id!r}, which the audit key ring lacks"
    want = hmac.new(secret, _anchor_payload(a), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, a.mac):
        return f"anchor of record {a.seq} does not match its MAC: the anchor was edited or forged"
    return None


def anchor_json(a: Anchor) -> str:
    """One anchor as its JSON line (without the newline)."""
    return json.dumps(
        {"seq": a.seq, "hash": a.hash, "time": a.time, "center": a.center, "key_id": a.key_id, "mac": a.mac},
        separators=(",", ":"),
    )


@runtime_checkable
class AnchorSink(Protocol):
    """Somewhere anchors go. ``write`` is synchronous (called from a worker thread)
    and raises ``OSError`` when the anchor could not be kept."""

    def write(self, anchor: Anchor) -> None: ...


class FileAnchorSink:
    """Anchors appended to a file (mode 0600), one JSON line each, fsync-ed.

    :param path: the anchor file; keep it off the database's disk if you can.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"FileAnchorSink({str(self.path)!r})"

    def write(self, anchor: Anchor) -> None:
        fd = open_private_append(self.path)
        try:
            os.write(fd, (anchor_json(anchor) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, keys: AuditKeyRing | None) -> tuple[list[Anchor], list[AuditProblem]]:
        """Every anchor in the file whose MAC holds, and a problem for each that does not.

        Without ``keys`` nothing can be checked, so no anchor is trusted.
        """
        tighten_private([self.path])
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return [], []
        anchors: list[Anchor] = []
        problems: list[AuditProblem] = []
        lines = text.split("\n")
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                a = Anchor(
                    seq=int(doc["seq"]), hash=str(doc["hash"]), time=float(doc["time"]),
                    center=str(doc.get("center", "")), key_id=str(doc["key_id"]), mac=str(doc["mac"]),
                )
            except (ValueError, KeyError, TypeError):
                if n == len(lines):
                    continue  # a last line cut by a crash mid-write: not evidence of anything
                problems.append(AuditProblem(0, "anchor", f"{self.path}:{n}: not an anchor"))
                continue
            why = "no audit key to check it" if keys is None else check_anchor(keys, a)
            if why is None:
                anchors.append(a)
            else:
                problems.append(AuditProblem(a.seq, "anchor", f"{self.path}:{n}: {why}"))
        return anchors, problems


class SyslogAnchorSink:
    """Anchors sent as syslog messages (``starling-audit: anchor {json}``, RFC 3164
    framing, severity ``info``), one datagram each.

    :param address: ``/dev/log`` (a local socket path) or ``host:port`` (UDP).
    :param facility: the syslog facility (``auth``, ``local0``...).
    """

    def __init__(self, address: str = "/dev/log", facility: str = "auth") -> None:
        self.address = address
        code = logging.handlers.SysLogHandler.facility_names.get(facility)
        if code is None:
            raise ValueError(f"unknown syslog facility {facility!r}")
        self._priority = code * 8 + logging.handlers.SysLogHandler.LOG_INFO
        self._target: str | tuple[str, int]
        if address.startswith("/"):
            self._family = socket.AF_UNIX
            self._target = address
        else:
            host, sep, port = address.rpartition(":")
            if not sep or not port.isdigit():
                raise ValueError(f"syslog address {address!r}: expected /path or host:port")
            host = host.strip("[]") or "127.0.0.1"
            self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self._target = (host, int(port))

    def __repr__(self) -> str:
        return f"SyslogAnchorSink({self.address!r})"

    def write(self, anchor: Anchor) -> None:
        data = f"<{self._priority}>starling-audit: anchor {anchor_json(anchor)}".encode()
        with socket.socket(self._family, socket.SOCK_DGRAM) as sock:
            sock.sendto(data, self._target)
