"""file.chmod: octal and symbolic modes agree with chmod(1); recursion; refusals."""

from __future__ import annotations

import os
import stat
import subprocess

from agent_core.testing import run_action


def _sh(*argv: str, check: bool = True) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check).stdout


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


async def test_chmod_symbolic_matches_coreutils(tmp_path):
    for spec, start in [("u+x", 0o644), ("go-w", 0o666), ("a=rX", 0o751), ("u=rw,g+s", 0o755), ("o+t", 0o777)]:
        mine, ref = tmp_path / "mine", tmp_path / "ref"
        for f in (mine, ref):
            f.write_text("")
            os.chmod(f, start)
        _sh("chmod", spec, str(ref))
        out = await run_action("file.chmod", {"path": str(mine), "mode": spec})
        assert out.ok, out.message
        assert _mode(mine) == _mode(ref), spec
        mine.unlink()
        ref.unlink()


async def test_chmod_recursive_and_idempotent(tmp_path):
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f").write_text("")
    os.chmod(root / "sub" / "f", 0o666)
    os.symlink("/etc/passwd", root / "link")
    before = _mode("/etc/passwd")
    out = await run_action("file.chmod", {"path": str(root), "mode": "go-w", "recursive": True})
    assert out.ok, out.message
    assert _mode(root / "sub" / "f") == 0o644
    assert _mode("/etc/passwd") == before  # the symlink was not followed
    assert any(e["path"] == str(root / "sub" / "f") and e["old"] == "0666" for e in out.value["entries"])
    again = await run_action("file.chmod", {"path": str(root), "mode": "go-w", "recursive": True})
    assert again.value["changed"] == 0
    out = await run_action("file.chmod", {"path": str(root / "sub" / "f"), "mode": "0600"})
    assert out.value["changed"] == 1 and _mode(root / "sub" / "f") == 0o600


async def test_chmod_errors(tmp_path):
    assert (await run_action("file.chmod", {"path": str(tmp_path), "mode": "u+q"})).code == "A002"
    assert (await run_action("file.chmod", {"path": str(tmp_path), "mode": "8888"})).code == "A002"
    assert (await run_action("file.chmod", {"path": str(tmp_path / "no"), "mode": "644"})).code == "A017"
    assert (await run_action("file.chmod", {"path": "/usr", "mode": "755", "recursive": True})).code == "A016"
