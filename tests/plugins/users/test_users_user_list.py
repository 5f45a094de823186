from __future__ import annotations

import pwd

from agent_core.testing import run_action


def _local_passwd() -> list[str]:
    with open("/etc/passwd") as fh:
        return [ln.split(":")[0] for ln in fh if ln.strip() and not ln.startswith("#")]


async def test_user_list_matches_passwd():
    out = await run_action("user.list", {})
    assert out.ok, out.message
    rows = out.value["users"]
    assert [r["name"] for r in rows] == _local_passwd()
    for r in rows:
        pw = pwd.getpwnam(r["name"])
        assert (r["uid"], r["gid"], r["home"], r["shell"]) == (
            pw.pw_uid,
            pw.pw_gid,
            pw.pw_dir,
            pw.pw_shell,
        )
        assert r["system"] == (r["uid"] < out.value["uid_min"])
    root = next(r for r in rows if r["name"] == "root")
    assert root["system"] is True and root["can_login"] is True and root["group"] == "root"


async def test_user_list_filters_and_root(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
        "alice:x:1000:1000:Alice:/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/false\n"
    )
    (etc / "shadow").write_text(
        "root:*:19000::::::\nalice:$6$salt$hash:19000::::::\nbob:!:19000::::::\n"
    )
    (etc / "shells").write_text("/bin/bash\n/bin/sh\n")
    (etc / "login.defs").write_text("UID_MIN 1000\nUID_MAX 60000\n")
    out = await run_action("user.list", {"root": str(tmp_path), "humans_only": True})
    assert out.ok, out.message
    assert [(r["name"], r["can_login"], r["password"]) for r in out.value["users"]] == [
        ("alice", True, "set"),
        ("bob", False, "locked"),
    ]
    out = await run_action("user.list", {"root": str(tmp_path), "login_only": True})
    assert [r["name"] for r in out.value["users"]] == ["root", "alice"]
    out = await run_action("user.list", {"root": str(tmp_path)})
    assert [r["password"] for r in out.value["users"]] == [
        "no-password",
        "unknown",
        "set",
        "locked",
    ]


async def test_user_list_bad_params(tmp_path):
    assert (await run_action("user.list", {"root": "etc"})).code == "A002"
    assert (await run_action("user.list", {"root": str(tmp_path / "none")})).code == "A017"
    assert (await run_action("user.list", {"humans": True})).code == "A002"
