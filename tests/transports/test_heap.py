"""transports.freeze_heap: a role's settled heap is frozen and full collections get rarer
(run in a child process: both are process-wide)."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc
from transports import freeze_heap
from transports._heap import FULL_PASS_EVERY
before = gc.get_threshold()
freeze_heap()
after = gc.get_threshold()
assert gc.get_freeze_count() > 0
assert after == (before[0], before[1], FULL_PASS_EVERY), (before, after)
print("ok")
"""


GROWN = """
import gc, weakref
from transports import freeze_heap


class Node:
    pass


freeze_heap()
first = gc.get_freeze_count()
made = Node(); made.me = made; made_ref = weakref.ref(made); del made  # garbage made after the freeze
keep = [Node() for _ in range(1000)]
freeze_heap(thaw=False)
assert made_ref() is None, "new cyclic garbage is collected by a freeze without thaw"
assert gc.get_freeze_count() >= first + 1000, "the old frozen set is kept and the newcomers join it"
old = keep[0]; old.me = old; old_ref = weakref.ref(old); del keep, old  # garbage inside the frozen heap
freeze_heap(thaw=False)
assert old_ref() is not None, "without a thaw the frozen heap is not walked"
freeze_heap()
assert old_ref() is None, "a thaw collects what died in the frozen heap"
print("ok")
"""


def test_a_grown_heap_is_frozen_without_walking_the_frozen_part():
    out = subprocess.run([sys.executable, "-c", GROWN], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_freeze_heap_freezes_and_spaces_full_passes():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
