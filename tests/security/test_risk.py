"""High-risk command interception: API, verdict shapes, bad input, operator rules.

Every command here is only parsed by the analyser, never executed.
"""

from __future__ import annotations

import json

import pytest

import center.security as security
from center.security import (
    EXIT_STATUS,
    RuleError,
    RuleSet,
    Verdict,
    check_command,
    check_script,
    default_rules,
    risk_check,
)
from transports import ErrorCode


def test_public_names_are_importable():
    # The order of __all__ is checked for every package in tests/test_public_api.py.
    names = security.__all__
    for name in names:
        assert getattr(security, name) is not None


def test_verdict_shape_for_a_block():
    v = check_command("sudo /bin/rm -r''f /")
    assert isinstance(v, Verdict)
    assert (v.verdict, v.rule, v.fragment) == ("block", "fs.rm-recursive-system", "rm -rf /")
    assert v.code is ErrorCode.C010
    assert v.findings[0].via == ("sudo",)
    d = v.as_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["code"] == "C010" and d["findings"][0]["rule"] == "fs.rm-recursive-system"
    assert v.one_line().startswith("block   fs.rm-recursive-system: ")
    assert "(via sudo)" in v.one_line()


def test_allow_and_approve_codes():
    ok = check_command("uptime")
    assert (ok.verdict, ok.rule, ok.code, ok.findings) == ("allow", None, None, ())
    assert ok.one_line() == "allow   no rule matched"
    held = check_command("iptables -P INPUT DROP")
    assert (held.verdict, held.code) == ("approve", ErrorCode.C011)


def test_most_severe_finding_decides():
    v = check_command("systemctl stop sshd; reboot")
    assert v.verdict == "block"
    assert {f.rule for f in v.findings} == {"svc.stop-sshd", "power.shutdown"}
    assert v.findings[0].rule == "power.shutdown"


def test_risk_check_for_the_cli():
    data, line = risk_check("echo cmVib290 | base64 -d | sh")
    assert data["verdict"] == "block" and data["command"] == "echo cmVib290 | base64 -d | sh"
    assert data["rule"] == "power.shutdown" and data["fragment"] == "reboot"
    assert data["rules_files"] == ["rules.toml (built in)"]
    json.dumps(data)
    assert line.startswith("block") and "via sh <stdin" in line
    assert EXIT_STATUS == {"allow": 0, "warn": 0, "approve": 2, "block": 3}


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "# reboot", "  # just a comment\n"])
def test_nothing_to_run_is_allowed(text):
    v = check_command(text)
    assert v.verdict == "allow" and v.parsed


@pytest.mark.parametrize("text", ['echo "unterminated', "ls |", "$(", "if then fi", "ls ;;"])
def test_unparseable_is_held(text):
    v = check_command(text)
    assert v.verdict == "approve"
    assert v.rule == "parse.unparseable"
    assert not v.parsed


def test_unparseable_still_finds_what_it_can():
    v = check_command("rm -rf / $(")
    assert (v.verdict, v.rule, v.parsed) == ("block", "fs.rm-recursive-system", False)
    assert "parse.unparseable" in {f.rule for f in v.findings}


def test_deep_nesting_and_huge_input_hit_the_limit():
    v = check_command("eval " * 30 + "true")
    assert (v.verdict, v.rule) == ("approve", "parse.limit")
    assert check_command("eval " * 5 + "true").verdict == "allow"
    assert check_command("eval " * 5 + "reboot").verdict == "block"
    big = check_command("echo " + "x" * (300 * 1024))
    assert big.rule == "parse.limit"


def test_doubling_variables_stay_bounded():
    cmd = "a=xxxxxxxxxxxxxxxx; " + "; ".join("a=$a$a" for _ in range(40)) + '; echo "$a" | sh'
    v = check_command(cmd)
    assert v.verdict in ("allow", "warn", "approve")


def test_loop_explosion_is_bounded():
    cmd = "; ".join(f"for a{i} in 1 2 3 4 5 6 7 8; do" for i in range(8)) + " true" + "; done" * 8
    v = check_command(cmd)
    assert v.verdict in ("allow", "approve")


def test_cwd_resolves_relative_paths():
    assert check_command("rm -rf *", cwd="/").verdict == "block"
    assert check_command("rm -rf *", cwd="/srv/app/build").verdict == "allow"
    assert check_command("rm -rf ../../*", cwd="/usr/lib").verdict == "block"
    assert check_command("rm -rf *").verdict == "allow"  # unknown cwd: nothing to resolve against


def test_strengths_cap_the_action():
    dyn = check_command("$TOOL -rf /")
    assert dyn.verdict == "approve" and "decided at run time" in dyn.message
    empty = check_command('rm -rf "$PREFIX"/')
    assert empty.verdict == "warn" and "empty" in empty.message
    assert check_command('rm -rf "${PREFIX:?}"/').verdict == "allow"


def test_destination_only_rules():
    assert check_command("cp /etc/passwd /root/passwd.bak").verdict == "allow"
    assert check_command("cp /root/passwd.new /etc/passwd").verdict == "block"
    assert check_command("cp /dev/sda /backup/disk.img").verdict == "allow"


def test_find_exec_respects_filters():
    assert check_command("find / -exec rm -rf {} +").verdict == "block"
    assert check_command("find / -name '*.tmp' -exec rm -rf {} +").verdict == "allow"


