"""kernel.taint against /proc/sys/kernel/tainted, and the decoder on known masks."""

from __future__ import annotations

from agent_core.testing import run_action
from plugins.kernel.taint import decode


def _tainted() -> int:
    with open("/proc/sys/kernel/tainted") as fh:
        return int(fh.read())


async def test_taint_matches_kernel():
    out = await run_action("kernel.taint")
    assert out.ok, out.message
    v = out.value
    assert v["value"] == _tainted()
    assert v["tainted"] == (v["value"] != 0)
    assert len(v["letters"]) == bin(v["value"]).count("1")


def test_decode_known_masks():
    # O + E: an unsigned out-of-tree module, the usual third-party driver.
    assert [f.letter for f in decode((1 << 12) | (1 << 13))] == ["O", "E"]
    assert [(f.bit, f.letter) for f in decode(1 | (1 << 7))] == [(0, "P"), (7, "D")]
    assert decode(0) == []
    assert decode(1 << 40)[0].letter == "?"


async def test_taint_bad_params():
    assert (await run_action("kernel.taint", {"mask": 1})).code == "A002"
