"""The starter kit: a generated package installs, registers its entry point and
passes its own first test, run by pytest in a subprocess as its author would."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_core.host import new_plugin


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "-q", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    name = f"kit{uuid.uuid4().hex[:8]}"
    root = new_plugin(name, tmp_path)
    # No build isolation: the venv's setuptools builds it, nothing is downloaded.
    done = _pip("install", "--no-deps", "--no-build-isolation", "-e", str(root))
    assert done.returncode == 0, done.stderr
    try:
        yield name, root
    finally:
        _pip("uninstall", "-y", root.name)


def test_generated_package_passes_its_own_test(installed):
    name, root = installed
    assert root.name == f"starling-{name}"
    pyproject = (root / "pyproject.toml").read_text()
    assert f'"{name}" = "starling_{name}.plugin"' in pyproject
    listing = subprocess.run(
        [sys.executable, "-c", f"from agent_core.host import PluginHost; print(PluginHost().load({name!r}).describe())"],
        capture_output=True, text=True, timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert f"'actions': ['{name}.hello']" in listing.stdout and "'available': True" in listing.stdout
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_bad_names_and_existing_directories(tmp_path):
    for bad in ("Acme", "acme-tools", "1acme", "acme.", ".acme", "acme..x", ""):
        with pytest.raises(ValueError, match="lower-case dotted words"):
            new_plugin(bad, tmp_path)
    with pytest.raises(ValueError, match="taken by an installed plugin"):
        new_plugin("exec", tmp_path)
    root = new_plugin("acme.backup", tmp_path)
    assert root == tmp_path / "starling-acme-backup"
    assert (root / "starling_acme_backup" / "plugin.py").read_text().count('"acme.backup.hello"') == 1
    with pytest.raises(FileExistsError):
        new_plugin("acme.backup", tmp_path)
    # The generated code is valid Python (compiles) without installing anything.
    for path in root.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