def test_written_then_run_scripts_are_followed():
    v = check_command("printf 'reboot\\n' > /tmp/s.sh; chmod +x /tmp/s.sh; /tmp/s.sh")
    assert v.verdict == "block" and v.fragment == "reboot"
    assert check_command("printf 'uptime\\n' > /tmp/s.sh; sh /tmp/s.sh").verdict == "allow"


def test_crontab_contents_are_checked():
    assert check_command("echo '*/5 * * * * /sbin/reboot' | crontab -").verdict == "block"
    assert check_command("echo '' | crontab -").rule == "cron.crontab-empty"
    assert check_command("echo '0 3 * * * /usr/local/bin/backup' | crontab -").verdict == "allow"


def test_recursive_function_is_not_a_fork_bomb():
    assert check_command("walk() { walk_one \"$1\"; [ -n \"$2\" ] && walk \"$2\"; }; walk a b").verdict == "allow"
    assert check_command("b() { b | b & }; b").rule == "proc.fork-bomb"


def test_check_script_shell_and_shebang():
    body = "#!/bin/bash\nset -euo pipefail\ncd /opt/app\nrm -rf build\nmake\n"
    assert check_script(body).verdict == "allow"
    assert check_script(body + "init 6\n").verdict == "block"
    assert check_script("reboot\n", "/bin/sh").verdict == "block"


def test_check_script_foreign_interpreters():
    harmless = check_script("print('hello')\n", "python3")
    assert (harmless.verdict, harmless.rule) == ("warn", "script.foreign")
    bad = check_script("import os\nos.system('systemctl poweroff')\n", "/usr/bin/python3")
    assert (bad.verdict, bad.rule) == ("block", "power.systemctl")
    listed = check_script("import subprocess\nsubprocess.call(['mkfs.ext4', '/dev/sdb'])\n", "python3")
    assert listed.rule == "disk.mkfs"
    assert check_script("#!/usr/bin/env perl\nsystem('halt');\n").verdict == "block"


# --- operator rules ------------------------------------------------------------------


def test_default_rules_load_and_ids_are_unique():
    rules = default_rules()
    ids = [r.id for r in rules.rules]
    assert len(ids) == len(set(ids)) >= 50
    assert rules.get("power.shutdown") is not None
    assert {r.kind for r in rules.rules} >= {"command", "redirect", "forkbomb", "opaque-shell",
                                              "unparseable", "limit", "foreign-script"}


def test_operator_rules_add_override_and_disable(tmp_path):
    extra = tmp_path / "ours.toml"
    extra.write_text(
        """
[sets]
system_dirs = ["/data"]

[[rule]]
id = "ours.docker-rm-force"
action = "approve"
message = "force-removing containers"
programs = ["docker"]
args_all = ["rm"]
flags_any = ["-f", "--force"]

[[rule]]
id = "power.shutdown"
action = "approve"
message = "reboots need a second pair of eyes here"
programs = ["shutdown", "reboot", "halt", "poweroff"]

[[rule]]
id = "net.iptables-flush"
enabled = false
""",
        "utf-8",
    )
    rules = RuleSet.load([extra])
    assert check_command("docker rm -f web", rules).rule == "ours.docker-rm-force"
    assert check_command("sudo reboot", rules).verdict == "approve"
    assert check_command("iptables -F", rules).verdict == "allow"
    assert check_command("rm -rf /data", rules).verdict == "block"  # set extended
    assert check_command("rm -rf /data").verdict == "allow"  # defaults untouched
    assert rules.files == ["rules.toml (built in)", str(extra)]
    only = RuleSet.from_toml(extra.read_text("utf-8").replace('system_dirs = ["/data"]', 'x = ["y"]'),
                             base=RuleSet(), source="ours")
    assert [r.id for r in only.rules] == ["ours.docker-rm-force", "power.shutdown"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[[rule]]\nid='a'\naction='deny'\nmessage='m'\nprograms=['x']", "action must be"),
        ("[[rule]]\nid='a'\naction='block'\nprograms=['x']", "message is required"),
        ("[[rule]]\nid='a'\naction='block'\nmessage='m'\nprogram=['x']", "unknown field"),
        ("[[rule]]\nid='a'\naction='block'\nmessage='m'\nprograms=['x']\ntargets_any=['@nope']", "unknown set"),
        ("[[rule]]\nid='a'\naction='block'\nmessage='m'\nprograms=['x']\nargs_regex='('", "not a valid regex"),
        ("[[rule]]\nid='a'\naction='block'\nmessage='m'", "needs programs"),
        ("[[rule]]\nid='a'\naction='block'\nmessage='m'\nkind='redirect'", "needs targets_any"),
        ("[[rule]]\nid='a'\naction='block'\nmessage='m'\nkind='nope'", "kind must be"),
        ("[[rule]]\naction='block'", "has no id"),
        ("[[rule]]\nid='a'\naction='block'\nmessage='m'\nprograms='x'", "must be a list"),
        ("[rules]\nx=1", "unknown top-level"),
        ("[[rule]\n", "not valid TOML"),
        ("[sets]\nx = 'y'", "must be a list of strings"),
    ],
)
def test_bad_rule_files_are_refused_clearly(text, needle):
    with pytest.raises(RuleError, match=needle):
        RuleSet.from_toml(text, source="bad.toml")


def test_unreadable_rule_file(tmp_path):
    with pytest.raises(RuleError, match="cannot read"):
        RuleSet.load([tmp_path / "missing.toml"])
