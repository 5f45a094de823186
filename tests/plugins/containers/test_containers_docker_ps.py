"""docker.ps: runs for real with a daemon, A003 without; parser on docker's JSON-lines shape."""

from __future__ import annotations

import os
import shutil
import subprocess

import msgspec
import pytest

from agent_core import ActionContext, ActionError, TaskInfo
from agent_core.host import PluginHost
from agent_core.testing import needs, run_action
from plugins.containers._common import run_cli
from plugins.containers.docker_ps import PsParams, build_argv, parse_ps


def docker_ready() -> bool:
    return bool(shutil.which("docker")) and os.path.exists("/var/run/docker.sock") and "DOCKER_HOST" not in os.environ


def _docker_ids(*args: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-q", "--no-trunc", *args], capture_output=True, text=True).stdout
    return sorted(out.split())


# Shaped like `docker ps --all --size --no-trunc --format '{{json .}}'` of Docker 24-28.
SAMPLE = "\n".join([
    '{"Command":"\\"/docker-entrypoint.sh nginx -g \'daemon off;\'\\"","CreatedAt":"2024-01-15 10:20:30 +0000 UTC",'
    '"ID":"4f66ad9a0b2e7c2d8e1c7b3a9f0e6d5c4b3a2918f7e6d5c4b3a29180f7e6d5c4","Image":"nginx:1.25","Labels":'
    '"maintainer=NGINX Docker Maintainers <docker-maint@nginx.com>,com.docker.compose.project=shop","LocalVolumes":"1",'
    '"Mounts":"shop_data,/srv/static","Names":"shop-web-1","Networks":"shop_default,bridge",'
    '"Ports":"0.0.0.0:8080->80/tcp, :::8080->80/tcp, 443/tcp","RunningFor":"2 hours ago",'
    '"Size":"1.09kB (virtual 187MB)","State":"running","Status":"Up 2 hours (healthy)"}',
    '{"Command":"\\"docker-entrypoint.sh redis-server\\"","CreatedAt":"2024-01-14 08:00:00 +0100 CET","ID":"a1b2",'
    '"Image":"redis:7","Labels":"","LocalVolumes":"0","Mounts":"","Names":"cache","Networks":"bridge","Ports":"",'
    '"RunningFor":"27 hours ago","Size":"0B","State":"exited","Status":"Exited (137) 3 hours ago"}',
])


def test_parse_ps_sample():
    web, cache = parse_ps(SAMPLE)
    assert web.names == ["shop-web-1"] and web.image == "nginx:1.25" and web.state == "running"
    assert web.health == "healthy" and web.created == 1705314030.0
    assert [(p.host_ip, p.host_port, p.container_port, p.protocol) for p in web.ports] == [
        ("0.0.0.0", 8080, 80, "tcp"), ("::", 8080, 80, "tcp"), ("", None, 443, "tcp")]
    assert web.labels["com.docker.compose.project"] == "shop" and web.networks == ["shop_default", "bridge"]
    assert web.size_rw == 1090 and web.size_root_fs == 187_000_000
    assert web.command.startswith("/docker-entrypoint.sh nginx")
    assert cache.state == "exited" and cache.health == "" and cache.size_rw is None and cache.labels == {}
    assert cache.created == 1705215600.0  # +0100 honoured


def test_build_argv_filters():
    argv = build_argv(PsParams(all=True, filters={"status": "exited", "label": "app=web"}))
    assert argv[-4:] == ["--filter", "label=app=web", "--filter", "status=exited"] and "--all" in argv
    with pytest.raises(ActionError) as err:
        build_argv(PsParams(filters={"bogus": "1"}))
    assert err.value.code == "A002"


@pytest.mark.skipif(not docker_ready(), reason="no Docker daemon on this host: the real path is not exercised here")
async def test_docker_ps_real():
    out = await run_action("docker.ps", {"all": True})
    assert out.ok, out.message
    assert sorted(c["id"] for c in out.value) == _docker_ids("--all")


async def test_docker_ps_without_docker(hidden_tools):
    out = await hidden_tools("docker")("docker.ps", {"all": True})
    assert out.code == "A003" and "docker" in out.message, out.message


@pytest.mark.skipif(not docker_ready(), reason="no Docker daemon on this host: the real path is not exercised here")
async def test_run_cli_maps_an_unknown_container():
    ctx = ActionContext(task=TaskInfo(task_id="t", job_id="j", action="docker.ps"))
    with pytest.raises(ActionError) as err:
        await run_cli(ctx, ["docker", "inspect", "--type", "container", "starling-no-such-container-x"])
    assert err.value.code == "A017"


@needs("docker")
@pytest.mark.skipif(docker_ready(), reason="a Docker daemon runs here: the 'no daemon' path is not exercised")
async def test_run_cli_maps_a_missing_daemon():
    ctx = ActionContext(task=TaskInfo(task_id="t", job_id="j", action="docker.ps"))
    with pytest.raises(ActionError) as err:
        await run_cli(ctx, ["docker", "ps"])  # the real CLI, no daemon behind it
    assert err.value.code == "A003" and "daemon" in err.value.message.lower()


def test_docker_ps_bad_params():
    act = PluginHost().load("docker.ps").actions["docker.ps"]
    for bad in ({"all": "yes"}, {"filters": ["status=exited"]}, {"nope": 1}):
        with pytest.raises(ActionError) as err:
            act.decode_params(msgspec.msgpack.encode(bad))
        assert err.value.code == "A002"
