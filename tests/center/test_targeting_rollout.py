"""Pure rules: host selection, version constraints, waves and thresholds,
host findings, chat commands and signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import msgspec
import pytest

from center._center import JobRequest
from center._chat import ADAPTERS, command_of
from center._diagnosis import host_findings, version_tuple
from center._rollout import Rollout, concurrency_of, failure_limit, wave_ends
from center._rows import HostRow
from center._select import host_matches, read_host_list, version_ok
from transports import StarlingError


def _host(**kw) -> HostRow:
    """A host row with these columns (the rest as a fresh registration leaves them)."""
    base = dict(id="h1", sn="SN1", hostname="", ip="", os="", idc="default", tags=[], version="", proxy_id=None, carrier="",
                online=False, code="", last_seen=0.0, health={}, registered=0.0, revoked=False, public_key="", catalogue="")
    return HostRow(**(base | kw))


ROW = _host(hostname="web-17", ip="10.1.2.3", idc="bj1", tags=["web", "prod"], os="Debian GNU/Linux 12", version="0.3.1")


@pytest.mark.parametrize(
    ("kw", "ok"),
    [
        ({}, True),
        ({"hosts": ["10.1.2.3"]}, True),
        ({"hosts": ["web-18"]}, False),
        ({"tags_any": ["db", "web"]}, True),
        ({"tags_all": ["web", "prod"]}, True),
        ({"tags_all": ["web", "canary"]}, False),
        ({"tags_none": ["prod"]}, False),
        ({"exclude_hosts": ["SN1"]}, False),
        ({"idcs": ["sh2"]}, False),
        ({"os": ["debian*"]}, True),
        ({"os": ["CentOS*"]}, False),
        ({"versions": [">=0.3", "<1"]}, True),
        ({"versions": [">=0.4"]}, False),
        ({"versions": ["0.3.*"]}, True),
        ({"health": "healthy", "healthy": lambda r: False}, False),
        ({"health": "unhealthy", "healthy": lambda r: False}, True),
    ],
)
def test_host_matches(kw, ok):
    assert host_matches(ROW, **kw) is ok


@pytest.mark.parametrize(("v", "c", "ok"), [("0.10.0", ">0.9", True), ("1.0", "==1", True), ("1.0.1", "!=1.0.1", False), ("0.1.0rc1", "<=0.1", True), ("", ">=0.1", False)])
def test_version_ok(v, c, ok):
    assert version_ok(v, c) is ok


def test_version_tuple():
    assert version_tuple("1.2.10rc1") == (1, 2, 10) and version_tuple("garbage") == ()


def test_read_host_list():
    assert read_host_list(["web-1, web-2  # comment", "", "# all comment", "web-3 web-1"]) == ["web-1", "web-2", "web-3"]


@pytest.mark.parametrize(
    ("spec", "total", "ends"),
    [
        ({}, 10, [10]),
        ({"canary": 1}, 10, [1, 3, 7, 10]),
        ({"canary": 2, "growth": 1.0}, 7, [2, 4, 6, 7]),
        ({"canary": 1, "growth": 3}, 20, [1, 4, 13, 20]),
        ({"canary": 50}, 10, [10]),
    ],
)
def test_wave_ends(spec, total, ends):
    assert wave_ends(msgspec.convert(spec, Rollout), total) == ends


def test_amounts_number_or_percent():
    r = msgspec.convert({"concurrency": "10%", "max_failures": "5%"}, Rollout)
    assert concurrency_of(r, 200) == 20 and failure_limit(r, 200) == 10
    assert concurrency_of(r, 3) == 1, "a percentage never rounds concurrency down to zero"
    r = msgspec.convert({"concurrency": 4, "max_failures": 0}, Rollout)
    assert concurrency_of(r, 200) == 4 and failure_limit(r, 200) == 0


@pytest.mark.parametrize("bad", [{"concurrency": 0}, {"concurrency": "10"}, {"concurrency": "150.5.%"}, {"canary": -1}, {"growth": 0.5}, {"pause": 1e9}, {"nope": 1}])
def test_rollout_limits_are_enforced(bad):
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(json.dumps({"action": "exec.run", "all": True, "rollout": bad}), type=JobRequest)


def test_selector_limits_are_enforced():
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(json.dumps({"action": "x", "all": True, "select": {"health": "sick"}}), type=JobRequest)


def _h(now, **kw):
    base = {"online": True, "last_seen": now - 1, "code": "", "version": "0.1.0", "proxy_id": "p1",
            "health": {"cpus": 4, "load1": 1.0, "mem_total": 1000, "mem_available": 500, "disks": [{"mount": "/", "total": 100, "used": 10}], "clock": now - 1}}
    return _host(**(base | kw))


def _codes(row, now, **kw):
    return [f.code.value for f in host_findings(row, now, grace=15, **kw)]


def test_findings():
    now = time.time()
    assert _codes(_h(now), now) == []
    assert _codes(_h(now, online=False, code="E001"), now, linked_proxies={"p1"}) == ["E001"]
    f = host_findings(_h(now, online=False, code="E001"), now, grace=15, linked_proxies={"p1"})[0]
    assert "agent not running" in f.summary and f.evidence["hop"] == "proxy->agent"
    f = host_findings(_h(now, online=False, code="E001"), now, grace=15, linked_proxies=set())[0]
    assert "not linked" in f.summary
    assert _codes(_h(now, online=False, code="E005"), now) == ["E005"]
    assert _codes(_h(now, last_seen=now - 60), now) == ["E005", "E008"]  # silent, and the clock sample is old
    disk = _h(now)
    disk.health["disks"].append({"mount": "/data", "total": 1000, "used": 995})
    f = host_findings(disk, now, grace=15)[0]
    assert (f.code.value, f.evidence["mount"], f.evidence["fill"]) == ("E002", "/data", 0.995)
    assert _codes(_h(now, health={"cpus": 2, "load1": 9.0}), now) == ["E003"]
    assert _codes(_h(now, health={"mem_total": 1000, "mem_available": 10}), now) == ["E004"]
    skew = host_findings(_h(now, health={"clock": now + 120}), now, grace=15)[0]
    assert skew.code.value == "E008" and round(skew.evidence["skew"]) == 121
    assert _codes(_h(now), now, min_version="0.2") == ["E007"]


def test_chat_command_parsing():
    assert command_of("<@U0BOT> diag web-17") == ("diag", "web-17")
    assert command_of("@_user_1 why j123 please") == ("why", "j123")
    assert command_of("@starling host 10.1.2.3") == ("host", "10.1.2.3")
    assert command_of("") == ("", "")


def test_chat_signatures():
    now = time.time()
    body = b'{"text": {"content": "@starling host x"}}'
    ts = str(int(now * 1000))
    sign = base64.b64encode(hmac.new(b"k", f"{ts}\nk".encode(), hashlib.sha256).digest()).decode()
    ADAPTERS["dingtalk"].verify({"timestamp": ts, "sign": sign}, body, "k", now)
    with pytest.raises(StarlingError):
        ADAPTERS["dingtalk"].verify({"timestamp": ts, "sign": sign}, body, "other", now)
    with pytest.raises(StarlingError):
        ADAPTERS["dingtalk"].verify({"timestamp": str(int((now - 7200) * 1000)), "sign": sign}, body, "k", now)
    ts = str(int(now))
    sig = hashlib.sha256((ts + "n1" + "k").encode() + body).hexdigest()
    ADAPTERS["feishu"].verify({"x-lark-request-timestamp": ts, "x-lark-request-nonce": "n1", "x-lark-signature": sig}, body, "k", now)
    with pytest.raises(StarlingError):
        ADAPTERS["feishu"].verify({"x-lark-request-timestamp": ts, "x-lark-request-nonce": "n2", "x-lark-signature": sig}, body, "k", now)
    slack = "v0=" + hmac.new(b"k", b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    ADAPTERS["slack"].verify({"x-slack-request-timestamp": ts, "x-slack-signature": slack}, body, "k", now)
    with pytest.raises(StarlingError):
        ADAPTERS["slack"].verify({"x-slack-request-timestamp": ts, "x-slack-signature": slack}, body + b" ", "k", now)


def test_feishu_encrypted_body_is_decrypted():
    import os

    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from center._chat import FeishuAdapter, feishu_decrypt

    event = {"event": {"message": {"content": json.dumps({"text": "@_user_1 diag web-17"})}}}
    iv = os.urandom(16)
    pad = padding.PKCS7(128).padder()
    data = pad.update(json.dumps(event).encode()) + pad.finalize()
    enc = Cipher(algorithms.AES(hashlib.sha256(b"k").digest()), modes.CBC(iv)).encryptor()
    token = base64.b64encode(iv + enc.update(data) + enc.finalize()).decode()
    assert json.loads(feishu_decrypt(token, "k")) == event
    adapter = FeishuAdapter()
    adapter.key = "k"
    assert adapter.parse({}, json.dumps({"encrypt": token}).encode()).text == "@_user_1 diag web-17"
    adapter.key = "wrong key"
    with pytest.raises(StarlingError):  # bad padding, or (rarely) garbage that is not JSON
        adapter.parse({}, json.dumps({"encrypt": token}).encode())
