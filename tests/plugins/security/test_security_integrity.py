"""sec.integrity: baseline then check reports content, mode, owner, link changes, adds and removes."""

from __future__ import annotations

import os
import pwd

from agent_core.testing import run_action


async def test_baseline_and_check(tmp_path):
    state = tmp_path / "state"
    watched = tmp_path / "etc"
    (watched / "conf.d").mkdir(parents=True)
    (watched / "a.conf").write_text("a=1\n")
    (watched / "conf.d" / "b.conf").write_text("b=1\n")
    (watched / "gone.conf").write_text("bye\n")
    (watched / "cache.swp").write_text("ignored\n")
    os.symlink("a.conf", watched / "current")
    single = tmp_path / "bin-tool"
    single.write_text("#!/bin/sh\n")

    out = await run_action("sec.integrity.baseline", {"name": "etc", "paths": [str(watched), str(single)], "exclude": ["*.swp"]},
                           state_dir=state)
    assert out.ok, out.message
    assert out.value["files"] == 7  # etc, conf.d, a.conf, b.conf, gone.conf, current, bin-tool
    out = await run_action("sec.integrity.check", {"name": "etc"}, state_dir=state)
    assert out.ok and out.value["clean"] is True and out.value["counts"]["checked"] == 7

    (watched / "a.conf").write_text("a=2\n")
    os.chmod(watched / "conf.d" / "b.conf", 0o600)
    os.chown(single, pwd.getpwnam("nobody").pw_uid, -1)
    (watched / "gone.conf").unlink()
    (watched / "new.conf").write_text("new\n")
    (watched / "current").unlink()
    os.symlink("new.conf", watched / "current")
    (watched / "cache.swp").write_text("still ignored\n")
    out = await run_action("sec.integrity.check", {"name": "etc"}, state_dir=state)
    assert out.ok, out.message
    v = out.value
    assert v["clean"] is False
    changes = {c["path"]: c for c in v["changed"]}
    assert changes[str(watched / "a.conf")]["fields"] == ["sha256"]
    assert changes[str(watched / "conf.d" / "b.conf")]["fields"] == ["mode"]
    assert changes[str(watched / "conf.d" / "b.conf")]["new"] == {"mode": "0600"}
    assert changes[str(single)]["fields"] == ["uid"]
    assert changes[str(watched / "current")]["new"] == {"target": "new.conf"}
    assert v["added"] == [str(watched / "new.conf")] and v["removed"] == [str(watched / "gone.conf")]

    listing = await run_action("sec.integrity.list", state_dir=state)
    assert [b["name"] for b in listing.value] == ["etc"]
    # Accepting the new state is a fresh baseline under the same name.
    await run_action("sec.integrity.baseline", {"name": "etc", "paths": [str(watched), str(single)], "exclude": ["*.swp"]},
                     state_dir=state)
    assert (await run_action("sec.integrity.check", {"name": "etc"}, state_dir=state)).value["clean"] is True


async def test_integrity_errors(tmp_path):
    assert (await run_action("sec.integrity.check", {"name": "never"}, state_dir=tmp_path)).code == "A017"
    assert (await run_action("sec.integrity.baseline", {"name": "../x", "paths": ["/etc/hostname"]}, state_dir=tmp_path)).code == "A002"
    assert (await run_action("sec.integrity.baseline", {"name": "x", "paths": []}, state_dir=tmp_path)).code == "A002"
    assert (await run_action("sec.integrity.baseline", {"name": "x", "paths": ["etc"]}, state_dir=tmp_path)).code == "A002"
    out = await run_action("sec.integrity.baseline", {"name": "x", "paths": ["/usr/share"], "max_files": 10}, state_dir=tmp_path)
    assert out.code == "A002" and "max_files" in out.message
