"""file.install: manifest in, verified chunks, atomic install; same/differing/new,
dry run, corrupt chunks, resume from held chunks, wrong kinds of path (A022)."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from agent_core import ActionError
from agent_core.testing import run_action
from transports import ErrorCode

CHUNK = 64 * 1024


class DictSource:
    """Chunks from a dict, as the proxy would serve them; counts what it served.
    ``corrupt`` maps a digest to how many bad copies to serve first; ``fail_after``
    makes it break (like a dropped agent) after that many chunks."""

    def __init__(self, blobs: dict[str, bytes], corrupt: dict[str, int] | None = None, fail_after: int | None = None) -> None:
        self.blobs = blobs
        self.corrupt = dict(corrupt or {})
        self.fail_after = fail_after
        self.served: list[tuple[str, bool]] = []

    async def get(self, digest: str, *, refresh: bool = False) -> bytes:
        if self.fail_after is not None and len(self.served) >= self.fail_after:
            raise ActionError("link gone", code=ErrorCode.P002)
        self.served.append((digest, refresh))
        data = self.blobs[digest]
        if self.corrupt.get(digest, 0) > 0:
            self.corrupt[digest] -= 1
            return b"X" + data[1:]
        return data


def manifest(name: str, blob: bytes, mode: str = "0640") -> tuple[dict, dict[str, bytes]]:
    chunks = [blob[i : i + CHUNK] for i in range(0, len(blob), CHUNK)]
    blobs = {hashlib.sha256(c).hexdigest(): c for c in chunks}
    entry = {"path": name, "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
             "chunks": [hashlib.sha256(c).hexdigest() for c in chunks], "mode": mode}
    return entry, blobs


async def _install(tmp_path, source, **params):
    params.setdefault("chunk_size", CHUNK)
    return await run_action("file.install", params, state_dir=tmp_path / "state", file_channel=source)


def _leftovers(directory) -> list[str]:
    return [n for n in os.listdir(directory) if n.endswith(".starling-part")]


async def test_install_then_same(tmp_path):
    blob = os.urandom(5 * CHUNK + 17)
    entry, blobs = manifest("app.bin", blob)
    src = DictSource(blobs)
    dest = tmp_path / "releases"
    dest.mkdir()
    out = await _install(tmp_path, src, dest=str(dest) + "/", files=[entry])
    assert out.ok, out.message
    assert (dest / "app.bin").read_bytes() == blob
    assert stat.S_IMODE((dest / "app.bin").stat().st_mode) == 0o640
    assert out.value["new"] == 1 and out.value["fetched_bytes"] == len(blob)
    # Installed: the agent's chunk store is empty again.
    assert os.listdir(tmp_path / "state" / "plugins" / "file.install" / "chunks") == []
    again = DictSource(blobs)
    out = await _install(tmp_path, again, dest=str(dest), files=[entry])
    assert out.ok and out.value["same"] == 1 and out.value["fetched_bytes"] == 0
    assert again.served == []  # identical content: nothing fetched


async def test_dry_run_reports_and_writes_nothing(tmp_path):
    a, b, c = os.urandom(100), os.urandom(CHUNK + 1), b"same\n"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_bytes(b"old")
    (tmp_path / "d" / "c").write_bytes(c)
    ea, ba = manifest("d/a", a)
    eb, bb = manifest("d/b", b)
    ec, bc = manifest("d/c", c)
    src = DictSource(ba | bb | bc)
    files = [{"path": "d", "kind": "dir"}, ea, eb, ec]
    out = await _install(tmp_path, src, dest=str(tmp_path / "d"), files=files, dry_run=True)
    assert out.ok, out.message
    status = {f["path"]: f["status"] for f in out.value["files"]}
    assert status == {"d": "same", "d/a": "new", "d/b": "differing", "d/c": "same"}
    assert src.served == [] and not (tmp_path / "d" / "a").exists() and (tmp_path / "d" / "b").read_bytes() == b"old"


async def test_directory_tree_and_modes(tmp_path):
    e1, b1 = manifest("conf/x.conf", b"x=1\n", "0600")
    e2, b2 = manifest("conf/sub/y.conf", b"y=2\n", "0644")
    files = [{"path": "conf", "kind": "dir", "mode": "0750"}, {"path": "conf/sub", "kind": "dir", "mode": "0755"}, e1, e2]
    out = await _install(tmp_path, DictSource(b1 | b2), dest=str(tmp_path / "etc" / "app"), files=files)
    assert out.ok, out.message
    root = tmp_path / "etc" / "app"
    assert (root / "x.conf").read_text() == "x=1\n" and (root / "sub" / "y.conf").read_text() == "y=2\n"
    assert stat.S_IMODE((root / "x.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE(root.stat().st_mode) == 0o750
    # The same copy again lands in the same place (not one level deeper) and is all "same".
    out = await _install(tmp_path, DictSource(b1 | b2), dest=str(root), files=files)
    assert out.ok and out.value["same"] == 2 and out.value["new"] == 0


async def test_corrupt_copy_is_asked_again(tmp_path):
    blob = os.urandom(3 * CHUNK)
    entry, blobs = manifest("f", blob)
    bad = entry["chunks"][1]
    src = DictSource(blobs, corrupt={bad: 1})
    out = await _install(tmp_path, src, dest=str(tmp_path / "f"), files=[entry])
    assert out.ok, out.message
    assert out.value["corrupt_chunks"] == 1 and (tmp_path / "f").read_bytes() == blob
    assert (bad, True) in src.served  # the second ask carried refresh: drop the cached copy


async def test_always_corrupt_is_a015_and_nothing_visible(tmp_path):
    entry, blobs = manifest("f", os.urandom(2 * CHUNK))
    src = DictSource(blobs, corrupt={entry["chunks"][0]: 99})
    (tmp_path / "f").write_bytes(b"previous")
    out = await _install(tmp_path, src, dest=str(tmp_path / "f"), files=[entry])
    assert out.code == "A015"
    assert (tmp_path / "f").read_bytes() == b"previous" and _leftovers(tmp_path) == []


async def test_manifest_whole_hash_mismatch_installs_nothing(tmp_path):
    entry, blobs = manifest("f", os.urandom(CHUNK + 5))
    entry["sha256"] = "0" * 64  # chunks are fine, the file is not what the manifest says
    out = await _install(tmp_path, DictSource(blobs), dest=str(tmp_path / "f"), files=[entry])
    assert out.code == "A015" and not (tmp_path / "f").exists() and _leftovers(tmp_path) == []


async def test_resume_keeps_verified_chunks(tmp_path):
    blob = os.urandom(6 * CHUNK)
    entry, blobs = manifest("big", blob)
    broken = DictSource(blobs, fail_after=3)
    out = await _install(tmp_path, broken, dest=str(tmp_path / "big"), files=[entry], parallel=1)
    assert out.code == "P002" and not (tmp_path / "big").exists()
    held = os.listdir(tmp_path / "state" / "plugins" / "file.install" / "chunks")
    assert len(held) == 3
    fresh = DictSource(blobs)
    out = await _install(tmp_path, fresh, dest=str(tmp_path / "big"), files=[entry])
    assert out.ok, out.message
    assert out.value["held_chunks"] == 3 and out.value["fetched_chunks"] == 3
    assert {d for d, _ in fresh.served}.isdisjoint(held)  # nothing re-sent that the host held
    assert (tmp_path / "big").read_bytes() == blob


async def test_kind_mismatches_are_a019(tmp_path):
    entry, blobs = manifest("f", b"data")
    (tmp_path / "isdir").mkdir()
    (tmp_path / "isdir" / "f").mkdir()
    out = await _install(tmp_path, DictSource(blobs), dest=str(tmp_path / "isdir") + "/", files=[entry])
    assert out.code == "A022" and "directory" in out.message
    (tmp_path / "plain").write_text("a file")
    out = await _install(tmp_path, DictSource(blobs), dest=str(tmp_path / "plain" / "inside"), files=[entry])
    assert out.code == "A022"
    tree = [{"path": "t", "kind": "dir"}]
    out = await _install(tmp_path, DictSource({}), dest=str(tmp_path / "plain"), files=tree)
    assert out.code == "A022" and "directory was expected" in out.message


@pytest.mark.parametrize("path", ["../evil", "/abs", "a/../../b", ""])
async def test_bad_manifest_paths(tmp_path, path):
    entry, blobs = manifest("x", b"1")
    entry["path"] = path
    out = await _install(tmp_path, DictSource(blobs), dest=str(tmp_path) + "/", files=[entry])
    assert out.code == "A002"


async def test_relative_dest_and_wrong_chunk_count(tmp_path):
    entry, blobs = manifest("x", os.urandom(2 * CHUNK))
    assert (await _install(tmp_path, DictSource(blobs), dest="rel/dir", files=[entry])).code == "A002"
    entry["chunks"] = entry["chunks"][:1]
    assert (await _install(tmp_path, DictSource(blobs), dest=str(tmp_path / "x"), files=[entry])).code == "A002"


async def test_without_file_channel(tmp_path):
    entry, _ = manifest("x", b"1")
    out = await run_action("file.install", {"dest": str(tmp_path / "x"), "files": [entry]}, state_dir=tmp_path / "s")
    assert out.code == "A003"
