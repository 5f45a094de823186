"""List the images a Kubernetes node's container runtime holds (``crictl images``).

``container.crictl.images`` runs ``crictl images -o json`` and returns each image's
id, tags, digests, size in bytes and whether it is pinned (kept by the
kubelet's garbage collector), plus the total size and the untagged images —
the first thing to check when a node's image filesystem fills up. Needs
crictl and a CRI runtime socket; otherwise A003. It only reads.
"""

from __future__ import annotations

import json

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action

from ._common import cri_check, run_cli

PLUGIN = Plugin("container.crictl.images", domain="containers", requires=["crictl"], check=cri_check)


class CriImage(msgspec.Struct):
    id: str
    tags: list[str]
    digests: list[str]
    size: int
    pinned: bool


class CriImages(msgspec.Struct):
    images: list[CriImage]
    count: int
    total_size: int
    untagged: int


def parse_crictl_images(text: str) -> CriImages:
    """``crictl images -o json`` (``{"images": [...]}``) as a report."""
    images = []
    for i in json.loads(text or "{}").get("images") or []:
        size = i.get("size", 0)
        images.append(
            CriImage(
                id=i.get("id", ""),
                tags=i.get("repoTags") or [],
                digests=i.get("repoDigests") or [],
                size=int(size) if str(size).isdigit() else 0,
                pinned=bool(i.get("pinned")),
            )
        )
    images.sort(key=lambda x: -x.size)
    return CriImages(
        images=images,
        count=len(images),
        total_size=sum(x.size for x in images),
        untagged=sum(1 for x in images if not x.tags),
    )


@action("container.crictl.images", risk=Risk.READ, timeout=60)
async def images(ctx: ActionContext, p: NoParams) -> CriImages:
    """Images held by the CRI runtime, largest first, with the total size."""
    return parse_crictl_images(await run_cli(ctx, ["crictl", "images", "-o", "json"]))
