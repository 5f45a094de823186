"""The chat bot: ``@starling diag web-17``, ``@starling why JOB_ID``,
``@starling host 10.1.2.3`` in a group chat, answered by the center.

``POST /v1/chat/{tool}`` receives a chat tool's outgoing webhook. Each tool is
an adapter (:class:`ChatAdapter`): it verifies the request with the tool's own
signing scheme, pulls the text out of the tool's format, and wraps the answer
in the tool's reply format. The bot acts as the account named in the center's
config (``chat_account``), so its live checks obey that account's scope.

Signing schemes (a bad or stale signature is refused with C007):

* **Slack** — ``X-Slack-Signature: v0=hex(HMAC-SHA256(signing_secret,
  "v0:{X-Slack-Request-Timestamp}:{body}"))``, timestamp within 5 minutes.
* **DingTalk** (outgoing robot) — headers ``timestamp`` (ms) and
  ``sign = base64(HMAC-SHA256(app_secret, "{timestamp}\\n{app_secret}"))``,
  timestamp within an hour. (DingTalk signs the timestamp only, not the body.)
* **Feishu/Lark** (event subscription with an Encrypt Key) —
  ``X-Lark-Signature = hex(SHA-256(timestamp + nonce + encrypt_key + body))``
  with ``X-Lark-Request-Timestamp`` and ``X-Lark-Request-Nonce``; the body
  ``{"encrypt": …}`` is AES-256-CBC under SHA-256(encrypt_key).

The answer is returned in the webhook's HTTP response in the tool's reply
format (DingTalk and Slack slash commands show it as is; for Slack's Events API
and Feishu, a deployment relays it with the tool's send-message API).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from transports import ErrorCode, StarlingError

if TYPE_CHECKING:
    from ._center import Center

MAX_TEXT = 3500


@dataclass
class ChatMessage:
    text: str = ""
    user: str = ""
    #: A URL-verification handshake to echo instead of answering.
    challenge: str | None = None


class ChatAdapter(Protocol):
    """One chat tool's outgoing-webhook format and signing scheme."""

    name: str

    def verify(self, headers: dict[str, str], body: bytes, secret: str, now: float) -> None:
        """Raise :class:`StarlingError` (C007) unless the request is genuine."""

    def parse(self, headers: dict[str, str], body: bytes) -> ChatMessage: ...

    def reply(self, text: str) -> dict[str, Any]: ...


def _refuse(why: str) -> StarlingError:
    return StarlingError(f"chat request refused: {why}", code=ErrorCode.C007)


def _json(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body or b"{}")
    except ValueError as exc:
        raise StarlingError(f"chat body is not JSON: {exc}", code=ErrorCode.C001) from exc
    if not isinstance(doc, dict):
        raise StarlingError("chat body must be a JSON object", code=ErrorCode.C001)
    return doc


def _fresh(ts: str, now: float, window: float, scale: float = 1.0) -> None:
    try:
        when = float(ts) / scale
    except ValueError:
        raise _refuse("timestamp missing or not a number") from None
    if abs(now - when) > window:
        raise _refuse("timestamp outside the allowed window (replay?)")


class SlackAdapter:
    name = "slack"

    def verify(self, headers: dict[str, str], body: bytes, secret: str, now: float) -> None:
        ts = headers.get("x-slack-request-timestamp", "")
        _fresh(ts, now, 300)
        want = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, headers.get("x-slack-signature", "")):
            raise _refuse("bad Slack signature")

    def parse(self, headers: dict[str, str], body: bytes) -> ChatMessage:
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            return ChatMessage(text=form.get("text", ""), user=form.get("user_name", form.get("user_id", "")))
        doc = _json(body)
        if doc.get("type") == "url_verification":
            return ChatMessage(challenge=str(doc.get("challenge", "")))
        event = doc.get("event") or {}
        return ChatMessage(text=str(event.get("text", "")), user=str(event.get("user", "")))

    def reply(self, text: str) -> dict[str, Any]:
        return {"response_type": "in_channel", "text": text}


