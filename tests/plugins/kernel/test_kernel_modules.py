"""kernel.modules: the real /proc/modules where the kernel has modules, A003 where it has none."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from agent_core.testing import run_action
from plugins.kernel.modules import PROC_MODULES, parse_modules

HAVE_MODULES = os.path.exists(PROC_MODULES)


def _lsmod_names() -> list[str]:
    if shutil.which("lsmod") is None:
        with open(PROC_MODULES) as fh:
            return sorted(line.split()[0] for line in fh if line.strip())
    out = subprocess.run(["lsmod"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split()[0] for line in out.splitlines()[1:])


async def test_modules_on_this_host():
    out = await run_action("kernel.modules")
    if not HAVE_MODULES:
        assert out.code == "A003" and PROC_MODULES in out.message
        pytest.skip("/proc/modules absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok, out.message
    assert [m["name"] for m in out.value["modules"]] == _lsmod_names()
    assert out.value["total_size"] == sum(m["size"] for m in out.value["modules"])


def test_parse_modules():
    text = (
        "nf_conntrack 172032 2 nf_nat,xt_conntrack, Live 0xffffffffc0a00000\n"
        "zfs 4022272 6 - Live 0xffffffffc0600000 (POE)\n"
        "vboxdrv 602112 0 - Loading 0x0000000000000000 (OE)\n"
    )
    mods = parse_modules(text)
    assert [(m.name, m.refcount, m.used_by, m.state, m.taint) for m in mods] == [
        ("nf_conntrack", 2, ["nf_nat", "xt_conntrack"], "Live", ""),
        ("zfs", 6, [], "Live", "POE"),
        ("vboxdrv", 0, [], "Loading", "OE"),
    ]


async def test_modules_bad_params():
    out = await run_action("kernel.modules", {"name": "x"})
    if not HAVE_MODULES:
        pytest.skip("/proc/modules absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    assert out.code == "A002"


async def test_match_filter():
    out = await run_action("kernel.modules", {"match": "zz_no_such_module"})
    if not HAVE_MODULES:
        assert out.code == "A003"
        pytest.skip("/proc/modules absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok and out.value["count"] == 0
