"""Each package's public face: a sorted ``__all__`` of names that exist, and the
generated docs are current."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The plugin folders that other folders build on, and so have a public face (an ``__all__``).
PLUGIN_FACES = [f"plugins.{p.parent.name}" for p in sorted(ROOT.glob("plugins/*/__init__.py")) if "__all__" in p.read_text()]


@pytest.mark.parametrize(
    "name",
    ["transports", "transports.signing", "agent_core", "agent_core.host", "agent_core.procfs", "agent_core.names",
     "center", "center.cli", "center.proxy", "center.security", *PLUGIN_FACES],
)  # fmt: skip
def test_all_sorted_and_present(name):
    mod = importlib.import_module(name)
    exported = list(mod.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    for item in exported:
        assert hasattr(mod, item), f"{name}.{item} listed but missing"


def test_plugin_faces_load_lazily():
    """A plugin folder's ``__init__`` names what other folders use (plugins/_lazy.py): its
    ``dir()`` is its ``__all__``, and importing it, as each of the folder's own actions does,
    loads none of its private modules until a name is used."""
    code = (
        "import importlib, json, sys\n"
        f"faces = {PLUGIN_FACES!r}\n"
        "out = {}\n"
        "for name in faces:\n"
        "    mod = importlib.import_module(name)\n"
        "    out[name] = [dir(mod), mod.__all__, sorted(m for m in sys.modules if m.startswith(name + '._'))]\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name, (listed, exported, loaded) in json.loads(proc.stdout).items():
        assert listed == exported, f"{name}: dir() {listed} is not __all__ {exported}"
        assert loaded == [], f"importing {name} loaded {loaded}"
        # Importing plugins/disk/mounts.py sets plugins.disk.mounts to that module: a public
        # name spelt like one of the folder's modules would turn into the module.
        modules = {p.stem for p in (ROOT / name.replace(".", "/")).glob("*.py")}
        assert not modules & set(exported), f"{name} exports names of its modules: {sorted(modules & set(exported))}"


def test_error_code_page_is_generated():
    import transports

    page = (ROOT / "docs" / "error-codes.md").read_text()
    assert page == transports.catalogue_markdown(), "regenerate: starling codes --markdown > docs/error-codes.md"


def test_error_codes_well_formed():
    import re

    from transports import ErrorCode

    for code in ErrorCode:
        assert re.fullmatch(r"[CPAE]\d{3}", code.value)
        assert code.meaning and code.hint and code.meaning[0].islower()
