"""The file channel end to end: `starling cp` both ways against real agents in
`starling up` — skip identical, dry run, directories, resume after an agent is
killed mid-transfer, corruption in the proxy's cache and on the center's disk,
a full disk (a small tmpfs this test mounts), and the bad-input codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from center.cli._client import Client

pytestmark = pytest.mark.integration

AGENTS = 2
MIB = 1024 * 1024


def _client(fleet: Any) -> Client:
    p = fleet.profile
    return Client(p["api"], p["key_id"], p["secret"], p["ca_file"], timeout=30)


def _host(fleet: Any, i: int) -> str:
    return str(fleet.profile["agents"][i - 1]["hostname"])


def _cp(fleet: Any, *args: str, timeout: float = 120) -> dict[str, Any]:
    proc = fleet.cli("cp", *args, "--json", "--quiet", timeout=timeout)
    try:
        return dict(json.loads(proc.stdout))
    except ValueError as exc:
        raise AssertionError(f"not JSON ({proc.returncode}): {proc.stdout}\n{proc.stderr}") from exc


def _blob(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def test_push_skip_identical_and_pull_back(fleet, tmp_path):
    src = tmp_path / "app.tar.gz"
    data = _blob(src, 5 * MIB + 3)
    dest = tmp_path / "out"
    dest.mkdir()
    doc = _cp(fleet, str(src), "--host", f"{_host(fleet, 1)}:{dest}/")
    assert doc["failed"] == 0, doc
    assert doc["hosts"][0]["new"] == 1 and doc["hosts"][0]["fetched_bytes"] == len(data)
    assert (dest / "app.tar.gz").read_bytes() == data
    assert [n for n in os.listdir(dest) if n.startswith(".")] == []
    # Again: the host already holds it (hash compare), nothing is uploaded or fetched.
    doc = _cp(fleet, str(src), "--host", f"{_host(fleet, 1)}:{dest}/")
    assert doc["hosts"][0]["same"] == 1 and doc["hosts"][0]["fetched_bytes"] == 0
    assert doc["upload"]["uploaded_bytes"] == 0
    # Collect it back from the host: one local file per host.
    back = tmp_path / "back"
    doc = _cp(fleet, "--host", f"{_host(fleet, 1)}:{dest}/app.tar.gz", str(back) + "/")
    assert doc["failed"] == 0, doc
    assert (back / _host(fleet, 1) / "app.tar.gz").read_bytes() == data


def test_directory_dry_run_and_modes(fleet, tmp_path):
    tree = tmp_path / "conf"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.conf").write_text("a=1\n")
    (tree / "sub" / "b.conf").write_text("b=2\n")
    target = tmp_path / "etc-app"
    doc = _cp(fleet, str(tree), "--host", f"{_host(fleet, 2)}:{target}", "--mode", "0600", "--dry-run")
    assert doc["failed"] == 0 and {f["status"] for f in doc["hosts"][0]["files"]} == {"new"}
    assert not target.exists()  # a dry run changes nothing
    doc = _cp(fleet, str(tree), "--host", f"{_host(fleet, 2)}:{target}", "--mode", "0600")
    assert doc["failed"] == 0, doc
    assert (target / "sub" / "b.conf").read_text() == "b=2\n"
    assert (target / "a.conf").stat().st_mode & 0o777 == 0o600
    (tree / "a.conf").write_text("a=2\n")
    doc = _cp(fleet, str(tree), "--host", f"{_host(fleet, 2)}:{target}", "--dry-run")
    status = {Path(f["path"]).name: f["status"] for f in doc["hosts"][0]["files"]}
    assert status == {"a.conf": "differing", "b.conf": "same"}


def _agent(fleet: Any, i: int) -> dict[str, Any]:
    return dict(fleet.profile["agents"][i - 1])


def _restart_agent(fleet: Any, i: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Kill agent ``i`` (by its PID, which we started) and start it again."""
    info = _agent(fleet, i)
    pid = int((fleet.home / f"agent-{i}.pid").read_text()) if (fleet.home / f"agent-{i}.pid").exists() else info["pid"]
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    time.sleep(0.3)
    out = open(Path(info["dir"]) / "agent.out", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(info["argv"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=dict(os.environ, **(env or {})))
    out.close()
    (fleet.home / f"agent-{i}.pid").write_text(str(proc.pid))
    # `starling down` stops what the profile lists: keep it current.
    prof = fleet.profile
    prof["pids"].append(proc.pid)
    (fleet.home / "up.json").write_text(json.dumps(prof))
    return proc


def _wait_online(client: Client, hostname: str, since: float, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = [h for h in client.hosts() if h["hostname"] == hostname]
        if rows and rows[0]["online"] and rows[0]["last_seen"] > since:
            return
        time.sleep(0.3)
    raise AssertionError(f"{hostname} not back online")


def test_resume_after_agent_killed_mid_transfer(fleet, tmp_path):
    client = _client(fleet)
    host = _host(fleet, 2)
    # A slow agent (2 MiB/s), so the transfer is surely mid-way when it dies.
    t0 = time.time()
    _restart_agent(fleet, 2, {"STARLING_AGENT_FILE_RATE": str(2 * MIB)})
    _wait_online(client, host, t0)
    src = tmp_path / "release.bin"
    data = _blob(src, 12 * MIB)
    from center.cli._cp import build_manifest, upload

    entries, where = build_manifest(src, MIB)
    upload(client, where, quiet=True)
    body = {"hosts": [host], "dest": str(tmp_path) + "/dst.bin", "files": entries, "chunk_size": MIB, "timeout": 120}
    body["dest"] = str(tmp_path / "dst.bin")
    job = client.request("POST", "/v1/files/push", json_body=body)["job_id"]
    store = Path(_agent(fleet, 2)["dir"]) / "plugins" / "file.install" / "chunks"
    end = time.monotonic() + 30
    while time.monotonic() < end and len([n for n in os.listdir(store) if not n.startswith(".")] if store.exists() else []) < 3:
        time.sleep(0.1)
    held = {n for n in os.listdir(store) if not n.startswith(".")}
    assert 3 <= len(held) < 12, held
    t1 = time.time()
    _restart_agent(fleet, 2)  # kill -9 mid-transfer; back without the rate cap
    assert not (tmp_path / "dst.bin").exists()  # nothing half-written is visible
    _wait_online(client, host, t1)
    first = client.wait(job, timeout=60)
    first = client.job(job)
    assert first["results"][0]["code"] in ("A007", "A020", "P002"), first["results"][0]
    # The same copy again (what `starling cp --retries` does): only the rest travels.
    job2 = client.request("POST", "/v1/files/push", json_body=body)["job_id"]
    client.wait(job2, timeout=60)
    res = client.job(job2)["results"][0]
    assert res["state"] == "succeeded", res
    assert res["data"]["held_chunks"] >= len(held) and res["data"]["fetched_chunks"] == 12 - res["data"]["held_chunks"]
    assert (tmp_path / "dst.bin").read_bytes() == data


def test_corruption_in_proxy_cache_and_on_center(fleet, tmp_path):
    src = tmp_path / "c.bin"
    data = _blob(src, 3 * MIB)
    d1, d2 = tmp_path / "h1", tmp_path / "h2"
    d1.mkdir()
    d2.mkdir()
    assert _cp(fleet, str(src), "--host", f"{_host(fleet, 1)}:{d1}/", "--chunk-size", str(MIB))["failed"] == 0
    # Flip a byte of one cached chunk in the proxy's cache: the next agent
    # detects it, asks again with refresh, and the proxy fetches a good copy.
    cache = fleet.home / "proxy-1-cache"
    from center.cli._cp import build_manifest

    entries, _ = build_manifest(src, MIB)
    victim = cache / entries[0]["chunks"][1]
    raw = bytearray(victim.read_bytes())
    raw[100] ^= 0xFF
    victim.write_bytes(bytes(raw))
    doc = _cp(fleet, str(src), "--host", f"{_host(fleet, 2)}:{d2}/", "--chunk-size", str(MIB))
    assert doc["failed"] == 0, doc
    assert doc["hosts"][0]["corrupt_chunks"] == 1
    assert (d2 / "c.bin").read_bytes() == data
    # A chunk that is bad at its source (the center's disk): the proxy's check
    # refuses it, the host reports A015 and nothing becomes visible.
    src2 = tmp_path / "d.bin"
    _blob(src2, 2 * MIB)
    entries2, where2 = build_manifest(src2, MIB)
    client = _client(fleet)
    from center.cli._cp import upload

    upload(client, where2, quiet=True)
    bad = entries2[0]["chunks"][0]
    stored = Path(fleet.profile["state_dir"]) / "center" / "chunks" / bad[:2] / bad
    raw = bytearray(stored.read_bytes())
    raw[0] ^= 0xFF
    stored.write_bytes(bytes(raw))
    doc = _cp(fleet, str(src2), "--host", f"{_host(fleet, 1)}:{d1}/", "--chunk-size", str(MIB))
    assert doc["failed"] == 1 and doc["hosts"][0]["code"] == "A015", doc
    assert not (d1 / "d.bin").exists() and [n for n in os.listdir(d1) if n.startswith(".")] == []
    stored.unlink()  # leave the store sane for later tests


def test_full_disk_is_e006(fleet, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        src = tmp_path / "big.bin"
        _blob(src, 3 * MIB)
        doc = _cp(fleet, str(src), "--host", f"{_host(fleet, 1)}:{mnt}/")
        h = doc["hosts"][0]
        assert doc["failed"] == 1 and h["code"] == "E006", doc
        assert "bytes free" in h["message"]
        assert os.listdir(mnt) == []  # no partly written file, not even a temp one
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_bad_input_codes(fleet, tmp_path):
    client = _client(fleet)
    src = tmp_path / "f.txt"
    src.write_text("x")
    # A push whose chunks were never uploaded.
    body = {"hosts": [_host(fleet, 1)], "dest": str(tmp_path / "f.txt"),
            "files": [{"path": "f.txt", "size": 1, "sha256": "a" * 64, "chunks": ["b" * 64]}]}
    with pytest.raises(Exception) as info:
        client.request("POST", "/v1/files/push", json_body=body)
    assert getattr(info.value, "code", None).value == "C031"
    # A chunk whose bytes do not hash to its name.
    with pytest.raises(Exception) as info:
        client.request_bytes("PUT", "/v1/files/chunks/" + "c" * 64, b"not that")
    assert info.value.code.value == "A015"
    # A path outside what the account may write: a `paths` scope.
    acct = client.request("POST", "/v1/accounts", json_body={"name": "deployer", "scopes": {"paths": ["/opt/app/*"]}})
    limited = Client(fleet.profile["api"], acct["key_id"], acct["secret"], fleet.profile["ca_file"])
    from center.cli._cp import build_manifest, upload

    entries, where = build_manifest(src, MIB)
    upload(limited, where, quiet=True)
    push = {"hosts": [_host(fleet, 1)], "dest": "/etc/passwd", "files": entries}
    with pytest.raises(Exception) as info:
        limited.request("POST", "/v1/files/push", json_body=push)
    assert info.value.code.value == "C009"
    with pytest.raises(Exception) as info:
        limited.request("POST", "/v1/files/push", json_body=push | {"dest": "/opt/app/../../etc/passwd"})
    assert info.value.code.value == "C009"
    # A directory where a file is expected, on the host.
    (tmp_path / "adir" / "f.txt").mkdir(parents=True)
    doc = _cp(fleet, str(src), "--host", f"{_host(fleet, 1)}:{tmp_path / 'adir'}/")
    assert doc["hosts"][0]["code"] == "A022"
    # Collecting a directory, or a file above the cap.
    doc = _cp(fleet, "--host", f"{_host(fleet, 1)}:{tmp_path}", str(tmp_path / "got") + "/")
    assert doc["hosts"][0]["code"] == "A022"
    big = tmp_path / "big.log"
    _blob(big, 4096)
    doc = _cp(fleet, "--host", f"{_host(fleet, 1)}:{big}", str(tmp_path / "got") + "/", "--max-bytes", "100")
    assert doc["hosts"][0]["code"] == "C032"
