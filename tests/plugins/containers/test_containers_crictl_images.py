"""container.crictl.images: real with crictl and a CRI runtime, A003 without; parser on crictl's JSON."""

from __future__ import annotations

import json
import os
import shutil

import msgspec
import pytest

from agent_core import ActionError
from agent_core.host import PluginHost
from agent_core.testing import run_action
from plugins.containers.crictl_images import parse_crictl_images


def cri_ready() -> bool:
    sockets = ("/run/containerd/containerd.sock", "/run/crio/crio.sock", "/var/run/cri-dockerd.sock")
    runtime = os.path.exists("/etc/crictl.yaml") or any(os.path.exists(s) for s in sockets)
    return bool(shutil.which("crictl")) and runtime


SAMPLE = {"images": [
    {"id": "sha256:e6f18", "repoTags": ["registry.k8s.io/pause:3.9"], "repoDigests": ["registry.k8s.io/pause@sha256:7031"],
     "size": "321520", "uid": {"value": "65535"}, "username": "", "spec": None, "pinned": True},
    {"id": "sha256:cbb01", "repoTags": ["registry.k8s.io/coredns/coredns:v1.10.1"], "repoDigests": [],
     "size": "16190758", "uid": None, "username": "nonroot", "spec": None, "pinned": False},
    {"id": "sha256:dead", "repoTags": [], "repoDigests": ["docker.io/library/app@sha256:1"], "size": "5000000",
     "uid": None, "username": "", "spec": None, "pinned": False},
]}


def test_parse_crictl_images():
    rep = parse_crictl_images(json.dumps(SAMPLE))
    assert [i.id for i in rep.images] == ["sha256:cbb01", "sha256:dead", "sha256:e6f18"]  # largest first
    assert rep.count == 3 and rep.total_size == 321520 + 16190758 + 5000000 and rep.untagged == 1
    assert rep.images[2].pinned is True


@pytest.mark.skipif(not cri_ready(), reason="crictl and a CRI runtime socket absent on this host: the real path is not exercised here")
async def test_crictl_images_real():
    out = await run_action("container.crictl.images")
    assert out.ok, out.message


async def test_crictl_images_without_crictl(hidden_tools):
    out = await hidden_tools("crictl")("container.crictl.images")
    assert out.code == "A003" and "crictl" in out.message, out.message


def test_crictl_images_bad_params():
    act = PluginHost().load("container.crictl.images").actions["container.crictl.images"]
    with pytest.raises(ActionError) as err:
        act.decode_params(msgspec.msgpack.encode({"all": True}))
    assert err.value.code == "A002"
