from __future__ import annotations

import os
import shutil
import subprocess

from agent_core.testing import run_action


def _image(tmp_path) -> str:
    etc = tmp_path / "etc"
    daily = etc / "cron.daily"
    weekly = etc / "cron.weekly"
    daily.mkdir(parents=True)
    weekly.mkdir()
    for name, mode in (
        ("logrotate", 0o755),
        ("backup.sh", 0o755),
        ("noexec", 0o644),
        (".placeholder", 0o644),
    ):
        (daily / name).write_text("#!/bin/sh\ntrue\n")
        os.chmod(daily / name, mode)
    (weekly / "fstrim").write_text("#!/bin/sh\ntrue\n")
    os.chmod(weekly / "fstrim", 0o755)
    (etc / "crontab").write_text("25 6 * * * root cd / && run-parts --report /etc/cron.daily\n")
    return str(tmp_path)


def _run_parts(directory: str) -> list[str]:
    res = subprocess.run(["run-parts", "--test", directory], capture_output=True, text=True)
    return sorted(os.path.basename(p) for p in res.stdout.split())


async def test_periodic_image(tmp_path):
    root = _image(tmp_path)
    out = await run_action("sched.periodic", {"root": root})
    assert out.ok, out.message
    dirs = {d["period"]: d for d in out.value["directories"]}
    daily = {s["name"]: (s["runs"], s["reason"]) for s in dirs["daily"]["scripts"]}
    assert daily["logrotate"] == (True, "")
    assert daily["backup.sh"][0] is False and "name" in daily["backup.sh"][1]
    assert daily["noexec"] == (False, "not executable")
    assert dirs["daily"]["triggered_by"] and dirs["hourly"]["exists"] is False
    assert "/etc/cron.weekly has scripts but nothing runs the directory" in out.value["problems"]
    assert any("backup.sh will not run" in p for p in out.value["problems"])
    if shutil.which("run-parts"):
        assert sorted(n for n, (runs, _) in daily.items() if runs) == _run_parts(
            f"{root}/etc/cron.daily"
        )


async def test_periodic_this_host():
    out = await run_action("sched.periodic", {})
    assert out.ok, out.message
    if shutil.which("run-parts"):
        for d in out.value["directories"]:
            if d["exists"]:
                assert sorted(s["name"] for s in d["scripts"] if s["runs"]) == _run_parts(d["path"])


async def test_periodic_bad_params(tmp_path):
    assert (await run_action("sched.periodic", {"root": "etc"})).code == "A002"
    assert (await run_action("sched.periodic", {"root": str(tmp_path / "none")})).code == "A017"
