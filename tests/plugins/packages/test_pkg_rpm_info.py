from __future__ import annotations

import shutil
import time

from agent_core.testing import needs, run_action

HAS_RPM = shutil.which("rpm") is not None


async def test_rpm_info_of_test_package(rpm_root):
    out = await run_action("rpm.info", {"name": "starling-demo", "root": str(rpm_root)})
    assert out.ok, out.message
    (pkg,) = out.value["packages"]
    assert (pkg["name"], pkg["evr"], pkg["version"], pkg["release"], pkg["epoch"]) == (
        "starling-demo",
        "1.2-3",
        "1.2",
        "3",
        "",
    )
    assert (pkg["arch"], pkg["license"], pkg["url"]) == (
        "noarch",
        "Apache-2.0",
        "https://example.org/starling",
    )
    assert (
        pkg["summary"] == "Starling test package"
        and pkg["description"] == "A package built by the Starling tests."
    )
    assert pkg["source_rpm"] == "starling-demo-1.2-3.src.rpm" and pkg["size"] == len(
        "data\n"
    ) + len("key=value\n")
    assert 0 < pkg["install_time"] <= time.time() + 1
    assert (
        "starling-demo = 1.2-3" in pkg["provides"]
        and "config(starling-demo) = 1.2-3" in pkg["requires"]
    )


async def test_rpm_info_errors(rpm_root):
    assert (await run_action("rpm.info", {"name": "bash", "root": str(rpm_root)})).code == "A017"
    assert (await run_action("rpm.info", {"name": "-qa"})).code == "A002"
    assert (await run_action("rpm.info", {"name": "x", "root": "rel"})).code == "A002"


@needs("rpm")
async def test_rpm_info_on_this_host():
    out = await run_action("rpm.info", {"name": "bash"})
    assert out.code in ("", "A017"), out.message


async def test_rpm_info_unavailable_without_rpm(hidden_tools):
    out = await hidden_tools("rpm")("rpm.info", {"name": "bash"})
    assert out.code == "A003" and "rpm" in out.message
