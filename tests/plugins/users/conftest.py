"""Fixtures for the user plugin tests: throwaway accounts and groups, and
hand-built utmp/wtmp records.

The test process enters its own mount namespace with ``/etc`` a throwaway
overlay as this file is imported (:func:`agent_core.testing.enter_private_etc`),
so the accounts tests create live in that overlay and never in the machine's
own ``/etc``; a test that changes accounts takes the ``private_etc`` fixture
and skips, with the reason, where the namespace cannot be made. Every account
or group has a unique ``sttest…`` name and is deleted in teardown too.
"""

from __future__ import annotations

import grp
import pwd
import shutil
import struct
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from agent_core.testing import enter_private_etc

enter_private_etc()

HAS_SHADOW_TOOLS = all(shutil.which(t) for t in ("useradd", "usermod", "userdel"))


def unique(prefix: str = "sttest") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def drop_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        pass
    else:
        subprocess.run(["userdel", "-f", name], capture_output=True)
    drop_group(name)


def drop_group(name: str) -> None:
    try:
        grp.getgrnam(name)
    except KeyError:
        return
    subprocess.run(["groupdel", name], capture_output=True)


@pytest.fixture
def new_name(private_etc) -> Iterator[str]:
    """A unique account name that no test leaves behind."""
    name = unique()
    yield name
    drop_user(name)


@pytest.fixture
def temp_user(tmp_path, private_etc) -> Iterator[pwd.struct_passwd]:
    """A real account with its home under the test's tmp_path."""
    if not HAS_SHADOW_TOOLS:
        pytest.skip("useradd/usermod/userdel (shadow tools) not installed")
    name = unique()
    home = tmp_path / "home" / name
    home.parent.mkdir()
    subprocess.run(
        ["useradd", "-m", "-d", str(home), "-s", "/bin/bash", name], check=True, capture_output=True
    )
    try:
        yield pwd.getpwnam(name)
    finally:
        drop_user(name)


@pytest.fixture
def temp_group(private_etc) -> Iterator[str]:
    if shutil.which("groupadd") is None:
        pytest.skip("groupadd not installed")
    name = unique("stgrp")
    subprocess.run(["groupadd", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        drop_group(name)


# struct utmp (glibc, Linux): written independently of the plugin's reader.
UTMP = struct.Struct("<hxxi32s4s32s256shhiii16s20s")
USER_PROCESS, DEAD_PROCESS, BOOT_TIME, RUN_LVL = 7, 8, 2, 1


def _utmp_record(
    kind: int,
    *,
    user: str = "",
    line: str = "",
    host: str = "",
    pid: int = 0,
    when: int = 0,
    ident: str = "",
) -> bytes:
    addr = bytes([192, 0, 2, 7]) + bytes(12) if host else bytes(16)
    return UTMP.pack(
        kind,
        pid,
        line.encode(),
        ident.encode(),
        user.encode(),
        host.encode(),
        0,
        0,
        0,
        when,
        0,
        addr,
        bytes(20),
    )


@pytest.fixture
def utmp_record():
    """``utmp_record(kind, user=, line=, host=, pid=, when=)`` -> one packed record."""
    return _utmp_record
