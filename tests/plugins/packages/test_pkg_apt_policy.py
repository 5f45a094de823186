from __future__ import annotations

import subprocess

from agent_core.testing import run_action


def _installed_version(name: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True
    ).stdout


async def test_policy_of_bash():
    out = await run_action("pkg.apt.policy", {"packages": ["bash"]})
    assert out.ok, out.message
    (pol,) = out.value["policies"]
    assert pol["package"] == "bash" and pol["installed"] == _installed_version("bash")
    assert pol["candidate"] and pol["upgradable"] == (pol["candidate"] != pol["installed"])
    installed = [v for v in pol["versions"] if v["installed"]]
    assert [v["version"] for v in installed] == [pol["installed"]]
    assert any(s["source"] == "/var/lib/dpkg/status" for s in installed[0]["sources"])


async def test_policy_errors():
    assert (
        await run_action("pkg.apt.policy", {"packages": ["starling-no-such-package"]})
    ).code == "A017"
    assert (await run_action("pkg.apt.policy", {"packages": []})).code == "A002"
    assert (await run_action("pkg.apt.policy", {"packages": ["Bad Name"]})).code == "A002"
