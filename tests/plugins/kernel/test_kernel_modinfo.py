"""kernel.modinfo on a module present in /sys/module, compared with its parameter files."""

from __future__ import annotations

import os
import shutil

import pytest

from agent_core.testing import run_action
from plugins.kernel.modinfo import SYS_MODULE, parse_modinfo


def _module_with_params() -> str:
    for name in sorted(os.listdir(SYS_MODULE)):
        d = f"{SYS_MODULE}/{name}/parameters"
        if os.path.isdir(d) and os.listdir(d):
            return name
    pytest.skip("no module with parameters in /sys/module")


def _params(name: str) -> dict[str, str]:
    out = {}
    d = f"{SYS_MODULE}/{name}/parameters"
    for p in os.listdir(d):
        try:
            with open(f"{d}/{p}") as fh:
                out[p] = fh.read().rstrip("\n")
        except OSError:
            pass
    return out


def _has_initstate(name: str) -> bool:
    return os.path.exists(f"{SYS_MODULE}/{name}/initstate")


async def test_module_parameters_match_sysfs():
    name = _module_with_params()
    expected = _params(name)
    out = await run_action("kernel.modinfo", {"name": name})
    assert out.ok, out.message
    v = out.value
    assert v["present_in_sysfs"] is True
    assert v["parameters"] == expected
    assert v["builtin"] == (not _has_initstate(name))
    if shutil.which("modinfo") is None:
        assert v["modinfo"] == {}


async def test_dashes_map_to_underscores():
    names = [n for n in os.listdir(SYS_MODULE) if "_" in n]
    if not names:
        pytest.skip("no module name with an underscore here")
    out = await run_action("kernel.modinfo", {"name": names[0].replace("_", "-")})
    assert out.ok and out.value["name"] == names[0]


def test_parse_modinfo():
    text = "filename:       /lib/modules/6.1/kernel/net/x.ko\nlicense:        GPL\nalias:          a\nalias:          b\nparm:           debug:enable debug (int)\n"
    info = parse_modinfo(text)
    assert info["alias"] == ["a", "b"] and info["license"] == ["GPL"] and info["parm"] == ["debug:enable debug (int)"]


@pytest.mark.parametrize(("params", "code"), [({"name": "zz_no_such_module"}, "A017"), ({"name": "../etc"}, "A002"), ({"name": ""}, "A002"), ({"module": "x"}, "A002")])
async def test_modinfo_errors(params, code):
    assert (await run_action("kernel.modinfo", params)).code == code
