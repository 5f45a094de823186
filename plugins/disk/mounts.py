"""The mount table: what is mounted where, with which options, type and propagation.

``disk.mounts`` parses ``/proc/self/mountinfo`` (the agent's mount namespace,
which is the host's for an agent run by systemd): mount id and parent, device
number, the root of the mount inside its filesystem (non-``/`` for bind
mounts), the mount point, per-mount and superblock options, propagation
(shared/master), type and source. Filters: ``fstype``, ``source`` (substring),
``path`` (the mount holding that path, like ``findmnt -T``), ``data_only``.
Read-only mounts, bind mounts and network filesystems are flagged; a data
filesystem that turned read-only is how the kernel reacts to I/O errors.
Reads only.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, NotFound, Plugin, Risk, abs_path, action
from agent_core.procfs import exists
from plugins.disk._common import NETWORK_FS, is_data_fs, mount_for, mount_table

PLUGIN = Plugin("disk.mounts", domain="disk", requires_files=["/proc/self/mountinfo"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    fstype: str | None = None
    source: str | None = None
    path: str | None = None
    data_only: bool = False


class MountEntry(msgspec.Struct):
    id: int
    parent: int
    dev: str
    mountpoint: str
    root: str
    fstype: str
    source: str
    options: list[str]
    super_options: list[str]
    propagation: list[str]
    read_only: bool
    bind: bool
    network: bool


class Mounts(msgspec.Struct):
    mounts: list[MountEntry]
    read_only_data: list[str]


@action("disk.mounts", risk=Risk.READ, timeout=10)
async def list_mounts(ctx: ActionContext, p: Params) -> Mounts:
    """Mounts with options, type, source and propagation; filter by type, source, data-only or the mount of ``path``."""
    table = mount_table()
    if p.path is not None:
        path = abs_path(p.path)
        if not exists(path):
            raise NotFound(f"{path} does not exist")
        holder = mount_for(path, table)
        table = [holder] if holder else []
    out = []
    for m in table:
        if p.fstype is not None and m.fstype != p.fstype:
            continue
        if p.source is not None and p.source not in m.source:
            continue
        if p.data_only and not is_data_fs(m):
            continue
        out.append(
            MountEntry(
                id=m.id, parent=m.parent, dev=m.dev, mountpoint=m.mountpoint, root=m.root, fstype=m.fstype,
                source=m.source, options=m.options, super_options=m.super_options, propagation=m.propagation,
                read_only=m.read_only, bind=m.root != "/", network=m.fstype in NETWORK_FS,
            )  # fmt: skip
        )
    ro_data = [
        e.mountpoint for e in out
        if e.read_only and is_data_fs(next(m for m in table if m.id == e.id)) and e.fstype not in ("tmpfs", "squashfs", "iso9660", "erofs")
    ]  # fmt: skip
    return Mounts(mounts=out, read_only_data=ro_data)
