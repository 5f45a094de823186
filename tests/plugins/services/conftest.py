"""Helpers for the service plugin tests: journal files, bad params and unit names.

The tests of systemd's live path take ``systemd_host`` (tests/plugins/conftest.py): this
machine where systemd is its init, else a real systemd booted in a container, where they
run their actions (``systemd_host.run_action``) and make their units (``systemd_host.temp_unit``)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

JOURNAL_REMOTE = next(
    (
        p
        for p in ("/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote")
        if os.path.exists(p)
    ),
    None,
)


def _make_journal(path: str, entries: list[dict[str, str]]) -> None:
    """Write a real journal file from ``entries`` with systemd-journal-remote."""
    assert JOURNAL_REMOTE is not None
    now = int(time.time() * 1e6)
    export = b""
    for i, fields in enumerate(entries):
        rec = {
            "__CURSOR": f"s=0;i={i + 1}",
            "__REALTIME_TIMESTAMP": str(now - (len(entries) - i) * 1_000_000),
            "__MONOTONIC_TIMESTAMP": str(i + 1),
            "_BOOT_ID": "0123456789abcdef0123456789abcdef",
            "_HOSTNAME": "testhost",
            **fields,
        }
        export += "".join(f"{k}={v}\n" for k, v in rec.items()).encode() + b"\n"
    src = path + ".export"
    with open(src, "wb") as fh:
        fh.write(export)
    subprocess.run([JOURNAL_REMOTE, "-o", path, src], check=True, capture_output=True)
    os.unlink(src)


def _assert_bad_params(act, params: dict) -> None:
    """The action's params Struct refuses ``params`` with A002 (checked without running it)."""
    import msgspec

    from agent_core import ActionError

    try:
        act.decode_params(msgspec.msgpack.encode(params))
    except ActionError as exc:
        assert exc.code == "A002", exc
    else:
        raise AssertionError(f"{act.name} accepted {params!r}")


def _assert_invalid_unit(name: str) -> None:
    """The unit-name check every systemd action runs refuses ``name`` with A002."""
    from agent_core import ActionError
    from plugins.services._systemd import unit_name

    try:
        unit_name(name)
    except ActionError as exc:
        assert exc.code == "A002"
    else:
        raise AssertionError(f"unit name {name!r} accepted")


# Fixtures hand the helpers to the tests (test modules cannot import conftest
# under pytest's importlib import mode).


@pytest.fixture
def bad_params():
    return _assert_bad_params


@pytest.fixture
def invalid_unit():
    return _assert_invalid_unit


@pytest.fixture
def journal_file(tmp_path) -> str:
    """A real journal file with four entries from three sources."""
    if JOURNAL_REMOTE is None:
        pytest.skip("systemd-journal-remote not installed (needed to write a test journal)")
    path = str(tmp_path / "test.journal")
    _make_journal(
        path,
        [
            {
                "MESSAGE": "boot ok",
                "PRIORITY": "6",
                "_SYSTEMD_UNIT": "demo.service",
                "SYSLOG_IDENTIFIER": "demo",
                "_PID": "42",
            },
            {
                "MESSAGE": "disk almost full",
                "PRIORITY": "4",
                "_SYSTEMD_UNIT": "demo.service",
                "SYSLOG_IDENTIFIER": "demo",
                "_PID": "42",
            },
            {
                "MESSAGE": "cannot bind port 80",
                "PRIORITY": "3",
                "_SYSTEMD_UNIT": "web.service",
                "SYSLOG_IDENTIFIER": "web",
                "_PID": "77",
            },
            {"MESSAGE": "accepted key", "PRIORITY": "6", "SYSLOG_IDENTIFIER": "sshd", "_PID": "90"},
        ],
    )
    return path
