"""Registration runs its HTTPS POST in a child interpreter (agent_core/_register.py), so
the agent never imports urllib: against a real center it enrolls, a wrong token is
refused with C017, an unreachable center is C016, and the agent process itself has not
imported urllib, http.client, email or importlib.metadata."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from agent_core._identity import Identity
from agent_core._register import RegistrationError, register
from transports import client_context

from .conftest import Fleet

pytestmark = pytest.mark.integration

AGENTS = 0


def _token(fleet: Fleet) -> str:
    return str(json.loads((fleet.home / "secrets.json").read_text())["enroll_token"])


def test_enrolls_through_the_child_and_refuses_a_wrong_token(fleet: Fleet) -> None:
    api, ca = fleet.profile["api"], fleet.profile["ca_file"]
    ident = Identity(sn="register-child-1", hostname="register-child", ip="192.0.2.9", os="linux", idc="local")

    async def main() -> None:
        ok = await register([api], _token(fleet), ident, "0.0.0-test", client_context(ca), public_key=b"k" * 32)
        assert ok.agent_id and ok.credential and ok.center_keys
        with pytest.raises(RegistrationError) as refused:
            await register([api], "not-the-token", ident, "0.0.0-test", client_context(ca), public_key=b"k" * 32)
        assert refused.value.code.value == "C017"
        with pytest.raises(RegistrationError) as down:
            await register(["https://127.0.0.1:9"], _token(fleet), ident, "0.0.0-test", client_context(ca), public_key=b"k" * 32)
        assert down.value.code.value == "C016" and "127.0.0.1:9" in str(down.value)

    trio.run(main)


def test_the_agent_process_never_imports_the_http_client(tmp_path: Path) -> None:
    import subprocess

    probe = textwrap.dedent("""
        import sys
        import agent_core._daemon, agent_core._agent
        print(",".join(m for m in ("urllib.request", "http.client", "email", "importlib.metadata", "pycparser", "argparse") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "", out.stdout
