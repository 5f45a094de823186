"""container.podman.ps: real containers in a private podman store (a running one with a
label, an exited one, one in a pod), A003 without podman; parser on podman's JSON array."""

from __future__ import annotations

import json
import os
import time

import msgspec
import pytest

from agent_core import ActionError
from agent_core.host import PluginHost
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


def test_parse_podman_ps():
    web, job = parse_podman_ps(json.dumps(SAMPLE))
    assert web.names == ["web"] and web.pid == 1234 and web.pod_name == "shop" and web.restarts == 1
    assert [(p.host_ip, p.host_port, p.container_port, p.protocol) for p in web.ports] == [
        ("", 8080, 80, "tcp"), ("127.0.0.1", 9000, 9000, "udp"), ("127.0.0.1", 9001, 9001, "udp")]
    assert web.created == 1705312345.0 and web.started == 1705312346.0
    assert job.exit_code == 137 and job.started is None and job.command == [] and job.labels == {}


async def test_podman_ps_real(podman, podman_action):
    tag = os.getpid()
    web = podman.podman("run", "-d", "--label", "app=web", "--name", f"st-web-{tag}", podman.image, "sleep", "600")
    done = podman.podman("run", "-d", "--name", f"st-done-{tag}", podman.image, "sh", "-c", "exit 3")
    podman.podman("wait", done)
    # podman says "stopped" until conmon's clean-up has run, then "exited" (seconds under load).
    for _ in range(300):
        if podman.podman("inspect", "--format", "{{.State.Status}}", done) == "exited":
            break
        time.sleep(0.1)
    pod = podman.podman("pod", "create", "--infra=false", "--name", f"st-pod-{tag}")
    member = podman.podman("run", "-d", "--pod", pod, "--name", f"st-member-{tag}", podman.image, "sleep", "600")
    try:
        out = await podman_action("container.podman.ps", {"all": True})
        assert out.ok, out.message
        rows = {c["id"]: c for c in out.value}
        assert set(rows) == {web, done, member}
        assert set(podman.podman("ps", "-a", "-q", "--no-trunc").split()) == set(rows)
        w = rows[web]
        assert (w["names"], w["state"], w["labels"], w["command"]) == ([f"st-web-{tag}"], "running", {"app": "web"}, ["sleep", "600"])
        assert w["image"] == podman.image and w["pid"] == int(podman.podman("inspect", "--format", "{{.State.Pid}}", web))
        assert w["created"] and w["started"] and w["created"] <= w["started"]
        d = rows[done]
        assert (d["state"], d["exit_code"], d.get("pid", 0)) == ("exited", 3, 0)
        assert (rows[member]["pod_id"], rows[member]["pod_name"]) == (pod, f"st-pod-{tag}")

        out = await podman_action("container.podman.ps", {})  # running ones only
        assert {c["id"] for c in out.value} == {web, member}
        out = await podman_action("container.podman.ps", {"all": True, "pod": f"st-pod-{tag}"})
        assert [c["id"] for c in out.value] == [member]
    finally:
        podman.podman("rm", "--force", "--time", "0", web, done, member, check=False)
        podman.podman("pod", "rm", "--force", pod, check=False)


async def test_podman_ps_without_podman(hidden_tools):
    out = await hidden_tools("podman")("container.podman.ps", {"all": True})
    assert out.code == "A003" and "podman" in out.message, out.message


def test_podman_ps_bad_params():
    act = PluginHost().load("container.podman.ps").actions["container.podman.ps"]
    with pytest.raises(ActionError) as err:
        act.decode_params(msgspec.msgpack.encode({"pod": 5}))
    assert err.value.code == "A002"
