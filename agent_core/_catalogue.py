"""Reference pages generated from code: the plugin catalogue and the hook list.

``render_catalogue()`` reads every plugin's declaration (the ``Plugin``, its
actions, their params Structs) and renders ``docs/plugins/catalogue.md``;
``render_hooks()`` renders ``docs/plugins/hooks.md`` from the docstrings in
:mod:`agent_core.hookspecs`. Both pages are checked by the plugin contract test,
which fails when a page is stale. Regenerate them with ``starling plugins doc``
(or ``agent_core.host.write_plugin_docs()`` from the repository root).

The output depends only on declarations, never on the host it runs on (no
availability, no versions of installed tools), so every machine renders the
same bytes.
"""

from __future__ import annotations

import ast
import inspect
import re
import types
import typing
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import msgspec

from transports import renamed_actions

from . import hookspecs
from ._plugins import ENTRY_POINT_GROUP, LoadedPlugin, PluginHost
from ._sdk import Action

CATALOGUE_PAGE = "catalogue.md"
HOOKS_PAGE = "hooks.md"
BUILTIN_DIST = "starling-fleet"
REGENERATE = "`starling plugins doc` (or `python -c 'import agent_core.host; agent_core.host.write_plugin_docs()'` from the repository root)"


_ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _md(text: str) -> str:
    """Sphinx markup to markdown: ``:class:`~a.B``` becomes `` `B` ``, double backticks single."""
    return _ROLE.sub(_role, text).replace("``", "`")


# -- the plugin catalogue ----------------------------------------------------------


def builtin_plugin_names(dist: str = BUILTIN_DIST, group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Names of the plugins that distribution ``dist`` registers in ``group``."""
    return sorted(
        ep.name
        for ep in entry_points(group=group)
        if ep.dist is not None and ep.dist.name == dist
    )


def _type_name(tp: Any) -> str:
    """A short, stable, Python-like spelling of a params field type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is type(None):
        return "None"
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        if not args:
            return name
        inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
        return f"{name}[{inner}]"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _default(field: msgspec.structs.FieldInfo) -> str | None:
    if field.required:
        return None
    if field.default_factory is not msgspec.NODEFAULT:
        value = field.default_factory()
    else:
        value = field.default
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str | int):
        value = value.value  # enums show as their wire value
    return repr(value)


def _params_line(params: type[msgspec.Struct]) -> str:
    fields = msgspec.structs.fields(params)
    if not fields:
        return "none"
    parts = []
    for f in fields:
        default = _default(f)
        text = f"{f.encode_name}: {_type_name(f.type)}"
        parts.append(f"`{text}`" + (" (required)" if default is None else f" = `{default}`"))
    return ", ".join(parts)


def _result_name(result: Any) -> str:
    if result is Any or result is None:
        return "?"
    return _type_name(result)


def _first_para(text: str) -> str:
    return _md(" ".join(inspect.cleandoc(text).split("\n\n")[0].split()))


def _details(module: types.ModuleType | None) -> str:
    """The module docstring after its first line: the catalogue paragraph."""
    doc = inspect.cleandoc(getattr(module, "__doc__", None) or "")
    _, _, rest = doc.partition("\n")
    paragraphs = [_md(" ".join(p.split())) for p in rest.strip().split("\n\n") if p.strip()]
    return "\n\n".join(paragraphs)


def _needs(plugin: LoadedPlugin) -> str:
    info = plugin.info
    items = [f"`{exe}` on PATH" for exe in info.requires]
    items += [f"`{path}`" for path in info.requires_files]
    if info.check is not None:
        check_doc = inspect.getdoc(info.check)
        items.append(_first_para(check_doc) if check_doc else "a host check")
    return "; ".join(items)


def _action_block(act: Action) -> list[str]:
    streams = " · streams" if act.streams else ""
    lines = [
        f"- **`{act.name}`** · risk `{act.risk.value}` · timeout {act.timeout:g} s{streams}"
        f" · returns `{_result_name(act.result)}`",
        f"  - {_first_para(act.description) or '(no description)'}",
        f"  - Params: {_params_line(act.params)}.",
    ]
    return lines


