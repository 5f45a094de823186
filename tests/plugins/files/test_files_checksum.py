"""file.checksum: digests match hashlib and sha256sum, expected-mismatch is A015."""

from __future__ import annotations

import hashlib
import os
import subprocess

from agent_core.testing import run_action


def _sh(*argv: str, check: bool = True) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check).stdout


async def test_checksum_algorithms(tmp_path):
    blob = os.urandom(3 * 1024 * 1024 + 17)
    f = tmp_path / "blob"
    f.write_bytes(blob)
    for algo in ("sha256", "sha1", "md5", "sha512", "blake2b"):
        out = await run_action("file.checksum", {"paths": [str(f)], "algorithm": algo})
        assert out.ok, out.message
        assert out.value["files"][0]["digest"] == hashlib.new(algo, blob).hexdigest()
        assert out.value["files"][0]["size"] == len(blob)
    tool = _sh("sha256sum", str(f)).split()[0]
    out = await run_action("file.checksum", {"paths": [str(f)]})
    assert out.value["files"][0]["digest"] == tool


async def test_checksum_expected_and_many(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("one")
    b.write_text("two")
    good = hashlib.sha256(b"one").hexdigest()
    out = await run_action("file.checksum", {"paths": [str(a)], "expected": good.upper()})
    assert out.ok and out.value["match"] is True
    out = await run_action("file.checksum", {"paths": [str(a)], "expected": "0" * 64})
    assert out.code == "A015" and good in out.message
    out = await run_action("file.checksum", {"paths": [str(a), str(b), str(tmp_path / "gone")]})
    assert out.ok
    files = out.value["files"]
    assert files[1]["digest"] == hashlib.sha256(b"two").hexdigest()
    assert files[2]["code"] == "A017" and "digest" not in files[2]


async def test_checksum_errors(tmp_path):
    assert (await run_action("file.checksum", {"paths": []})).code == "A002"
    assert (await run_action("file.checksum", {"paths": ["/etc/hostname"], "algorithm": "crc"})).code == "A002"
    assert (await run_action("file.checksum", {"paths": [str(tmp_path / "none")]})).code == "A017"
    out = await run_action("file.checksum", {"paths": ["/etc/hostname", "/etc/hosts"], "expected": "ab"})
    assert out.code == "A002"
