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


def test_freeze_heap_freezes_and_spaces_full_passes():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
