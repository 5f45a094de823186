"""The plugin starter kit: ``new_plugin("acme", Path("."))`` writes a complete
third-party plugin package (what ``starling plugin new acme`` does).

The package it writes is installable and passes its own test as written::

    starling-acme/
        pyproject.toml          the "starling.plugins" entry point, test extras
        README.md               install, test, build a wheel, ship it
        starling_acme/
            __init__.py
            plugin.py           the plugin: declaration, one commented action
        tests/
            test_plugin.py      runs the action through agent_core.testing

Everything written is plain text built from templates below (no network, no
cookiecutter), so the kit works on an air-gapped build host.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

from ._plugins import ENTRY_POINT_GROUP

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")

_PYPROJECT = """\
[build-system]
# 64 is the first setuptools with editable installs from pyproject alone (PEP 660).
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "Starling plugin {name}: TODO say what it does in one line."
readme = "README.md"
requires-python = ">=3.11"
# The SDK distribution (agent_core, the testing fixtures); the agent provides it at run
# time. List only what you add.
dependencies = ["starling-fleet"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-trio>=0.8"]

# This is the whole integration: the agent finds plugins in this entry-point
# group. The name is the plugin name; every action is "<name>.<verb>".
[project.entry-points."starling.plugins"]
"{name}" = "{package}.plugin"

[tool.setuptools]
packages = ["{package}"]

[tool.pytest.ini_options]
# agent_core.testing is a pytest plugin (installed with starling): its fixtures
# run_action, plugin_host and memory_agent are available without a conftest.
trio_mode = true
testpaths = ["tests"]
"""

_INIT = '''\
"""Starling plugin package {dist}; the plugin itself is :mod:`{package}.plugin`."""
'''

_PLUGIN = '''\
"""TODO: one line that says what the {name} plugin does (it becomes the catalogue entry).

TODO: a paragraph for operators: what the actions read or change on the host,
and what the host needs (programs, files) for the plugin to work.
"""

from __future__ import annotations

import socket
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action

# The declaration: the module's PLUGIN and its @action functions are the whole
# plugin, nothing to register. ``name`` must equal the entry-point name in
# pyproject.toml; the description defaults to the docstring's first line and the
# version is the package's (pyproject.toml is its one source).
# ``requires=["tool"]`` / ``requires_files=["/path"]`` / ``check=fn`` make the
# plugin report itself unavailable (actions answer A003) instead of crashing on
# hosts that lack what it needs.
PLUGIN = Plugin("{name}")


# Params: a msgspec Struct. The agent validates them before your code runs, and
# forbid_unknown_fields turns a typo in a field name into a clear A002 error.
# Constraints go in the type (msgspec.Meta): they reach the schema, the center
# and the catalogue, and a bad value is refused before your code runs.
class HelloParams(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "world"


# Result: a msgspec Struct too; its fields are the action's documented output.
class Hello(msgspec.Struct):
    text: str
    host: str


# risk: READ changes nothing, CHANGE alters host state, DANGER can take the host
# or its services down; the center's policy keys off it. timeout is the default
# (callers may shorten it); when it passes, the task fails with A005 and any
# process it started via ctx.run() is killed with its whole tree.
@action("{name}.hello", risk=Risk.READ, timeout=10)
async def hello(ctx: ActionContext, p: HelloParams) -> Hello:
    """Greet ``name`` from this host (the docstring is the action's description)."""
    # Semantic checks the type cannot express: raise InvalidParams (A002),
    # NotFound (A017) or ActionError with a catalogue code; never let an
    # exception escape as a traceback.
    if not p.name.strip():
        raise InvalidParams("name must not be blank")
    # Run programs with ``await ctx.run([...])`` (timeout, tree kill and output
    # caps come for free); keep heavy imports inside functions so an idle agent
    # stays small.
    return Hello(text=f"hello {{p.name}}", host=socket.gethostname())
'''

_TEST = '''\
"""{name}: the actions run exactly as the agent runs them (params validated,
timeout enforced, errors mapped to catalogue codes)."""

from __future__ import annotations

import socket

from agent_core.testing import run_action


async def test_hello():
    out = await run_action("{name}.hello", {{"name": "ops"}})
    assert out.ok, out.message
    assert out.value == {{"text": "hello ops", "host": socket.gethostname()}}


async def test_bad_params_are_refused():
    out = await run_action("{name}.hello", {{"nmae": "typo"}})
    assert out.code == "A002"
    out = await run_action("{name}.hello", {{"name": "  "}})
    assert out.code == "A002" and "blank" in out.message
'''

_README = """\
# {dist}

A Starling plugin: `{name}`. Made with `starling plugin new {name}`.

## Develop

```sh
pip install -e '.[test]'     # registers the plugin's entry point in this environment
pytest                       # tests/ run the actions through agent_core.testing
```

`{package}/plugin.py` holds the plugin: its declaration (`PLUGIN`) and one
action per `@action` function with typed params and result; nothing else
registers it. Add actions the same way; each is named `{name}.<verb>`. The
version lives in `pyproject.toml` only.

## Ship

```sh
pip wheel --no-deps -w dist .    # dist/{wheel_stem}-0.1.0-py3-none-any.whl
```

Give the wheel to the center, which sends it to the hosts you pick; the agents
load it without a restart (see docs/plugins/guide.md, "Packaging and
distribution").
"""


def _taken(name: str) -> str | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            dist = ep.dist.name if ep.dist is not None else "?"
            return f"{dist}:{ep.value}"
    return None


def new_plugin(name: str, dest: Path) -> Path:
    """Write a new plugin package for plugin ``name`` under ``dest``; return its root.

    :param name: the plugin name (lower-case dotted words, e.g. ``acme`` or
        ``acme.backup``); it prefixes every action.
    :param dest: the directory to create the package in (``dest/starling-<name>``).
    :raises ValueError: the name is malformed or an installed plugin already uses it.
    :raises FileExistsError: the package directory already exists.
    """
    if not NAME_RE.match(name):
        raise ValueError(f"plugin name {name!r}: use lower-case dotted words, e.g. 'acme' or 'acme.backup'")
    owner = _taken(name)
    if owner:
        raise ValueError(f"plugin name {name!r} is taken by an installed plugin ({owner})")
    slug = name.replace(".", "-").replace("_", "-")
    dist = f"starling-{slug}"
    package = "starling_" + name.replace(".", "_")
    root = Path(dest) / dist
    if root.exists():
        raise FileExistsError(f"{root} already exists")
    values = {"name": name, "dist": dist, "package": package, "wheel_stem": dist.replace("-", "_")}
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"{package}/__init__.py": _INIT,
        f"{package}/plugin.py": _PLUGIN,
        "tests/test_plugin.py": _TEST,
    }
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values))
    return root
