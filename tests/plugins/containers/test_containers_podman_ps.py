"""container.podman.ps: real with podman, A003 without; parser on podman's JSON array."""

from __future__ import annotations

import json
import subprocess

import msgspec
import pytest

from agent_core import ActionError
from agent_core.host import PluginHost
from agent_core.testing import needs, run_action
from plugins.containers.podman_ps import parse_podman_ps

SAMPLE = [
    {"AutoRemove": False, "Command": ["nginx", "-g", "daemon off;"], "CreatedAt": "2 hours ago", "Created": 1705312345,
     "Exited": False, "ExitedAt": -62135596800, "ExitCode": 0, "Id": "3c1e", "Image": "docker.io/library/nginx:latest",
     "ImageID": "i1", "IsInfra": False, "Labels": {"app": "web"}, "Mounts": [], "Names": ["web"], "Namespaces": {},
     "Networks": ["podman"], "Pid": 1234, "Pod": "p0d", "PodName": "shop", "Restarts": 1,
     "Ports": [{"host_ip": "", "container_port": 80, "host_port": 8080, "range": 1, "protocol": "tcp"},
               {"host_ip": "127.0.0.1", "container_port": 9000, "host_port": 9000, "range": 2, "protocol": "udp"}],
     "Size": None, "StartedAt": 1705312346, "State": "running", "Status": "Up 2 hours"},
    {"Command": None, "Created": 1705000000, "ExitCode": 137, "Id": "9a9a", "Image": "quay.io/x/job:1", "Labels": None,
     "Names": ["job"], "Pid": 0, "Pod": "", "PodName": "", "Ports": None, "StartedAt": -62135596800,
     "State": "exited", "Status": "Exited (137) 1 hour ago"},
]


def _podman_ids() -> set[str]:
    out = subprocess.run(["podman", "ps", "-a", "-q", "--no-trunc"], capture_output=True, text=True).stdout
    return set(out.split())


def test_parse_podman_ps():
    web, job = parse_podman_ps(json.dumps(SAMPLE))
    assert web.names == ["web"] and web.pid == 1234 and web.pod_name == "shop" and web.restarts == 1
    assert [(p.host_ip, p.host_port, p.container_port, p.protocol) for p in web.ports] == [
        ("", 8080, 80, "tcp"), ("127.0.0.1", 9000, 9000, "udp"), ("127.0.0.1", 9001, 9001, "udp")]
    assert web.created == 1705312345.0 and web.started == 1705312346.0
    assert job.exit_code == 137 and job.started is None and job.command == [] and job.labels == {}


@needs("podman")
async def test_podman_ps_real():
    out = await run_action("container.podman.ps", {"all": True})
    assert out.ok, out.message
    assert {c["id"] for c in out.value} == _podman_ids()


async def test_podman_ps_without_podman(hidden_tools):
    out = await hidden_tools("podman")("container.podman.ps", {"all": True})
    assert out.code == "A003" and "podman" in out.message, out.message


def test_podman_ps_bad_params():
    act = PluginHost().load("container.podman.ps").actions["container.podman.ps"]
    with pytest.raises(ActionError) as err:
        act.decode_params(msgspec.msgpack.encode({"pod": 5}))
    assert err.value.code == "A002"
