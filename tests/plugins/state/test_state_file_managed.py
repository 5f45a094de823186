"""state.file.managed: create, dry-run diff, idempotence, metadata changes, backup."""

from __future__ import annotations

import os
import pwd
import stat

from agent_core.testing import run_action


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_managed_lifecycle(tmp_path):
    f = tmp_path / "app.conf"
    want = {"path": str(f), "content": "port = 8080\nworkers = 4\n", "mode": "0640"}
    out = await run_action("state.file.managed", {**want, "dry_run": True})
    assert out.ok and out.value["changed"] is True and out.value["dry_run"] is True
    assert "new file" in out.value["diff"] and "+port = 8080" in out.value["diff"] and not f.exists()
    out = await run_action("state.file.managed", want)
    assert out.ok and out.value["changed"] is True and f.read_text() == want["content"] and _mode(f) == 0o640
    again = await run_action("state.file.managed", want)
    assert again.value["changed"] is False and again.value["diff"] == ""
    # A drifted file: content and mode both differ; the diff shows both, dry-run touches nothing.
    f.write_text("port = 9090\nworkers = 4\n")
    os.chmod(f, 0o666)
    out = await run_action("state.file.managed", {**want, "dry_run": True})
    assert out.value["changed"] and "-port = 9090" in out.value["diff"] and "+port = 8080" in out.value["diff"]
    assert "mode: 0666 -> 0640" in out.value["diff"] and f.read_text().startswith("port = 9090")
    out = await run_action("state.file.managed", {**want, "backup": True})
    assert f.read_text() == want["content"] and _mode(f) == 0o640
    backups = [p for p in os.listdir(tmp_path) if p.endswith(".bak")]
    assert len(backups) == 1 and (tmp_path / backups[0]).read_text().startswith("port = 9090")
    assert "kept as" in out.value["comment"]


async def test_managed_owner_only_change(tmp_path):
    f = tmp_path / "owned"
    f.write_text("x\n")
    out = await run_action("state.file.managed", {"path": str(f), "content": "x\n", "owner": "nobody"})
    assert out.value["changed"] is True and out.value["diff"] == "owner: root -> nobody\n"
    assert os.stat(f).st_uid == pwd.getpwnam("nobody").pw_uid
    assert (await run_action("state.file.managed", {"path": str(f), "content": "x\n", "owner": "nobody"})).value["changed"] is False


async def test_managed_errors(tmp_path):
    out = await run_action("state.file.managed", {"path": str(tmp_path / "no" / "f"), "content": "x"})
    assert out.code == "A017"
    out = await run_action("state.file.managed", {"path": str(tmp_path / "no" / "f"), "content": "x", "makedirs": True, "dry_run": True})
    assert out.ok and not (tmp_path / "no").exists()
    assert (await run_action("state.file.managed", {"path": str(tmp_path), "content": "x"})).code == "A002"
    assert (await run_action("state.file.managed", {"path": "rel", "content": "x"})).code == "A002"
    assert (await run_action("state.file.managed", {"path": str(tmp_path / "f")})).code == "A002"
    assert (await run_action("state.file.managed", {"path": str(tmp_path / "f"), "content": "x", "group": "no-such-grp-q"})).code == "A017"
