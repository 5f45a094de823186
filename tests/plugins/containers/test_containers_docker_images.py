"""container.docker.images against a real daemon (Engine API): rows per tag, totals, filters."""

from __future__ import annotations

from plugins.containers.docker_images import parse_images


def test_parse_rows_per_tag_and_totals():
    rows = [
        {"Id": "sha256:11", "RepoTags": ["nginx:1.25", "registry:5000/nginx:latest"], "RepoDigests": ["nginx@sha256:aa"],
         "Created": 1704873600, "Size": 187000000, "Containers": -1},
        {"Id": "sha256:22", "RepoTags": None, "RepoDigests": [], "Created": 1704873600, "Size": 5000, "Containers": 2},
    ]  # fmt: skip
    rep = parse_images(rows)
    assert [(i.repository, i.tag, i.digest) for i in rep.images] == [
        ("nginx", "1.25", "sha256:aa"), ("registry:5000/nginx", "latest", ""), ("", "", "")]
    assert (rep.count, rep.total_size, rep.dangling, rep.dangling_size) == (2, 187005000, 1, 5000)
    assert rep.images[2].containers == 2 and rep.images[0].containers is None


async def test_docker_images_real(dockerd, docker_action):
    out = await docker_action("container.docker.images", {})
    assert out.ok, out.message
    ids = set(dockerd.docker("images", "-q", "--no-trunc").split())
    assert {i["id"] for i in out.value["images"]} == ids
    mine = [i for i in out.value["images"] if f"{i['repository']}:{i['tag']}" == dockerd.image]
    assert mine and mine[0]["size"] > 0 and mine[0]["created"] > 0
    ref = await docker_action("container.docker.images", {"reference": "starling-test/*"})
    assert [f"{i['repository']}:{i['tag']}" for i in ref.value["images"]] == [dockerd.image]
    assert (await docker_action("container.docker.images", {"dangling": True})).value["dangling"] == 0


async def test_docker_images_bad_params_and_no_daemon(docker_action, no_daemon_action):
    assert (await docker_action("container.docker.images", {"reference": "-x;y"})).code == "A002"
    assert (await docker_action("container.docker.images", {"dangling": "maybe"})).code == "A002"
    assert (await no_daemon_action("container.docker.images", {})).code == "A003"
