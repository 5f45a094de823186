"""sys.timesync: the kernel clock state is read for real; daemon parsers on their real formats."""

from __future__ import annotations

import shutil

from agent_core.testing import run_action
from plugins.system.timesync import (
    STA_UNSYNC,
    parse_chrony_tracking,
    parse_ntpq_peers,
    running_daemons,
)


def _sysfs(name: str) -> str:
    with open(f"/sys/devices/system/clocksource/clocksource0/{name}") as fh:
        return fh.read().strip()


async def test_timesync_reads_kernel_clock():
    out = await run_action("sys.timesync")
    assert out.ok, out.message
    v = out.value
    k = v["kernel"]
    assert k["clocksource"] == _sysfs("current_clocksource")
    assert k["clocksources"] == _sysfs("available_clocksource").split()
    assert k["synchronized"] == (not (k["status"] & STA_UNSYNC) and k["state"] != "error")
    assert k["maxerror_us"] >= 0 and k["esterror_us"] >= 0
    assert v["daemons"] == running_daemons()
    if v["source"] == "kernel":
        assert v["synchronized"] == k["synchronized"]
    # The verdict follows from its parts.
    assert v["ok"] == (v["synchronized"] and v["offset"] is not None and abs(v["offset"]) <= 0.1)
    if not v["daemons"]:
        assert any("no time daemon" in n for n in v["notes"])


async def test_chrony_when_installed():
    out = await run_action("sys.timesync")
    if shutil.which("chronyc") and "chronyd" in out.value["daemons"]:
        assert out.value["source"] == "chrony" and out.value["chrony"] is not None
    else:
        assert out.value["chrony"] is None


def test_parse_chrony_tracking_csv():
    line = "A9FEA97B,169.254.169.123,4,1700000000.123,-0.000012345,0.000001,0.000020,-12.345,0.001,0.050,0.000400,0.000300,64.2,Normal"
    c = parse_chrony_tracking(line)
    assert (c.reference, c.stratum, c.offset, c.freq_ppm, c.leap) == ("169.254.169.123", 4, -0.000012345, -12.345, "Normal")


def test_parse_ntpq_peers():
    text = (
        "     remote           refid      st t when poll reach   delay   offset  jitter\n"
        "==============================================================================\n"
        "*192.0.2.1       .GPS.            1 u   33   64  377    0.512   -0.231   0.044\n"
        "+192.0.2.2       192.0.2.1        2 u   12   64  377    1.020    0.118   0.090\n"
    )
    peers = parse_ntpq_peers(text)
    assert [p.selected for p in peers] == [True, False]
    assert peers[0].offset_ms == -0.231 and peers[1].stratum == 2


async def test_timesync_bad_params():
    assert (await run_action("sys.timesync", {"max_offset": 0})).code == "A002"
    assert (await run_action("sys.timesync", {"server": "x"})).code == "A002"
