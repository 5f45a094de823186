"""Keep the garbage collector's full passes short in long-running roles.

A full (generation 2) collection walks every tracked object; in a center, a proxy or an
agent most of them are made at start-up (modules, the catalogue, config) and live for
good. Measured under the 200-session terminal bench: full passes of 160 ms in the center,
124 ms in the proxy and 40–70 ms in each agent, stacked along one keystroke's path
(docs/benchmarks.md, "Web terminal"). Once a role is up and settled, :func:`settle_heap`
collects once and freezes what is left (:func:`gc.freeze`: moved to a permanent
generation that later passes skip), so those passes walk only what was made since.

What is made since is mostly per-connection and per-session state (a center holding 200
terminals: ~90,000 tracked objects, WebSocket, TLS and task state), and a full pass over it
still took 40-65 ms of CPU in the center, every few seconds under the 200-session bench
(``bench/stallwatch``; docs/benchmarks.md). :func:`freeze_heap` also makes full passes ten
times rarer (:data:`FULL_PASS_EVERY` younger passes instead of CPython's 10): that state
lives as long as its session, so most full passes walked it for nothing; cyclic garbage that
reached the oldest generation is freed later, younger garbage as before.
"""

from __future__ import annotations

import gc

import trio

__all__ = ["freeze_heap", "settle_heap"]

#: Generation-1 collections between two full ones (CPython's default is 10).
FULL_PASS_EVERY = 100


def freeze_heap() -> None:
    """Collect, then exempt every object alive now from later collections; from now on a
    full collection runs every :data:`FULL_PASS_EVERY` generation-1 ones."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_PASS_EVERY)


async def settle_heap(delay: float = 5.0) -> None:
    """After ``delay`` seconds (start-up's garbage made and dropped), :func:`freeze_heap`.
    For a role's own process only: the freeze is process-wide."""
    await trio.sleep(delay)
    freeze_heap()
