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
        ("center/_client_probe.py", "", None),  # control: an unrelated new module breaks nothing
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


# -- private modules stay private -----------------------------------------------------
#
# A module whose name starts with "_" is private to the top-level package that holds it
# (transports, agent_core, plugins, center, contrib, examples): no module outside that
# package may import it. Shipped code is held to this everywhere. Tests may import the
# private modules of the package they test, found by their folder (tests/plugins/ tests
# plugins, tests/agent/ tests agent_core, ...): a unit test of a parser is a test of
# internals. tests/plugins/ and tests/sdk/ may not reach into agent_core or transports,
# because they are written the way a plugin author writes tests, against the SDK. A
# benchmark (bench/) may import the private modules of the roles it measures, named for
# it in BENCH_MEASURES; any other benchmark is held to the public APIs as shipped code is.

SHIPPED = ("transports", "agent_core", "plugins", "center", "contrib", "examples")
#: tests/<folder>/ -> the packages whose private modules its tests may import.
TESTS_MAY_OPEN = {
    "plugins": {"plugins"},
    "sdk": {"plugins"},
    "agent": {"agent_core", "transports"},
    "transports": {"transports"},
    "center": {"center", "transports"},
    "security": {"center", "transports", "agent_core"},
    "integration": {"center", "transports", "agent_core", "plugins", "contrib"},
    "chaos": {"center", "transports", "agent_core", "contrib"},
    "browser": {"center"},
    "deb_packages": {"contrib"},
}


#: bench/<script> -> the packages whose internals that benchmark measures.
BENCH_MEASURES = {
    "_agent_launch.py": {"agent_core", "transports"},
    "center_hotpath.py": {"center"},
    "files.py": {"center"},
    "guardian.py": {"agent_core"},
    "operator_paths.py": {"center"},
    "risk.py": {"center"},
    "signing.py": {"transports"},
    "store.py": {"center"},
    "store_reads.py": {"center"},
    "terminal.py": {"center"},
    "wire_sizes.py": {"transports"},
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """``(line, dotted target)`` of every import in ``path``, relative ones resolved."""
    import ast

    tree = ast.parse(path.read_text(), str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return out


def _private_owner(target: str) -> str | None:
    """The top-level package of the first private module in ``target`` (``a.b._c.d`` -> ``a``)."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return parts[0] if i else None
    return None


def private_import_violations(root: Path) -> list[str]:
    found: list[str] = []
    files = [p for top in (*SHIPPED, "tests", "bench") for p in (root / top).rglob("*.py")]
    for path in files:
        if any(part in (".venv", "node_modules", "__pycache__") or part.endswith(".egg-info") for part in path.parts):
            continue
        module = _module_name(path, root)
        top = module.split(".")[0]
        rel = path.relative_to(root).parts
        allowed = {top}
        if top == "tests":
            allowed = TESTS_MAY_OPEN.get(rel[1], set()) if len(rel) > 2 else {"agent_core", "transports", "center", "plugins", "contrib"}
        elif top == "bench":
            allowed = BENCH_MEASURES.get(path.name, set())
        seen: set[int] = set()
        for line, target in _imports(path, module):
            owner = _private_owner(target)
            if owner is not None and owner not in allowed and owner in SHIPPED and line not in seen:
                seen.add(line)
                found.append(f"{path.relative_to(root)}:{line}: imports {target}")
    return sorted(set(found))


def test_no_module_imports_another_packages_private_modules():
    found = private_import_violations(ROOT)
    assert not found, "private modules imported from outside their package:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("plugins/system/_probe_private.py", "from agent_core._kernel import Kernel\n"),
        ("center/_probe_private.py", "def f():\n    from agent_core import _scaffold\n"),
        ("contrib/probe_private.py", "import plugins.files._common\n"),
        ("tests/plugins/test_probe_private.py", "from agent_core._sdk import declared_in\n"),
        ("examples/probe_private.py", "from transports._signing import sign_job\n"),
        ("bench/probe_private.py", "from center._store import Store\n"),
        ("bench/store.py", "from center._store import Store\nfrom plugins.files._common import walk\n"),
    ],
)
def test_private_import_check_catches_a_violation(tmp_path, module, line):
    for top in (*SHIPPED, "tests", "bench"):
        (tmp_path / top).mkdir()
    (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / module).write_text(line)
    (tmp_path / "plugins" / "files").mkdir()
    (tmp_path / "plugins" / "files" / "copy.py").write_text("from ._common import fs_errors\nfrom plugins._x import y\n")
    found = private_import_violations(tmp_path)
    assert [f.split(":")[0] for f in found] == [module], found  # the probe, and not the package's own imports
