from __future__ import annotations

import os
import subprocess

from agent_core.testing import run_action

KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@starling"
)


def _setup(user, group: str) -> None:
    subprocess.run(["gpasswd", "-a", user.pw_name, group], check=True, capture_output=True)
    home = user.pw_dir
    os.makedirs(f"{home}/.ssh", mode=0o700)
    with open(f"{home}/.ssh/authorized_keys", "w") as fh:
        fh.write(KEY + "\n# a comment\n" + KEY.replace("test@", "second@") + "\n")


async def test_info_of_temp_user(temp_user, temp_group):
    _setup(temp_user, temp_group)
    out = await run_action("user.info", {"name": temp_user.pw_name})
    assert out.ok, out.message
    v = out.value
    assert (v["uid"], v["gid"], v["shell"], v["can_login"]) == (
        temp_user.pw_uid,
        temp_user.pw_gid,
        "/bin/bash",
        True,
    )
    d = v["detail"]
    assert v["groups"] == [temp_group] and v["group"] == temp_user.pw_name and d["admin_group"] is False
    assert v["home"] == temp_user.pw_dir and v["system"] is False
    assert (d["home_exists"], d["home_owner_uid"], d["home_owned_by_user"]) == (True, temp_user.pw_uid, True)
    assert d["home_mode"] == f"{os.stat(temp_user.pw_dir).st_mode & 0o7777:04o}"
    assert d["authorized_keys"] == 2 and d["processes"] == 0 and v["password"] == "locked"


async def test_info_root_and_errors():
    out = await run_action("user.info", {"name": "root"})
    assert out.ok and out.value["uid"] == 0 and out.value["detail"]["processes"] >= 1
    assert (await run_action("user.info", {"name": "sttest-no-such-user"})).code == "A017"
    assert (await run_action("user.info", {"name": "../root"})).code == "A002"
