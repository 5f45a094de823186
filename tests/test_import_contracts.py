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
# A module whose name starts with "_" is private to the package that holds it: ``a.b._c``
# is private to ``a.b``, so modules in ``a.b`` and below it (``a.b.d``, ``a.b.e.f``) may
# import it and nothing outside ``a.b`` may, not ``a`` nor a sibling ``a.x``. What others
# use, a package re-exports in its ``__init__.py`` (its ``__all__``; lazily where the
# package must stay light: plugins/_lazy.py, center's ``__init__.pyi`` stubs, which are
# scanned too), or it moves up to the common parent (plugins/_fs.py). Shipped code is held
# to this everywhere. Tests may import the private modules of the package they test, found
# by their folder (tests/plugins/ tests plugins, tests/agent/ tests agent_core, ...): a
# unit test of a parser is a test of internals, so these allowances name top-level
# packages and open every private module below them. tests/plugins/ and tests/sdk/ may not
# reach into agent_core or transports, because they are written the way a plugin author
# writes tests, against the SDK. A benchmark (bench/) may import the private modules of
# the roles it measures, named for it in BENCH_MEASURES; any other benchmark is held to
# the public APIs as shipped code is.

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
    package = module.split(".") if path.stem == "__init__" else module.split(".")[:-1]
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
    """The package that holds the first private module in ``target`` (``a.b._c.d`` -> ``a.b``),
    or None when ``target`` names nothing private below a package."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i]) if i else None
    return None


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def private_import_violations(root: Path) -> list[str]:
    found: list[str] = []
    files = [p for top in (*SHIPPED, "tests", "bench") for pattern in ("*.py", "*.pyi") for p in (root / top).rglob(pattern)]
    for path in files:
        if any(part in (".venv", "node_modules", "__pycache__") or part.endswith(".egg-info") for part in path.parts):
            continue
        module = _module_name(path, root)
        top = module.split(".")[0]
        rel = path.relative_to(root).parts
        opens: set[str] = set()  # top-level packages whose every private module this file may import
        if top == "tests":
            opens = TESTS_MAY_OPEN.get(rel[1], set()) if len(rel) > 2 else {"agent_core", "transports", "center", "plugins", "contrib"}
        elif top == "bench":
            opens = BENCH_MEASURES.get(path.name, set())
        seen: set[int] = set()
        for line, target in _imports(path, module):
            owner = _private_owner(target)
            if owner is None or owner.split(".")[0] not in SHIPPED or line in seen:
                continue
            if _inside(module, owner) or owner.split(".")[0] in opens:
                continue
            seen.add(line)
            found.append(f"{path.relative_to(root)}:{line}: imports {target}")
    return sorted(set(found))


def test_no_module_imports_another_packages_private_modules():
    found = private_import_violations(ROOT)
    assert not found, "private modules imported from outside their package:\n" + "\n".join(found)


#: Imports that keep the rule, written into every probe's tree: a package's own modules
#: (and those below it) open its private modules, a sub-package opens its parents', and a
#: test folder or benchmark opens every private module below the packages named for it.
ALLOWED = {
    "plugins/files/copy.py": "from ._common import fs_errors\nfrom plugins._x import y\n",
    "plugins/files/deep/walker.py": "from plugins.files._common import walk\nfrom .._common import fs_errors\n",
    "plugins/files/_common.py": "from plugins._fs import walk\n",
    "plugins/state/svc.py": "from plugins.services import choose\n",
    "center/proxy/_http.py": "from ._proxy import Proxy\nfrom .._metrics import render\n",
    "center/security/__init__.pyi": "from ._rules import RuleError\n",
    "tests/plugins/test_probe_ok.py": "from plugins.services._backend import choose\n",
    "tests/center/test_probe_ok.py": "from center.proxy._proxy import Proxy\n",
    "bench/store.py": "from center.security._audit import audit_table\n",
}


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
        # A sub-package is a package: its siblings and its parent may not open it.
        ("plugins/state/probe_private.py", "from plugins.services._backend import choose\n"),
        ("plugins/logs/probe_private.py", "from ..files import _common\n"),
        ("center/cli/_probe_private.py", "from ..security._rules import RuleError\n"),
        ("center/_probe_private.py", "def f():\n    from .proxy._proxy import Proxy\n"),
        ("center/__init__.pyi", "from .cli._client import Client\n"),
    ],
)
def test_private_import_check_catches_a_violation(tmp_path, module, line):
    for top in (*SHIPPED, "tests", "bench"):
        (tmp_path / top).mkdir()
    for path, text in {**ALLOWED, module: line}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    found = private_import_violations(tmp_path)
    assert [f.split(":")[0] for f in found] == [module], found  # the probe, and none of the allowed imports


def test_private_import_check_passes_the_allowed_imports(tmp_path):
    for top in (*SHIPPED, "tests", "bench"):
        (tmp_path / top).mkdir()
    for path, text in ALLOWED.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert private_import_violations(tmp_path) == []
