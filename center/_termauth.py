"""Who may open a web terminal: embed tokens, origins, scope (docs/console.md).

A terminal's WebSocket authenticates in one of two ways:

* the console's session cookie, when the page is the console itself (the
  ``Origin`` must be the center's own origin);
* an **embed token** (``?token=``) issued by ``POST /api/v1/terminal/tokens``
  for one account and one host, single use, valid ``ttl`` seconds (default 60,
  at most 300) to open the session; the ``Origin`` must then be one of
  ``[console] allowed_origins`` (or the center's own).

Either way the account must be allowed the ``exec.pty`` action (a danger
action: granted by exact name) on the host, and the session is still a job
that passes the whole policy. Tokens live in this center's memory, keyed by
their SHA-256, like console sessions.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from transports import ErrorCode, StarlingError

from ._rows import HostRow

__all__ = ["ACTION", "TerminalRefused", "TerminalTokenRequest", "TokenBook", "close_code_for", "may_open"]

#: The plugin action a terminal session runs.
ACTION = "exec.pty"
MAX_TOKENS = 10_000


class TerminalTokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Ask for an embed token: the host (id or hostname) and how long it may wait to be used."""

    host: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    ttl: Annotated[float, msgspec.Meta(gt=0, le=3600)] | None = None


class TerminalRefused(StarlingError):
    """A terminal that cannot open: ``close`` is the WebSocket close code to end with."""

    def __init__(self, message: str, *, code: ErrorCode, close: int) -> None:
        super().__init__(message, code=code)
        self.close = close


#: WebSocket close codes by error code (the contract in docs/console.md); others: 1011.
_CLOSE = {
    ErrorCode.C001: 4400, ErrorCode.C018: 4400,
    ErrorCode.C007: 4401, ErrorCode.C036: 4401,
    ErrorCode.C009: 4403, ErrorCode.C010: 4403, ErrorCode.C014: 4403, ErrorCode.C037: 4403, ErrorCode.C011: 4403,
    ErrorCode.C013: 4403, ErrorCode.C019: 4403,
    ErrorCode.C002: 4404, ErrorCode.C003: 4404,
}


def close_code_for(code: ErrorCode) -> int:
    return _CLOSE.get(code, 1011)


def may_open(account: Any, host: HostRow) -> bool:
    """Whether the account's scope lets it open a terminal on the host (the policy checks again)."""
    if account.admin:
        return True
    return bool(account.scope.allows_action(ACTION, "danger") and account.scope.allows_host(host))


@dataclass
class _Token:
    key_id: str
    agent_id: str
    expires: float


class TokenBook:
    """Single-use embed tokens of one center."""

    def __init__(self, default_ttl: float = 60.0, max_ttl: float = 300.0) -> None:
        self.default_ttl = default_ttl
        self.max_ttl = max_ttl
        self._tokens: OrderedDict[str, _Token] = OrderedDict()

    def issue(self, key_id: str, agent_id: str, ttl: float | None) -> tuple[str, float]:
        """A new token and its expiry (POSIX time); C001 when ``ttl`` is above the maximum."""
        ttl = self.default_ttl if ttl is None else ttl
        if not 0 < ttl <= self.max_ttl:
            raise StarlingError(f"ttl must be within (0, {self.max_ttl:g}] seconds", code=ErrorCode.C001)
        token = secrets.token_urlsafe(32)
        expires = time.time() + ttl
        self._tokens[_digest(token)] = _Token(key_id, agent_id, expires)
        while len(self._tokens) > MAX_TOKENS:
            self._tokens.popitem(last=False)
        return token, expires

    def redeem(self, token: str, agent_id: str) -> str:
        """The account a token was issued to, once; :class:`TerminalRefused` C036 when it is
        unknown, used or expired, C009 when it was issued for another host."""
        entry = self._tokens.pop(_digest(token), None) if token and len(token) <= 128 else None
        if entry is None:
            raise TerminalRefused("this terminal token is unknown or was already used", code=ErrorCode.C036, close=4401)
        if entry.expires < time.time():
            raise TerminalRefused("this terminal token has expired; ask for a new one", code=ErrorCode.C036, close=4401)
        if entry.agent_id != agent_id:
            raise TerminalRefused("this terminal token was issued for another host", code=ErrorCode.C009, close=4403)
        return entry.key_id


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
