"""container.docker.ps against a real daemon (Engine API), and A003/A002 where they apply."""

from __future__ import annotations

from plugins.containers.docker_ps import PsParams, build_query, parse_ps

# One row of GET /containers/json as Docker 20.10-28 answer it.
ROW = {
    "Id": "4f66ad9a0b2e", "Names": ["/web"], "Image": "nginx:1.25", "Command": "/docker-entrypoint.sh nginx",
    "Created": 1705314030, "State": "running", "Status": "Up 2 hours (healthy)",
    "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}, {"PrivatePort": 443, "Type": "tcp"}],
    "Labels": {"app": "web"}, "SizeRw": 1090, "SizeRootFs": 187000000,
    "NetworkSettings": {"Networks": {"frontend": {}, "bridge": {}}}, "Mounts": [{"Name": "data", "Source": "/var/lib/x"}],
}  # fmt: skip


def test_parse_api_rows():
    (c,) = parse_ps([ROW])
    assert (c.id, c.names, c.state, c.health, c.created) == ("4f66ad9a0b2e", ["web"], "running", "healthy", 1705314030.0)
    assert [(p.container_port, p.host_port) for p in c.ports] == [(80, 8080), (443, None)]
    assert c.networks == ["bridge", "frontend"] and c.mounts == ["data"] and c.size_rw == 1090


def test_query_from_params():
    q = build_query(PsParams(all=True, filters={"status": "exited", "label": "app=web"}))
    assert q == {"all": "1", "size": None, "filters": '{"label": ["app=web"], "status": ["exited"]}'}


async def test_docker_ps_real(dockerd, containers, docker_action):
    out = await docker_action("container.docker.ps", {"all": True})
    assert out.ok, out.message
    assert sorted(c["id"] for c in out.value) == sorted(dockerd.docker("ps", "-aq", "--no-trunc").split())
    web = next(c for c in out.value if c["id"] == containers["web"])
    assert web["state"] == "running" and web["labels"] == {"app": "web"} and web["image"] == dockerd.image
    assert web["names"] == [dockerd.docker("inspect", "-f", "{{.Name}}", containers["web"]).lstrip("/")]
    running = await docker_action("container.docker.ps", {})
    assert containers["done"] not in {c["id"] for c in running.value}
    exited = await docker_action("container.docker.ps", {"all": True, "filters": {"status": "exited"}, "size": True})
    assert [c["id"] for c in exited.value] == [containers["done"]]
    assert exited.value[0]["size_rw"] >= 0 and exited.value[0]["size_root_fs"] > 0


async def test_docker_ps_bad_params_and_no_daemon(docker_action, no_daemon_action):
    assert (await docker_action("container.docker.ps", {"filters": {"colour": "red"}})).code == "A002"
    assert (await docker_action("container.docker.ps", {"all": "yes"})).code == "A002"
    out = await no_daemon_action("container.docker.ps", {})
    assert out.code == "A003" and "nobody.sock" in out.message
