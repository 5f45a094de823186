"""The dependency direction between roles is checked by import-linter, not by a reviewer:
a host's agent (transports, agent_core, plugins) never imports the server stack, and the
CLI's API client never imports the server (contracts in pyproject.toml, [tool.importlinter])."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("transports", "agent_core", "plugins", "center", "contrib")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (./dev install)")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH first, so the tree under test wins over the editable install.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120)


def test_contracts_kept():
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("plugins/system/_contract_probe.py", "import sqlalchemy\n", "never imports the server stack"),
        ("agent_core/_contract_probe.py", "def f():\n    from center import _store\n", "never imports the server stack"),
        ("transports/_contract_probe.py", "from agent_core import _kernel\n", "Layers"),
        ("center/_render_probe.py", "", None),  # control: an unrelated new module breaks nothing
    ],
)
def test_contract_catches_a_violation(tmp_path, module, line, contract):
    # The same contracts on a copy of the tree with one bad import added.
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / module).write_text(line)
    proc = _lint(tmp_path)
    if contract is None:
        assert proc.returncode == 0, proc.stdout[-3000:]
    else:
        assert proc.returncode != 0
        broken = [ln for ln in proc.stdout.splitlines() if ln.endswith("BROKEN")]
        assert any(contract in ln for ln in broken), proc.stdout[-3000:]
