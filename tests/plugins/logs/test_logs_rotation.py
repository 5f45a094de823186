"""log.rotation: the config parser agrees with logrotate -d; due/overdue/uncovered on a temp setup."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time

import pytest

from agent_core.testing import run_action

DAY = 86400


def _logrotate_patterns(config: str) -> list[tuple[str, int]]:
    err = subprocess.run(["logrotate", "-d", "-s", "/dev/null", config], capture_output=True, text=True).stderr
    # logrotate echoes the patterns as written (quotes kept), then two blanks or a newline.
    found = re.finditer(r"rotating pattern: (.*?)(?:  |\n )[^(\n]*\((\d+) rotations\)", err)
    return [(" ".join(shlex.split(m.group(1))), int(m.group(2))) for m in found]


@pytest.fixture
def setup(tmp_path):
    logs = tmp_path / "log"
    (logs / "app").mkdir(parents=True)
    conf_d = tmp_path / "logrotate.d"
    conf_d.mkdir()
    now = time.time()
    (logs / "app" / "web.log").write_bytes(b"x" * 5000)
    (logs / "app" / "web.log.1").write_text("old")
    (logs / "app" / "web.log.2.gz").write_text("older")
    (logs / "app" / "web.log.3.gz").write_text("oldest")
    (logs / "big.log").write_bytes(b"y" * 3000)
    (logs / "stale.log").write_text("stale\n")
    (logs / "forgotten.log").write_bytes(b"z" * 20000)
    (logs / "forgotten.log.1").write_bytes(b"z" * 20000)
    (tmp_path / "logrotate.conf").write_text(
        f"# global defaults\nweekly\nrotate 4\ncompress\ninclude {conf_d}\n"
        f"{logs}/stale.log {{\n  daily\n  missingok\n}}\n"
    )
    (conf_d / "app").write_text(
        f'"{logs}/app/*.log"\n{{\n  rotate 1\n  notifempty\n  postrotate\n    kill -HUP 1 {{ }}\n  endscript\n}}\n'
    )
    (conf_d / "big").write_text(f"{logs}/big.log {{\n  size 2k\n}}\n{logs}/missing.log {{\n}}\n")
    (conf_d / "skipped.dpkg-old").write_text(f"{logs}/forgotten.log {{\n}}\n")
    state = tmp_path / "status"
    stamp = lambda t: time.strftime("%Y-%-m-%-d-%-H:%-M:%-S", time.localtime(t))  # noqa: E731
    state.write_text(
        "logrotate state -- version 2\n"
        f'"{logs}/app/web.log" {stamp(now - 3 * DAY)}\n'
        f'"{logs}/stale.log" {stamp(now - 10 * DAY)}\n'
        f'"{logs}/big.log" {stamp(now - 5 * DAY)}\n'
    )
    return tmp_path, logs


async def test_rotation_report(setup):
    root, logs = setup
    out = await run_action("log.rotation", {"config": str(root / "logrotate.conf"), "state": str(root / "status"),
                                            "log_dir": str(logs), "min_uncovered": 10000})
    assert out.ok, out.message
    v = out.value
    patterns = [(" ".join(r["patterns"]), r["rotate"]) for r in v["rules"]]
    if shutil.which("logrotate"):
        assert sorted(patterns) == sorted(_logrotate_patterns(str(root / "logrotate.conf")))
    rules = {r["patterns"][0]: r for r in v["rules"]}
    app = rules[f"{logs}/app/*.log"]
    assert app["frequency"] == "weekly" and app["compress"] and app["notifempty"] and app["scripts"] == ["postrotate"]
    files = {f["path"]: f for f in v["files"]}
    web = files[f"{logs}/app/web.log"]
    assert web["generations"] == 3 and web["due"] is False
    assert any("3 generations" in r for r in web["reasons"])
    stale = files[f"{logs}/stale.log"]
    assert stale["due"] and stale["overdue"]
    big = files[f"{logs}/big.log"]
    assert big["due"] is True and big["overdue"] is True  # above "size 2k" and unrotated for 5 days
    assert [u["path"] for u in v["uncovered"]] == [f"{logs}/forgotten.log", f"{logs}/forgotten.log.1"]
    assert any("missing.log does not exist" in p for p in v["problems"])


HAVE_LOGROTATE = bool(shutil.which("logrotate")) and os.path.exists("/etc/logrotate.conf")


@pytest.mark.skipif(not HAVE_LOGROTATE, reason="logrotate is not installed")
async def test_rotation_real_config_agrees_with_logrotate():
    out = await run_action("log.rotation", {"syntax_check": True})
    assert out.ok, out.message
    got = sorted((" ".join(r["patterns"]), r["rotate"]) for r in out.value["rules"])
    assert got == sorted(_logrotate_patterns("/etc/logrotate.conf"))
    assert out.value["syntax_errors"] == []


async def test_rotation_errors(tmp_path):
    assert (await run_action("log.rotation", {"config": str(tmp_path / "none.conf")})).code == "A017"
    assert (await run_action("log.rotation", {"config": "logrotate.conf"})).code == "A002"
    assert (await run_action("log.rotation", {"min_uncovered": -5})).code == "A002"
