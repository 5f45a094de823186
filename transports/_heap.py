"""Keep the garbage collector's full passes short in long-running roles.

A full (generation 2) collection walks every tracked object; in a center, a proxy or an
agent most of them are made at start-up (modules, the catalogue, config) and live for
good. Measured under the 200-session terminal bench: full passes of 160 ms in the center,
124 ms in the proxy and 40–70 ms in each agent, stacked along one keystroke's path
(docs/benchmarks.md, "Web terminal"). Once a role is up and settled, :func:`settle_heap`
collects once and freezes what is left (:func:`gc.freeze`: moved to a permanent
generation that later passes skip), so those passes walk only what was made since.
"""

from __future__ import annotations

import gc

import trio

__all__ = ["freeze_heap", "settle_heap"]


def freeze_heap() -> None:
    """Collect, then exempt every object alive now from later collections."""
    gc.collect()
    gc.freeze()


async def settle_heap(delay: float = 5.0) -> None:
    """After ``delay`` seconds (start-up's garbage made and dropped), :func:`freeze_heap`.
    For a role's own process only: the freeze is process-wide."""
    await trio.sleep(delay)
    freeze_heap()
