"""API accounts: who they are, what they may touch, their keys, and request authentication.

An account has a key id and a secret; every request is signed with the secret
(HMAC-SHA256, see :mod:`center.security._apiauth`). Secrets are stored
encrypted (AES-256-GCM) under a key the database does not hold
(``accounts.key`` in the center's state directory, 0600; every center of a
cluster shares it), with the key id as associated data, so a copied database
alone yields no usable secret and a ciphertext moved to another row does not
decrypt. Nonces live in the shared database, so a request replayed to another
center of the cluster is refused too.

What an account may touch is a typed :class:`Scope`; an account created without
one may do nothing (least privilege). Approver accounts are minted only on the
center host (``starling accounts create NAME --approver --local``), never
through the API: a stolen API key, even an admin's, cannot make a second
person.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
import trio
from starlette.requests import Request

from transports import ErrorCode, StarlingError, granted_as

from ._http import read_body
from ._renamed import warn_renamed
from ._rows import AccountRow, HostRow
from ._store import Store, accounts, nonces

__all__ = [
    "Account",
    "Scope",
    "SecretBox",
    "create_account",
    "ensure_admin",
    "list_accounts",
    "load_account",
    "make_authenticator",
]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]
Names = Annotated[list[Name], msgspec.Meta(max_length=1000)]
Count = Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]


class Scope(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """What an account may touch. The default allows nothing.

    :param actions: action patterns (``sys.*``, ``exec.run``). A ``danger`` action
        (``exec.run``, ``sys.reboot`` …) is allowed only when named exactly, or
        when ``danger`` is true.
    :param all_hosts: every host; otherwise only hosts in ``idcs``, with one of
        ``tags``, or named in ``hosts`` (id, hostname, IP or SN).
    :param max_hosts: at most this many hosts per job (0: no limit).
    :param approval_hosts: a job on more hosts than this waits for an approver (0: never).
    :param paths: globs of the paths ``file.install`` and the other changing
        file actions may write (empty: no path restriction).
    """

    actions: Names = []
    danger: bool = False
    all_hosts: bool = False
    idcs: Names = []
    tags: Names = []
    hosts: Names = []
    max_hosts: Count = 0
    approval_hosts: Count = 0
    #: Globs of the paths the account's file actions may change (empty: any);
    #: see center/_pathscope.py.
    paths: Names = []

    def __post_init__(self) -> None:
        warn_renamed(self.actions, "an account scope", grants=True)

    def allows_action(self, action: str, risk: str) -> bool:
        # An action renamed one-for-one is matched under its old name too
        # (transports/renamed.toml), so a scope written before the rename grants what it
        # granted; an action that several old ones merged into is not (it can do more).
        names = (action, *granted_as(action))
        for pattern in self.actions:
            if pattern in names:
                return True
            if (risk != "danger" or self.danger) and any(fnmatch.fnmatchcase(n, pattern) for n in names):
                return True
        return False

    def allows_host(self, host: HostRow) -> bool:
        if self.all_hosts:
            return True
        if host.idc in self.idcs:
            return True
        if self.tags and set(self.tags) & set(host.tags):
            return True
        return bool(self.hosts) and any(name in self.hosts for name in (host.id, host.hostname, host.ip, host.sn))

    @property
    def hostless(self) -> bool:
        return not (self.all_hosts or self.idcs or self.tags or self.hosts)


#: What the bootstrap admin and legacy "{}" admin rows mean.
EVERYTHING = Scope(actions=["*"], danger=True, all_hosts=True)


@dataclass(frozen=True)
class Account:
    key_id: str
    name: str = ""
    admin: bool = False
    approver: bool = False
    scope: Scope = Scope()
    mapping: dict[str, str] | None = None
    created_by: str = ""

    def describe(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "name": self.name, "admin": self.admin, "approver": self.approver,
                "scopes": msgspec.to_builtins(self.scope), "mapping": bool(self.mapping), "created_by": self.created_by}

    def may_touch(self, host: HostRow) -> bool:
        return self.admin or self.scope.allows_host(host)


def parse_scope(raw: Any) -> Scope:
    """A scope from JSON (API input or a stored row); C001 naming the field when wrong."""
    try:
        return msgspec.convert(raw or {}, Scope)
    except msgspec.ValidationError as exc:
        raise StarlingError(f"invalid scopes: {exc}", code=ErrorCode.C001) from None


# -- secrets at rest ------------------------------------------------------------------


class SecretBox:
    """AES-256-GCM with a key from a 0600 file; ``v1:`` + base64(nonce | ciphertext)."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != 32:
            raise ValueError("the accounts key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_file(cls, path: Path) -> SecretBox:
        """Load the key, creating it (0600, in a 0700 directory) on first use.

        Written whole and linked into place: centers starting together on one state
        directory share the first key made, and none ever reads a half-written one.
        """
        from transports import private_dir, write_private

        if not path.exists():
            private_dir(path.parent)
            try:
                write_private(path, base64.b64encode(secrets.token_bytes(32)) + b"\n", exclusive=True)
            except FileExistsError:
                pass
        return cls(base64.b64decode(path.read_bytes().strip()))

    def seal(self, secret: str, aad: str) -> str:
        nonce = secrets.token_bytes(12)
        return "v1:" + base64.b64encode(nonce + self._aead.encrypt(nonce, secret.encode(), aad.encode())).decode()

    def open(self, sealed: str, aad: str) -> str | None:
        from cryptography.exceptions import InvalidTag

        if not sealed.startswith("v1:"):
            return None  # a plain-text secret from before encryption: never accepted
        try:
            raw = base64.b64decode(sealed[3:], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], aad.encode()).decode()
        except (InvalidTag, ValueError):
            return None


