from __future__ import annotations

import importlib.metadata
import sys

from agent_core.testing import run_action

PYTHON = sys.executable  # the test venv's interpreter


def _installed() -> dict[str, str]:
    # A dist-info without a Name (half-written by a concurrent install) is skipped, as pip skips it.
    return {
        d.metadata["Name"].lower().replace("_", "-"): d.version
        for d in importlib.metadata.distributions()
        if d.metadata["Name"]
    }


async def test_pip_list_matches_importlib_metadata():
    out = await run_action("pkg.pip.list", {"python": PYTHON})
    assert out.ok, out.message
    got = {p["name"].lower().replace("_", "-"): p["version"] for p in out.value["packages"]}
    assert got == _installed()
    assert out.value["python"] == PYTHON and out.value["count"] == len(got)
    starling = next(p for p in out.value["packages"] if p["name"] == "starling-fleet")
    assert starling["editable_location"]  # installed with pip install -e


async def test_pip_show_and_check():
    out = await run_action("pkg.pip.show", {"python": PYTHON, "name": "trio"})
    assert out.ok, out.message
    v = out.value
    assert v["name"] == "trio" and v["version"] == importlib.metadata.version("trio")
    assert "sniffio" in v["requires"] and "pytest-trio" in v["required_by"] and v["location"]
    out = await run_action("pkg.pip.check", {"python": PYTHON})
    assert out.ok and out.value["python"] == PYTHON and isinstance(out.value["ok"], bool)


async def test_pip_errors():
    assert (
        await run_action("pkg.pip.show", {"python": PYTHON, "name": "starling-no-such-dist"})
    ).code == "A017"
    assert (await run_action("pkg.pip.list", {"python": "/no/such/python3"})).code == "A017"
    assert (await run_action("pkg.pip.list", {"python": "rm"})).code == "A002"
    assert (await run_action("pkg.pip.list", {"python": "bin/python"})).code == "A002"
    assert (await run_action("pkg.pip.show", {"python": PYTHON, "name": "--upgrade"})).code == "A002"
