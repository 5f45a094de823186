"""state.user.present: a unique temp user created, changed, left alone, removed, in the private /etc."""

from __future__ import annotations

import grp
import pwd
import subprocess
import uuid

import pytest

from agent_core.testing import host_etc_text, run_action


@pytest.fixture
def username(private_etc):
    name = "stl" + uuid.uuid4().hex[:8]
    yield name
    subprocess.run(["userdel", "-r", name], capture_output=True)  # teardown whatever the test left
    subprocess.run(["groupdel", name], capture_output=True)


def _groups_of(name: str) -> list[str]:
    out = subprocess.run(["id", "-Gn", name], capture_output=True, text=True).stdout.split()
    return sorted(out[1:])  # the first is the primary group


async def test_user_lifecycle(username, tmp_path):
    home = str(tmp_path / "home")
    want = {"name": username, "shell": "/bin/sh", "home": home, "comment": "Starling test", "groups": ["daemon"]}
    out = await run_action("state.user.present", {**want, "dry_run": True})
    assert out.ok and out.value["changed"] and out.value["diff"].startswith(f"+ user {username}")
    with pytest.raises(KeyError):
        pwd.getpwnam(username)
    out = await run_action("state.user.present", want)
    assert out.ok, out.message
    pw = pwd.getpwnam(username)
    assert (pw.pw_shell, pw.pw_dir, pw.pw_gecos) == ("/bin/sh", home, "Starling test")
    assert _groups_of(username) == ["daemon"]
    assert f"\n{username}:" not in "\n" + host_etc_text("passwd")  # only the overlay has it
    again = await run_action("state.user.present", want)
    assert again.value["changed"] is False and again.value["diff"] == ""

    changed = {**want, "shell": "/bin/bash", "groups": ["daemon", "adm"]}
    out = await run_action("state.user.present", {**changed, "dry_run": True})
    assert out.value["diff"] == "groups: daemon -> adm,daemon\nshell: /bin/sh -> /bin/bash\n"
    # The front-end's change answers the same text diff as the state action (one result shape).
    direct = await run_action("user.present", {**changed, "dry_run": True})
    assert direct.ok and (direct.value["changed"], direct.value["diff"]) == (True, out.value["diff"])
    assert pwd.getpwnam(username).pw_shell == "/bin/sh"
    out = await run_action("state.user.present", changed)
    assert out.ok and pwd.getpwnam(username).pw_shell == "/bin/bash" and _groups_of(username) == ["adm", "daemon"]
    assert username in grp.getgrnam("adm").gr_mem

    out = await run_action("state.user.present", {"name": username, "present": False})
    assert out.ok and out.value["changed"] and out.value["diff"] == f"- user {username}\n"
    with pytest.raises(KeyError):
        pwd.getpwnam(username)
    assert (await run_action("state.user.present", {"name": username, "present": False})).value["changed"] is False


async def test_user_bad_params(username):
    assert (await run_action("state.user.present", {"name": "Bad User"})).code == "A002"
    assert (await run_action("state.user.present", {"name": username, "shell": "bash"})).code == "A002"
    assert (await run_action("state.user.present", {"name": username, "comment": "a:b"})).code == "A002"
    assert (await run_action("state.user.present", {"name": username, "groups": ["no-such-group-q"]})).code == "A017"
    assert (await run_action("state.user.present", {"name": username, "uid": "1000"})).code == "A002"


async def test_user_refuses_system_accounts(private_etc):
    """present: false on a system account needs system: true (root never)."""
    daemon = next(p for p in pwd.getpwall() if 0 < p.pw_uid < 1000)
    out = await run_action("state.user.present", {"name": daemon.pw_name, "present": False, "dry_run": True})
    assert out.code == "A016"
    out = await run_action("state.user.present", {"name": "root", "present": False, "system": True, "dry_run": True})
    assert out.code == "A016"
    out = await run_action("state.user.present", {"name": daemon.pw_name, "present": False, "system": True, "dry_run": True})
    assert out.ok and out.value["diff"] == f"- user {daemon.pw_name}\n" and pwd.getpwnam(daemon.pw_name)
