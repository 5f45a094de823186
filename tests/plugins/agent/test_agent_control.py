"""agent.* actions against a real Kernel: listing, enabling, and installing,
upgrading and rolling back a plugin wheel without a restart."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zipfile

import msgspec
import pytest

from agent_core import AgentInfo
from agent_core.host import Kernel, PluginHost, execute
from transports import JobSpec, decode_value, encode_value


async def call(host, kernel, action, params=None):
    job = JobSpec(job_id="t", action=action, params=msgspec.Raw(encode_value(params or {})), timeout=30, deadline=time.time() + 60)
    res = await execute(host, "t-1", job, agent=AgentInfo(agent_id="a", version="9.9"), kernel=kernel)
    return res, decode_value(res.data) if res.data else None


@pytest.fixture
def kernel(tmp_path):
    host = PluginHost()
    k = Kernel(host, tmp_path)
    yield host, k
    for dist in ("starling_wheeltest",):
        k_path = str(tmp_path / "packages" / dist)
        import sys

        sys.path[:] = [p for p in sys.path if not p.startswith(k_path)]
        for mod in [m for m in sys.modules if m.startswith("starling_wheeltest")]:
            del sys.modules[mod]


async def test_version_status_and_plugins(kernel):
    host, k = kernel
    res, value = await call(host, k, "agent.version")
    assert res.state == "succeeded" and value["version"] == "9.9"
    res, value = await call(host, k, "agent.plugins")
    names = {p["name"] for p in value["plugins"]}
    assert {"agent", "exec", "sys"} <= names and value["count"] == len(names) >= 3
    res, value = await call(host, k, "agent.status")
    assert res.state == "succeeded" and value == {}


async def test_enable_disable_persisted(kernel, tmp_path):
    host, k = kernel
    res, value = await call(host, k, "agent.disable", {"names": ["sys"]})
    assert value["disabled"] == ["sys"]
    res, _ = await call(host, k, "sys.info")
    assert res.code == "A012"
    assert "sys" in Kernel(PluginHost(), tmp_path).host.disabled  # persisted
    res, value = await call(host, k, "agent.enable", {"names": ["sys"]})
    assert value["disabled"] == []
    res, _ = await call(host, k, "sys.info")
    assert res.state == "succeeded"
    res, _ = await call(host, k, "agent.disable", {"names": ["nope"]})
    assert res.code == "A017"
    res, _ = await call(host, k, "agent.disable", {"names": ["agent"]})
    assert res.code == "A002"


async def test_install_upgrade_rollback_without_restart(kernel, make_wheel):
    host, k = kernel
    res, _ = await call(host, k, "wheeltest.hello")
    assert res.code == "A001"
    w1 = make_wheel("1.0", "hello v1")
    res, value = await call(host, k, "agent.install", {"wheel_b64": base64.b64encode(w1).decode(), "sha256": hashlib.sha256(w1).hexdigest()})
    assert res.state == "succeeded", res.message
    assert value["version"] == "1.0" and value["plugins"] == ["wheeltest"]
    res, value = await call(host, k, "wheeltest.hello")
    assert value == {"text": "hello v1"}
    w2 = make_wheel("2.0", "hello v2")
    res, value = await call(host, k, "agent.install", {"wheel_b64": base64.b64encode(w2).decode(), "sha256": hashlib.sha256(w2).hexdigest()})
    assert value["previous"] == "1.0"
    res, value = await call(host, k, "wheeltest.hello")
    assert value == {"text": "hello v2"}
    res, value = await call(host, k, "agent.rollback", {"dist": "starling_wheeltest"})
    assert value["version"] == "1.0"
    res, value = await call(host, k, "wheeltest.hello")
    assert value == {"text": "hello v1"}
    res, _ = await call(host, k, "agent.rollback", {"dist": "starling-wheeltest"})  # install's name, any spelling
    assert res.code == "A014" and "only installed version" in res.message
    res, _ = await call(host, k, "agent.rollback", {"dist": "starling_nosuch"})
    assert res.code == "A017" and "no plugin package 'starling_nosuch' is installed" in res.message
    assert "starling_wheeltest" in res.message  # and says what is installed


def _install_params(wheel: bytes) -> dict[str, str]:
    return {"wheel_b64": base64.b64encode(wheel).decode(), "sha256": hashlib.sha256(wheel).hexdigest()}


async def test_uninstall_forgets_the_package(kernel, make_wheel, tmp_path):
    host, k = kernel
    res, value = await call(host, k, "agent.install", _install_params(make_wheel("1.0", "hi")))
    assert res.state == "succeeded", res.message
    res, value = await call(host, k, "agent.uninstall", {"dist": value["dist"]})
    assert res.state == "succeeded", res.message
    assert value == {"dist": "starling_wheeltest", "version": "1.0", "plugins": ["wheeltest"]}
    res, _ = await call(host, k, "wheeltest.hello")
    assert res.code == "A001"
    assert not (tmp_path / "packages" / "starling_wheeltest").exists()
    assert "starling_wheeltest" not in json.loads((tmp_path / "plugins.json").read_text()).get("active", {})
    res, _ = await call(host, k, "agent.uninstall", {"dist": "starling_wheeltest"})
    assert res.code == "A017"
    res, _ = await call(host, k, "agent.uninstall", {"dist": "../etc"})
    assert res.code == "A002"


async def test_a_wheel_may_not_claim_a_builtin_plugin_name(kernel, make_wheel, tmp_path):
    host, k = kernel
    res, _ = await call(host, k, "agent.install", _install_params(make_wheel("1.0", "pwned", plugin="exec")))
    assert res.code == "A025" and "'exec' is already provided by starling-fleet" in res.message
    assert not (tmp_path / "packages" / "starling_wheeltest").exists()  # nothing unpacked, nothing active
    host.rescan()
    assert host.load("exec").source.startswith("starling-fleet:plugins.")  # still the built-in


async def test_a_wheel_may_not_claim_a_renamed_builtin_plugin_name(kernel, make_wheel, tmp_path):
    """The old name of a renamed built-in (``cmd``, now ``exec``) stays reserved: rules and
    scopes that name ``cmd.run`` still match, so a package may not provide it."""
    host, k = kernel
    res, _ = await call(host, k, "agent.install", _install_params(make_wheel("1.0", "pwned", plugin="cmd")))
    assert res.code == "A025" and "former name (now 'exec')" in res.message
    assert not (tmp_path / "packages" / "starling_wheeltest").exists()


async def test_install_refuses_bad_wheels(kernel, make_wheel):
    host, k = kernel
    w = make_wheel("1.0", "x")
    res, _ = await call(host, k, "agent.install", {"wheel_b64": base64.b64encode(w).decode(), "sha256": "0" * 64})
    assert res.code == "A015"
    res, _ = await call(host, k, "agent.install", {"wheel_b64": "!!!", "sha256": ""})
    assert res.code == "A002"
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("x-1.dist-info/METADATA", "Name: x\nVersion: 1\n")
        zf.writestr("../escape.py", "")
    data = bad.getvalue()
    res, _ = await call(host, k, "agent.install", {"wheel_b64": base64.b64encode(data).decode(), "sha256": hashlib.sha256(data).hexdigest()})
    assert res.code == "A002" and "escapes" in res.message
    res, _ = await call(host, k, "agent.install", {"wheel": "x"})
    assert res.code == "A002"


async def test_outside_an_agent_is_unavailable():
    host = PluginHost()
    res, _ = await call(host, None, "agent.plugins")
    assert res.code == "A003"
