"""file.archive: tar/zip contents agree with tar(1) and unzip(1); excludes; atomic."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import zipfile

import pytest

from agent_core.testing import run_action


def _sh(*argv: str, check: bool = True) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check).stdout


def _src(tmp_path):
    src = tmp_path / "app"
    (src / "conf").mkdir(parents=True)
    (src / "conf" / "a.ini").write_text("a=1\n")
    (src / "cache.tmp").write_text("junk")
    (src / "bin").write_bytes(os.urandom(1000))
    os.symlink("conf/a.ini", src / "current.ini")
    return src


@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "tar.bz2", "tar.xz"])
async def test_archive_tar_formats(tmp_path, fmt):
    src = _src(tmp_path)
    dest = tmp_path / f"out.{fmt}"
    out = await run_action("file.archive", {"paths": [str(src)], "dest": str(dest), "format": fmt, "exclude": ["*.tmp"]})
    assert out.ok, out.message
    listing = _sh("tar", "-tf", str(dest)).split()
    assert sorted(x.rstrip("/") for x in listing) == ["app", "app/bin", "app/conf", "app/conf/a.ini", "app/current.ini"]
    assert out.value["entries"] == 5 and out.value["bytes_in"] == 1004
    assert out.value["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    with tarfile.open(dest) as tar:
        assert tar.getmember("app/current.ini").issym()


async def test_archive_zip_with_base(tmp_path):
    src = _src(tmp_path)
    dest = tmp_path / "out.zip"
    out = await run_action(
        "file.archive",
        {"paths": [str(src / "conf"), str(src / "bin")], "dest": str(dest), "format": "zip", "base": str(tmp_path)},
    )
    assert out.ok, out.message
    with zipfile.ZipFile(dest) as zf:
        assert sorted(zf.namelist()) == ["app/bin", "app/conf/", "app/conf/a.ini"]
        assert zf.read("app/conf/a.ini") == b"a=1\n"
    if shutil.which("unzip"):
        assert "No errors" in _sh("unzip", "-t", str(dest))


async def test_archive_errors(tmp_path):
    src = _src(tmp_path)
    dest = tmp_path / "x.tar"
    dest.write_text("old")
    assert (await run_action("file.archive", {"paths": [str(src)], "dest": str(dest)})).code == "A014"
    assert dest.read_text() == "old"
    out = await run_action("file.archive", {"paths": [str(tmp_path / "none")], "dest": str(tmp_path / "n.tar")})
    assert out.code == "A017" and not (tmp_path / "n.tar").exists()
    assert (await run_action("file.archive", {"paths": [str(src)], "dest": str(src / "in.tar")})).code == "A002"
    assert (await run_action("file.archive", {"paths": [str(src)], "dest": str(dest), "format": "rar"})).code == "A002"
    out = await run_action("file.archive", {"paths": [str(src)], "dest": str(tmp_path / "b.tar"), "base": "/opt"})
    assert out.code == "A002"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".starling")]
