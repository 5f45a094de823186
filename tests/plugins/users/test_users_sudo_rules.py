from __future__ import annotations

import pytest

from agent_core.testing import run_action

MAIN = """\
# main file
Defaults\tenv_reset
Defaults:alice\t!requiretty, timestamp_timeout=5
User_Alias ADMINS = alice, bob : OPS = carol
Cmnd_Alias RESTART = /bin/systemctl restart nginx, \\
    /bin/systemctl restart php-fpm
root\tALL=(ALL:ALL) ALL
%sudo\tALL=(ALL:ALL) ALL
@includedir {incdir}
"""
EXTRA = """\
ADMINS ALL = (root) NOPASSWD: ALL
deploy web1, web2 = (www-data) NOPASSWD: RESTART, PASSWD: /usr/bin/rsync : db1 = (postgres) /usr/bin/psql
"""


def _tree(tmp_path) -> str:
    inc = tmp_path / "sudoers.d"
    inc.mkdir()
    (inc / "10-admins").write_text(EXTRA)
    (inc / "old.bak").write_text("eve ALL=(ALL) NOPASSWD: ALL\n")  # sudo skips names with a dot
    main = tmp_path / "sudoers"
    main.write_text(MAIN.format(incdir=inc))
    return str(main)


async def test_rules_parsed_with_includes(tmp_path):
    path = _tree(tmp_path)
    out = await run_action("user.sudo.rules", {"path": path})
    assert out.ok, out.message
    v = out.value
    assert v["files"] == [path, str(tmp_path / "sudoers.d/10-admins")]
    assert [(d["scope"], d["setting"]) for d in v["defaults"]] == [
        ("", "env_reset"),
        (":alice", "!requiretty"),
        (":alice", "timestamp_timeout=5"),
    ]
    assert v["aliases"]["User_Alias"] == {"ADMINS": ["alice", "bob"], "OPS": ["carol"]}
    assert v["aliases"]["Cmnd_Alias"]["RESTART"] == [
        "/bin/systemctl restart nginx",
        "/bin/systemctl restart php-fpm",
    ]
    deploy = [r for r in v["rules"] if r["users"] == ["deploy"]]
    assert [r["hosts"] for r in deploy] == [["web1", "web2"], ["db1"]]
    cmds = deploy[0]["commands"]
    assert [(c["command"], c["runas"], c["tags"]) for c in cmds] == [
        ("RESTART", ["www-data"], ["NOPASSWD"]),
        ("/usr/bin/rsync", ["www-data"], ["PASSWD"]),
    ]
    assert (
        deploy[1]["commands"][0]["runas"] == ["postgres"] and deploy[1]["commands"][0]["tags"] == []
    )
    root_rule = v["rules"][0]["commands"][0]
    assert root_rule["runas"] == ["ALL"] and root_rule["runas_groups"] == ["ALL"]
    assert [(g["principal"], g["nopasswd"]) for g in v["full_root"]] == [
        ("root", False),
        ("%sudo", False),
        ("ADMINS", True),
    ]
    assert all(g["principal"] != "eve" for g in v["full_root"])


async def test_rules_of_this_host():
    out = await run_action("user.sudo.rules", {})
    if not _exists("/etc/sudoers"):
        assert out.code == "A017"
        pytest.skip("/etc/sudoers absent on this host: the real path is not exercised here")
    assert out.ok and out.value["files"][0] == "/etc/sudoers"


def _exists(path: str) -> bool:
    import os

    return os.path.exists(path)


async def test_rules_bad_params(tmp_path):
    assert (await run_action("user.sudo.rules", {"path": "sudoers"})).code == "A002"
    assert (await run_action("user.sudo.rules", {"path": str(tmp_path / "none")})).code == "A017"
