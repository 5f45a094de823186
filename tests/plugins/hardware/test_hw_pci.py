"""hw.pci against lspci and sysfs."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

import pytest

from agent_core.testing import run_action

SYS = "/sys/bus/pci/devices"


def _lspci() -> dict[str, dict[str, str]]:
    """``lspci -mm -n -D``: address, class, vendor, device (ids only, independent of our names)."""
    if shutil.which("lspci") is None:
        pytest.skip("lspci (pciutils) not installed")
    res = subprocess.run(["lspci", "-mm", "-n", "-D"], capture_output=True, text=True, check=True)
    out = {}
    for line in res.stdout.splitlines():
        f = shlex.split(line)
        out[f[0]] = {"class": f[1], "vendor": f[2], "device": f[3]}
    return out


def _driver(addr: str) -> str:
    link = os.path.join(SYS, addr, "driver")
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else ""


def _lspci_name(addr: str) -> str:
    res = subprocess.run(["lspci", "-mm", "-D", "-s", addr], capture_output=True, text=True, check=True)
    return shlex.split(res.stdout)[3]


async def test_pci_matches_lspci():
    ref = _lspci()
    out = await run_action("hw.pci")
    assert out.ok, out.message
    devs = {d["address"]: d for d in out.value["devices"]}
    assert set(devs) == set(ref) == set(os.listdir(SYS))
    for addr, d in devs.items():
        assert d["vendor_id"] == ref[addr]["vendor"] and d["device_id"] == ref[addr]["device"]
        assert d["class_code"][:4] == ref[addr]["class"]
        assert d["driver"] == _driver(addr)
        if out.value["names_from"] and d["device"]:
            assert d["device"] == _lspci_name(addr)


async def test_pci_filters():
    everything = await run_action("hw.pci")
    kinds = {d["kind"] for d in everything.value["devices"]}
    kind = sorted(kinds)[0]
    some = await run_action("hw.pci", {"kind": kind})
    assert some.ok and {d["kind"] for d in some.value["devices"]} == {kind}
    first = everything.value["devices"][0]["address"]
    one = await run_action("hw.pci", {"address": first.removeprefix("0000:")})
    assert [d["address"] for d in one.value["devices"]] == [first]


async def test_pci_errors():
    assert (await run_action("hw.pci", {"kind": "toaster"})).code == "A002"
    assert (await run_action("hw.pci", {"address": "ff:1f.7"})).code == "A017"
    assert (await run_action("hw.pci", {"bus": 0})).code == "A002"
