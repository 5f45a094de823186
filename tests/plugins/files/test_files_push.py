"""file.push: chunked upload assembled atomically; resend, gaps, checksum mismatch (A015)."""

from __future__ import annotations

import hashlib
import os
import stat

from agent_core.testing import run_action


async def _push(tmp_path, **params):
    return await run_action("file.push", params, state_dir=tmp_path / "state")


async def test_push_chunks_and_install(tmp_path):
    blob = os.urandom(3 * 1024 * 1024 + 123)
    digest = hashlib.sha256(blob).hexdigest()
    dest = tmp_path / "dest.bin"
    dest.write_text("old version")
    chunk = 1024 * 1024
    for off in range(0, len(blob), chunk):
        final = off + chunk >= len(blob)
        extra = {"final": True, "sha256": digest, "mode": "0640", "owner": "nobody"} if final else {}
        out = await _push(tmp_path, upload_id="up-1", path=str(dest), offset=off, data=blob[off : off + chunk], **extra)
        assert out.ok, out.message
        if not final:
            assert out.value["received"] == off + chunk and out.value["complete"] is False
            assert dest.read_text() == "old version"  # nothing visible until the end
    assert out.value["complete"] is True and out.value["sha256"] == digest
    assert dest.read_bytes() == blob
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert os.listdir(tmp_path / "state" / "plugins" / "file.push") == []


async def test_push_resend_and_gap(tmp_path):
    dest = tmp_path / "f"
    assert (await _push(tmp_path, upload_id="u2", path=str(dest), offset=0, data=b"hello ")).ok
    out = await _push(tmp_path, upload_id="u2", path=str(dest), offset=100, data=b"x")
    assert out.code == "A002" and "6 bytes" in out.message
    # The chunk at offset 6 is re-sent (say its ack was lost): it replaces, not appends.
    assert (await _push(tmp_path, upload_id="u2", path=str(dest), offset=6, data=b"worXX")).ok
    data = b"world"
    out = await _push(tmp_path, upload_id="u2", path=str(dest), offset=6, data=data, final=True,
                      sha256=hashlib.sha256(b"hello world").hexdigest())
    assert out.ok and dest.read_bytes() == b"hello world"
    out = await _push(tmp_path, upload_id="u3", path=str(dest), offset=5, data=b"x")
    assert out.code == "A002"
    assert (await _push(tmp_path, upload_id="u4", path=str(dest), offset=0, data=b"a")).ok
    assert (await _push(tmp_path, upload_id="u4", path=str(tmp_path / "other"), offset=1, data=b"b")).code == "A002"


async def test_push_checksum_mismatch(tmp_path):
    dest = tmp_path / "g"
    out = await _push(tmp_path, upload_id="bad", path=str(dest), offset=0, data=b"corrupted", final=True, sha256="0" * 64)
    assert out.code == "A015" and not dest.exists()
    # The upload was dropped: continuing it is refused, it must start again.
    assert (await _push(tmp_path, upload_id="bad", path=str(dest), offset=9, data=b"")).code == "A002"


async def test_push_bad_params(tmp_path):
    d = str(tmp_path / "h")
    assert (await _push(tmp_path, upload_id="../etc", path=d, offset=0)).code == "A002"
    assert (await _push(tmp_path, upload_id="ok", path=d, offset=0, final=True)).code == "A002"
    assert (await _push(tmp_path, upload_id="ok", path=d, offset=-1)).code == "A002"
    assert (await _push(tmp_path, upload_id="ok", path=d, offset=0, sha256="xyz", final=True)).code == "A002"
    out = await _push(tmp_path, upload_id="nd", path=str(tmp_path / "no" / "dir"), offset=0, data=b"a",
                      final=True, sha256=hashlib.sha256(b"a").hexdigest())
    assert out.code == "A017"


async def test_push_takes_base64_as_the_json_api_sends_it(tmp_path):
    """The docs' call through the API: `data` is base64 text in JSON (it used
    to fail with "Expected `bytes`, got `str`")."""
    import base64

    dest = tmp_path / "b64.txt"
    out = await _push(tmp_path, upload_id="b64", path=str(dest), offset=0, data=base64.b64encode(b"hi\n").decode(),
                      final=True, sha256=hashlib.sha256(b"hi\n").hexdigest())
    assert out.ok, out.message
    assert dest.read_bytes() == b"hi\n"
    out = await _push(tmp_path, upload_id="b64b", path=str(dest), offset=0, data="not base64!")
    assert out.code == "A002"
