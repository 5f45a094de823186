"""The web console, served by the center at ``/ui/``: pages, login and sessions.

The pages are static files (``center/console/``) that call the ordinary API
(``/v1/...``) from the browser. A browser cannot sign requests the way the CLI
does, so a login (key id and secret of an existing account, or a one-time
login link) opens a **server-side session** instead:

* the session id travels only in a ``__Host-`` cookie that is ``Secure``,
  ``HttpOnly`` and ``SameSite=Strict``;
* every state-changing request (anything but GET/HEAD) must also carry the
  session's CSRF token in ``X-Starling-CSRF``, which the page reads from
  ``GET /ui/session`` (same origin only: the API sends no CORS headers);
* a session ends after :data:`IDLE` seconds unused or :data:`LIFETIME`
  seconds in all, or at logout.

A session authenticates as its account and nothing more: the request then goes
through the same route table (:mod:`center._authz`), roles, guards and scopes
as a signed API call, so a scoped account sees and runs in the pages exactly
what it could through the API.

Sessions and login tokens live in this center's memory: a restart logs
everyone out, and in a cluster of centers a browser stays with the center it
logged in to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from transports import ErrorCode, StarlingError

from ._http import json_response, parse

__all__ = ["Console", "LoginRequest"]

#: Seconds a session may sit unused before it ends.
IDLE = 30 * 60.0
#: Seconds a session lives at most.
LIFETIME = 12 * 3600.0
#: Seconds a one-time login token stays valid.
TOKEN_TTL = 120.0
#: At most this many live sessions (and as many login tokens); the oldest go first.
MAX_SESSIONS = 10_000
COOKIE = "__Host-starling-session"
CSRF_HEADER = "x-starling-csrf"
STATIC = Path(__file__).with_name("console")
#: Files the pages load from npm packages (``./dev install`` runs ``npm ci`` in center/console), by the name the pages use.
VENDOR = {
    "chart.umd.js": "node_modules/chart.js/dist/chart.umd.js",
    "xterm.mjs": "node_modules/@xterm/xterm/lib/xterm.mjs",
    "xterm.css": "node_modules/@xterm/xterm/css/xterm.css",
    "addon-fit.mjs": "node_modules/@xterm/addon-fit/lib/addon-fit.mjs",
}
#: What a page of another origin loads to embed a terminal (``/ui/embed.js`` and the modules and
#: styles it imports): public files, so any origin may read them; the WebSocket checks the origin.
SHARED = frozenset({"embed.js", "term.mjs", "term.css", "xterm.mjs", "xterm.css", "addon-fit.mjs"})
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
          ".svg": "image/svg+xml"}
#: The pages load only their own scripts and styles and talk only to this center. Inline styles are
#: allowed because xterm.js writes its theme and cell sizes into <style> elements it creates.
_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'")

Authenticator = Callable[[Request], Awaitable[str]]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A console login: an existing account's key id and secret."""

    key_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    secret: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


