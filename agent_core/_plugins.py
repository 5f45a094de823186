"""The plugin host: pluggy plus lazy, entry-point based loading.

Plugins are listed from the ``starling.plugins`` entry-point group without
importing them. A plugin module is imported the first time one of its actions
is called (the action prefix is the entry-point name) or when a listing needs
its declarations, so an idle agent stays small however many plugins it has.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from transports import ErrorCode, renamed_to

from . import hookspecs
from ._config import current_plugin_names
from ._index import EntryRef, entries, forget
from ._sdk import Action, ActionError, Plugin, declared_in

log = logging.getLogger("starling.plugins")

ENTRY_POINT_GROUP = "starling.plugins"

#: Built-in plugins that may reach the agent's kernel (the wheel installer):
#: plugin name -> the module that must provide it.
HOST_PLUGINS = {"agent": "plugins.agent.agent"}


def _unknown(action_name: str) -> ActionError:
    """A001, naming the new action when ``action_name`` was renamed. An old name is
    never an alias: it does not run, so no policy written for the new name is bypassed."""
    new_name = renamed_to(action_name)
    hint = f": it was renamed to {new_name!r}" if new_name else ""
    return ActionError(f"unknown action {action_name!r}{hint}", code=ErrorCode.A001)


@dataclass
class LoadedPlugin:
    name: str
    info: Plugin
    actions: dict[str, Action] = field(default_factory=dict)
    module: ModuleType | None = None
    unavailable: str | None = None
    error: str | None = None
    source: str = ""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.info.version,
            "description": self.info.description,
            "domain": self.info.domain,
            "available": self.unavailable is None and self.error is None,
            "reason": self.unavailable or self.error or "",
            "source": self.source,
            "actions": sorted(self.actions),
        }


class PluginHost:
    """Finds, loads and answers for plugins."""

    def __init__(self, *, disabled: set[str] | None = None, group: str = ENTRY_POINT_GROUP) -> None:
        self.pm = pluggy.PluginManager("starling")
        self.pm.add_hookspecs(hookspecs)
        self.group = group
        self.disabled: set[str] = set(current_plugin_names(disabled or (), "disabled plugins"))
        self._entry_points: dict[str, EntryRef] | None = None
        self._extra: dict[str, ModuleType | str] = {}
        self._loaded: dict[str, LoadedPlugin] = {}
        if os.environ.get("STARLING_TRACE_HOOKS"):
            self.pm.trace.root.setwriter(lambda msg: sys.stderr.write(msg))
            self.pm.enable_tracing()

    # -- discovery ------------------------------------------------------------

    def _eps(self) -> dict[str, EntryRef]:
        if self._entry_points is None:
            self._entry_points = {ep.name: ep for ep in entries(self.group)}
        return self._entry_points

    def rescan(self) -> None:
        """Forget the entry-point list (after a plugin package was installed)."""
        importlib.invalidate_caches()
        forget()
        self._entry_points = None

    def add_module(self, name: str, module: ModuleType | str) -> None:
        """Make a plugin available without an entry point (tests, embedding)."""
        self._extra[name] = module
        self._loaded.pop(name, None)

    def names(self) -> list[str]:
        return sorted(set(self._eps()) | set(self._extra))

    # -- loading ---------------------------------------------------------------

    def _import(self, name: str) -> tuple[ModuleType, str, str]:
        """``(module, source, distribution version)`` of one plugin."""
        if name in self._extra:
            mod = self._extra[name]
            module = importlib.import_module(mod) if isinstance(mod, str) else mod
            return module, module.__name__, ""
        ep = self._eps()[name]
        loaded = ep.load()
        return loaded, f"{ep.dist}:{ep.value}" if ep.dist else ep.value, ep.dist_version

    def load(self, name: str) -> LoadedPlugin:
        """Import and register one plugin (once); never raises for plugin bugs."""
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._eps() and name not in self._extra:
            raise ActionError(f"no plugin named {name!r}", code=ErrorCode.A001)
        try:
            module, source, version = self._import(name)
            info, actions = declared_in(module)
            if not info.version:
                info.version = version or "0"
            if self.pm.get_plugin(name) is None:
                self.pm.register(module, name=name)  # its real hooks (residents, task, health)
            plugin = LoadedPlugin(name=name, info=info, module=module, source=source)
            for act in actions:
                if act.name != name and not act.name.startswith(name + "."):
                    log.warning("plugin %s declares foreign action %s; ignored", name, act.name)
                    continue
                plugin.actions[act.name] = act
            try:
                plugin.unavailable = info.unavailable_reason()
            except Exception as exc:
                plugin.unavailable = f"availability check failed: {exc}"
        except Exception as exc:
            log.exception("plugin %s failed to load", name)
            plugin = LoadedPlugin(name=name, info=Plugin(name), error=f"failed to load: {exc}")
        self._loaded[name] = plugin
        return plugin

    def is_host_plugin(self, name: str) -> bool:
        """Whether ``name`` is the built-in plugin that may drive the agent's kernel."""
        plugin = self._loaded.get(name)
        module = plugin.module if plugin is not None else None
        return module is not None and HOST_PLUGINS.get(name) == module.__name__

    def unload(self, name: str) -> None:
        """Forget a plugin so the next use imports it afresh (upgrade, rollback)."""
        plugin = self._loaded.pop(name, None)
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        if plugin is not None and plugin.module is not None:
            prefix = plugin.module.__name__
            for mod in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
                del sys.modules[mod]

    def load_all(self) -> list[LoadedPlugin]:
        return [self.load(name) for name in self.names()]

    def loaded(self) -> list[str]:
        return sorted(self._loaded)

    def plugin_for(self, action_name: str) -> str | None:
        """The plugin that owns ``action_name``: the plugin named exactly so, or
        else the one named by its longest dotted prefix (``svc`` owns ``svc.start``)."""
        known = self._eps().keys() | self._extra.keys()
        parts = action_name.split(".")
        for i in range(len(parts), 0, -1):
            candidate = ".".join(parts[:i])
            if candidate in known:
                return candidate
        return None

    def find_action(self, action_name: str) -> Action:
        """The action to run, or an :class:`ActionError` with A001/A003/A012."""
        plugin_name = self.plugin_for(action_name)
        if plugin_name is None:
            raise _unknown(action_name)
        if plugin_name in self.disabled:
            raise ActionError(f"plugin {plugin_name!r} is disabled on this host", code=ErrorCode.A012)
        plugin = self.load(plugin_name)
        if plugin.error:
            raise ActionError(f"plugin {plugin_name!r} {plugin.error}", code=ErrorCode.A003)
        act = plugin.actions.get(action_name)
        if act is None:
            raise _unknown(action_name)
        if plugin.unavailable:
            raise ActionError(f"{plugin_name}: {plugin.unavailable}", code=ErrorCode.A003)
        return act
