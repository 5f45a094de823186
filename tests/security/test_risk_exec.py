"""check_exec: every field that carries code, read the way execve would run it.

The cases (argv, stdin, env, files) live in ``corpus/exec.toml`` and are only
parsed here, never run.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from center.security import Verdict, check_command, check_exec, check_script
from center.security._rules import ACTIONS

CASES: list[dict[str, Any]] = tomllib.loads((Path(__file__).parent / "corpus" / "exec.toml").read_text("utf-8"))["case"]


def _check(case: dict[str, Any]) -> Verdict:
    return check_exec(
        case["argv"], stdin=case.get("stdin"), env=case.get("env"), files=case.get("files"), cwd=case.get("cwd")
    )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_exec_case(case):
    verdict = _check(case)
    if case["expect"] == "allow":
        assert verdict.verdict == "allow", f"false positive: {case['name']} → {verdict.one_line()}"
        return
    assert ACTIONS[verdict.verdict] >= ACTIONS[case["expect"]], f"{case['name']} → {verdict.one_line()}"
    if "finding" in case:
        assert case["finding"] in {f.rule for f in verdict.findings}, verdict.one_line()


def test_cases_are_named_once_and_cover_both_sides():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))
    assert sum(c["expect"] == "allow" for c in CASES) >= 10
    assert sum(c["expect"] != "allow" for c in CASES) >= 40


def test_malformed_requests_are_held_not_crashing():
    for argv, kw in [
        (["sh", "-c", "ls"], {"cwd": 5}),
        (["sh", 5], {}),
        ("sh -c reboot", {}),
        (["sh"], {"stdin": b"reboot"}),
        (["sh"], {"env": {"X": 1}}),
        (["sh"], {"files": ["/tmp/x"]}),
    ]:
        verdict = check_exec(argv, **kw)  # type: ignore[arg-type]
        assert verdict.verdict == "approve" and verdict.rule == "parse.unparseable", (argv, kw)
        assert not verdict.parsed
    assert check_exec([]).verdict == "allow"  # nothing is executed
    huge = check_exec(["sh", "-c", "x" * (2 << 20)])
    assert huge.verdict == "approve"


def test_check_command_and_check_script_share_the_machinery():
    assert check_command("rm -rf /", cwd=5).verdict == "block"  # type: ignore[arg-type]
    same = check_exec(["/bin/sh", "-c", "rm -rf /"])
    assert (same.verdict, same.rule) == (check_command("rm -rf /").verdict, check_command("rm -rf /").rule)
    assert check_script('"$@"\n').verdict == "allow"
    # An interpreter string with -c runs its own text; the script file is only $0.
    assert check_script("reboot\n", "/bin/sh -c true").verdict == "allow"
    assert check_script("echo hi\n", "/bin/sh -c reboot").verdict == "block"
    assert check_script("#!/usr/bin/perl\nunlink('/etc/shadow');\n").verdict == "block"
    assert check_script("puts 1\n", "tclsh").rule == "script.unknown-language"


def test_findings_say_where_they_came_from():
    v = check_exec(["python3", "-c", "import os; os.system('reboot')"])
    assert v.findings[0].via == ("python3 code", "python system")
    v = check_exec(["bash"], env={"BASH_ENV": "/dev/stdin"}, stdin="halt")
    assert v.findings[0].via[0] == "env BASH_ENV"


def test_large_inputs_are_bounded_and_held():
    # Past the token budget the shell text is read command by command and held;
    # what is plainly dangerous in it is still found.
    many = check_exec(["sh", "-c", "ls;" * 9_000 + "rm -rf /"])
    assert many.verdict == "block" and "parse.limit" in {f.rule for f in many.findings}
    calls = check_exec(["python3", "/tmp/s"], files={"/tmp/s": "print(1)\n" * 21_000})
    assert calls.rule == "parse.limit"
    # The same call repeated is read once; unmatched brackets do not make scanning quadratic.
    assert check_exec(["perl", "/tmp/s"], files={"/tmp/s": "system('ls');\n" * 3_000}).verdict == "warn"
    assert check_exec(["node", "/tmp/s"], files={"/tmp/s": "exec(" * 5_000}).verdict == "warn"
