"""Secret files are created 0600 (never chmod-ed after the write) in 0700 directories,
and what is found looser at start is tightened with a warning."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from transports import (
    create_private,
    open_private_append,
    private_dir,
    tighten_private,
    write_private,
)


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


@pytest.fixture
def wide_umask():
    old = os.umask(0)  # the worst case: nothing masked
    try:
        yield
    finally:
        os.umask(old)


def test_write_private_is_0600_atomic_and_replaces(tmp_path, wide_umask):
    path = tmp_path / "center.toml"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_private(path, "secret = 1\n")
    assert path.read_text() == "secret = 1\n" and _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["center.toml"]  # no temp file left
    write_private(tmp_path / "k.pem", b"\x00bytes")
    assert _mode(tmp_path / "k.pem") == 0o600


def test_write_private_never_exposes_a_looser_file(tmp_path, wide_umask, monkeypatch):
    """Watch every file creation: each is opened with mode 0600 from the start."""
    seen = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *a, **kw):
        if flags & os.O_CREAT:
            seen.append(mode)
        return real_open(path, flags, mode, *a, **kw)

    monkeypatch.setattr(os, "open", spy)
    write_private(tmp_path / "secrets.json", "{}")
    assert seen == [0o600]


def test_private_dir_makes_missing_parents_0700(tmp_path, wide_umask):
    os.chmod(tmp_path, 0o755)
    d = private_dir(tmp_path / "a" / "b" / "c")
    assert [_mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", d)] == [0o700] * 3
    os.chmod(d, 0o755)
    private_dir(d)
    assert _mode(d) == 0o700
    assert _mode(tmp_path) == 0o755  # a parent that existed is not ours to change


def test_create_private_and_append(tmp_path, wide_umask):
    db = create_private(tmp_path / "x.db")
    assert _mode(db) == 0o600
    os.chmod(db, 0o640)
    create_private(db)  # an existing file is not touched
    assert _mode(db) == 0o640
    fd = open_private_append(tmp_path / "anchors.jsonl")
    os.write(fd, b"x\n")
    os.close(fd)
    assert _mode(tmp_path / "anchors.jsonl") == 0o600


def test_sqlite_companions_take_the_database_mode(tmp_path, wide_umask):
    db = create_private(tmp_path / "center.db")
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (x)")
    con.execute("INSERT INTO t VALUES (1)")
    con.commit()
    assert {p.name: _mode(p) for p in tmp_path.iterdir()} == {
        "center.db": 0o600, "center.db-wal": 0o600, "center.db-shm": 0o600,
    }
    con.close()


def test_tighten_private_warns_and_keeps_missing_bits_off(tmp_path, caplog):
    f, d, ok = tmp_path / "agent.toml", tmp_path / "state", tmp_path / "fine"
    f.write_text("x")
    os.chmod(f, 0o644)
    d.mkdir()
    os.chmod(d, 0o755)
    ok.write_text("x")
    os.chmod(ok, 0o400)
    with caplog.at_level(logging.WARNING, "starling.files"):
        changed = tighten_private([f, d, ok, tmp_path / "missing"])
    assert changed == [f, d]
    assert (_mode(f), _mode(d), _mode(ok)) == (0o600, 0o700, 0o400)
    assert "agent.toml holds secrets and was mode 0644" in caplog.text


def test_center_start_tightens_what_it_finds_loose(tmp_path, caplog):
    """A state dir left by an older version (everything 0644/0755) is fixed at start."""
    from center._config import CenterConfig
    from center._server import _prepare_center

    state = tmp_path / "center"
    cfg = CenterConfig(state_dir=str(state))
    store, _key, _box = _prepare_center(cfg)  # first start: everything made private
    from center._audit import make_audit_trail
    from center._store import AsyncStore

    make_audit_trail(cfg, AsyncStore(store))
    store.engine.dispose()
    made = [state / "center.db", state / "keys" / "center-ed25519.pem", state / "keys" / "accounts.key", state / "audit.key"]
    assert [_mode(p) for p in made] == [0o600] * 4
    assert _mode(state) == 0o700 and _mode(state / "keys") == 0o700
    for p in [state, state / "keys", *made]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    with caplog.at_level(logging.WARNING, "starling.files"):
        store, _key, _box = _prepare_center(cfg)
        make_audit_trail(cfg, AsyncStore(store))
    store.engine.dispose()
    assert [_mode(p) for p in made] == [0o600] * 4
    assert _mode(state) == 0o700 and _mode(state / "keys") == 0o700
    assert caplog.text.count("holds secrets and was mode") == 6


def test_agent_secret_files_are_tightened(tmp_path, caplog):
    from agent_core._agent import load_or_create_key
    from agent_core._config import AgentConfig, tighten_secret_files

    state = tmp_path / "agent"
    state.mkdir(mode=0o755)
    conf = tmp_path / "agent.toml"
    conf.write_text('enroll_token = "t"\n')
    load_or_create_key(state / "agent-ed25519.pem")
    assert _mode(state / "agent-ed25519.pem") == 0o600
    (state / "enrollment.json").write_text("{}")
    for p in (conf, state / "enrollment.json", state / "agent-ed25519.pem"):
        os.chmod(p, 0o644)
    changed = tighten_secret_files(AgentConfig(state_dir=str(state)), conf)
    assert set(changed) == {conf, state, state / "enrollment.json", state / "agent-ed25519.pem"}
    assert all(_mode(p) == 0o600 for p in (conf, state / "enrollment.json", state / "agent-ed25519.pem"))


def test_proxy_secret_files_are_tightened(tmp_path):
    from center._config import ProxyConfig
    from center._filemodes import tighten_proxy_files

    conf, key = tmp_path / "proxy-1.toml", tmp_path / "proxy.key"
    for p in (conf, key):
        p.write_text("x")
        os.chmod(p, 0o644)
    assert tighten_proxy_files(ProxyConfig(key_file=str(key)), str(conf)) == [conf, key]
    assert (_mode(conf), _mode(key)) == (0o600, 0o600)


def test_exclusive_write_never_replaces(tmp_path):
    path = tmp_path / "audit.key"
    write_private(path, "first", exclusive=True)
    with pytest.raises(FileExistsError):
        write_private(path, "second", exclusive=True)
    assert path.read_text() == "first" and _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.key"]


def test_centers_starting_together_share_one_audit_key(tmp_path):
    """Two centers with one state dir (active-active) racing to make the key."""
    import threading

    from center.security import AuditKeyRing

    path = tmp_path / "audit.key"
    rings: list[AuditKeyRing] = []
    start = threading.Barrier(8)

    def make() -> None:
        start.wait()
        rings.append(AuditKeyRing.load_or_create(path))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rings) == 8 and len({r.current.id for r in rings}) == 1
    assert AuditKeyRing.load(path).current.id == rings[0].current.id


@pytest.mark.parametrize("which", ["accounts", "agent"])
def test_keys_made_by_racing_starts_are_one_whole_0600_file(tmp_path, wide_umask, which):
    """Centers sharing a state dir (the accounts key), or an agent started twice (its own
    key), racing to make the key: all load the first one made, whole, and it is 0600 from
    the first byte in a 0700 directory (linked into place, never chmod-ed afterwards)."""
    import threading

    from agent_core._keyfile import load_or_create_key
    from center._accounts import SecretBox

    path = tmp_path / "state" / "keys" / ("accounts.key" if which == "accounts" else "agent-ed25519.pem")
    if which == "agent":
        private_dir(path.parent)
    start = threading.Barrier(8)
    made: list[SecretBox | bytes] = []

    def make() -> None:
        start.wait()
        made.append(SecretBox.from_file(path) if which == "accounts" else load_or_create_key(path).encode())

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 8
    if which == "accounts":
        sealed = SecretBox.from_file(path).seal("s", "a")  # what is on disk now opens in every box
        assert all(box.open(sealed, "a") == "s" for box in made)  # type: ignore[union-attr]
    else:
        assert set(made) == {load_or_create_key(path).encode()}
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary left
