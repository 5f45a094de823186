from __future__ import annotations

import datetime
import os
import shutil

import pytest

from agent_core.testing import run_action

TAB = """\
# test anacrontab
SHELL=/bin/sh
START_HOURS_RANGE=3-22
RANDOM_DELAY=45
1\t5\tcron.daily\trun-parts --report /etc/cron.daily
7\t10\tcron.weekly\trun-parts --report /etc/cron.weekly
@monthly\t15\tcron.monthly\trun-parts --report /etc/cron.monthly
3\t0\tnever.ran\t/usr/local/bin/sync-things
"""


def _image(tmp_path, tab: str = TAB) -> str:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/anacrontab").write_text(tab)
    spool = tmp_path / "var/spool/anacron"
    spool.mkdir(parents=True)
    today = datetime.date.today()
    (spool / "cron.daily").write_text(today.strftime("%Y%m%d") + "\n")
    (spool / "cron.weekly").write_text(
        (today - datetime.timedelta(days=10)).strftime("%Y%m%d") + "\n"
    )
    (spool / "cron.monthly").write_text(today.replace(day=1).strftime("%Y%m%d") + "\n")
    return str(tmp_path)


def _has_anacrontab() -> bool:
    return os.path.exists("/etc/anacrontab")


async def test_anacron_jobs_and_due(tmp_path):
    out = await run_action("sched.anacron.jobs", {"root": _image(tmp_path)})
    if not _has_anacrontab():
        assert out.code == "A003"
        pytest.skip("/etc/anacrontab absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok, out.message
    v = out.value
    assert v["env"]["START_HOURS_RANGE"] == "3-22" and v["env"]["RANDOM_DELAY"] == "45"
    jobs = {j["id"]: j for j in v["jobs"]}
    assert (
        jobs["cron.daily"]["period_days"],
        jobs["cron.daily"]["delay_minutes"],
        jobs["cron.daily"]["due"],
    ) == (1, 5, False)
    assert jobs["cron.weekly"]["due"] is True and jobs["cron.monthly"]["due"] is False
    assert jobs["never.ran"]["last_run"] is None and jobs["never.ran"]["due"] is True
    assert jobs["cron.daily"]["last_run"] == datetime.date.today().isoformat()
    assert (
        v["problems"] == []
        and v["syntax_ok"] in (True, None)
        and v["syntax_ok"] == (True if shutil.which("anacron") else None)
    )


async def test_anacron_bad_table(tmp_path):
    out = await run_action(
        "sched.anacron.jobs", {"root": _image(tmp_path, TAB + "bogus line\nx 5 id cmd\n")}
    )
    if not _has_anacrontab():
        pytest.skip("/etc/anacrontab absent on this host: the real path is not exercised here")
    assert out.ok and len(out.value["jobs"]) == 4
    assert any("line 9" in p for p in out.value["problems"]) and any(
        "line 10" in p for p in out.value["problems"]
    )
    if shutil.which("anacron"):
        assert out.value["syntax_ok"] is False


async def test_anacron_this_host_and_errors(tmp_path):
    out = await run_action("sched.anacron.jobs", {})
    if not _has_anacrontab():
        assert out.code == "A003"
        pytest.skip("/etc/anacrontab absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok and out.value["path"] == "/etc/anacrontab"
    assert (await run_action("sched.anacron.jobs", {"root": "etc"})).code == "A002"
    assert (await run_action("sched.anacron.jobs", {"root": str(tmp_path)})).code == "A017"
