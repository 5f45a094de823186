"""user.present / absent / lock / unlock on real accounts, inside the private /etc (see conftest)."""

from __future__ import annotations

import grp
import os
import pwd
import shutil

import pytest

from agent_core.testing import host_etc_text, run_action

HAS_SHADOW_TOOLS = all(shutil.which(t) for t in ("useradd", "usermod", "userdel", "groupadd", "gpasswd"))
shadow_tools = pytest.mark.skipif(
    not HAS_SHADOW_TOOLS, reason="shadow-utils absent on this host: the real path is not exercised here"
)


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


@shadow_tools
async def test_present_absent_lock_unlock(new_name, tmp_path, temp_group):
    home = str(tmp_path / "h")
    want = {"name": new_name, "home": home, "comment": "Starling test", "groups": [temp_group], "shell": "/bin/sh"}
    dry = await run_action("user.present", {**want, "dry_run": True})
    assert dry.ok, dry.message
    assert dry.value["changed"] and dry.value["backend"] == "shadow" and dry.value["user"] is None
    assert dry.value["commands"][0][0] == "useradd" and not _exists(new_name)

    out = await run_action("user.present", want)
    assert out.ok, out.message
    pw = pwd.getpwnam(new_name)
    v = out.value["user"]
    assert (v["uid"], v["home"], v["shell"], v["comment"], v["groups"]) == (
        pw.pw_uid, home, "/bin/sh", "Starling test", [temp_group]
    )
    assert _isdir(home) and v["password"] == "locked" and v["expired"] is False
    # The account is in the private overlay only: the machine's own passwd never saw it.
    assert f"\n{new_name}:" not in "\n" + host_etc_text("passwd")

    again = await run_action("user.present", want)
    assert again.ok and again.value["changed"] is False and again.value["commands"] == []

    out = await run_action("user.present", {"name": new_name, "shell": "/bin/bash", "groups": []})
    assert out.ok, out.message
    assert out.value["diff"] == f"groups: {temp_group} -> (none)\nshell: /bin/sh -> /bin/bash\n"
    assert pwd.getpwnam(new_name).pw_shell == "/bin/bash" and new_name not in grp.getgrnam(temp_group).gr_mem
    out = await run_action("user.present", {"name": new_name, "add_groups": [temp_group]})
    assert out.ok and out.value["user"]["groups"] == [temp_group]

    out = await run_action("user.lock", {"name": new_name})
    assert out.ok and out.value["user"]["password"] == "locked" and out.value["user"]["expired"] is True
    assert _shadow(new_name)[1].startswith("!") and _shadow(new_name)[7] == "1"
    assert (await run_action("user.lock", {"name": new_name})).value["changed"] is False
    out = await run_action("user.unlock", {"name": new_name})
    assert out.ok and out.value["user"]["expired"] is False and _shadow(new_name)[7] == ""

    dry = await run_action("user.absent", {"name": new_name, "remove_home": True, "dry_run": True})
    assert dry.ok and dry.value["changed"] and _exists(new_name)
    out = await run_action("user.absent", {"name": new_name, "remove_home": True})
    assert out.ok, out.message
    assert out.value["diff"] == f"- user {new_name} (and {home})\n" and out.value["user"] is None
    assert not _exists(new_name) and not _isdir(home)
    gone = await run_action("user.absent", {"name": new_name})
    assert gone.ok and gone.value["changed"] is False


@shadow_tools
async def test_user_refusals(new_name):
    assert (await run_action("user.absent", {"name": "root"})).code == "A016"
    daemon = next(p for p in pwd.getpwall() if 0 < p.pw_uid < 1000)
    assert (await run_action("user.absent", {"name": daemon.pw_name})).code == "A016"
    assert (await run_action("user.lock", {"name": "root"})).code == "A016"
    assert (await run_action("user.lock", {"name": new_name})).code == "A017"
    out = await run_action("user.present", {"name": new_name, "groups": ["stgrp-no-such-group"], "create_home": False})
    assert out.code == "A017" and not _exists(new_name)
    out = await run_action("user.present", {"name": new_name, "uid": 0, "create_home": False})
    assert out.code == "A014" and "useradd" in out.message and not _exists(new_name)


async def test_user_bad_params(new_name):
    assert (await run_action("user.present", {"name": "Bad Name"})).code == "A002"
    assert (await run_action("user.present", {"name": "-o"})).code == "A002"
    assert (await run_action("user.present", {"name": new_name, "shell": "bash"})).code == "A002"
    assert (await run_action("user.present", {"name": new_name, "comment": "a:b"})).code == "A002"
    assert (await run_action("user.present", {"name": new_name, "home": "/x\n"})).code == "A002"
    assert (await run_action("user.absent", {"name": "../root"})).code == "A002"
    assert (await run_action("user.present", {"name": new_name, "bogus": 1})).code == "A002"
    assert not _exists(new_name)