# -- the accounts table ---------------------------------------------------------------


def ensure_admin(store: Store, box: SecretBox, key_id: str, secret: str) -> None:
    """The bootstrap admin from the center's config (created, or its secret refreshed)."""
    sealed = box.seal(secret, key_id)
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(accounts.c.key_id).where(accounts.c.key_id == key_id)).first()
        if row is None:
            conn.execute(accounts.insert().values(
                key_id=key_id, secret=sealed, name="admin", scopes=json.dumps(msgspec.to_builtins(EVERYTHING)),
                admin=True, approver=True, created=time.time(), created_by="config",
            ))
        else:
            conn.execute(accounts.update().where(accounts.c.key_id == key_id).values(secret=sealed, disabled=False))


def create_account(
    store: Store, box: SecretBox, name: str, scope: Scope, *, approver: bool = False, admin: bool = False, created_by: str = ""
) -> tuple[str, str]:
    key_id = "k" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with store.engine.begin() as conn:
        conn.execute(accounts.insert().values(
            key_id=key_id, secret=box.seal(secret, key_id), name=name, scopes=json.dumps(msgspec.to_builtins(scope)),
            approver=approver, admin=admin, created=time.time(), created_by=created_by,
        ))
    return key_id, secret


def _account_row(r: Any) -> AccountRow:
    return AccountRow(**r._mapping)


def _row(store: Store, key_id: str) -> AccountRow | None:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(accounts).where(accounts.c.key_id == key_id)).first()
    return _account_row(row) if row is not None else None


def load_account(store: Store, key_id: str) -> Account:
    row = _row(store, key_id)
    if row is None or row.disabled:
        raise StarlingError(f"unknown or disabled account {key_id!r}", code=ErrorCode.C007)
    raw = json.loads(row.scopes or "{}")
    scope = EVERYTHING if (row.admin and not raw) else _stored_scope(raw)
    return Account(
        key_id=row.key_id, name=row.name, admin=row.admin, approver=row.approver,
        scope=scope, mapping=json.loads(row.mapping or "{}") or None, created_by=row.created_by or "",
    )


def _stored_scope(raw: Any) -> Scope:
    try:
        return msgspec.convert(raw, Scope)
    except msgspec.ValidationError:
        return Scope()  # a scope this center cannot read allows nothing


def list_accounts(store: Store) -> list[dict[str, Any]]:
    """Every account as ``GET /v1/accounts`` shows it (never its secret)."""
    with store.engine.connect() as conn:
        rows = [_account_row(r) for r in conn.execute(sa.select(accounts).order_by(accounts.c.created))]
    return [
        {"key_id": r.key_id, "name": r.name, "admin": r.admin, "approver": r.approver, "disabled": r.disabled,
         "scopes": json.loads(r.scopes or "{}"), "mapping": bool(json.loads(r.mapping or "{}")), "created": r.created,
         "created_by": r.created_by or "", "rotated": r.rotated}
        for r in rows
    ]


def set_disabled(store: Store, key_id: str, disabled: bool) -> bool:
    with store.engine.begin() as conn:
        return conn.execute(accounts.update().where(accounts.c.key_id == key_id).values(disabled=disabled)).rowcount == 1


def delete_account(store: Store, key_id: str) -> bool:
    with store.engine.begin() as conn:
        return conn.execute(accounts.delete().where(accounts.c.key_id == key_id)).rowcount == 1


def rotate_secret(store: Store, box: SecretBox, key_id: str) -> str | None:
    """A new secret for the account (returned once); the old one stops working at once."""
    secret = secrets.token_urlsafe(32)
    with store.engine.begin() as conn:
        n = conn.execute(
            accounts.update().where(accounts.c.key_id == key_id).values(secret=box.seal(secret, key_id), rotated=time.time())
        ).rowcount
    return secret if n == 1 else None


def creators(store: Store, key_id: str, limit: int = 64) -> set[str]:
    """The accounts that created ``key_id``, directly or through others."""
    out: set[str] = set()
    current = key_id
    for _ in range(limit):
        row = _row(store, current)
        if row is None or not row.created_by or row.created_by in out:
            break
        current = row.created_by
        out.add(current)
    return out


# -- request authentication ---------------------------------------------------------------


class DbKeys:
    """Key lookup and nonce memory over the center database."""

    def __init__(self, store: Store, box: SecretBox) -> None:
        self.store = store
        self.box = box

    def secret_for(self, key_id: str) -> bytes | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(accounts.c.secret, accounts.c.disabled).where(accounts.c.key_id == key_id)).first()
        if row is None or row.disabled:
            return None
        secret = self.box.open(str(row.secret), key_id)
        return secret.encode() if secret is not None else None

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


def make_authenticator(store: Store, box: SecretBox) -> Any:
    from .security import check_signature_headers, verify_request

    keys = DbKeys(store, box)

    async def authenticate(request: Request) -> str:
        headers = {k.lower(): v for k, v in request.headers.items()}
        check_signature_headers(headers)  # unsigned or stale: refused before the body is read
        body = await read_body(request)

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
