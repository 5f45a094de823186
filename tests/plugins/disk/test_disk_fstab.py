"""disk.fstab on fstab files written for the test, checked against this host's real mounts."""

from __future__ import annotations

import pytest

from agent_core.testing import run_action
from plugins.disk._common import mount_table


def _root_mount():
    return [m for m in mount_table() if m.mountpoint == "/"][-1]


async def test_real_fstab_parses():
    out = await run_action("disk.fstab")
    if out.code == "A017":  # a container image without /etc/fstab
        pytest.skip("/etc/fstab absent on this host: the real path is not exercised here")
    assert out.ok, out.message
    assert out.value["path"] == "/etc/fstab"


async def test_checks_find_each_kind_of_problem(tmp_path):
    root = _root_mount()
    missing_dir = tmp_path / "not-created"
    existing = tmp_path / "data"
    existing.mkdir()
    fstab = tmp_path / "fstab"
    fstab.write_text(
        "# a comment\n"
        f"{root.source}  /  {root.fstype}  defaults  0  1\n"
        f"UUID=00000000-dead-beef-0000-000000000000  {existing}  ext4  defaults,nofail  0  2\n"
        f"/dev/starling-no-such-disk  {missing_dir}  xfs  defaults  0  0\n"
        "proc /proc proc defaults 0 0\n"
        "only three words\n"
        f"tmpfs {existing} tmpfs noauto 0 0\n"
        "/dev/starling-no-swap none swap sw 0 0\n"
    )
    out = await run_action("disk.fstab", {"path": str(fstab)})
    assert out.ok, out.message
    v = out.value
    assert v["ok"] is False
    assert v["syntax_errors"] == ["line 6: expected 'spec file type options [freq [passno]]', got 'only three words'"]
    by_line = {e["line"]: e for e in v["entries"]}
    assert by_line[2]["mounted"] and by_line[2]["problems"] == [], by_line[2]
    assert "no device with UUID=00000000-dead-beef-0000-000000000000" in by_line[3]["problems"]
    assert "not mounted (nofail)" in by_line[3]["problems"]
    assert f"mount point {missing_dir} does not exist" in by_line[4]["problems"]
    assert "/dev/starling-no-such-disk does not exist" in by_line[4]["problems"]
    assert by_line[5]["mounted"] and by_line[5]["problems"] == []
    assert by_line[7]["problems"] == ["mount point also on line 3"]  # noauto: not expected mounted
    assert by_line[8]["problems"] == ["/dev/starling-no-swap does not exist"]


async def test_root_pass_and_type_mismatch(tmp_path):
    root = _root_mount()
    wrong = "xfs" if root.fstype != "xfs" else "ext4"
    fstab = tmp_path / "fstab"
    fstab.write_text(f"{root.source} / {wrong} defaults 0 0\n")
    out = await run_action("disk.fstab", {"path": str(fstab)})
    (e,) = out.value["entries"]
    assert f"mounted as {root.fstype}, fstab says {wrong}" in e["problems"]
    if wrong not in ("xfs", "btrfs"):
        assert "root filesystem should have fsck pass 1" in e["problems"]


@pytest.mark.parametrize(("params", "code"), [({"path": "fstab"}, "A002"), ({"path": "/no/such/fstab"}, "A017"), ({"file": "/etc/fstab"}, "A002")])
async def test_fstab_errors(params, code):
    assert (await run_action("disk.fstab", params)).code == code