async def test_no_account_tools_is_a003(hidden_tools, new_name):
    """Without shadow-utils and without busybox's adduser applets, a change is A003 naming them."""
    run = hidden_tools("useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel", "gpasswd", "busybox")
    out = await run("user.present", {"name": new_name})
    assert out.code == "A003" and "useradd" in out.message and "busybox" in out.message
    assert (await run("user.group.absent", {"name": "stgrp-none"})).code == "A003"
    assert (await run("user.list", {})).ok  # reading needs no tool


def _busybox_missing() -> list[str]:
    """The account applets this host's busybox lacks, read from ``busybox --list`` here."""
    import subprocess

    exe = shutil.which("busybox")
    listed = subprocess.run([exe, "--list"], capture_output=True, text=True).stdout.split() if exe else []
    return [a for a in ("adduser", "deluser", "addgroup", "delgroup") if a not in listed]


def _busybox_skip_reason() -> str:
    exe = shutil.which("busybox")
    if exe is None:
        return "no busybox on PATH: the busybox backend's commands are not run here"
    return (
        f"{os.path.realpath(exe)} has no {'/'.join(_busybox_missing())} applets (Debian 12 builds busybox "
        "and busybox-static without them; Alpine's busybox has them): "
        "the busybox backend's commands are not run here; only its plans are tested (test_busybox_plans)"
    )


async def test_backend_is_chosen_by_name(new_name):
    """``backend`` forces one, as pkg.* and svc.* do: unknown is A002, one whose tools are missing A003."""
    assert (await run_action("user.present", {"name": new_name, "backend": "apk"})).code == "A002"
    assert (await run_action("user.group.absent", {"name": new_name, "backend": "pw"})).code == "A002"
    out = await run_action("user.present", {"name": new_name, "backend": "busybox", "dry_run": True})
    if _busybox_missing():
        assert out.code == "A003" and "busybox" in out.message, out.message
    else:
        assert out.ok and out.value["backend"] == "busybox" and out.value["commands"][0][:2] == ["busybox", "adduser"]
    if HAS_SHADOW_TOOLS:
        out = await run_action("user.present", {"name": new_name, "backend": "shadow", "dry_run": True})
        assert out.ok and out.value["backend"] == "shadow" and out.value["commands"][0][0] == "useradd"
    assert not _exists(new_name)


def test_busybox_plans():
    """The busybox backend's argv lists (what a dry run shows), and what it refuses for lack of usermod."""
    from agent_core import ActionError
    from plugins.users._busybox import Busybox

    bb = Busybox()
    want = {"home": "/h/x", "shell": "/bin/sh", "comment": "X Y", "groups": ["wheel", "adm"]}
    assert bb.add_user("x", want, system=True, create_home=False) == [
        ["busybox", "adduser", "-D", "-h", "/h/x", "-s", "/bin/sh", "-g", "X Y", "-S", "-H", "x"],
        ["busybox", "addgroup", "x", "wheel"],
        ["busybox", "addgroup", "x", "adm"],
    ]
    assert bb.modify_user("x", {"groups": ["adm", "video"]}, False, ["adm", "wheel"]) == [
        ["busybox", "addgroup", "x", "video"],
        ["busybox", "delgroup", "x", "wheel"],
    ]
    for refused in (
        lambda: bb.modify_user("x", {"shell": "/bin/bash"}, False, []),
        lambda: bb.set_gid("g", 2000),
        lambda: bb.lock_user("x", expire=True),
    ):
        with pytest.raises(ActionError) as err:
            refused()
        assert err.value.code == "A003" and "shadow" in str(err.value)
    assert bb.lock_user("x", expire=False) == [["busybox", "passwd", "-l", "x"]]
    assert bb.delete_user("x", remove_home=True) == [["busybox", "deluser", "--remove-home", "x"]]


@pytest.mark.skipif(bool(_busybox_missing()), reason=_busybox_skip_reason())
async def test_busybox_backend(hidden_tools, new_name, temp_group, tmp_path):
    run = hidden_tools("useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel", "gpasswd")
    home = str(tmp_path / "bb")
    out = await run("user.present", {"name": new_name, "home": home, "shell": "/bin/sh", "groups": [temp_group]})
    assert out.ok, out.message
    assert out.value["backend"] == "busybox" and out.value["user"]["groups"] == [temp_group]
    assert (await run("user.present", {"name": new_name, "shell": "/bin/bash"})).code == "A003"
    out = await run("user.present", {"name": new_name, "groups": []})
    assert out.ok and out.value["user"]["groups"] == []
    out = await run("user.absent", {"name": new_name, "remove_home": True})
    assert out.ok and not _exists(new_name)
