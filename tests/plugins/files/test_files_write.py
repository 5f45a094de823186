"""file.write: atomic replace, mode/owner, backup, base64, errors."""

from __future__ import annotations

import base64
import hashlib
import os
import pwd

from agent_core.testing import run_action


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


async def test_write_creates_then_replaces_with_backup(tmp_path):
    f = tmp_path / "conf"
    out = await run_action("file.write", {"path": str(f), "content": "a=1\n", "mode": "0600"})
    assert out.ok, out.message
    assert f.read_text() == "a=1\n" and out.value["created"] is True
    assert oct(f.stat().st_mode & 0o777) == "0o600" and out.value["mode"] == "0600"
    assert out.value["sha256"] == hashlib.sha256(b"a=1\n").hexdigest()
    inode = f.stat().st_ino
    out = await run_action("file.write", {"path": str(f), "content": "a=2\n", "backup": True})
    assert out.ok and out.value["created"] is False
    assert f.read_text() == "a=2\n"
    assert f.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert oct(f.stat().st_mode & 0o777) == "0o600"  # kept the old mode
    assert _read(out.value["backup"]) == "a=1\n"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".starling")]


async def test_write_binary_owner_and_dirs(tmp_path):
    blob = os.urandom(500)
    target = tmp_path / "sub" / "dir" / "blob"
    nobody = pwd.getpwnam("nobody")
    out = await run_action(
        "file.write",
        {"path": str(target), "content_b64": base64.b64encode(blob).decode(), "create_dirs": True, "owner": "nobody"},
    )
    assert out.ok, out.message
    assert target.read_bytes() == blob and target.stat().st_uid == nobody.pw_uid
    assert out.value["owner"] == "nobody"


async def test_write_errors(tmp_path):
    f = str(tmp_path / "x")
    assert (await run_action("file.write", {"path": f})).code == "A002"
    assert (await run_action("file.write", {"path": f, "content": "a", "content_b64": "YQ=="})).code == "A002"
    assert (await run_action("file.write", {"path": f, "content_b64": "!!notb64"})).code == "A002"
    assert (await run_action("file.write", {"path": f, "content": "a", "mode": "999"})).code == "A002"
    assert (await run_action("file.write", {"path": f, "content": "a", "owner": "no-such-user-xyz"})).code == "A017"
    assert (await run_action("file.write", {"path": str(tmp_path / "no" / "dir" / "f"), "content": "a"})).code == "A002"
    assert (await run_action("file.write", {"path": str(tmp_path), "content": "a"})).code == "A002"
    assert not (tmp_path / "x").exists()
