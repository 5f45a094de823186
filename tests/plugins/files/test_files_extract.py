"""file.extract: real archives unpack; traversal, absolute, link-out and device members are refused."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile

from agent_core.testing import run_action


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _file(name, data=b"x", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


async def test_extract_tar_and_zip(tmp_path):
    arc = tmp_path / "good.tar.gz"
    _tar(arc, [_file("pkg/bin/tool", b"#!/bin/sh\n", 0o4755), _file("pkg/README", b"hi"), _link("pkg/latest", "bin/tool")])
    dest = tmp_path / "out"
    out = await run_action("file.extract", {"archive": str(arc), "dest": str(dest)})
    assert out.ok, out.message
    assert (dest / "pkg" / "README").read_bytes() == b"hi" and os.readlink(dest / "pkg" / "latest") == "bin/tool"
    assert not os.stat(dest / "pkg" / "bin" / "tool").st_mode & stat.S_ISUID  # setuid dropped
    assert out.value["entries"] == 3 and out.value["bytes"] == 12
    # Second run collides unless overwrite.
    assert (await run_action("file.extract", {"archive": str(arc), "dest": str(dest)})).code == "A014"
    out = await run_action("file.extract", {"archive": str(arc), "dest": str(tmp_path / "s"), "strip_components": 1})
    assert out.ok and (tmp_path / "s" / "README").exists()
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("docs/a.txt", "zip content")
        zf.writestr("docs/empty/", "")
    out = await run_action("file.extract", {"archive": str(z), "dest": str(tmp_path / "z")})
    assert out.ok and out.value["format"] == "zip"
    assert (tmp_path / "z" / "docs" / "a.txt").read_text() == "zip content"


async def test_extract_list_only(tmp_path):
    arc = tmp_path / "l.tar.gz"
    _tar(arc, [_file("one"), _file("two", b"22")])
    out = await run_action("file.extract", {"archive": str(arc), "dest": str(tmp_path / "never"), "list_only": True})
    assert out.ok and [m["name"] for m in out.value["members"]] == ["one", "two"]
    assert not (tmp_path / "never").exists()


async def test_extract_refuses_unsafe_members(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("safe")
    cases = {
        "dotdot": [_file("ok"), _file("../victim", b"pwned")],
        "absolute": [_file(str(victim), b"pwned")],
        "symlink_out": [_link("evil", "/etc"), _file("evil/passwd", b"pwned")],
        "symlink_up": [_link("up", "../.."), _file("fine")],
        "hardlink_out": [_link("hl", str(victim), tarfile.LNKTYPE)],
        "device": [(lambda i: (setattr(i, "type", tarfile.CHRTYPE), (i, None))[1])(tarfile.TarInfo("dev"))],
    }
    for name, members in cases.items():
        arc = tmp_path / f"{name}.tar.gz"
        _tar(arc, members)
        dest = tmp_path / f"d-{name}"
        out = await run_action("file.extract", {"archive": str(arc), "dest": str(dest)})
        assert out.code == "A016", (name, out.code, out.message)
        assert not dest.exists(), name  # nothing was written
    assert victim.read_text() == "safe"
    z = tmp_path / "bad.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../../escape", "pwned")
    assert (await run_action("file.extract", {"archive": str(z), "dest": str(tmp_path / "dz")})).code == "A016"


async def test_extract_refuses_existing_symlink_escape(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, dest / "sub")  # planted before the extraction
    arc = tmp_path / "t.tar.gz"
    _tar(arc, [_file("sub/planted", b"pwned")])
    assert (await run_action("file.extract", {"archive": str(arc), "dest": str(dest)})).code == "A016"
    assert not (outside / "planted").exists()


async def test_extract_bounds_and_errors(tmp_path):
    arc = tmp_path / "b.tar.gz"
    _tar(arc, [_file("a", b"x" * 100), _file("b", b"y" * 100)])
    assert (await run_action("file.extract", {"archive": str(arc), "dest": str(tmp_path / "o"), "max_entries": 1})).code == "A016"
    assert (await run_action("file.extract", {"archive": str(arc), "dest": str(tmp_path / "o"), "max_bytes": 150})).code == "A016"
    junk = tmp_path / "junk"
    junk.write_bytes(os.urandom(100))
    assert (await run_action("file.extract", {"archive": str(junk), "dest": str(tmp_path / "o")})).code == "A002"
    assert (await run_action("file.extract", {"archive": str(tmp_path / "none.tar"), "dest": str(tmp_path / "o")})).code == "A017"
    assert (await run_action("file.extract", {"archive": str(arc), "dest": "/"})).code == "A016"
    assert (await run_action("file.extract", {"archive": str(arc), "dest": str(tmp_path), "format": "rar"})).code == "A002"