@dataclass
class Session:
    key_id: str
    csrf: str
    created: float
    used: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Console:
    """Sessions, one-time login tokens and the ``/ui/`` handlers of one center.

    :param check_secret: ``(key_id, secret) -> bool``, blocking; true when the
        secret is the enabled account's own.
    :param audit: ``(actor, kind, subject, detail)``, records a login or logout.
    """

    def __init__(self, check_secret: Callable[[str, str], Awaitable[bool]], audit: Callable[[str, str, str, Any], None]) -> None:
        self._check_secret = check_secret
        self._audit = audit
        # Keyed by the SHA-256 of the id, so a memory dump shows no usable cookie.
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()

    # -- sessions -------------------------------------------------------------------------------

    def open_session(self, key_id: str) -> tuple[str, Session]:
        """A new session for the account: its cookie value and its record."""
        now = time.time()
        sid = secrets.token_urlsafe(32)
        session = Session(key_id, secrets.token_urlsafe(32), now, now)
        self._sessions[_digest(sid)] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return sid, session

    def session(self, sid: str) -> Session | None:
        """The live session for a cookie value (touching it), or None."""
        if not sid or len(sid) > 128:
            return None
        key = _digest(sid)
        s = self._sessions.get(key)
        now = time.time()
        if s is None:
            return None
        if now - s.used > IDLE or now - s.created > LIFETIME:
            del self._sessions[key]
            return None
        s.used = now
        self._sessions.move_to_end(key)
        return s

    def close_session(self, sid: str) -> None:
        self._sessions.pop(_digest(sid), None)

    def issue_token(self, key_id: str) -> str:
        """A single-use login token for the account, valid :data:`TOKEN_TTL` seconds."""
        token = secrets.token_urlsafe(32)
        self._tokens[_digest(token)] = (key_id, time.time() + TOKEN_TTL)
        while len(self._tokens) > MAX_SESSIONS:
            self._tokens.popitem(last=False)
        return token

    def redeem_token(self, token: str) -> str | None:
        """The account a token was issued for, once; None when unknown, used or expired."""
        if not token or len(token) > 128:
            return None
        entry = self._tokens.pop(_digest(token), None)
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]

    # -- authentication -------------------------------------------------------------------------

    def authenticate_with(self, signed: Authenticator) -> Authenticator:
        """An authenticator that takes a console session when the request has
        one and no signature, else the signed-request check ``signed``."""

        async def authenticate(request: Request) -> str:
            sid = request.cookies.get(COOKIE, "")
            if not sid or "x-starling-key" in request.headers:
                return await signed(request)
            session = self.session(sid)
            if session is None:
                raise StarlingError("the console session has ended; log in again", code=ErrorCode.C007)
            if request.method not in _SAFE_METHODS:
                sent = request.headers.get(CSRF_HEADER, "")
                if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                    raise StarlingError(f"a console request that changes state needs the session's {CSRF_HEADER} header", code=ErrorCode.C035)
            return session.key_id

        return authenticate

    # -- handlers (wired through the route table in center._authz) -----------------------------

    def _with_cookie(self, response: Response, sid: str) -> Response:
        response.set_cookie(COOKIE, sid, max_age=int(LIFETIME), path="/", secure=True, httponly=True, samesite="strict")
        response.headers["Cache-Control"] = "no-store"
        return response

    def handlers(self) -> dict[str, Callable[[Any], Awaitable[Response]]]:
        """The handlers named in the route table, by name."""

        async def page(call: Any) -> Response:
            return _static("index.html")

        async def static(call: Any) -> Response:
            return _static(call.path("file"))

        async def embed(call: Any) -> Response:
            return _static("embed.js")

        async def login(call: Any) -> Response:
            req = await parse(call.request, LoginRequest)
            if not await self._check_secret(req.key_id, req.secret):
                raise StarlingError("key id or secret refused", code=ErrorCode.C007)
            sid, session = self.open_session(req.key_id)
            self._audit(req.key_id, "console.login", req.key_id, {"how": "secret"})
            return self._with_cookie(json_response({"key_id": req.key_id, "csrf": session.csrf}), sid)

        async def link(call: Any) -> Response:
            key_id = self.redeem_token(call.query["token"] or "")
            if key_id is None:
                raise StarlingError("this login link is unknown, used or expired; ask for a new one", code=ErrorCode.C007)
            sid, _session = self.open_session(key_id)
            self._audit(key_id, "console.login", key_id, {"how": "link"})
            return self._with_cookie(RedirectResponse("/ui/", status_code=303), sid)

        async def whoami(call: Any) -> Response:
            acct = call.account
            session = self.session(call.request.cookies.get(COOKIE, ""))
            return json_response({
                "key_id": acct.key_id, "name": acct.name, "admin": acct.admin, "approver": acct.approver,
                "scope": msgspec.to_builtins(acct.scope), "csrf": session.csrf if session else "",
                "idle": IDLE, "lifetime": LIFETIME,
            })

        async def logout(call: Any) -> Response:
            self.close_session(call.request.cookies.get(COOKIE, ""))
            response = json_response({"logged_out": True})
            response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
            return response

        async def token(call: Any) -> Response:
            tok = self.issue_token(call.key_id)
            return json_response({"token": tok, "path": f"/ui/link?token={tok}", "expires_in": TOKEN_TTL})

        return {
            "console_page": page, "console_static": static, "console_embed": embed, "console_login": login, "console_link": link,
            "console_session": whoami, "console_logout": logout, "console_token": token,
        }


def _static(name: str) -> Response:
    """One file of the console, by its flat name (no paths, no dot files)."""
    path = STATIC / VENDOR.get(name, name)
    if name in VENDOR and not path.is_file():
        raise StarlingError(f"{name} comes from npm and is not installed here; run ./dev install", code=ErrorCode.C028)
    if "/" in name or "\\" in name or name.startswith(".") or path.suffix not in _TYPES or not path.is_file():
        raise StarlingError(f"no console file {name!r}", code=ErrorCode.C028)
    response = FileResponse(path, media_type=_TYPES[path.suffix])
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    if name in SHARED:
        # A module script of another origin is fetched with CORS; these files hold no secrets.
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
