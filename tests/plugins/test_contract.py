"""The plugin contract: every built-in plugin has the same parts, checked here.

One parametrized test walks every plugin that the ``starling`` distribution
registers in the ``starling.plugins`` entry-point group and lists everything
missing: module docstring, declaration (name = entry-point name, description,
domain), no declaration hooks (``PLUGIN`` and ``@action`` are the declaration), actions with description, risk, a strict params Struct and a
result type, a light import, a test that runs each action (names it in a test
function under ``tests/``) and an entry in the generated catalogue. Two more tests fail when ``docs/plugins/catalogue.md``
or ``docs/plugins/hooks.md`` is stale, or when a hookspec lacks a docstring.

Fix a stale page with ``starling plugins doc`` or, from the repository root,
``python -c 'import agent_core.host; agent_core.host.write_plugin_docs()'``.
"""

from __future__ import annotations

import ast
import inspect
import sys
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent_core import Risk
from agent_core.host import (
    BUILTIN_DIST,
    ENTRY_POINT_GROUP,
    PluginHost,
    builtin_plugin_names,
    declared_in,
    hookspec_functions,
    render_catalogue,
    render_hooks,
)
from plugins import FOLDER_PREFIX, action_name_problem
from transports import renamed_actions, renamed_to

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins"
TESTS = ROOT / "tests" / "plugins"
REGEN = (
    "run `starling plugins doc` or, from the repository root, "
    "`python -c 'import agent_core.host; agent_core.host.write_plugin_docs()'`, and commit docs/plugins/"
)
# Top-level imports a plugin module may make: heavy ones (psutil, ...) go inside functions.
LIGHT_ROOTS = {"__future__", "msgspec", "agent_core", "transports", "plugins"}

@cache
def _host() -> PluginHost:
    return PluginHost()


@cache
def _entry_points() -> dict[str, EntryPoint]:
    return {
        ep.name: ep
        for ep in entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == BUILTIN_DIST
    }


