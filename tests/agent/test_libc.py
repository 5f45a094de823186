"""The agent's libc calls: the pre-parsed cffi module is current and needs no pycparser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_generated_module_is_current(tmp_path):
    out = tmp_path / "_libc_ffi.py"
    subprocess.run([sys.executable, str(ROOT / "contrib" / "codegen" / "libc_ffi.py"), str(out)], check=True, capture_output=True)
    assert out.read_text() == (ROOT / "agent_core" / "_libc_ffi.py").read_text(), "run contrib/codegen/libc_ffi.py"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_subreaper_without_pycparser():
    code = (
        "import sys\n"
        "from agent_core._libc import set_child_subreaper\n"
        "assert set_child_subreaper() is True\n"
        "with open('/proc/self/status') as f: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pycparser', 'cffi.cparser'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
