"""container.docker.inspect against a real daemon (Engine API documents), and the summaries of those documents."""

from __future__ import annotations

import json

import msgspec
import pytest

from agent_core import ActionError
from agent_core.host import PluginHost
from plugins.containers.docker_inspect import parse_inspect

CONTAINER = {
    "Id": "4f66ad9a0b2e", "Created": "2024-01-15T10:20:30.5Z", "Path": "/docker-entrypoint.sh",
    "Args": ["nginx", "-g", "daemon off;"],
    "State": {"Status": "running", "Running": True, "Paused": False, "Restarting": False, "OOMKilled": False,
              "Dead": False, "Pid": 4242, "ExitCode": 0, "Error": "", "StartedAt": "2024-01-15T10:20:31.123456789Z",
              "FinishedAt": "0001-01-01T00:00:00Z",
              "Health": {"Status": "unhealthy", "FailingStreak": 3,
                         "Log": [{"Start": "2024-01-15T12:00:00Z", "End": "2024-01-15T12:00:01Z", "ExitCode": 1,
                                  "Output": "curl: (7) Failed to connect to localhost port 80"}]}},
    "Image": "sha256:1111", "Name": "/shop-web-1", "RestartCount": 2,
    "HostConfig": {"RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}, "Memory": 536870912,
                   "NanoCpus": 1500000000, "Privileged": False},
    "Mounts": [{"Type": "volume", "Source": "/var/lib/docker/volumes/shop_data/_data", "Destination": "/data", "RW": True},
               {"Type": "bind", "Source": "/srv/static", "Destination": "/usr/share/nginx/html", "RW": False}],
    "Config": {"Image": "nginx:1.25", "Env": ["PATH=/usr/bin", "DB_PASSWORD=hunter2", "DSN=mysql://shop:pw@db/shop"],
               "Labels": {"com.docker.compose.service": "web"}},
    "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
                                  "443/tcp": None},
                        "Networks": {"shop_default": {"IPAddress": "172.18.0.3", "Gateway": "172.18.0.1", "MacAddress": "02:42:ac:12:00:03"}}},
}

IMAGE = {
    "Id": "sha256:1111", "RepoTags": ["nginx:1.25"], "RepoDigests": ["nginx@sha256:aa11"],
    "Created": "2024-01-10T08:00:00Z", "Size": 187000000, "Architecture": "amd64", "Os": "linux",
    "Config": {"Env": ["NGINX_VERSION=1.25.3", "API_TOKEN=abc"], "Entrypoint": ["/docker-entrypoint.sh"],
               "Cmd": ["nginx", "-g", "daemon off;"], "ExposedPorts": {"80/tcp": {}}, "Labels": None},
    "RootFS": {"Type": "layers", "Layers": ["sha256:a", "sha256:b", "sha256:c"]},
}


def test_container_summary():
    info = parse_inspect(CONTAINER, "container", raw=True)
    assert info.name == "shop-web-1" and info.running and info.pid == 4242 and info.restart_count == 2
    assert info.restart_policy == "unless-stopped" and info.memory_limit == 512 * 1024**2 and info.cpus == 1.5
    assert info.health == "unhealthy" and info.health_failing_streak == 3 and "port 80" in info.health_last_output
    assert info.finished is None and info.started == pytest.approx(1705314031.123456)
    assert info.command == ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]
    assert info.env == {"PATH": "/usr/bin", "DB_PASSWORD": "***", "DSN": "***"}
    assert [(p.container_port, p.host_ip, p.host_port) for p in info.ports] == [("80/tcp", "0.0.0.0", "8080"), ("80/tcp", "::", "8080")]
    assert info.networks[0].ip == "172.18.0.3" and [m.rw for m in info.mounts] == [True, False]
    assert "hunter2" not in json.dumps(info.raw) and "pw@" not in json.dumps(info.raw)
    assert msgspec.to_builtins(info)["kind"] == "container"  # tagged: callers tell the two shapes apart


def test_image_summary():
    info = parse_inspect(IMAGE, "image")
    assert info.tags == ["nginx:1.25"] and info.layers == 3 and info.size == 187_000_000
    assert info.exposed_ports == ["80/tcp"] and info.env["API_TOKEN"] == "***" and info.labels == {}
    assert info.raw is None
    with pytest.raises(ActionError) as err:
        parse_inspect({}, "image")
    assert err.value.code == "A017"


async def test_docker_inspect_real(dockerd, containers, docker_action):
    out = await docker_action("container.docker.inspect", {"target": containers["web"][:12]})
    assert out.ok, out.message
    v = out.value
    assert (v["kind"], v["id"], v["running"], v["image"]) == ("container", containers["web"], True, dockerd.image)
    assert v["pid"] == int(dockerd.docker("inspect", "-f", "{{.State.Pid}}", containers["web"]))
    assert v["env"]["DB_PASSWORD"] == "***" and v["env"]["MODE"] == "prod" and v["labels"] == {"app": "web"}
    done = await docker_action("container.docker.inspect", {"target": containers["done"], "raw": True})
    assert done.value["status"] == "exited" and done.value["exit_code"] == 0 and done.value["finished"]
    image = await docker_action("container.docker.inspect", {"target": dockerd.image, "type": "image"})
    assert image.value["kind"] == "image" and image.value["tags"] == [dockerd.image]


async def test_docker_inspect_unknown_and_no_daemon(docker_action, no_daemon_action):
    out = await docker_action("container.docker.inspect", {"target": "starling-no-such-container-x"})
    assert out.code == "A017", out.message
    assert (await docker_action("container.docker.inspect", {"target": "nope:0", "type": "image"})).code == "A017"
    assert (await no_daemon_action("container.docker.inspect", {"target": "x"})).code == "A003"


def test_docker_inspect_bad_params():
    act = PluginHost().load("container.docker.inspect").actions["container.docker.inspect"]
    for bad in ({}, {"target": "x", "type": "volume"}):
        with pytest.raises(ActionError) as err:
            act.decode_params(msgspec.msgpack.encode(bad))
        assert err.value.code == "A002"
