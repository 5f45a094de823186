"""exporter: the node metrics resident, run by the real supervisor on a free port,
scraped and compared with independent readings; agent.exporter.status through run_action."""

from __future__ import annotations

import os
import re
import urllib.request
from collections.abc import Callable

import psutil
import pytest
import trio

from agent_core.host import PluginHost, ResidentSupervisor, resident_plugin_names
from agent_core.testing import run_action
from plugins.agent import _exporter_main as main
from transports import free_port


def _samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value for every sample line of a Prometheus page."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


async def _until(pred: Callable[[], bool], seconds: float = 30) -> None:
    with trio.fail_after(seconds):
        while True:
            if pred():
                return
            await trio.sleep(0.05)


def test_registered_as_resident_plugin():
    assert "agent.exporter" in resident_plugin_names()


async def test_exporter_resident_serves_real_metrics(tmp_path):
    port = free_port()
    config = {"enabled": True, "port": port}
    sup = ResidentSupervisor(PluginHost(), tmp_path, config={"agent.exporter": config}, plugins=["agent.exporter"])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await _until(lambda: sup.status().get("agent.exporter.node", "").startswith("running pid"))
        pid = int(sup.status()["agent.exporter.node"].split()[2])
        assert psutil.Process(pid).cmdline()[1:3] == ["-m", "plugins.agent._exporter_main"]

        def scrape() -> tuple[str, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
                return resp.headers["Content-Type"], resp.read().decode()

        ctype, text = await trio.to_thread.run_sync(scrape)
        assert ctype.startswith("text/plain; version=0.0.4")
        s = _samples(text)
        with open("/proc/meminfo") as fh:
            total_kb = int(fh.readline().split()[1])
        assert s["node_memory_MemTotal_bytes"] == total_kb * 1024
        root = os.statvfs("/")
        root_key = next(k for k in s if k.startswith("node_filesystem_size_bytes{") and 'mountpoint="/"' in k)
        assert s[root_key] == root.f_blocks * root.f_frsize
        assert abs(s["node_load1"] - os.getloadavg()[0]) < 2
        lo = psutil.net_io_counters(pernic=True)["lo"]
        assert 0 < s['node_network_receive_bytes_total{device="lo"}'] <= lo.bytes_recv
        assert s["node_boot_time_seconds"] == pytest.approx(psutil.boot_time(), abs=2)
        cpus = {k for k in s if k.startswith("node_cpu_seconds_total{") and 'mode="idle"' in k}
        assert len(cpus) == psutil.cpu_count()
        assert s["starling_exporter_scrapes_total"] >= 1
        # Every sample line is well formed for Prometheus' parser.
        pattern = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$')
        bad = [line for line in text.splitlines() if line and not line.startswith("#") and not pattern.match(line)]
        assert not bad, bad[:5]

        out = await run_action("agent.exporter.status", state_dir=tmp_path, config=config)
        assert out.ok, out.message
        v = out.value
        assert v["enabled"] and v["answering"] and v["detail"] == "HTTP 200"
        assert v["resident"].startswith(f"running pid {pid} ")
        assert v["families"] > 20 and v["samples"] > v["families"]
        nursery.cancel_scope.cancel()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_status_when_disabled_or_not_answering(tmp_path):
    out = await run_action("agent.exporter.status", state_dir=tmp_path)
    assert out.ok and out.value["enabled"] is False and out.value["answering"] is False
    assert "enabled = true" in out.value["detail"]
    port = free_port()  # nothing listens there
    out = await run_action("agent.exporter.status", state_dir=tmp_path, config={"enabled": True, "port": port})
    assert out.ok and out.value["answering"] is False and out.value["detail"].startswith("scrape failed")
    assert out.value["resident"] == ""


async def test_disabled_declares_no_resident_and_bad_config_is_refused(tmp_path):
    sup = ResidentSupervisor(PluginHost(), tmp_path, config={}, plugins=["agent.exporter"])
    assert sup.discover() == [] and sup.status() == {}
    sup = ResidentSupervisor(PluginHost(), tmp_path, config={"agent.exporter": {"enabled": True, "port": 70000}}, plugins=["agent.exporter"])
    assert sup.discover() == []
    assert "port 70000 out of range" in sup.status()["agent.exporter"]
    out = await run_action("agent.exporter.status", config={"enabled": True, "address": "10.0.0.1"})
    assert out.code == "A003" and "address" in out.message
    out = await run_action("agent.exporter.status", config={"enabled": True, "prot": 1})
    assert out.code == "A003" and "prot" in out.message


async def test_bad_params():
    out = await run_action("agent.exporter.status", {"verbose": True})
    assert out.code == "A002"


def test_render_escapes_labels():
    fam = main.Family("x_total", "counter", "Test.")
    fam.add(3, path='a"b\\c\nd')
    fam.add(0.5)
    assert main.render([fam, main.Family("empty", "gauge", "none")]) == (
        "# HELP x_total Test.\n# TYPE x_total counter\n"
        'x_total{path="a\\"b\\\\c\\nd"} 3\nx_total 0.5\n'
    )
    assert main._unescape_mount("/mnt/with\\040space") == "/mnt/with space"
