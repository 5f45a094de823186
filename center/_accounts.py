"""API accounts, their keys, and request authentication.

Each account has a key id and a secret; every request is signed (HMAC-SHA256,
see :mod:`center.security`). Nonces are kept in the shared database so that a
request replayed to another center of the same cluster is refused too.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import sqlalchemy as sa
import trio
from starlette.requests import Request

from transports import ErrorCode, StarlingError

from ._http import read_body
from ._store import Store, accounts, nonces


def ensure_admin(store: Store, key_id: str, secret: str) -> None:
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(accounts.c.key_id).where(accounts.c.key_id == key_id)).first()
        if row is None:
            conn.execute(accounts.insert().values(key_id=key_id, secret=secret, name="admin", scopes="{}", admin=True, approver=True, created=time.time()))
        else:
            conn.execute(accounts.update().where(accounts.c.key_id == key_id).values(secret=secret))


def create_account(store: Store, name: str, scopes: dict[str, Any] | None = None, *, approver: bool = False, admin: bool = False) -> tuple[str, str]:
    key_id = "k" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with store.engine.begin() as conn:
        conn.execute(accounts.insert().values(key_id=key_id, secret=secret, name=name, scopes=json.dumps(scopes or {}), approver=approver, admin=admin, created=time.time()))
    return key_id, secret


def list_accounts(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(accounts).order_by(accounts.c.created)).mappings().all()
    return [
        {"key_id": r["key_id"], "name": r["name"], "admin": r["admin"], "approver": r["approver"], "disabled": r["disabled"],
         "scopes": json.loads(r["scopes"] or "{}"), "mapping": bool(json.loads(r["mapping"] or "{}")), "created": r["created"]}
        for r in rows
    ]


class DbKeys:
    """Key lookup and nonce memory over the center database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def secret_for(self, key_id: str) -> bytes | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(accounts.c.secret, accounts.c.disabled).where(accounts.c.key_id == key_id)).first()
        if row is None or row.disabled:
            return None
        return str(row.secret).encode()

    def check_and_remember(self, key_id: str, nonce: str, expires: float) -> bool:
        """Record a nonce; False if it was seen before (a replay)."""
        now = time.time()
        with self.store.engine.begin() as conn:
            if secrets.randbelow(100) == 0:
                conn.execute(nonces.delete().where(nonces.c.expires < now))
            try:
                conn.execute(nonces.insert().values(nonce=f"{key_id}:{nonce}"[:96], expires=expires))
            except sa.exc.IntegrityError:
                return False
        return True


def make_authenticator(store: Store) -> Any:
    from .security._apiauth import verify_request

    keys = DbKeys(store)

    async def authenticate(request: Request) -> str:
        body = await read_body(request)
        headers = {k.lower(): v for k, v in request.headers.items()}

        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        target = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")

        def check() -> str:
            return verify_request(request.method, target, headers, body, keys=keys, nonces=keys)

        try:
            return await trio.to_thread.run_sync(check)
        except StarlingError:
            raise
        except Exception as exc:  # the verifier never trusts input; be safe anyway
            raise StarlingError(f"request not authenticated: {exc}", code=ErrorCode.C007) from exc

    return authenticate
