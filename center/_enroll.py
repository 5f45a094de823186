"""Enrollment: the checks and the answer, one code path for both ways in.

A host enrolls over HTTPS (``POST /v1/agents/register``, :mod:`center._api`) or
through its proxy (``enroll`` relayed in a batched ``enrollments`` on the proxy's
authenticated link, :mod:`center._links`). Both hand the center the same fields,
and both go through :meth:`Enroller.enroll_batch`:

* the enrollment token (``C017``), compared in constant time;
* the identity fields and the public key (``C001``);
* the proof of key possession (``C042``): the agent's signature over its key,
  its identity and the time (:func:`transports.signing.enroll_message`).
  Required through a proxy, so a proxy can neither invent a host nor bind
  another key to one; checked when given over HTTPS (older agents send none);
* the catalogue digest and document;
* then ONE registrar batch (one upsert transaction, one signing pass), hosts
  found revoked refused (``C019``), upgrades in flight concluded in one query,
  and each host's answer: id, credential, its IDC's proxies, the center's keys.

A bad enrollment gets its own error and never fails the others of its batch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from transports import Catalogue, Enroll, ErrorCode, StarlingError, catalogue_digest
from transports.signing import SignatureInvalid, verify_enroll

from ._registrar import Registered
from ._store import Enrollee

if TYPE_CHECKING:
    from ._center import Center
    from ._requests import RegisterRequest

log = logging.getLogger("starling.center")

#: Identity fields that must be short strings when present (``sn`` is required).
_TEXT_FIELDS = ("hostname", "ip", "os", "idc")


@dataclass(frozen=True, slots=True)
class EnrollRequest:
    """One host's enrollment, however it arrived."""

    token: str
    identity: dict[str, Any]
    version: str
    public_key: bytes
    catalogue_digest: str = ""
    catalogue: Catalogue | None = None
    #: The agent's signature over (public key, identity, ts); empty: none given.
    proof: bytes = b""
    ts: float = 0.0

    @classmethod
    def from_http(cls, req: RegisterRequest) -> EnrollRequest:
        try:
            pubkey = base64.b64decode(req.public_key, validate=True)
        except ValueError:
            pubkey = b"?"
        try:
            proof = base64.b64decode(req.proof, validate=True)
        except ValueError:
            proof = b"?"
        return cls(req.token, req.identity, req.version, pubkey, req.catalogue_digest, req.catalogue, proof, req.ts)

    @classmethod
    def from_wire(cls, msg: Enroll) -> EnrollRequest:
        return cls(msg.token, dict(msg.identity), msg.version, bytes(msg.public_key), msg.catalogue_digest, None, bytes(msg.proof), msg.ts)


