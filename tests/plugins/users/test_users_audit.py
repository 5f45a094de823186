from __future__ import annotations

import os

from agent_core.testing import run_action


def _image(tmp_path) -> str:
    etc = tmp_path / "etc"
    etc.mkdir()
    home = tmp_path / "home"
    (home / "alice").mkdir(parents=True)
    (home / "open").mkdir()
    (tmp_path / "root").mkdir(mode=0o700)
    os.chmod(home / "open", 0o777)
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        "toor:x:0:0:backdoor:/root:/bin/bash\n"
        "alice:x:1000:1000::/home/alice:/bin/bash\n"
        "mallory:x:1000:1000::/home/mallory:/bin/bash\n"
        "open:x:1002:1002::/home/open:/bin/bash\n"
        "svc:x:998:4242::/nonexistent:/usr/sbin/nologin\n"
    )
    (etc / "shadow").write_text(
        "root:*:19000::::::\n"
        "toor::19000::::::\n"
        "alice:$1$salt$abcdefghijklmnopqrstuv:19000::::::\n"
        "open:$6$salt$hash:19000::::::\n"
        "svc:!:19000::::::\n"
        "ghost:!:19000::::::\n"
    )
    (etc / "group").write_text("root:x:0:\nalice:x:1000:\nopen:x:1002:nobody2\n")
    (etc / "shells").write_text("/bin/bash\n")
    os.chown(home / "alice", 1000, 1000)
    return str(tmp_path)


async def test_audit_finds_every_problem(tmp_path):
    out = await run_action("user.audit", {"root": _image(tmp_path)})
    assert out.ok, out.message
    v = out.value
    got = {(f["severity"], f["check"], f["subject"]) for f in v["findings"]}
    assert got == {
        ("high", "uid0", "toor"),
        ("high", "empty-password", "toor"),
        ("high", "home-writable", "open"),
        ("medium", "duplicate-uid", "0"),
        ("medium", "duplicate-uid", "1000"),
        ("medium", "weak-hash", "alice"),
        ("medium", "no-shadow", "mallory"),
        ("medium", "missing-group", "svc"),
        ("low", "home-missing", "mallory"),
        ("low", "orphan-shadow", "ghost"),
        ("low", "unknown-member", "open"),
    }
    assert v["ok"] is False and v["counts"] == {"high": 3, "medium": 5, "low": 3}
    assert [f["severity"] for f in v["findings"]] == sorted(
        (f["severity"] for f in v["findings"]), key=["high", "medium", "low"].index
    )


async def test_audit_this_host_and_bad_params(tmp_path):
    out = await run_action("user.audit", {})
    assert out.ok, out.message
    assert out.value["ok"] == (not any(f["severity"] == "high" for f in out.value["findings"]))
    assert (await run_action("user.audit", {"root": "etc"})).code == "A002"
    assert (await run_action("user.audit", {"root": str(tmp_path / "none")})).code == "A017"
