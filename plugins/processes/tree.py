"""A process and its descendants as a tree, and the chain of its ancestors.

``proc.tree`` builds the parent/child tree from one consistent scan of the
process table (like ``pstree -p``), rooted at ``pid`` (default 1, the whole
host), down to ``depth`` levels and at most ``max_nodes`` processes, with each
node's name, user, state and command line. ``ancestors`` walks from ``pid`` up
to init: which service, shell or container runtime started it. Reads only.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    NotFound,
    Plugin,
    Risk,
    action,
)
from plugins.processes._common import get_process

PLUGIN = Plugin("proc.tree", domain="processes", requires_files=["/proc/self/stat"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    pid: int = 1
    depth: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    max_nodes: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 5000


class Node(msgspec.Struct):
    pid: int
    name: str
    user: str
    state: str
    cmdline: str
    children: list[Node] = []


class Ancestor(msgspec.Struct):
    pid: int
    name: str


class Tree(msgspec.Struct):
    root: Node
    ancestors: list[Ancestor]
    nodes: int
    truncated: bool


def snapshot() -> dict[int, dict]:
    """pid -> {ppid, name, user, state, cmdline} for every visible process, in one pass."""
    import psutil

    table = {}
    for proc in psutil.process_iter(["ppid", "name", "username", "status", "cmdline"]):
        info = proc.info
        table[proc.pid] = {
            "ppid": info["ppid"] or 0,
            "name": info["name"] or "",
            "user": info["username"] or "?",
            "state": info["status"] or "",
            "cmdline": " ".join(info["cmdline"] or [])[:512],
        }
    return table


def build(table: dict[int, dict], root: int, depth: int, max_nodes: int) -> tuple[Node, int, bool]:
    children: dict[int, list[int]] = {}
    for pid, info in table.items():
        if pid != info["ppid"]:
            children.setdefault(info["ppid"], []).append(pid)
    count = 0
    truncated = False

    def node(pid: int, level: int) -> Node:
        nonlocal count, truncated
        count += 1
        info = table[pid]
        n = Node(pid=pid, name=info["name"], user=info["user"], state=info["state"], cmdline=info["cmdline"])
        kids = sorted(children.get(pid, []))
        if kids and level >= depth:
            truncated = True
            return n
        for kid in kids:
            if count >= max_nodes:
                truncated = True
                break
            n.children.append(node(kid, level + 1))
        return n

    return node(root, 0), count, truncated


@action("proc.tree", risk=Risk.READ, timeout=30)
async def tree(ctx: ActionContext, p: Params) -> Tree:
    """The tree of processes under ``pid`` (to ``depth``, at most ``max_nodes``) and its ancestors up to init."""
    get_process(p.pid)  # A002/A017 for bad or missing pids
    table = snapshot()
    if p.pid not in table:
        raise NotFound(f"process {p.pid} exited")
    root, count, truncated = build(table, p.pid, p.depth, p.max_nodes)
    ancestors: list[Ancestor] = []
    cur = table[p.pid]["ppid"]
    while cur in table and len(ancestors) < 1000:
        ancestors.append(Ancestor(pid=cur, name=table[cur]["name"]))
        if cur == table[cur]["ppid"] or cur <= 1:
            break
        cur = table[cur]["ppid"]
    return Tree(root=root, ancestors=ancestors, nodes=count, truncated=truncated)
