from __future__ import annotations

import os

import pytest

from agent_core.testing import run_action
from plugins.services import status

SYSTEMD = os.path.isdir("/run/systemd/system")


async def test_status_of_a_running_unit(temp_unit):
    if not SYSTEMD:
        out = await run_action("svc.status", {"unit": "cron"})
        assert out.code == "A003" and "systemd" in out.message
        pytest.skip("a running systemd (/run/systemd/system) absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    with temp_unit() as unit:
        out = await run_action("svc.status", {"unit": unit})
        assert (
            out.ok
            and out.value["active_state"] == "inactive"
            and out.value["load_state"] == "loaded"
        )
        assert out.value["fragment_path"] == f"/run/systemd/system/{unit}"
        await run_action("svc.start", {"unit": unit})
        out = await run_action("svc.status", {"unit": unit, "log_lines": 5})
        assert (
            out.ok and out.value["active_state"] == "active" and out.value["sub_state"] == "running"
        )
        assert out.value["description"] == "Starling test unit" and out.value["main_pid"]
        assert isinstance(out.value["log"], list)


async def test_status_missing_unit_and_bad_params(bad_params, invalid_unit):
    if SYSTEMD:
        assert (await run_action("svc.status", {"unit": "starling-no-such-unit"})).code == "A017"
    bad_params(status.status, {"unit": "cron", "lines": 5})
    invalid_unit("a b")
    if not SYSTEMD:
        pytest.skip("a running systemd (/run/systemd/system) absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    expected = "A002"
    assert (await run_action("svc.status", {"unit": "a b"})).code == expected
    assert (await run_action("svc.status", {"unit": "cron", "log_lines": 1000})).code == expected


# The shape `systemctl show -p ...` prints, for the parsing that runs on every systemd host.
SHOW = """Id=nginx.service
Description=A high performance web server
LoadState=loaded
ActiveState=active
SubState=running
Result=success
UnitFileState=enabled
DropInPaths=/etc/systemd/system/nginx.service.d/limits.conf /run/systemd/system/nginx.service.d/x.conf
MainPID=812
NRestarts=2
MemoryCurrent=18446744073709551615
CPUUsageNSec=1500000000
TasksCurrent=3

Id=gone.service
LoadState=not-found
"""


def test_show_output_to_status():
    from plugins.services._systemd import parse_show, to_status

    first, second = parse_show(SHOW)
    st = to_status(first, ["line"])
    assert (st.unit, st.active_state, st.sub_state, st.main_pid, st.restarts) == (
        "nginx.service",
        "active",
        "running",
        812,
        2,
    )
    assert (
        st.memory_bytes is None and st.cpu_seconds == 1.5 and st.tasks == 3 and st.log == ["line"]
    )
    assert st.drop_ins == [
        "/etc/systemd/system/nginx.service.d/limits.conf",
        "/run/systemd/system/nginx.service.d/x.conf",
    ]
    assert second == {"Id": "gone.service", "LoadState": "not-found"}
