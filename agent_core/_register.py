"""Enrollment with the center over HTTPS.

The stdlib client is used on purpose: registration happens once per start, and
keeping httpx out of the idle agent saves several MB of resident memory.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio

from transports import Catalogue, ErrorCode, StarlingError

from ._identity import Identity


class ProxyInfo(msgspec.Struct, kw_only=True):
    id: str
    urls: list[str]
    idc: str = ""


class Enrollment(msgspec.Struct, kw_only=True):
    agent_id: str
    credential: str
    proxies: list[ProxyInfo]
    heartbeat: float = 10.0
    center_time: float = 0.0
    #: The center's task-signing public keys (base64), by key id.
    center_keys: dict[str, str] = {}
    #: The center does not know the catalogue digest we sent: send the document.
    catalogue_wanted: bool = False


#: Posts a JSON body to a URL and returns ``(status, body)``; raises OSError
#: (or ssl.SSLError) when the center cannot be reached.
Poster = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]


class RegistrationError(StarlingError):
    code = ErrorCode.C017


def _post(url: str, body: bytes, ctx: ssl.SSLContext | None) -> tuple[int, bytes]:
    # Imported here: a running agent registers once, then idles without urllib and http.client.
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=15) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def register(
    centers: list[str],
    token: str,
    identity: Identity,
    version: str,
    ctx: ssl.SSLContext | None,
    public_key: bytes = b"",
    catalogue: tuple[str, Catalogue] | None = None,
    post: Poster | None = None,
) -> Enrollment:
    """Register with the first center that answers; raise RegistrationError.

    :param public_key: the agent's Ed25519 public key (raw); the credential the
        center returns is bound to it.
    :param catalogue: ``(digest, catalogue)`` of the actions this agent can run.
        The digest goes first; the document only when the center asks for it.
    :param post: how to post (default: the stdlib client in a thread, one
        connection per call; a simulated fleet passes a pooled client).
    """
    doc: dict[str, Any] = {"token": token, "identity": msgspec.to_builtins(identity), "version": version}
    if public_key:
        import base64

        doc["public_key"] = base64.b64encode(public_key).decode()
    if catalogue is not None:
        doc["catalogue_digest"] = catalogue[0]
    if post is None:

        async def post(url: str, body: bytes) -> tuple[int, bytes]:
            return await trio.to_thread.run_sync(_post, url, body, ctx, abandon_on_cancel=True)

    enrollment = await _register_once(centers, json.dumps(doc).encode(), post)
    if enrollment.catalogue_wanted and catalogue is not None:
        doc["catalogue"] = msgspec.to_builtins(catalogue[1])
        enrollment = await _register_once(centers, json.dumps(doc).encode(), post)
    return enrollment


async def _register_once(centers: list[str], body: bytes, post: Poster) -> Enrollment:
    errors: list[str] = []
    for base in centers:
        url = base.rstrip("/") + "/v1/agents/register"
        try:
            status, data = await post(url, body)
        except (OSError, ssl.SSLError) as exc:
            errors.append(f"{base}: {exc}")
            continue
        if status == 200:
            return msgspec.json.decode(data, type=Enrollment)
        try:
            err: Any = json.loads(data).get("error", {})
        except ValueError:
            err = {}
        code = err.get("code", "")
        if code in ("C017", "C019"):
            raise RegistrationError(err.get("message", "enrollment refused"), code=ErrorCode.of(code))
        errors.append(f"{base}: HTTP {status} {err.get('message', '')}")
    raise RegistrationError("no center accepted registration: " + "; ".join(errors), code=ErrorCode.C016)
