"""List Docker images with sizes, tags, digests and how much space they take (``docker images``).

``docker.images`` runs ``docker images --no-trunc --digests --format
'{{json .}}'`` and returns each image's id, repository, tag, digest, creation
time and size in bytes, plus the total size of the distinct images and the
dangling (untagged) ones — what ``docker image prune`` would free. Filters:
``dangling``, a ``reference`` pattern, and intermediate layers with ``all``.
Needs the docker CLI and a running daemon; otherwise A003. It only reads.
"""

from __future__ import annotations

import re

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from plugins.files._common import bad

from ._common import docker_check, json_lines, parse_size, parse_time, run_cli

PLUGIN = Plugin("docker.images", description=__doc__.splitlines()[0], domain="containers", requires=["docker"], check=docker_check)

# An image reference pattern as docker's "reference" filter takes it (globs allowed).
_REFERENCE = re.compile(r"^[A-Za-z0-9*?][A-Za-z0-9_.:/@*?+-]{0,254}$")


class ImagesParams(msgspec.Struct, forbid_unknown_fields=True):
    all: bool = False
    dangling: bool | None = None
    reference: str | None = None


class Image(msgspec.Struct, omit_defaults=True):
    id: str
    repository: str
    tag: str
    size: int | None
    created: float | None = None
    digest: str = ""
    containers: int | None = None


class ImagesReport(msgspec.Struct):
    images: list[Image]
    count: int
    total_size: int
    dangling: int
    dangling_size: int


def _none(value: str | None) -> str:
    return "" if value in (None, "<none>", "N/A") else str(value)


def parse_images(text: str) -> ImagesReport:
    """Lines of ``docker images --format '{{json .}}'`` as a report."""
    images = []
    for row in json_lines(text):
        used = row.get("Containers")
        images.append(
            Image(
                id=row.get("ID", ""),
                repository=_none(row.get("Repository")),
                tag=_none(row.get("Tag")),
                size=parse_size(row.get("Size") or row.get("VirtualSize")),
                created=parse_time(row.get("CreatedAt")),
                digest=_none(row.get("Digest")),
                containers=int(str(used)) if str(used).isdigit() else None,
            )
        )
    # One image id can be listed under several tags: count its bytes once.
    unique = {i.id: i.size or 0 for i in images}
    dangling = {i.id: i.size or 0 for i in images if not i.repository and not i.tag}
    return ImagesReport(
        images=images,
        count=len(unique),
        total_size=sum(unique.values()),
        dangling=len(dangling),
        dangling_size=sum(dangling.values()),
    )


@action("docker.images", risk=Risk.READ, timeout=60)
async def images(ctx: ActionContext, p: ImagesParams) -> ImagesReport:
    """Images with id, repository, tag, digest, size and creation time; totals and dangling."""
    argv = ["docker", "images", "--no-trunc", "--digests", "--format", "{{json .}}"]
    if p.all:
        argv.append("--all")
    if p.dangling is not None:
        argv += ["--filter", f"dangling={'true' if p.dangling else 'false'}"]
    if p.reference:
        if not _REFERENCE.match(p.reference):
            raise bad(f"reference: {p.reference!r} is not an image pattern like 'nginx' or 'registry/*:1.*'")
        argv += ["--filter", f"reference={p.reference}"]
    return parse_images(await run_cli(ctx, argv))