def render_catalogue(plugins: Iterable[LoadedPlugin] | None = None) -> str:
    """Render the plugin catalogue page (markdown), grouped by domain.

    :param plugins: the plugins to list; by default every plugin the ``starling``
        distribution registers, loaded through a fresh :class:`PluginHost`.
    """
    builtins = plugins is None
    if plugins is None:
        host = PluginHost()
        plugins = [host.load(name) for name in builtin_plugin_names()]
    by_domain: dict[str, list[LoadedPlugin]] = {}
    for plugin in plugins:
        by_domain.setdefault(plugin.info.domain or "other", []).append(plugin)
    n_plugins = sum(len(v) for v in by_domain.values())
    n_actions = sum(len(p.actions) for v in by_domain.values() for p in v)
    lines = [
        "# Plugin catalogue",
        "",
        f"Generated from the plugin declarations by {REGENERATE}; do not edit by hand.",
        "",
        f"{n_plugins} plugins with {n_actions} actions in {len(by_domain)} domains. "
        "Risk levels: `read` changes nothing, `change` alters host state, "
        "`danger` can take the host or its services down. A plugin whose needs are "
        "missing on a host answers `A003` for every action.",
        "",
        "| domain | plugins | actions |",
        "| --- | --- | --- |",
    ]
    for domain in sorted(by_domain):
        group = by_domain[domain]
        lines.append(f"| [{domain}](#domain-{domain}) | {len(group)} | {sum(len(p.actions) for p in group)} |")
    lines.append("")
    if builtins:
        lines += _renamed_section()
    for domain in sorted(by_domain):
        lines += [f"## Domain: {domain}", ""]
        for plugin in sorted(by_domain[domain], key=lambda p: p.name):
            lines += [f"### `{plugin.name}`", "", _md(plugin.info.description) or "(no description)", ""]
            details = _details(plugin.module)
            if details:
                lines += [details, ""]
            needs = _needs(plugin)
            if needs:
                lines += [f"Needs: {needs}.", ""]
            if plugin.error:
                lines += [f"**Failed to load:** {plugin.error}", ""]
            for name in sorted(plugin.actions):
                lines += _action_block(plugin.actions[name])
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _renamed_section() -> list[str]:
    """The "renamed in this release" table, from ``transports/renamed.toml``."""
    table = renamed_actions()
    lines = [
        "## Renamed in this release",
        "",
        "Action names follow their folders: `plugins/<folder>/<module>.py` holds "
        "`<prefix>.<module>…`, one prefix per folder (`plugins/__init__.py`, `FOLDER_PREFIX`; "
        "the rule is in docs/plugins/guide.md §13). "
        f"These {len(table)} actions were renamed (`transports/renamed.toml`). An old name is not an "
        "alias: it answers `C023` (center) or `A001` (agent) naming the new action; scopes and "
        "action rules that name it keep applying, with a warning (docs/security.md, \"Renamed actions\").",
        "",
        "| old name | new name |",
        "| --- | --- |",
    ]
    lines += [f"| `{old}` | `{new}` |" for old, new in sorted(table.items())]
    return [*lines, ""]


# -- the hook reference ------------------------------------------------------------


def _banners(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of each banner comment: ``# ---`` rule, text, ``# ---`` rule."""
    out: list[tuple[int, str]] = []
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("# ---"):
            j = i + 1
            text: list[str] = []
            while j < len(lines) and lines[j].startswith("#") and not lines[j].startswith("# ---"):
                text.append(lines[j].lstrip("#").strip())
                j += 1
            if j < len(lines) and lines[j].startswith("# ---") and text:
                out.append((i + 1, " ".join(text)))
                i = j
        i += 1
    return out


def hookspec_functions(module: types.ModuleType = hookspecs) -> list[tuple[str, Any]]:
    """``(phase, function)`` for every hookspec in ``module``, in source order."""
    source = inspect.getsource(module)
    banners = _banners(source)
    tree = ast.parse(source)
    found: list[tuple[str, Any]] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        fn = getattr(module, node.name, None)
        if fn is None or not hasattr(fn, "starling_spec"):
            continue
        phase = ""
        for line, text in banners:
            if line < node.lineno:
                phase = text
        found.append((phase, fn))
    return found


def render_hooks(module: types.ModuleType = hookspecs) -> str:
    """Render the hook reference page (markdown) from the hookspec docstrings."""
    intro = " ".join(inspect.cleandoc(module.__doc__ or "").split("\n\n")[0].split())
    lines = [
        "# Plugin hooks",
        "",
        f"Generated from `agent_core/hookspecs.py` by {REGENERATE}; do not edit by hand.",
        "",
        intro,
        "",
    ]
    current: str | None = None
    for phase, fn in hookspec_functions(module):
        if phase != current:
            title, _, rest = phase.partition(":")
            lines += [f"## {title.strip().rstrip('.')}", ""]
            rest = rest.strip()
            if rest:
                lines += [_md(rest[0].upper() + rest[1:]), ""]
            current = phase
        sig = str(inspect.signature(fn)).replace("'", "")
        lines += [f"### `{fn.__name__}{sig}`", ""]
        opts = getattr(fn, "starling_spec", {}) or {}
        flags = [name for name in ("firstresult", "historic") if opts.get(name)]
        if flags:
            lines += ["Options: " + ", ".join(f"`{f}`" for f in flags), ""]
        doc = inspect.getdoc(fn)
        lines += [_md(doc) if doc else "**Undocumented.**", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# -- writing -----------------------------------------------------------------------


def write_plugin_docs(docs_dir: Path | str = Path("docs/plugins")) -> list[Path]:
    """Render both pages into ``docs_dir``; return the files whose content changed."""
    out = Path(docs_dir)
    out.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in ((CATALOGUE_PAGE, render_catalogue()), (HOOKS_PAGE, render_hooks())):
        path = out / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed

