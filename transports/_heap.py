"""Keep the garbage collector's passes short in long-running roles.

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

A role that holds thousands of connections (a proxy, the simulated fleet) grows its heap
long after start-up, with every agent that logs in. Left to itself, the collector then
walks all of it again and again: a job on 2,000 hosts cost the proxy a full pass of
0.3–0.4 s and the fleet ~0.5 s more in generation-1 passes (the job's objects, alive for
a second, promoted and walked ten times over). So :func:`settle_heap` also

* raises the first generation's threshold (:data:`YOUNG_THRESHOLD` allocations instead of
  700): a burst of short-lived objects dies before it is walked, and far fewer objects are
  promoted to be walked again by the older generations;
* given the role's *population* (its connections), freezes the heap again once the
  population changed by a quarter and holds still, none per job afterwards. Grown, it
  walks only what was made since the last freeze; shrunk, it unfreezes first, so what
  died since (agents gone) is collected then, not kept. Cyclic garbage that entered the
  frozen heap waits for such a thaw (refcounted objects are freed as usual).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

import trio

log = logging.getLogger("starling.heap")

__all__ = ["YOUNG_THRESHOLD", "freeze_heap", "settle_heap"]

#: Allocations (net of deallocations) between two young-generation collections.
YOUNG_THRESHOLD = 50_000

#: Generation-1 collections between two full ones (CPython's default is 10).
FULL_PASS_EVERY = 100


def freeze_heap(*, thaw: bool = True) -> None:
    """Collect, then exempt every object alive now from later collections; from now on a
    full collection runs every :data:`FULL_PASS_EVERY` generation-1 ones.

    :param thaw: first return what was frozen before to the collector, so that what of it
        died since is collected now (a walk of the whole heap). Without it, only what was
        made since the last freeze is walked: what a growing population added.
    """
    if thaw:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_PASS_EVERY)


async def settle_heap(
    delay: float = 5.0, *, population: Callable[[], int] | None = None, every: float = 2.0, young: int = YOUNG_THRESHOLD
) -> None:
    """Raise the young threshold, and after ``delay`` seconds (start-up's garbage made and
    dropped) :func:`freeze_heap`. For a role's own process only: both are process-wide.

    :param population: how many long-lived things (connections) the role holds; when
        given, the heap is frozen again each time it changed by more than a quarter
        (and 100) since the last freeze and held still for ``every`` seconds.
    :param young: the young generation's threshold.
    """
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)
    await trio.sleep(delay)
    freeze_heap()
    if population is None:
        return
    frozen = last = population()
    while True:
        await trio.sleep(every)
        now = population()
        steady = abs(now - last) <= max(10, last // 50)
        last = now
        if steady and abs(now - frozen) > max(100, frozen // 4):
            began = time.process_time()
            # Grown: walk only what the newcomers added (thawing walked the whole heap at every
            # step, 8 % of a proxy's CPU while 30,000 agents registered). Shrunk: thaw, so that
            # what the departed left in the frozen heap is collected.
            freeze_heap(thaw=now < frozen)
            count = gc.get_freeze_count()  # counts the frozen list: once, not per use
            log.info(
                "heap frozen again at %d (was %d): %d objects, %.0f ms", now, frozen, count,
                1000 * (time.process_time() - began), extra={"population": now, "frozen_objects": count},
            )
            frozen = now
