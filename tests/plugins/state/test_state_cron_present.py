"""state.cron.present: a job keyed by a unique marker in a temp cron.d file; idempotent; removal."""

from __future__ import annotations

import os
import stat
import uuid

from agent_core.testing import run_action


async def test_cron_job_lifecycle(tmp_path):
    f = tmp_path / "starling"
    f.write_text("# hand written\nMAILTO=ops@example.com\n0 1 * * * root /usr/local/bin/backup\n")
    name = "stl-" + uuid.uuid4().hex[:8]
    want = {"name": name, "schedule": "*/5  *  * * *", "command": "/usr/bin/true --quiet", "path": str(f)}
    out = await run_action("state.cron.present", {**want, "dry_run": True})
    assert out.ok and out.value["changed"] and f"+# starling: {name}" in out.value["diff"]
    assert "+*/5 * * * * root /usr/bin/true --quiet" in out.value["diff"] and name not in f.read_text()
    out = await run_action("state.cron.present", want)
    assert out.ok, out.message
    text = f.read_text()
    assert text.startswith("# hand written\nMAILTO=ops@example.com\n0 1 * * * root /usr/local/bin/backup\n")
    assert text.endswith(f"# starling: {name}\n*/5 * * * * root /usr/bin/true --quiet\n")
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o644
    assert (await run_action("state.cron.present", want)).value["changed"] is False
    out = await run_action("state.cron.present", {**want, "schedule": "@hourly", "user": "nobody"})
    assert out.value["changed"] and f.read_text().count(f"# starling: {name}") == 1
    assert "@hourly nobody /usr/bin/true --quiet" in f.read_text()
    out = await run_action("state.cron.present", {"name": name, "present": False, "path": str(f)})
    assert out.value["changed"] and f.read_text() == "# hand written\nMAILTO=ops@example.com\n0 1 * * * root /usr/local/bin/backup\n"
    assert (await run_action("state.cron.present", {"name": name, "present": False, "path": str(f)})).value["changed"] is False


async def test_cron_new_file(tmp_path):
    f = tmp_path / "jobs"
    out = await run_action("state.cron.present", {"name": "a", "schedule": "@daily", "command": "x", "path": str(f)})
    assert out.ok and f.read_text().startswith("# Managed by Starling") and "@daily root x\n" in f.read_text()


async def test_cron_bad_params(tmp_path):
    p = str(tmp_path / "c")
    base = {"name": "n", "schedule": "* * * * *", "command": "true", "path": p}
    assert (await run_action("state.cron.present", {**base, "schedule": "* * *"})).code == "A002"
    assert (await run_action("state.cron.present", {**base, "schedule": "@sometimes"})).code == "A002"
    assert (await run_action("state.cron.present", {**base, "schedule": "* * * * * ; rm"})).code == "A002"
    assert (await run_action("state.cron.present", {**base, "command": "a\nb"})).code == "A002"
    assert (await run_action("state.cron.present", {**base, "name": "has space"})).code == "A002"
    assert (await run_action("state.cron.present", {**base, "user": "no-such-user-q"})).code == "A017"
    assert (await run_action("state.cron.present", {**base, "path": "/etc/cron.d/bad.name", "dry_run": True})).code == "A002"