@cache
def _actions_run_by_tests() -> frozenset[str]:
    """Every string a test function (or its decorators) under ``tests/`` holds.

    An action is tested when a test names it, i.e. runs it (``run_action("disk.usage")``,
    ``memory_agent.run(...)``, a job over the API) or parametrizes over it; a test file
    named like the module is not enough, nor is a name in a module-level table.
    """
    found: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        if path.resolve() == Path(__file__).resolve():
            continue
        tree = ast.parse(path.read_text(errors="replace"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
                found.update(
                    sub.value for sub in ast.walk(node) if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
                )
    return frozenset(found)


def _heavy_imports(source: str) -> list[str]:
    """Top-level imports (outside functions and classes) that are not light."""
    heavy: list[str] = []

    def walk(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                roots = [(node.module or "").split(".")[0]] if node.level == 0 else []
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    walk(getattr(node, field, []) or [])
                continue
            heavy.extend(r for r in roots if r not in LIGHT_ROOTS and r not in sys.stdlib_module_names)

    walk(ast.parse(source).body)
    return heavy


def _action_problems(act: Any) -> list[str]:
    out = []
    if not (act.description or "").strip():
        out.append(f"{act.name}: no description (give the function a docstring)")
    if not isinstance(act.risk, Risk):
        out.append(f"{act.name}: no risk level")
    if act.timeout <= 0:
        out.append(f"{act.name}: timeout must be positive")
    params = act.params
    if not (isinstance(params, type) and issubclass(params, msgspec.Struct)):
        out.append(f"{act.name}: params is not a msgspec.Struct")
    elif not params.__struct_config__.forbid_unknown_fields:
        out.append(f"{act.name}: params {params.__name__} lacks forbid_unknown_fields=True")
    if act.result is Any or act.result is None or act.result is type(None):
        out.append(f"{act.name}: result type missing (annotate the return type)")
    else:
        try:
            msgspec.json.schema(act.result)
        except Exception as exc:
            out.append(f"{act.name}: result type {act.result!r} has no schema: {exc}")
    return out


def _problems(name: str) -> list[str]:
    return _problems_of(name, _entry_points()[name].value, _host())


def _problems_of(name: str, value: str, host: PluginHost) -> list[str]:
    """Everything plugin ``name`` (registered as ``value``) lacks, as readable sentences."""
    parts = value.split(".")
    if len(parts) != 3 or parts[0] != "plugins" or ":" in value:
        return [f"entry point {value!r} is not 'plugins.<domain>.<module>'"]
    _, package, module_name = parts
    plugin = host.load(name)
    if plugin.error or plugin.module is None:
        return [f"does not load: {plugin.error}"]
    module = plugin.module
    out: list[str] = []

    doc = inspect.cleandoc(module.__doc__ or "")
    first, _, rest = doc.partition("\n")
    if not first.strip():
        out.append("module has no docstring")
    elif not rest.strip():
        out.append("module docstring has no catalogue paragraph after its first line")

    info = plugin.info
    if getattr(module, "PLUGIN", None) is not info:
        out.append("module-level PLUGIN is missing or is not the plugin's declaration")
    if info.name != name:
        out.append(f"declared name {info.name!r} differs from the entry-point name {name!r}")
    if not info.description.strip():
        out.append("PLUGIN has no description")
    elif info.description != first.strip():
        out.append("PLUGIN description is not the module docstring's first line")
    if not info.domain:
        out.append("PLUGIN has no domain")
    elif info.domain != package:
        out.append(f"PLUGIN domain {info.domain!r} but module lives in plugins/{package}/")

    for hook in ("starling_plugin_info", "starling_actions"):
        if hasattr(module, hook):
            out.append(f"{hook}() is gone: a plugin is declared by its PLUGIN and @action functions")
    declared = declared_in(module)[1]
    if not declared:
        out.append("declares no actions")
    for act in declared:
        owner = host.plugin_for(act.name)
        if owner != name:
            out.append(f"action {act.name} belongs to plugin {owner!r}, not {name!r}")
        out += _action_problems(act)
        naming = action_name_problem(package, module_name, act.name)
        if naming:
            out.append(naming)

    heavy = _heavy_imports(inspect.getsource(module))
    if heavy:
        out.append(f"heavy top-level imports {sorted(set(heavy))}: import them inside functions")
    tested = _actions_run_by_tests()
    for act in declared:
        if act.name not in tested:
            out.append(f"no test runs action {act.name} (no test function under tests/ names it)")
    catalogue = DOCS / "catalogue.md"
    if not catalogue.exists() or f"### `{name}`\n" not in catalogue.read_text():
        out.append(f"missing from docs/plugins/catalogue.md: {REGEN}")
    return out


@pytest.mark.parametrize("name", builtin_plugin_names())
def test_plugin_contract(name: str) -> None:
    problems = _problems(name)
    assert not problems, f"plugin {name!r} breaks the contract:\n  - " + "\n  - ".join(problems)


def test_every_folder_has_one_prefix() -> None:
    """FOLDER_PREFIX names every folder under plugins/ (and nothing else), one prefix each."""
    folders = {p.name for p in (ROOT / "plugins").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert set(FOLDER_PREFIX) == folders
    assert len(set(FOLDER_PREFIX.values())) == len(FOLDER_PREFIX)


def test_naming_rule_catches_bad_names() -> None:
    assert action_name_problem("kernel", "sysctl_get", "kernel.sysctl.get") is None
    assert action_name_problem("network", "route_get", "net.route.get") is None
    assert action_name_problem("network", "dns", "net.dns.resolve") is None
    assert action_name_problem("system", "sys", "sys.info") is None  # module named like the prefix
    assert action_name_problem("files", "file", "file.stat") is None
    assert action_name_problem("kernel", "sysctl_get", "sysctl.get")  # wrong prefix
    assert action_name_problem("processes", "iotop", "proc.io")  # rest does not start with the stem
    assert action_name_problem("processes", "iotop", "proc.iotopx")  # the stem is a whole word
    assert action_name_problem("hardware", "swap", "hw")  # no rest
    assert action_name_problem("nowhere", "x", "x.y")  # a folder without a prefix


def test_no_builtin_action_keeps_an_old_name() -> None:
    """A renamed action's old name is declared by no built-in plugin, and its new name is."""
    host = _host()
    declared = {act.name for n in builtin_plugin_names() for act in declared_in(host.load(n).module)[1]}

    table = renamed_actions()
    assert table, "transports/renamed.toml is empty or missing"
    assert not set(table) & declared, f"old names still declared: {sorted(set(table) & declared)}"
    assert set(table.values()) <= declared, f"new names nobody declares: {sorted(set(table.values()) - declared)}"
    assert all(renamed_to(old) == new for old, new in table.items())


def test_builtins_are_registered() -> None:
    """The walk above sees the built-ins (an uninstalled checkout would see none)."""
    names = builtin_plugin_names()
    assert {"exec", "file", "sys"} <= set(names), f"run `pip install -e .`; found only {names}"


def test_catalogue_is_fresh() -> None:
    page = DOCS / "catalogue.md"
    assert page.exists(), f"docs/plugins/catalogue.md missing: {REGEN}"
    assert page.read_text() == render_catalogue(), f"docs/plugins/catalogue.md is stale: {REGEN}"


def test_hooks_documented_and_page_fresh() -> None:
    specs = hookspec_functions()
    assert specs, "no hookspecs found in agent_core/hookspecs.py"
    undocumented = [fn.__name__ for _, fn in specs if not (fn.__doc__ or "").strip()]
    assert not undocumented, f"hookspecs without a docstring: {undocumented}"
    unphased = [fn.__name__ for phase, fn in specs if not phase]
    assert not unphased, f"hookspecs outside a banner-comment phase: {unphased}"
    page = DOCS / "hooks.md"
    assert page.exists(), f"docs/plugins/hooks.md missing: {REGEN}"
    assert page.read_text() == render_hooks(), f"docs/plugins/hooks.md is stale: {REGEN}"


BROKEN = '''
import msgspec
import psutil

from agent_core import Plugin, Risk, action

PLUGIN = Plugin("broken.thing")


class Loose(msgspec.Struct):
    x: int = 0


@action("broken.thing.do", risk=Risk.READ)
async def do(ctx, p: Loose):
    return None


@action("other.verb", risk=Risk.READ)
async def stray(ctx, p: Loose) -> Loose:
    """Belongs to nobody here."""
    return p

'''


def test_contract_catches_a_broken_plugin(tmp_path, monkeypatch) -> None:
    """The checks above can fail: a module breaking most rules gets every one reported."""
    (tmp_path / "starling_broken_plugin_zz.py").write_text(BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    host = PluginHost(group="starling.none")
    host.add_module("broken", "starling_broken_plugin_zz")
    found = "\n".join(_problems_of("broken", "plugins.misc.starling_broken_plugin_zz", host))
    for expected in (
        "module has no docstring",
        "declared name 'broken.thing' differs from the entry-point name 'broken'",
        "PLUGIN has no description",
        "PLUGIN has no domain",
        "broken.thing.do: no description",
        "lacks forbid_unknown_fields=True",
        "broken.thing.do: result type missing",
        "action other.verb belongs to plugin None",
        "heavy top-level imports ['psutil']",
        "no test runs action broken.thing.do",
        "missing from docs/plugins/catalogue.md",
        "folder plugins/misc/ has no prefix in plugins.FOLDER_PREFIX",
    ):
        assert expected in found, f"{expected!r} not reported in:\n{found}"
    in_kernel = "\n".join(_problems_of("broken", "plugins.kernel.starling_broken_plugin_zz", host))
    assert "broken.thing.do: an action in plugins/kernel/ is named kernel.<name>" in in_kernel
    assert _problems_of("x", "plugins.x", host) == ["entry point 'plugins.x' is not 'plugins.<domain>.<module>'"]


def test_heavy_import_detector() -> None:
    """The import rule itself: top-level psutil is flagged, inside a function it is not."""
    assert _heavy_imports("import os\nimport psutil\n") == ["psutil"]
    assert _heavy_imports("try:\n    import yaml\nexcept ImportError:\n    pass\n") == ["yaml"]
    assert _heavy_imports("import msgspec\nfrom agent_core import action\ndef f():\n    import psutil\n") == []


# Param names that usually carry code: each must be marked with its code role
# (``Annotated[str, code("command")]``) so the center's policy reads it, or be
# listed here with the reason it does not run anything.
CODE_LIKE = {"cmd", "command", "commands", "script", "body", "interpreter", "shell", "stdin", "env", "args", "code", "exec", "program", "run"}
NOT_CODE = {
    ("log.syslog", "program"): "a filter on the syslog program name",
    ("user.present", "shell"): "the login shell path written to passwd; not run by the action",
    ("state.user.present", "shell"): "the login shell path written to passwd; not run by the action",
    ("proc.environ", "command"): "a flag: show what a new command would see; no command is given",
}


def test_code_carrying_params_are_marked():
    from transports import code_fields

    unmarked = []
    for plugin in _host().load_all():
        for act in plugin.actions.values():
            decl = act.declaration(plugin.name)
            marked = code_fields(decl)
            for field in decl.params.get("properties", {}):
                if field in CODE_LIKE and field not in marked and (act.name, field) not in NOT_CODE:
                    unmarked.append(f"{act.name}.{field}")
    assert not unmarked, f"params that look like code but carry no code role: {unmarked}"
