"""container.crictl.ps: real with crictl and a CRI runtime, A003 without; parser on crictl's JSON."""

from __future__ import annotations

import json
import os
import shutil

import msgspec
import pytest

from agent_core import ActionError
from agent_core.host import PluginHost
from agent_core.testing import run_action
from plugins.containers.crictl_ps import CrictlPsParams, build_argv, parse_crictl_ps


def cri_ready() -> bool:
    sockets = ("/run/containerd/containerd.sock", "/run/crio/crio.sock", "/var/run/cri-dockerd.sock")
    runtime = os.path.exists("/etc/crictl.yaml") or any(os.path.exists(s) for s in sockets)
    return bool(shutil.which("crictl")) and runtime


SAMPLE = {"containers": [
    {"id": "7d1f0c2b9e", "podSandboxId": "c0ffee01", "metadata": {"name": "coredns", "attempt": 2},
     "image": {"image": "sha256:cbb01a7bd410", "annotations": {}}, "imageRef": "registry.k8s.io/coredns/coredns@sha256:a0ea",
     "state": "CONTAINER_RUNNING", "createdAt": "1705312345123456789",
     "labels": {"io.kubernetes.container.name": "coredns", "io.kubernetes.pod.name": "coredns-5dd5756b68-abcde",
                "io.kubernetes.pod.namespace": "kube-system", "io.kubernetes.pod.uid": "u1"},
     "annotations": {"io.kubernetes.container.restartCount": "2"}},
    {"id": "88aa", "podSandboxId": "c0ffee02", "metadata": {"name": "migrate", "attempt": 0},
     "image": {"image": "sha256:ee"}, "imageRef": "sha256:ee", "state": "CONTAINER_EXITED", "createdAt": "1705312000000000000",
     "labels": {"io.kubernetes.pod.name": "job-x", "io.kubernetes.pod.namespace": "shop"}, "annotations": {}},
]}


def test_parse_crictl_ps():
    dns, job = parse_crictl_ps(json.dumps(SAMPLE))
    assert (dns.name, dns.attempt, dns.state, dns.restart_count) == ("coredns", 2, "running", 2)
    assert dns.pod_name == "coredns-5dd5756b68-abcde" and dns.namespace == "kube-system" and dns.pod_id == "c0ffee01"
    assert dns.created == pytest.approx(1705312345.123456789)
    assert job.state == "exited" and job.restart_count == 0
    assert parse_crictl_ps('{"containers": null}') == []


def test_argv():
    argv = build_argv(CrictlPsParams(all=True, state="exited", name="^core"))
    assert argv == ["crictl", "ps", "-o", "json", "--all", "--state", "CONTAINER_EXITED", "--name", "^core"]
    with pytest.raises(ActionError) as err:
        build_argv(CrictlPsParams(name="("))
    assert err.value.code == "A002"


@pytest.mark.skipif(not cri_ready(), reason="crictl and a CRI runtime socket absent on this host: the real path is not exercised here")
async def test_crictl_ps_real():
    out = await run_action("container.crictl.ps", {"all": True})
    assert out.ok, out.message  # crictl present: real answer, or no runtime socket


async def test_crictl_ps_without_crictl(hidden_tools):
    out = await hidden_tools("crictl")("container.crictl.ps", {"all": True})
    assert out.code == "A003" and "crictl" in out.message, out.message


def test_crictl_ps_bad_params():
    act = PluginHost().load("container.crictl.ps").actions["container.crictl.ps"]
    with pytest.raises(ActionError) as err:
        act.decode_params(msgspec.msgpack.encode({"state": "sleeping"}))
    assert err.value.code == "A002"