class DingTalkAdapter:
    name = "dingtalk"

    def verify(self, headers: dict[str, str], body: bytes, secret: str, now: float) -> None:
        ts = headers.get("timestamp", "")
        _fresh(ts, now, 3600, scale=1000.0)
        want = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(want, headers.get("sign", "")):
            raise _refuse("bad DingTalk signature")

    def parse(self, headers: dict[str, str], body: bytes) -> ChatMessage:
        doc = _json(body)
        text = (doc.get("text") or {}).get("content", "") if isinstance(doc.get("text"), dict) else ""
        return ChatMessage(text=str(text), user=str(doc.get("senderNick", "")))

    def reply(self, text: str) -> dict[str, Any]:
        return {"msgtype": "text", "text": {"content": text}}


class FeishuAdapter:
    name = "feishu"

    def verify(self, headers: dict[str, str], body: bytes, secret: str, now: float) -> None:
        ts = headers.get("x-lark-request-timestamp", "")
        _fresh(ts, now, 3600)
        nonce = headers.get("x-lark-request-nonce", "")
        want = hashlib.sha256((ts + nonce + secret).encode() + body).hexdigest()
        if not hmac.compare_digest(want, headers.get("x-lark-signature", "")):
            raise _refuse("bad Feishu signature")

    def __init__(self) -> None:
        self.key = ""

    def parse(self, headers: dict[str, str], body: bytes) -> ChatMessage:
        doc = _json(body)
        if isinstance(doc.get("encrypt"), str):
            doc = _json(feishu_decrypt(doc["encrypt"], self.key))
        if doc.get("type") == "url_verification":
            return ChatMessage(challenge=str(doc.get("challenge", "")))
        message = ((doc.get("event") or {}).get("message")) or {}
        try:
            content = json.loads(message.get("content") or "{}")
        except ValueError:
            content = {}
        sender = ((doc.get("event") or {}).get("sender") or {}).get("sender_id") or {}
        return ChatMessage(text=str(content.get("text", "")) if isinstance(content, dict) else "", user=str(sender.get("open_id", "")))

    def reply(self, text: str) -> dict[str, Any]:
        return {"msg_type": "text", "content": {"text": text}}


