"""docker.stats: real with a daemon, A003 without; unit conversion on docker's output shape."""

from __future__ import annotations

import os
import shutil

import msgspec
import pytest

from agent_core import ActionError
from agent_core.host import PluginHost
from agent_core.testing import run_action
from plugins.containers._common import check_ref
from plugins.containers.docker_stats import parse_stats


def docker_ready() -> bool:
    return bool(shutil.which("docker")) and os.path.exists("/var/run/docker.sock") and "DOCKER_HOST" not in os.environ


SAMPLE = "\n".join([
    '{"BlockIO":"12.3MB / 4.1kB","CPUPerc":"0.05%","Container":"4f66ad9a0b2e","ID":"4f66ad9a0b2e7c","MemPerc":"0.25%",'
    '"MemUsage":"9.5MiB / 3.8GiB","Name":"web","NetIO":"1.2kB / 0B","PIDs":"3"}',
    '{"BlockIO":"0B / 0B","CPUPerc":"187.40%","Container":"a1b2","ID":"a1b2","MemPerc":"50.00%",'
    '"MemUsage":"1GiB / 2GiB","Name":"busy","NetIO":"5MB / 7MB","PIDs":"120"}',
    '{"BlockIO":"--","CPUPerc":"--","Container":"c3","ID":"c3","MemPerc":"--","MemUsage":"-- / --","Name":"stopping","NetIO":"--","PIDs":"--"}',
])


def test_parse_stats_sample():
    busy, web, stopping = parse_stats(SAMPLE)
    assert busy.name == "busy" and busy.cpu_percent == 187.4  # sorted by CPU, highest first
    assert web.mem_used == int(9.5 * 1024**2) and web.mem_limit == int(3.8 * 1024**3) and web.mem_percent == 0.25
    assert (web.net_rx, web.net_tx, web.block_read, web.block_write, web.pids) == (1200, 0, 12_300_000, 4100, 3)
    assert stopping.cpu_percent is None and stopping.mem_used is None and stopping.pids is None


@pytest.mark.skipif(not docker_ready(), reason="no Docker daemon on this host: the real path is not exercised here")
async def test_docker_stats_real():
    out = await run_action("docker.stats")
    assert out.ok, out.message
    assert all(isinstance(u["name"], str) for u in out.value)


async def test_docker_stats_without_docker(hidden_tools):
    out = await hidden_tools("docker")("docker.stats")
    assert out.code == "A003" and "docker" in out.message, out.message


def test_docker_stats_bad_params():
    act = PluginHost().load("docker.stats").actions["docker.stats"]
    with pytest.raises(ActionError) as err:
        act.decode_params(msgspec.msgpack.encode({"containers": "web"}))
    assert err.value.code == "A002"
    for ref in ("-rm", "a b", "$(reboot)", ""):
        with pytest.raises(ActionError) as err:
            check_ref(ref)
        assert err.value.code == "A002"