class Enroller:
    """Checks enrollments and enrolls the hosts (see the module docstring).

    :param center: the center (store, registrar, placement, policy).
    :param token: the fleet enrollment token ("" refuses every enrollment).
    """

    def __init__(self, center: Center, token: str) -> None:
        self.center = center
        self._token_digest = hashlib.sha256(token.encode()).digest() if token else b""

    def check(self, req: EnrollRequest, *, need_proof: bool, now: float) -> None:
        """Everything about one enrollment that needs no database.

        :raises StarlingError: ``C017`` token, ``C001`` identity or key, ``C042`` proof.
        """
        if not self._token_digest or not hmac.compare_digest(hashlib.sha256(req.token.encode()).digest(), self._token_digest):
            raise StarlingError("enrollment token refused", code=ErrorCode.C017)
        ident = req.identity
        if not isinstance(ident.get("sn"), str) or not ident["sn"] or len(ident["sn"]) > 191:
            raise StarlingError("identity.sn is required (at most 191 characters)", code=ErrorCode.C001)
        for key in _TEXT_FIELDS:
            if key in ident and not (isinstance(ident[key], str) and len(ident[key]) <= 191):
                raise StarlingError(f"identity.{key} must be a string of at most 191 characters", code=ErrorCode.C001)
        tags = ident.get("tags") or []
        if not (isinstance(tags, list) and len(tags) <= 100 and all(isinstance(t, str) and 0 < len(t) <= 128 for t in tags)):
            raise StarlingError("identity.tags must be a list of at most 100 short strings", code=ErrorCode.C001)
        if len(req.public_key) != 32:
            # Every agent has a key: the credential is bound to it, hello proves it, results are signed with it.
            raise StarlingError("public_key (the agent's Ed25519 public key) is required", code=ErrorCode.C001)
        if req.proof or need_proof:
            try:
                verify_enroll(req.public_key, ident, req.ts, req.proof, now)
            except SignatureInvalid as exc:
                raise StarlingError(str(exc), code=ErrorCode.C042) from exc
        if req.catalogue is not None and req.catalogue_digest and req.catalogue_digest != catalogue_digest(req.catalogue):
            raise StarlingError("catalogue does not match its digest", code=ErrorCode.C001)

    async def enroll(self, req: EnrollRequest) -> dict[str, Any]:
        """One enrollment over HTTPS: its answer, or raise its error."""
        (answer,) = await self.enroll_batch([req], need_proof=False)
        if isinstance(answer, StarlingError):
            raise answer
        return answer

    async def enroll_batch(self, reqs: list[EnrollRequest], *, need_proof: bool) -> list[dict[str, Any] | StarlingError]:
        """Enroll a batch: each request's answer (a dict as the HTTPS route returns
        it) or its own error, in order."""
        center = self.center
        now = time.time()
        out: list[dict[str, Any] | StarlingError] = []
        ok: list[tuple[int, EnrollRequest]] = []
        for i, req in enumerate(reqs):
            try:
                self.check(req, need_proof=need_proof, now=now)
            except StarlingError as exc:
                out.append(exc)
                continue
            out.append({})
            ok.append((i, req))
        if not ok:
            return out
        wanted = await self._catalogues([req for _, req in ok])
        got = await center.registrar.register_many([
            (Enrollee.from_identity(req.identity, req.version, base64.b64encode(req.public_key).decode(),
                                    "" if wanted[self._digest(req)] else self._digest(req)), req.public_key)
            for _, req in ok
        ])
        stored: list[tuple[int, EnrollRequest, Registered]] = []
        for (i, req), reg in zip(ok, got, strict=True):
            if isinstance(reg, BaseException):
                log.warning("enrollment of %s failed: %s", req.identity.get("sn"), reg)
                out[i] = StarlingError("registration could not be stored; retry", code=ErrorCode.C020)
            elif reg.revoked:
                out[i] = StarlingError(f"host {reg.agent_id} is revoked", code=ErrorCode.C019)
            else:
                stored.append((i, req, reg))
        # An upgrade in flight on these hosts ends here: back on the new version, or not.
        await center.upgrades.registered_many({reg.agent_id: req.version for _, req, reg in stored})
        for i, req, reg in stored:
            out[i] = await self._answer(reg, req, wanted[self._digest(req)])
        return out

    @staticmethod
    def _digest(req: EnrollRequest) -> str:
        return catalogue_digest(req.catalogue) if req.catalogue is not None else req.catalogue_digest

    async def _catalogues(self, reqs: list[EnrollRequest]) -> dict[str, bool]:
        """Store the catalogue documents that came, learn the digests other centers
        stored; returns digest -> still unknown (the host is asked for the document)."""
        center = self.center
        policy = center.policy
        digests: set[str] = set()
        for req in reqs:
            digest = self._digest(req)
            if req.catalogue is not None and policy is not None and not policy.book.knows(digest):
                doc = msgspec.json.encode(req.catalogue)
                await center.store.add_catalogue(digest, doc)
                policy.book.add(digest, doc)
            elif digest:
                digests.add(digest)
        await center.learn_catalogues(digests)
        # No policy (a center without a catalogue book): nothing to ask for.
        return {d: bool(d) and policy is not None and not policy.book.knows(d) for d in {self._digest(r) for r in reqs}}

    async def _answer(self, reg: Registered, req: EnrollRequest, wanted: bool) -> dict[str, Any]:
        center = self.center
        idc = req.identity.get("idc") or "default"
        # Own IDC's live proxies with room, least loaded first (load reports are
        # seconds old, so agents sent since count too), else borrowed ones.
        candidates, _borrowed = await center.placement.proxies_for(idc)
        return {
            "agent_id": reg.agent_id, "credential": reg.credential,
            "proxies": [{"id": p.id, "urls": p.urls, "idc": p.idc} for p in candidates if p.urls],
            "heartbeat": center.heartbeat, "center_time": time.time(),
            "center_keys": {center.key_id: base64.b64encode(center.public_key).decode()},
            "catalogue_wanted": wanted,
        }
