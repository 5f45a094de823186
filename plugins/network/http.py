"""HTTP(S) health check of a URL, from this host.

``net.http`` sends one GET or HEAD request and reports the status, HTTP
version, response time, the final URL after redirects, chosen response
headers, the start of the body and, for HTTPS, the server certificate's
subject, issuer and days until it expires. With ``expect_status`` and
``expect_text`` it judges the answer and says why it failed (``ok`` false
with a ``reason``); a connection that fails is reported the same way
(refused, timeout, TLS error), so one job checks a service on many hosts.
"""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action

PLUGIN = Plugin("net.http", domain="network")

_HEADERS = (
    "content-type",
    "content-length",
    "server",
    "location",
    "cache-control",
    "etag",
    "last-modified",
)


class HttpParams(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    method: str = "GET"
    timeout: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0
    expect_status: list[int] = []
    """Acceptable status codes (default: any 2xx or 3xx)."""
    expect_text: str | None = None
    """A substring the body must contain."""
    headers: dict[str, str] = {}
    follow_redirects: bool = True
    verify_tls: bool = True
    max_body: Annotated[int, msgspec.Meta(ge=0, le=1024 * 1024)] = 4096
    """Bytes of body to read and return (at most 1 MiB)."""


class Certificate(msgspec.Struct):
    subject: str
    issuer: str
    not_after: str
    days_left: int


class HttpCheck(msgspec.Struct):
    url: str
    ok: bool
    reason: str
    status: int | None = None
    http_version: str = ""
    elapsed_ms: float | None = None
    final_url: str = ""
    headers: dict[str, str] = {}
    body: str = ""
    certificate: Certificate | None = None


def _cert(stream: Any) -> Certificate | None:
    import ssl

    ssl_obj = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_obj is None:
        return None
    cert = ssl_obj.getpeercert()
    if not cert:  # verify_tls=False hides the parsed cert; decode the DER ourselves
        der = ssl_obj.getpeercert(binary_form=True)
        if not der:
            return None
        from cryptography import x509

        c = x509.load_der_x509_certificate(der)
        after = c.not_valid_after_utc
        return Certificate(
            subject=c.subject.rfc4514_string(),
            issuer=c.issuer.rfc4514_string(),
            not_after=after.isoformat(),
            days_left=int((after.timestamp() - time.time()) // 86400),
        )

    def name(parts: Any) -> str:
        return ",".join(f"{k}={v}" for rdn in parts for k, v in rdn)

    expires = ssl.cert_time_to_seconds(cert["notAfter"])
    return Certificate(
        subject=name(cert.get("subject", ())),
        issuer=name(cert.get("issuer", ())),
        not_after=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(expires)),
        days_left=int((expires - time.time()) // 86400),
    )


def _why(exc: BaseException) -> str:
    """The first non-empty message down the cause chain (TLS errors hide below httpx's)."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen)
        if text:
            return text
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__


def _judge(p: HttpParams, status: int, body: str) -> str:
    if p.expect_status:
        if status not in p.expect_status:
            return f"status {status} not in {p.expect_status}"
    elif not 200 <= status < 400:
        return f"status {status}"
    if p.expect_text is not None and p.expect_text not in body:
        return f"body does not contain {p.expect_text!r}"
    return ""


@action("net.http", risk=Risk.READ, timeout=60)
async def http(ctx: ActionContext, p: HttpParams) -> HttpCheck:
    """Request ``url`` and report status, timing, headers, body start and TLS certificate."""
    import httpx

    if not p.url.startswith(("http://", "https://")):
        raise InvalidParams("url: must start with http:// or https://")
    method = p.method.upper()
    if method not in ("GET", "HEAD"):
        raise InvalidParams("method: only GET and HEAD (a health check must not change anything)")
    try:
        parts = urlsplit(p.url)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as exc:
        raise InvalidParams(f"url: {exc}") from exc
    if not parts.hostname:
        raise InvalidParams("url: has no host")
    t0 = time.monotonic()
    try:
        async with (
            httpx.AsyncClient(
                verify=p.verify_tls,
                follow_redirects=p.follow_redirects,
                timeout=p.timeout,
                trust_env=False,
            ) as client,
            client.stream(method, p.url, headers=p.headers) as resp,
        ):
            cert = _cert(resp.extensions.get("network_stream"))
            chunks = bytearray()
            async for chunk in resp.aiter_bytes():
                chunks += chunk
                if len(chunks) >= p.max_body:
                    break
            elapsed = round((time.monotonic() - t0) * 1000, 3)
            body = bytes(chunks[: p.max_body]).decode(resp.encoding or "utf-8", "replace")
            reason = _judge(p, resp.status_code, body)
            return HttpCheck(
                url=p.url,
                ok=not reason,
                reason=reason,
                status=resp.status_code,
                http_version=resp.http_version,
                elapsed_ms=elapsed,
                final_url=str(resp.url),
                headers={k: v for k, v in resp.headers.items() if k.lower() in _HEADERS},
                body=body,
                certificate=cert,
            )
    except httpx.TimeoutException:
        return HttpCheck(url=p.url, ok=False, reason=f"timeout after {p.timeout:g}s")
    except httpx.ConnectError as exc:
        return HttpCheck(url=p.url, ok=False, reason=f"connect failed: {_why(exc)}")
    except httpx.TooManyRedirects:
        return HttpCheck(url=p.url, ok=False, reason="too many redirects")
    except httpx.HTTPError as exc:
        return HttpCheck(url=p.url, ok=False, reason=f"{type(exc).__name__}: {_why(exc)}")
