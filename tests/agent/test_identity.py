"""The identity rules (docs/identity.md) on fixture machines: fake /sys, /proc
and /etc trees plus the `ip -j addr` / `ip -j route` output of each machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent_core._identity import SPEC_VERSION, collect_identity, is_junk

FIXTURES = Path(__file__).parent / "identity_fixtures"
MACHINES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").exists())


def _load(name: str) -> tuple[Path, dict, list, list]:
    d = FIXTURES / name
    return d, json.loads((d / "expected.json").read_text()), json.loads((d / "ip-addr.json").read_text()), json.loads((d / "ip-route.json").read_text())


def test_there_are_many_messy_machines():
    assert len(MACHINES) >= 12


@pytest.mark.parametrize("name", MACHINES)
def test_fixture_machine(name, tmp_path):
    d, exp, addrs, routes = _load(name)
    override = d / "override.toml"
    ident = collect_identity(
        str(override) if override.exists() else None, "", [], root=d / "root", state_dir=tmp_path,
        preferred_cidrs=exp.get("preferred_cidrs", []), ip_addr=addrs, ip_route=routes,
    )
    if "sn_prefix" in exp:
        assert ident.sn.startswith(exp["sn_prefix"])
    else:
        assert ident.sn == exp["sn"]
    assert (ident.sources["sn"], ident.ip, ident.sources["ip"]) == (exp["sn_source"], exp["ip"], exp["ip_source"])
    assert ident.hostname == exp["hostname"]
    assert ident.spec == SPEC_VERSION
    for key in ("idc", "tags"):
        if key in exp:
            assert getattr(ident, key) == exp[key]
    if exp.get("stable"):
        again = collect_identity(None, root=d / "root", state_dir=tmp_path, ip_addr=addrs, ip_route=routes)
        assert again.sn == ident.sn, "a generated SN must survive a restart"
        elsewhere = collect_identity(None, root=d / "root", state_dir=tmp_path / "other", ip_addr=addrs, ip_route=routes)
        assert elsewhere.sn != ident.sn


@pytest.mark.parametrize(
    "value",
    ["", "  ", "To Be Filled By O.E.M.", "to be filled by o.e.m", "Default string", "0000000000", "FFFFFFFF", "0123456789",
     "System Serial Number", "Not Specified", "N/A", "xx", "00-00-00", "abcdef"],
)
def test_junk_serials_are_rejected(value):
    assert is_junk(value)


@pytest.mark.parametrize("value", ["7XK2Q53", "CZ2038ABCD", "10000000b5a3c2d1", "4c4c4544-0058-4b10-8032-b7c04f513533"])
def test_real_serials_are_kept(value):
    assert not is_junk(value)


def test_known_junk_uuid():
    assert is_junk("03000200-0400-0500-0006-000700080009", is_uuid=True)


def test_standalone_command_prints_json(tmp_path):
    """`starling-agent identity` is the collector for other tools: same rules, JSON out."""
    d, exp, _, _ = _load("preferred-cidr-mgmt")
    out = subprocess.run(
        [sys.executable, "-m", "agent_core._daemon", "identity", "--root", str(d / "root"), "--ip-addr-json", str(d / "ip-addr.json"),
         "--ip-route-json", str(d / "ip-route.json"), "--state-dir", str(tmp_path),
         *sum((["--preferred-cidr", c] for c in exp["preferred_cidrs"]), [])],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    doc = json.loads(out)
    assert (doc["sn"], doc["ip"], doc["sources"]["ip"], doc["spec"]) == (exp["sn"], exp["ip"], exp["ip_source"], SPEC_VERSION)


def test_standalone_command_bad_input_is_a_clear_error(tmp_path):
    bad = tmp_path / "addr.json"
    bad.write_text('{"not": "a list"}')
    proc = subprocess.run([sys.executable, "-m", "agent_core._daemon", "identity", "--ip-addr-json", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "expected the JSON list" in proc.stderr and "Traceback" not in proc.stderr
