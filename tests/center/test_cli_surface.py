"""The CLI's whole argument surface: every subcommand, with its help, an unknown option,
bad values, missing arguments, no reachable center and unreadable files. Never a
traceback (STARLING_DEBUG=1 makes an unexpected error raise, so it fails here), always a
code from the catalogue, and the exit status of the table in ``starling --help``.

The walk is built from the parser itself, so a new subcommand that this file does not
exercise fails ``test_every_subcommand_is_walked`` until it is added below.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from center.cli import EXIT_CODES, build_parser, main
from transports import ErrorCode, free_port

CODE = re.compile(r"\b([CPAE]\d{3})\b")


def _leaves(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, p
        return
    for name, sp in subs[0].choices.items():
        yield from _leaves(sp, (*path, name))


LEAVES = dict(_leaves(build_parser()))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No center: STARLING_API names a loopback port nobody listens on (bound, then closed)."""
    port = free_port()
    monkeypatch.setenv("STARLING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STARLING_API", f"https://127.0.0.1:{port}")
    monkeypatch.setenv("STARLING_DEBUG", "1")
    for var in ("STARLING_KEY_ID", "STARLING_SECRET", "STARLING_CA"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        rc = main(argv)
    except SystemExit as exc:  # only --help exits this way
        rc = int(exc.code or 0)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return rc, out.out, out.err


def _code_of(out: str, err: str) -> str:
    found = CODE.search(err) or CODE.search(out)
    assert found, f"no code in:\n{out}\n{err}"
    ErrorCode.of(found.group(1))  # a real catalogue entry
    return found.group(1)


# -- what every subcommand gets ---------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(LEAVES), ids=" ".join)
def test_help_unknown_option_and_missing_arguments(path: tuple[str, ...], env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run([*path, "--help"], capsys)
    assert rc == 0 and "usage:" in out
    rc, out, err = _run([*path, "--no-such-option"], capsys)
    assert rc == 2 and _code_of(out, err) == "C040"
    # With --json the error is a JSON document on stdout.
    rc, out, _ = _run([*path, "--no-such-option", "--json"], capsys)
    assert rc == 2 and json.loads(out)["error"]["code"] == "C040"
    parser = LEAVES[path]
    required = [a for a in parser._actions if (a.required and a.option_strings) or (not a.option_strings and a.nargs not in ("?", "*", argparse.REMAINDER))]
    if required:
        rc, out, err = _run(list(path), capsys)
        assert rc == 2 and _code_of(out, err) == "C040"


def _typed_options(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str]]:
    for a in parser._actions:
        if not a.option_strings or a.nargs == 0:
            continue
        if a.choices:
            yield a.option_strings[0], "not-a-choice"
        elif a.type in (int, float):
            yield a.option_strings[0], "not-a-number"


@pytest.mark.parametrize("path", sorted(p for p in LEAVES if list(_typed_options(LEAVES[p]))), ids=" ".join)
def test_bad_values_of_typed_options(path: tuple[str, ...], env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for flag, value in _typed_options(LEAVES[path]):
        rc, out, err = _run([*path, flag, value], capsys)
        assert rc == 2 and _code_of(out, err) == "C040", (flag, out, err)


def test_a_bad_top_level_command_and_none(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["no-such-command"], [], ["--api"]):
        rc, out, err = _run(argv, capsys)
        assert rc == 2 and _code_of(out, err) == "C040"


# -- no center ----------------------------------------------------------------------------------

#: A well-formed command line for every subcommand that talks to the center.
NEEDS_CENTER: dict[tuple[str, ...], list[str]] = {
    ("run",): ["--all", "--", "true"],
    ("plugins", "list"): ["--all"],
    ("plugins", "enable"): ["--all", "hello"],
    ("plugins", "disable"): ["--all", "hello"],
    ("plugins", "rollback"): ["--all", "starling_hello"],
    ("plugins", "uninstall"): ["--all", "starling_hello"],
    ("hosts",): [],
    ("jobs",): ["--all"],
    ("job",): ["j0"],
    ("approve",): ["j0"],
    ("reject",): ["j0"],
    ("accounts", "list"): [],
    ("accounts", "create"): ["ops"],
    ("accounts", "disable"): ["k0"],
    ("accounts", "enable"): ["k0"],
    ("accounts", "rotate"): ["k0"],
    ("accounts", "delete"): ["k0"],
    ("accounts", "mapping"): ["k0", "uptime"],
    ("audit", "verify"): [],
    ("audit", "list"): [],
    ("audit", "replay"): ["s0"],
    ("diag",): ["web-1"],
    ("forget",): ["web-1"],
    ("revoke",): ["web-1"],
    ("restore",): ["web-1"],
    ("cmdb", "check"): [],
    ("cmdb", "sync"): [],
    ("cmdb", "list"): [],
    ("upgrade",): ["0.2.0", "--all"],
}


@pytest.mark.parametrize("path", sorted(NEEDS_CENTER), ids=" ".join)
def test_no_center_is_C039_and_exit_4(path: tuple[str, ...], env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run([*path, *NEEDS_CENTER[path]], capsys)
    assert (rc, _code_of(out, err)) == (4, "C039"), (out, err)
    assert "storage" not in err  # not the center's C016
    rc, out, _ = _run([*path, "--json", *NEEDS_CENTER[path]], capsys)
    assert rc == 4 and json.loads(out)["error"]["code"] == "C039"


def test_no_center_configured_at_all(env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("STARLING_API")
    rc, out, err = _run(["hosts"], capsys)
    assert (rc, _code_of(out, err)) == (4, "C039") and "starling up" in err


def test_a_corrupt_profile_is_C030(env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("STARLING_API")
    home = env / "home"
    home.mkdir()
    (home / "up.json").write_text("{not json")
    rc, out, err = _run(["jobs"], capsys)
    assert (rc, _code_of(out, err)) == (2, "C030")


# -- bad input that never reaches the center, and local commands -------------------------------

#: Command lines refused before any request, with the code each gets.
REFUSED: list[tuple[list[str], str]] = [
    (["run", "--all"], "C001"),  # no command
    (["run", "--all", "--params", "{not json", "--action", "sys.info"], "C001"),
    (["run", "--all", "--params", "[1]", "--action", "sys.info"], "C001"),
    (["run", "--all", "-p", "novalue", "--action", "sys.info"], "C001"),
    (["run", "--all", "--action", "sys.info", "--", "uptime"], "C001"),
    (["run", "--", "uptime"], "C001"),  # no targets
    (["run", "--all", "--concurrency", "lots", "--", "true"], "C001"),
    (["run", "--hosts-file", "{tmp}/missing.txt", "--", "true"], "C001"),
    (["run", "--hosts-file", "{tmp}/empty.txt", "--", "true"], "C001"),
    (["plugins", "install", "--all", "--wheel", "{tmp}/missing.whl"], "C001"),
    (["plugins", "install", "--all", "--wheel", "{tmp}/empty.txt", "--key", "{tmp}/missing.pem"], "C001"),
    (["plugins", "sign", "{tmp}/missing.whl", "--key", "{tmp}/missing.pem"], "C001"),
    (["plugins", "sign", "{tmp}/empty.txt", "--key", "{tmp}/empty.txt"], "C001"),
    (["plugins", "keygen", "{tmp}/no-such-dir/key.pem"], "C001"),
    (["plugin", "new", "Not A Name", "--dest", "{tmp}"], "C001"),
    (["cp", "{tmp}/missing.txt", "--all", ":/tmp/x"], "C001"),
    (["cmdb", "import", "{tmp}/missing.csv"], "C001"),
    (["audit", "verify", "-c", "{tmp}/missing.toml"], "C030"),
    (["audit", "rotate-key", "-c", "{tmp}/missing.toml"], "C030"),
    (["accounts", "create", "ops", "--local", "--config", "{tmp}/missing.toml"], "C030"),
    (["accounts", "create", "ops", "--approver"], "C009"),
    (["center", "-c", "{tmp}/missing.toml"], "C030"),
    (["proxy", "-c", "{tmp}/missing.toml"], "C030"),
    (["center", "-c", "{tmp}/bad.toml"], "C030"),
    (["pki", "issue", "p1", "--dir", "{tmp}/no-ca", "--host", "127.0.0.1"], "C001"),
    (["pki", "issue", "p1", "--dir", "{tmp}/no-ca"], "C001"),
    (["proxy-token", "p1", "--center-config", "{tmp}/missing.toml"], "C001"),
    (["proxy-token", "p1", "--center-config", "{tmp}/bad.toml"], "C001"),
    (["db", "current", "--db", "nosuchdialect://x"], "C001"),
    (["restart", "center", "--state-dir", "{tmp}/nothing-here"], "C001"),
    (["risk", "check"], "C001"),
    (["risk", "check", "--rules", "{tmp}/missing.toml", "--", "true"], "C030"),
    (["risk", "check", "--rules", "{tmp}/bad.toml", "--", "true"], "C030"),
    (["db", "current", "--db", "sqlite:///{tmp}/no-such-dir/x.db"], "C016"),
    (["hosts", "--page", "not-a-cursor", "--limit", "0"], "C040"),
    (["hosts", "--limit", "-1"], "C040"),
    (["jobs", "--limit", "100000"], "C040"),
    (["up", "--agents", "-1", "--state-dir", "{tmp}/up"], "C040"),
]


def _files(tmp: Path) -> None:
    (tmp / "empty.txt").write_text("")
    (tmp / "bad.toml").write_text("[center\nnot toml")


@pytest.mark.parametrize(("argv", "code"), REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_refused_with_its_code(argv: list[str], code: str, env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _files(env)
    argv = [a.replace("{tmp}", str(env)) for a in argv]
    rc, out, err = _run(argv, capsys)
    got = _code_of(out, err)
    assert rc == 2 and got == code, (rc, out, err)


#: Subcommands that do their work here, without a center (what the tests above run of them).
LOCAL = {
    ("up",), ("down",), ("db",), ("restart",), ("cp",), ("plugins", "install"), ("plugins", "keygen"), ("plugins", "sign"),
    ("plugins", "doc"), ("plugin", "new"), ("audit", "rotate-key"), ("risk", "check"), ("codes",), ("cmdb", "import"),
    ("center",), ("proxy",), ("pki", "init"), ("pki", "issue"), ("proxy-token",),
}


def test_local_commands_that_succeed(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(["codes", "--json"], capsys)
    assert rc == 0 and {c["code"] for c in json.loads(out)["codes"]} >= {"C039", "C040", "C041"}
    rc, out, _ = _run(["down", "--state-dir", str(env / "nothing")], capsys)
    assert rc == 0
    rc, out, _ = _run(["pki", "init", "--dir", str(env / "pki")], capsys)
    assert rc == 0 and Path(json.loads(out)["ca"]).exists()
    rc, out, _ = _run(["plugins", "keygen", str(env / "pub.pem"), "--json"], capsys)
    assert rc == 0 and json.loads(out)["public_key"]


def test_every_subcommand_is_walked() -> None:
    walked = set(NEEDS_CENTER) | LOCAL
    assert set(LEAVES) <= walked, f"add these to NEEDS_CENTER or LOCAL (and REFUSED): {sorted(set(LEAVES) - walked)}"


def test_exit_codes_are_in_the_help_and_the_readme(capsys: pytest.CaptureFixture[str]) -> None:
    help_text = build_parser().format_help()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for status, meaning in EXIT_CODES.items():
        assert f"{status:<4} {meaning}" in help_text
        assert re.search(rf"^\| `{status}` \| {re.escape(meaning)} \|$", readme, re.M), f"README: exit status {status}"
