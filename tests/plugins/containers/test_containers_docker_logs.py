"""container.docker.logs against a real daemon (Engine API stream, demultiplexed), and its parsers."""

from __future__ import annotations

import msgspec
import pytest

from agent_core import ActionError
from agent_core.host import PluginHost
from plugins.containers.docker_logs import _SINCE, demux, parse_logs, since_epoch


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


def test_demux_and_since():
    frames = b"\x01\x00\x00\x00\x00\x00\x00\x04out\n" + b"\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    assert demux(frames, tty=False) == ("out\n", "err\n")
    assert demux(b"raw\n", tty=True) == ("raw\n", "")
    assert since_epoch("1h30m", now=10_000) == 10_000 - 5400
    assert since_epoch("2024-01-15") == 1705276800 and since_epoch("1705312800.5") == 1705312800
    with pytest.raises(ActionError) as err:
        since_epoch("yesterday")
    assert err.value.code == "A002"


async def test_docker_logs_real(containers, docker_action):
    out = await docker_action("container.docker.logs", {"container": containers["done"]})
    assert out.ok, out.message
    assert sorted((x["stream"], x["text"]) for x in out.value) == [
        ("stderr", "first-err"), ("stdout", "first-out"), ("stdout", "second-out")]
    assert all(x["time"] for x in out.value)
    one = await docker_action("container.docker.logs", {"container": containers["done"], "tail": 1})
    assert len(one.value) <= 2  # the last line of each stream
    only = await docker_action("container.docker.logs", {"container": containers["done"], "pattern": "^second"})
    assert [x["text"] for x in only.value] == ["second-out"]
    later = await docker_action("container.docker.logs", {"container": containers["done"], "since": "2099-01-01"})
    assert later.value == []


async def test_docker_logs_unknown_and_no_daemon(docker_action, no_daemon_action):
    out = await docker_action("container.docker.logs", {"container": "starling-no-such-container-x", "tail": 5})
    assert out.code == "A017", out.message
    assert (await docker_action("container.docker.logs", {"container": "web", "since": "soon"})).code == "A002"
    assert (await no_daemon_action("container.docker.logs", {"container": "web"})).code == "A003"


def test_docker_logs_bad_params():
    act = PluginHost().load("container.docker.logs").actions["container.docker.logs"]
    for bad in ({"container": "web", "tail": 0}, {"tail": 5}):
        with pytest.raises(ActionError) as err:
            act.decode_params(msgspec.msgpack.encode(bad))
        assert err.value.code == "A002"
