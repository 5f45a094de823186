"""List Docker images with sizes, tags, digests and how much space they take (``docker images``).

``container.docker.images`` asks the Docker Engine API (``GET /images/json``) and
returns each image's id, repository, tag, digest, creation time and size in
bytes (one row per tag, as ``docker images`` shows them), plus the total size
of the distinct images and the dangling (untagged) ones — what ``docker image
prune`` would free. Filters: ``dangling``, a ``reference`` pattern, and
intermediate layers with ``all``. Needs a running daemon (no docker CLI);
otherwise A003. It only reads.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action

from ._common import docker_api, docker_check, docker_filters, epoch

PLUGIN = Plugin("container.docker.images", domain="containers", check=docker_check)

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


def _split_tag(ref: str) -> tuple[str, str]:
    """``registry:5000/app:1.2`` -> (``registry:5000/app``, ``1.2``); ``<none>`` -> empty."""
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        repo, tag = ref, ""
    return ("" if repo == "<none>" else repo), ("" if tag == "<none>" else tag)


def parse_images(rows: list[dict[str, Any]]) -> ImagesReport:
    """``GET /images/json`` as a report: one row per tag, totals over distinct images."""
    images = []
    for row in rows:
        digests = {d.partition("@")[0]: d.partition("@")[2] for d in row.get("RepoDigests") or []}
        used = row.get("Containers")
        for ref in row.get("RepoTags") or ["<none>:<none>"]:
            repo, tag = _split_tag(ref)
            images.append(
                Image(
                    id=row.get("Id", ""),
                    repository=repo,
                    tag=tag,
                    size=row.get("Size"),
                    created=epoch(row.get("Created")),
                    digest=digests.get(repo, ""),
                    containers=used if isinstance(used, int) and used >= 0 else None,
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


@action("container.docker.images", risk=Risk.READ, timeout=60)
async def images(ctx: ActionContext, p: ImagesParams) -> ImagesReport:
    """Images with id, repository, tag, digest, size and creation time; totals and dangling."""
    filters: dict[str, list[str]] = {}
    if p.dangling is not None:
        filters["dangling"] = ["true" if p.dangling else "false"]
    if p.reference:
        if not _REFERENCE.match(p.reference):
            raise InvalidParams(f"reference: {p.reference!r} is not an image pattern like 'nginx' or 'registry/*:1.*'")
        filters["reference"] = [p.reference]
    query = {"all": "1" if p.all else None, "digests": "1", "filters": docker_filters(filters)}
    return parse_images(await docker_api("/images/json", query))
