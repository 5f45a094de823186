from __future__ import annotations

import shutil
import subprocess

from agent_core.testing import run_action


def _image(tmp_path) -> str:
    etc = tmp_path / "etc"
    (etc / "cron.d").mkdir(parents=True)
    (etc / "passwd").write_text(
        "root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"
    )
    (etc / "crontab").write_text(
        "SHELL=/bin/sh\nMAILTO=ops@example.org\n# m h dom mon dow user command\n17 * * * * root run-parts /etc/cron.hourly\n"
    )
    (etc / "cron.d/backup").write_text(
        "PATH=/usr/bin:/bin\n30 2 * * * root /usr/local/bin/backup\n@reboot root /usr/local/bin/warmup\n99 * * * * root broken\n"
    )
    (etc / "cron.d/old.disabled").write_text("* * * * * root /bin/true\n")
    spool = tmp_path / "var/spool/cron/crontabs"
    spool.mkdir(parents=True)
    (spool / "alice").write_text("# starling:report\n0 8 * * mon /home/alice/report.sh\n")
    (spool / "ghost").write_text("* * * * * /bin/true\n")
    return str(tmp_path)


async def test_cron_list_image(tmp_path):
    out = await run_action("sched.cron.list", {"root": _image(tmp_path)})
    assert out.ok, out.message
    v = out.value
    jobs = [(j["source"], j["user"], j["schedule"], j["command"]) for j in v["jobs"]]
    assert jobs == [
        ("/etc/crontab", "root", "17 * * * *", "run-parts /etc/cron.hourly"),
        ("/etc/cron.d/backup", "root", "30 2 * * *", "/usr/local/bin/backup"),
        ("/etc/cron.d/backup", "root", "@reboot", "/usr/local/bin/warmup"),
        ("/var/spool/cron/crontabs/alice", "alice", "0 8 * * mon", "/home/alice/report.sh"),
        ("/var/spool/cron/crontabs/ghost", "ghost", "* * * * *", "/bin/true"),
    ]
    assert v["jobs"][0]["env"] == {"SHELL": "/bin/sh", "MAILTO": "ops@example.org"} and v["jobs"][
        1
    ]["env"] == {"PATH": "/usr/bin:/bin"}
    assert v["jobs"][3]["managed_id"] == "report" and v["jobs"][0]["managed_id"] == ""
    problems = "\n".join(v["problems"])
    assert "/etc/cron.d/backup:4: minute: 99 is outside 0-59" in problems
    assert "old.disabled: ignored by cron" in problems and "ghost, who is not a user" in problems
    out = await run_action("sched.cron.list", {"root": str(tmp_path), "user": "alice"})
    assert [j["command"] for j in out.value["jobs"]] == ["/home/alice/report.sh"]


def _root_crontab_jobs() -> int:
    res = subprocess.run(["crontab", "-u", "root", "-l"], capture_output=True, text=True)
    lines = [ln for ln in res.stdout.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return sum(1 for ln in lines if "=" not in ln.split()[0])


async def test_cron_list_this_host():
    out = await run_action("sched.cron.list", {})
    assert out.ok, out.message
    if shutil.which("crontab"):
        mine = [
            j
            for j in out.value["jobs"]
            if j["source"].startswith("/var/spool/cron") and j["user"] == "root"
        ]
        assert len(mine) == _root_crontab_jobs()


async def test_cron_list_bad_params(tmp_path):
    assert (await run_action("sched.cron.list", {"root": "etc"})).code == "A002"
    assert (await run_action("sched.cron.list", {"root": str(tmp_path / "none")})).code == "A017"
    assert (await run_action("sched.cron.list", {"user": "a b"})).code == "A002"
