"""Enrollment with the center: over HTTPS, or through a proxy.

Through a proxy (:func:`enroll_request`, :func:`enroll_on`): the agent's first
message on its connection to a proxy is an ``enroll`` carrying a proof of its
key; the proxy relays it to the center in a batch and hands back ``enrolled``,
and the agent logs in (``hello``) on the same connection. The center checks the
token, the identity and the proof; the proxy only relays.

The stdlib client is used on purpose: registration happens once per start, and
keeping httpx out of the idle agent saves several MB of resident memory. The POST
itself runs in a short-lived child interpreter (:data:`CHILD`), so that ``urllib``,
``http.client`` and the ``email`` package they pull (~1.3 MB, 20 modules) never load
into the long-running agent; the child gets the same TLS settings (the files behind the
agent's context, rebuilt with :func:`transports.client_context`).
"""

from __future__ import annotations

import json
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio

from transports import Catalogue, Channel, Enroll, Enrolled, ErrorCode, ErrorMsg, StarlingError

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


#: The directory holding this agent_core and transports (packaged or not), for the child.
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The child's program: one POST, the request on stdin, ``{"status", "body"}`` or
#: ``{"error"}`` (a connection or TLS failure) as JSON on stdout.
CHILD = """
import base64, json, ssl, sys, urllib.error, urllib.request
from transports import client_context
req = json.load(sys.stdin)
tls = req["tls"]
ctx = client_context(tls["ca_file"], cert_file=tls["cert_file"], key_file=tls["key_file"])
r = urllib.request.Request(req["url"], data=req["body"].encode(), method="POST", headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(r, context=ctx, timeout=15) as resp:
        out = {"status": resp.status, "body": base64.b64encode(resp.read()).decode()}
except urllib.error.HTTPError as exc:
    out = {"status": exc.code, "body": base64.b64encode(exc.read()).decode()}
except (OSError, ssl.SSLError) as exc:
    out = {"error": str(exc)}
json.dump(out, sys.stdout)
"""


async def _post_in_child(url: str, body: bytes, ctx: ssl.SSLContext | None) -> tuple[int, bytes]:
    """:func:`_post` in a child interpreter (see the module docstring)."""
    import base64
    import sys

    from transports import tls_files

    files = tls_files(ctx)
    if ctx is not None and files is None:  # a context not made by transports: no files to pass on
        return await trio.to_thread.run_sync(_post, url, body, ctx, abandon_on_cancel=True)
    tls = {"ca_file": files.ca_file if files else None, "cert_file": files.cert_file if files else None, "key_file": files.key_file if files else None}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([_HERE, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    request = json.dumps({"url": url, "body": body.decode(), "tls": tls}).encode()  # the token travels on a pipe, never argv
    with trio.fail_after(60):
        proc = await trio.run_process([sys.executable, "-c", CHILD], stdin=request, capture_stdout=True, capture_stderr=True, env=env, check=False)
    if proc.returncode != 0:
        raise OSError(f"registration helper failed: {proc.stderr.decode(errors='replace')[-500:]}")
    out = json.loads(proc.stdout)
    if "error" in out:
        raise OSError(out["error"])
    return int(out["status"]), base64.b64decode(out["body"])


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
    catalogue: tuple[str, Catalogue | msgspec.Raw] | None = None,
    post: Poster | None = None,
) -> Enrollment:
    """Register with the first center that answers; raise RegistrationError.

    :param public_key: the agent's Ed25519 public key (raw); the credential the
        center returns is bound to it.
    :param catalogue: ``(digest, catalogue)`` of the actions this agent can run (the
        document decoded, or its JSON as it is). The digest goes first; the document
        only when the center asks for it.
    :param post: how to post (default: the stdlib client in a child interpreter, see the
        module docstring; a simulated fleet passes a pooled client).
    """
    doc: dict[str, Any] = {"token": token, "identity": msgspec.to_builtins(identity), "version": version}
    if public_key:
        import base64

        doc["public_key"] = base64.b64encode(public_key).decode()
    if catalogue is not None:
        doc["catalogue_digest"] = catalogue[0]
    if post is None:

        async def post(url: str, body: bytes) -> tuple[int, bytes]:
            return await _post_in_child(url, body, ctx)

    enrollment = await _register_once(centers, msgspec.json.encode(doc), post)
    if enrollment.catalogue_wanted and catalogue is not None:
        doc["catalogue"] = catalogue[1] if isinstance(catalogue[1], msgspec.Raw) else msgspec.to_builtins(catalogue[1])
        enrollment = await _register_once(centers, msgspec.json.encode(doc), post)
    return enrollment


async def _register_once(centers: list[str], body: bytes, post: Poster) -> Enrollment:
    errors: list[str] = []
    for base in centers:
        url = base.rstrip("/") + "/v1/agents/register"
        try:
            status, data = await post(url, body)
        except (OSError, ssl.SSLError, trio.TooSlowError) as exc:
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


#: Codes with which the center refuses an enrollment for good (retrying cannot help).
ENROLL_REFUSED = frozenset({ErrorCode.C001, ErrorCode.C017, ErrorCode.C019, ErrorCode.C042})


def enroll_request(token: str, identity: Identity, version: str, key: Any, catalogue_digest: str = "") -> Enroll:
    """The ``enroll`` an agent sends a proxy: its identity and public key, signed
    with its private ``key`` (a proof the relaying proxy cannot forge)."""
    from transports.signing import public_key_bytes, sign_enroll

    doc = msgspec.to_builtins(identity)
    pub = public_key_bytes(key)
    ts = time.time()
    return Enroll(
        token=token, identity=doc, version=version, public_key=pub, ts=ts,
        proof=sign_enroll(key, pub, doc, ts), catalogue_digest=catalogue_digest,
    )


async def enroll_on(channel: Channel, request: Enroll) -> Enrollment:
    """Send ``request`` as the first message on a proxy connection and return
    the enrollment the center sent back.

    :raises RegistrationError: refused (its code: :data:`ENROLL_REFUSED` for good,
        ``P007`` when the center did not answer in time, ``P003`` from a proxy
        that does not relay enrollments).
    """
    await channel.send(request)
    answer = await channel.receive()
    if isinstance(answer, ErrorMsg):
        raise RegistrationError(answer.message, code=ErrorCode.of(answer.code, ErrorCode.P003))
    if not isinstance(answer, Enrolled):
        raise RegistrationError(f"expected enrolled, got {type(answer).__name__}", code=ErrorCode.P003)
    if answer.code:
        raise RegistrationError(answer.message or "enrollment refused", code=ErrorCode.of(answer.code, ErrorCode.C017))
    return Enrollment(
        agent_id=answer.agent_id, credential=answer.credential, heartbeat=answer.heartbeat, center_time=answer.center_time,
        proxies=[msgspec.convert(p, ProxyInfo) for p in answer.proxies], center_keys=answer.center_keys,
        catalogue_wanted=answer.catalogue_wanted,
    )
