"""state.line.in_file: replace by regexp, insert positions, removal, CRLF kept, idempotence, dry-run."""

from __future__ import annotations

from agent_core.testing import run_action

SSHD = "# sshd\nPort 22\n#PermitRootLogin yes\nPasswordAuthentication yes\nMatch User backup\n  X11Forwarding no\n"


async def test_line_replace_and_idempotence(tmp_path):
    f = tmp_path / "sshd_config"
    f.write_text(SSHD)
    want = {"path": str(f), "line": "PermitRootLogin no", "regexp": r"^#?PermitRootLogin\b"}
    out = await run_action("state.line.in_file", {**want, "dry_run": True})
    assert out.value["changed"] and "-#PermitRootLogin yes" in out.value["diff"] and "+PermitRootLogin no" in out.value["diff"]
    assert f.read_text() == SSHD
    out = await run_action("state.line.in_file", want)
    assert out.ok and f.read_text() == SSHD.replace("#PermitRootLogin yes", "PermitRootLogin no")
    assert (await run_action("state.line.in_file", want)).value["changed"] is False


async def test_line_insert_positions(tmp_path):
    f = tmp_path / "c"
    f.write_text(SSHD)
    await run_action("state.line.in_file", {"path": str(f), "line": "UseDNS no", "insert_before": "^Match "})
    assert f.read_text().splitlines()[4] == "UseDNS no"
    await run_action("state.line.in_file", {"path": str(f), "line": "Port 2222", "insert_after": "^Port "})
    assert f.read_text().splitlines()[2] == "Port 2222"
    await run_action("state.line.in_file", {"path": str(f), "line": "LogLevel VERBOSE"})
    assert f.read_text().endswith("X11Forwarding no\nLogLevel VERBOSE\n")
    before = f.read_text()
    assert (await run_action("state.line.in_file", {"path": str(f), "line": "UseDNS no", "insert_before": "^Match "})).value["changed"] is False
    assert f.read_text() == before


async def test_line_absent_and_crlf(tmp_path):
    f = tmp_path / "w"
    f.write_bytes(b"a=1\r\nb=2\r\nb=3\r\nc=4")
    out = await run_action("state.line.in_file", {"path": str(f), "regexp": "^b=", "present": False})
    assert out.value["changed"] and f.read_bytes() == b"a=1\r\nc=4"
    assert (await run_action("state.line.in_file", {"path": str(f), "regexp": "^b=", "present": False})).value["changed"] is False
    await run_action("state.line.in_file", {"path": str(f), "line": "d=5"})
    assert f.read_bytes() == b"a=1\r\nc=4\r\nd=5\r\n"


async def test_line_create_and_errors(tmp_path):
    f = tmp_path / "new.conf"
    assert (await run_action("state.line.in_file", {"path": str(f), "line": "x=1"})).code == "A017"
    out = await run_action("state.line.in_file", {"path": str(f), "line": "x=1", "create": True, "mode": "0600"})
    assert out.ok and f.read_text() == "x=1\n" and (f.stat().st_mode & 0o777) == 0o600
    out = await run_action("state.line.in_file", {"path": str(tmp_path / "none"), "line": "x", "present": False})
    assert out.ok and out.value["changed"] is False
    assert (await run_action("state.line.in_file", {"path": str(f)})).code == "A002"
    assert (await run_action("state.line.in_file", {"path": str(f), "line": "a\nb"})).code == "A002"
    assert (await run_action("state.line.in_file", {"path": str(f), "line": "a", "regexp": "("})).code == "A002"
    assert (await run_action("state.line.in_file", {"path": str(f), "line": "a", "insert_after": "x", "insert_before": "y"})).code == "A002"
