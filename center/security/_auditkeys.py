"""The audit key ring: the keys the audit log is MAC-ed with, kept outside the database.

The ring is a small text file (mode 0600), one key per line, oldest first::

    # starling audit keys: <key id> <secret, base64url>; the last line signs new records
    20261205-3fa9c1 q0V6...
    20270301-77b2e0 Zm9v...

Each audit record stores the id of the key that MAC-ed it, so after a rotation
(:func:`rotate_key_file` appends a key, which then signs everything new) the old
records stay verifiable as long as their key stays in the file. Several centers
of one cluster share one database and must share the ring: copy the file to each
(or point ``audit_key_file`` at the same secret store).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from transports import tighten_private, write_private

__all__ = ["AuditKey", "AuditKeyError", "AuditKeyRing", "rotate_key_file"]

_ID = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_HEADER = "# starling audit keys: <key id> <secret, base64url>; the last line signs new records\n"
_MIN_SECRET = 16


class AuditKeyError(Exception):
    """The key file is unreadable or malformed; the message says where."""


@dataclass(frozen=True, slots=True)
class AuditKey:
    """One audit key: ``id`` is stored in each record it MACs."""

    id: str
    secret: bytes = b""

    def __repr__(self) -> str:  # never print the secret
        return f"AuditKey({self.id!r})"

    @classmethod
    def generate(cls) -> AuditKey:
        """A fresh 256-bit key with a date-stamped id."""
        return cls(f"{time.strftime('%Y%m%d', time.gmtime())}-{secrets.token_hex(3)}", secrets.token_bytes(32))

    @classmethod
    def from_bytes(cls, secret: bytes) -> AuditKey:
        """A key given as bare bytes; its id is a fingerprint of the secret."""
        return cls("k" + hashlib.sha256(b"starling-audit-key-id" + secret).hexdigest()[:12], secret)


class AuditKeyRing:
    """Keys by id; :attr:`current` (the last) MACs new records, all verify old ones."""

    def __init__(self, keys: Sequence[AuditKey]) -> None:
        if not keys:
            raise AuditKeyError("an audit key ring needs at least one key")
        self._keys = {k.id: k for k in keys}
        if len(self._keys) != len(keys):
            raise AuditKeyError("duplicate audit key id")
        self.current = keys[-1]

    def __iter__(self) -> Iterator[AuditKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"AuditKeyRing({list(self._keys)!r})"

    def get(self, key_id: str) -> bytes | None:
        """The secret of ``key_id``, or ``None`` if the ring does not hold it."""
        k = self._keys.get(key_id)
        return None if k is None else k.secret

    @classmethod
    def parse(cls, text: str, where: str = "audit key file") -> AuditKeyRing:
        """Read the file format above."""
        keys = []
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2 or not _ID.match(parts[0]):
                raise AuditKeyError(f"{where}:{n}: expected '<key id> <secret>'")
            try:
                secret = base64.b64decode(parts[1] + "=" * (-len(parts[1]) % 4), altchars=b"-_", validate=True)
            except ValueError as exc:
                raise AuditKeyError(f"{where}:{n}: the secret is not base64url") from exc
            if len(secret) < _MIN_SECRET:
                raise AuditKeyError(f"{where}:{n}: the secret is shorter than {_MIN_SECRET} bytes")
            keys.append(AuditKey(parts[0], secret))
        if not keys:
            raise AuditKeyError(f"{where}: no key in the file")
        return cls(keys)

    def dumps(self) -> str:
        """The file text of this ring (oldest first, current last)."""
        lines = [_HEADER]
        for k in self._keys.values():
            lines.append(f"{k.id} {base64.urlsafe_b64encode(k.secret).decode().rstrip('=')}\n")
        return "".join(lines)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AuditKeyRing:
        """Read the ring at ``path`` (tightening its mode to 0600 if it was looser)."""
        tighten_private([path])
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise AuditKeyError(f"cannot read audit key file {path}: {exc.strerror}") from exc
        return cls.parse(text, str(path))

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> AuditKeyRing:
        """Read the ring at ``path``, or make one with a fresh key (mode 0600)."""
        if not Path(path).exists():
            ring = cls([AuditKey.generate()])
            try:
                write_private(path, ring.dumps(), exclusive=True)
            except FileExistsError:
                pass  # another center sharing the file made it first: use theirs
            else:
                return ring
        return cls.load(path)


def rotate_key_file(path: str | os.PathLike[str]) -> AuditKey:
    """Add a fresh key to the ring at ``path`` (created if absent); it signs new records
    from the next center start on. Old keys stay so that old records still verify."""
    old = list(AuditKeyRing.load(path)) if Path(path).exists() else []
    new = AuditKey.generate()
    while any(k.id == new.id for k in old):
        new = AuditKey.generate()
    write_private(path, AuditKeyRing([*old, new]).dumps())
    return new
