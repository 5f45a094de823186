"""docker.logs: real with a daemon, A003 without; stream merge and timestamps."""

from __future__ import annotations

import os
import shutil

import msgspec
import pytest

from agent_core import ActionError
from agent_core.host import PluginHost
from agent_core.testing import run_action
from plugins.containers.docker_logs import _SINCE, parse_logs


def docker_ready() -> bool:
    return bool(shutil.which("docker")) and os.path.exists("/var/run/docker.sock") and "DOCKER_HOST" not in os.environ


def test_parse_logs_merges_streams_by_time():
    out = parse_logs(
        "2024-01-15T10:00:00.000000001Z GET / 200\n2024-01-15T10:00:02.5Z GET /x 404\n",
        "2024-01-15T10:00:01.000000000Z [warn] upstream slow\nno timestamp here\n",
    )
    assert [(x.stream, x.text) for x in out] == [
        ("stderr", "no timestamp here"), ("stdout", "GET / 200"), ("stderr", "[warn] upstream slow"), ("stdout", "GET /x 404")]
    assert out[1].time == 1705312800.0


def test_since_values():
    for ok in ("10m", "1h30m", "2024-01-15", "2024-01-15T10:00:00Z", "1705312800"):
        assert _SINCE.match(ok), ok
    for bad in ("yesterday", "10 m", "; rm"):
        assert not _SINCE.match(bad), bad


@pytest.mark.skipif(not docker_ready(), reason="no Docker daemon on this host: the real path is not exercised here")
async def test_docker_logs_unknown_container():
    out = await run_action("docker.logs", {"container": "starling-no-such-container-x", "tail": 5})
    assert out.code == "A017", out.message


async def test_docker_logs_without_docker(hidden_tools):
    out = await hidden_tools("docker")("docker.logs", {"container": "starling-no-such-container-x", "tail": 5})
    assert out.code == "A003" and "docker" in out.message, out.message


def test_docker_logs_bad_params():
    act = PluginHost().load("docker.logs").actions["docker.logs"]
    for bad in ({"container": "web", "tail": 0}, {"tail": 5}):
        with pytest.raises(ActionError) as err:
            act.decode_params(msgspec.msgpack.encode(bad))
        assert err.value.code == "A002"
