from __future__ import annotations

import grp
import os
import pwd
import shutil

import pytest

from agent_core.testing import run_action

HAS_SHADOW_TOOLS = all(shutil.which(t) for t in ("useradd", "usermod", "userdel"))


def _shadow(name: str) -> list[str]:
    with open("/etc/shadow") as fh:
        for line in fh:
            fields = line.rstrip("\n").split(":")
            if fields[0] == name:
                return fields
    return []


def _isdir(path: str) -> bool:
    return os.path.isdir(path)


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


async def test_add_modify_lock_unlock_remove(new_name, tmp_path, temp_group):
    if not HAS_SHADOW_TOOLS:
        assert (await run_action("user.add", {"name": new_name})).code == "A003"
        pytest.skip("useradd/usermod/userdel absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    home = str(tmp_path / "h")
    out = await run_action(
        "user.add",
        {"name": new_name, "home": home, "comment": "Starling test", "groups": [temp_group]},
    )
    assert out.ok, out.message
    pw = pwd.getpwnam(new_name)
    v = out.value
    assert (v["uid"], v["home"], v["shell"], v["comment"]) == (
        pw.pw_uid,
        home,
        "/bin/bash",
        "Starling test",
    )
    assert v["groups"] == [temp_group] and v["home_exists"] and _isdir(home)
    assert (
        v["password"] == "locked" and v["expired"] is False
    )  # useradd sets "!" until a password is given

    out = await run_action(
        "user.modify", {"name": new_name, "shell": "/bin/sh", "comment": "changed"}
    )
    assert (
        out.ok
        and pwd.getpwnam(new_name).pw_shell == "/bin/sh"
        and out.value["comment"] == "changed"
    )

    out = await run_action("user.lock", {"name": new_name})
    assert out.ok and out.value["password"] == "locked" and out.value["expired"] is True
    assert _shadow(new_name)[1].startswith("!") and _shadow(new_name)[7] == "1"
    out = await run_action("user.unlock", {"name": new_name})
    assert out.ok and out.value["expired"] is False and _shadow(new_name)[7] == ""

    out = await run_action("user.remove", {"name": new_name, "remove_home": True})
    assert out.ok, out.message
    assert out.value == {"name": new_name, "uid": pw.pw_uid, "home_removed": True}
    assert not _exists(new_name) and not _isdir(home)


async def test_user_refusals(new_name):
    if not HAS_SHADOW_TOOLS:
        pytest.skip("useradd/usermod/userdel absent on this host: the real path is not exercised here")
    assert (await run_action("user.remove", {"name": "root"})).code == "A016"
    daemon = next(p for p in pwd.getpwall() if 0 < p.pw_uid < 1000)
    assert (await run_action("user.remove", {"name": daemon.pw_name})).code == "A016"
    assert (await run_action("user.lock", {"name": "root"})).code == "A016"
    assert (await run_action("user.add", {"name": "root"})).code == "A014"
    assert (await run_action("user.remove", {"name": new_name})).code == "A017"
    out = await run_action(
        "user.add", {"name": new_name, "groups": ["stgrp-no-such-group"], "create_home": False}
    )
    assert out.code == "A017" and not _exists(new_name)


async def test_user_bad_params(new_name):
    assert (await run_action("user.add", {"name": "Bad Name"})).code == "A002"
    assert (await run_action("user.add", {"name": "-o"})).code == "A002"
    assert (await run_action("user.add", {"name": new_name, "shell": "bash"})).code == "A002"
    assert (await run_action("user.add", {"name": new_name, "comment": "a:b"})).code == "A002"
    assert (await run_action("user.modify", {"name": "root"})).code == "A002"
    assert not _exists(new_name)
    assert grp.getgrgid(0).gr_name == "root"