def feishu_decrypt(token: str, key: str) -> bytes:
    """Feishu's encrypted event body: AES-256-CBC with SHA-256(encrypt key) as the
    key, the IV in the first 16 bytes, PKCS#7 padding, all base64."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        raw = base64.b64decode(token, validate=True)
        dec = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(raw[:16])).decryptor()
        padded = dec.update(raw[16:]) + dec.finalize()
        unpad = padding.PKCS7(128).unpadder()
        return unpad.update(padded) + unpad.finalize()
    except ValueError as exc:
        raise StarlingError(f"cannot decrypt the Feishu event: {exc}", code=ErrorCode.C001) from exc


ADAPTERS: dict[str, ChatAdapter] = {a.name: a for a in (SlackAdapter(), DingTalkAdapter(), FeishuAdapter())}

_MENTION = re.compile(r"<@[A-Z0-9]+>|@_user_\d+|@\S+")
HELP = "I answer: diag HOST · why JOB_ID · host IP-or-name"


def command_of(text: str) -> tuple[str, str]:
    """``"<@U1> diag web-17"`` → ``("diag", "web-17")``."""
    words = _MENTION.sub(" ", text).split()
    if not words:
        return "", ""
    return words[0].lower(), " ".join(words[1:2])


def _host_line(doc: dict[str, Any]) -> str:
    h = doc.get("host") or {}
    owner = doc.get("owner") or "unknown (not in the CMDB)"
    return f"{h.get('hostname')} ({h.get('ip')}, IDC {h.get('idc')}, agent {h.get('version') or '?'}) · owner: {owner}"


def _findings_text(doc: dict[str, Any]) -> list[str]:
    if not doc.get("findings"):
        return ["healthy: no problem known"]
    return [f"{f['code']} {f['summary']}" for f in doc["findings"]]


async def answer(center: Center, text: str, account: str) -> str:
    """The bot's answer to one chat message."""
    verb, arg = command_of(text)
    try:
        from ._accounts import load_account

        # The bot sees what its account may see: hosts in its scope, jobs it may read.
        acct = await center.store.call(load_account, center.store.sync, account)
        if verb in ("diag", "host") and arg:
            from ._diagnosis import find_host

            found = await center.store.call(find_host, center.store.sync, arg)
            if found is None or not (acct.admin or acct.scope.allows_host(found)):
                return f"C002 no host {arg} that this bot may see"
        if verb == "why" and arg:
            from ._authz import may_read_job

            job = await center.store.job(arg)
            if job is None or not may_read_job(acct, job):
                return f"C004 no job {arg} that this bot may see"
        if verb == "diag" and arg:
            doc = await center.diagnoser.live(arg, account)
            lines = [_host_line(doc), *_findings_text(doc)]
            lines += [f"{'ok ' if hop['ok'] else 'FAIL'} {hop['hop']}: {hop['detail']}" for hop in doc.get("hops", [])]
            return "\n".join(lines)
        if verb == "host" and arg:
            host = found
            assert host is not None
            doc = (await center.diagnoser.hosts([host]))[host.id]
            state = "online" if host.online else f"offline ({host.code or 'E001'})"
            return "\n".join([_host_line(doc), f"{state}, tags {', '.join(host.tags) or '-'}", *_findings_text(doc)])
        if verb == "why" and arg:
            return await _why(center, arg)
    except StarlingError as exc:
        return f"{exc.code.value} {exc.message}"
    return HELP


async def _why(center: Center, job_id: str) -> str:
    from ._diagnosis import job_diagnoses

    store = center.store
    job = await store.job(job_id)
    if job is None:
        return f"C004 no job {job_id}"
    counts = await store.job_counts(job_id)
    rows = await store.job_tasks(job_id, states=["failed", "timed_out", "cancelled"], limit=200)
    diags = await store.call(job_diagnoses, store.sync, job_id, [r.id for r in rows])
    ok = counts.get("succeeded", 0)
    lines = [f"job {job_id} {job.action}: {ok}/{job.total} succeeded, state {job.state}"]
    for r in rows[:20]:
        d = diags.get(r.id) or {}
        cause = f"{d['code']} {d['summary']}" if d.get("code") else r.message
        owner = f" · owner {d['owner']}" if d.get("owner") else ""
        lines.append(f"{r.hostname or r.agent_id}: {r.state} {r.code} — {cause}{owner}")
    if len(rows) > 20:
        lines.append(f"… and {len(rows) - 20} more")
    return "\n".join(lines)


async def handle(center: Center, tool: str, headers: dict[str, str], body: bytes, secrets: dict[str, str], account: str) -> dict[str, Any]:
    """Verify, parse and answer one webhook request; returns the reply document."""
    adapter = ADAPTERS.get(tool)
    if adapter is None:
        raise StarlingError(f"no chat tool {tool[:40]!r} here (slack, dingtalk, feishu)", code=ErrorCode.C028)
    secret = secrets.get(tool, "")
    if not secret:
        raise _refuse(f"{tool} is not configured on this center (chat_secrets)")
    adapter.verify(headers, body, secret, time.time())
    if isinstance(adapter, FeishuAdapter):
        adapter = FeishuAdapter()
        adapter.key = secret  # the Encrypt Key both signs and encrypts
    msg = adapter.parse(headers, body)
    if msg.challenge is not None:
        return {"challenge": msg.challenge}
    text = await answer(center, msg.text, account)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "…"
    center.audit.record(account or "chat", "chat.command", tool, {"user": msg.user, "text": msg.text[:200]})
    return adapter.reply(text)
