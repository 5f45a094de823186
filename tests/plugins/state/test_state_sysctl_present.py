"""state.sysctl.present: a temp sysctl.conf copy; the running kernel only read (value kept as it is)."""

from __future__ import annotations

from agent_core.testing import run_action


def _proc(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as fh:
        return " ".join(fh.read().split())


async def test_sysctl_file_edit_and_idempotence(tmp_path):
    conf = tmp_path / "sysctl.conf"
    conf.write_text("# kernel tuning\nvm.swappiness=60\nnet.core.somaxconn = 128\n; old\nvm.swappiness = 30\n")
    want = {"key": "vm.swappiness", "value": 10, "path": str(conf), "apply": False}
    out = await run_action("state.sysctl.present", {**want, "dry_run": True})
    assert out.ok and out.value["changed"] and "-vm.swappiness=60" in out.value["diff"] and "+vm.swappiness = 10" in out.value["diff"]
    assert "vm.swappiness=60" in conf.read_text()
    out = await run_action("state.sysctl.present", want)
    assert out.ok, out.message
    # The first assignment is rewritten in place, the later duplicate removed, comments kept.
    assert conf.read_text() == "# kernel tuning\nvm.swappiness = 10\nnet.core.somaxconn = 128\n; old\n"
    assert (await run_action("state.sysctl.present", want)).value["changed"] is False
    out = await run_action("state.sysctl.present", {"key": "net/ipv4/tcp_syncookies", "value": "1", "path": str(conf), "apply": False})
    assert conf.read_text().endswith("net.ipv4.tcp_syncookies = 1\n")


async def test_sysctl_runtime_compare_without_changing_the_kernel(tmp_path):
    conf = tmp_path / "sysctl.conf"
    key = "net.ipv4.ip_local_port_range"  # a tab-separated pair in /proc
    current = _proc(key)
    out = await run_action("state.sysctl.present", {"key": key, "value": current, "path": str(conf)})
    assert out.ok, out.message
    assert "runtime:" not in out.value["diff"] and conf.read_text() == f"{key} = {current}\n"
    low, high = current.split()
    other = f"{int(low) + 1} {high}"
    out = await run_action("state.sysctl.present", {"key": key, "value": other, "path": str(conf), "dry_run": True})
    assert out.value["changed"] and f"runtime: {current} -> {other}" in out.value["diff"]
    assert _proc(key) == current  # dry run: the kernel was not touched


async def test_sysctl_errors(tmp_path):
    conf = str(tmp_path / "s.conf")
    out = await run_action("state.sysctl.present", {"key": "net.no.such.key", "value": "1", "path": conf, "dry_run": True})
    assert out.code == "A017"
    assert (await run_action("state.sysctl.present", {"key": "../../etc/passwd", "value": "1", "path": conf})).code == "A002"
    assert (await run_action("state.sysctl.present", {"key": "vm.swappiness", "value": "", "path": conf})).code == "A002"
    assert (await run_action("state.sysctl.present", {"key": "vm.swappiness", "value": [1], "path": conf})).code == "A002"
