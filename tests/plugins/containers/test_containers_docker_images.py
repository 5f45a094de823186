"""docker.images: real with a daemon, A003 without; parser and totals on docker's output shape."""

from __future__ import annotations

import os
import shutil
import subprocess

import msgspec
import pytest

from agent_core import ActionError
from agent_core.host import PluginHost
from agent_core.testing import run_action
from plugins.containers.docker_images import parse_images


def docker_ready() -> bool:
    return bool(shutil.which("docker")) and os.path.exists("/var/run/docker.sock") and "DOCKER_HOST" not in os.environ


def _image_ids() -> set[str]:
    out = subprocess.run(["docker", "images", "-q", "--no-trunc"], capture_output=True, text=True).stdout
    return set(out.split())


SAMPLE = "\n".join([
    '{"Containers":"N/A","CreatedAt":"2024-01-10 08:00:00 +0000 UTC","CreatedSince":"5 days ago","Digest":"sha256:aa11",'
    '"ID":"sha256:1111","Repository":"nginx","SharedSize":"N/A","Size":"187MB","Tag":"1.25","UniqueSize":"N/A","VirtualSize":"187.3MB"}',
    '{"Containers":"N/A","CreatedAt":"2024-01-10 08:00:00 +0000 UTC","CreatedSince":"5 days ago","Digest":"sha256:aa11",'
    '"ID":"sha256:1111","Repository":"registry.local/nginx","SharedSize":"N/A","Size":"187MB","Tag":"prod","UniqueSize":"N/A","VirtualSize":"187.3MB"}',
    '{"Containers":"2","CreatedAt":"2023-12-01 12:00:00 +0000 UTC","CreatedSince":"6 weeks ago","Digest":"\\u003cnone\\u003e",'
    '"ID":"sha256:2222","Repository":"\\u003cnone\\u003e","SharedSize":"N/A","Size":"1.2GB","Tag":"\\u003cnone\\u003e","UniqueSize":"N/A","VirtualSize":"1.2GB"}',
])


def test_parse_images_sample():
    rep = parse_images(SAMPLE)
    assert len(rep.images) == 3 and rep.count == 2
    assert rep.total_size == 187_000_000 + 1_200_000_000  # the twice-tagged image counted once
    assert rep.dangling == 1 and rep.dangling_size == 1_200_000_000
    first = rep.images[0]
    assert (first.repository, first.tag, first.digest, first.size) == ("nginx", "1.25", "sha256:aa11", 187_000_000)
    assert rep.images[2].repository == "" and rep.images[2].containers == 2 and first.containers is None


@pytest.mark.skipif(not docker_ready(), reason="no Docker daemon on this host: the real path is not exercised here")
async def test_docker_images_real():
    out = await run_action("docker.images")
    assert out.ok, out.message
    assert {i["id"] for i in out.value["images"]} == _image_ids()


async def test_docker_images_without_docker(hidden_tools):
    out = await hidden_tools("docker")("docker.images")
    assert out.code == "A003" and "docker" in out.message, out.message


def test_docker_images_bad_params():
    act = PluginHost().load("docker.images").actions["docker.images"]
    with pytest.raises(ActionError) as err:
        act.decode_params(msgspec.msgpack.encode({"dangling": "maybe"}))
    assert err.value.code == "A002"
