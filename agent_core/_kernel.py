"""The agent's kernel handle: what the built-in ``agent.*`` plugin may see and
change about the running agent (plugins, their packages, status).

Third-party plugin packages (wheels) sent by the center are unpacked — never
executed at install time — into ``<state_dir>/packages/<dist>/<version>/``; the
active version of each distribution is put on ``sys.path`` and its entry points
become visible without restarting the agent. The previous version is kept for
``rollback``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transports import ErrorCode, renamed_plugin

from ._config import current_plugin_names
from ._context import ActionContext
from ._plugins import PluginHost
from ._sdk import ActionError

if TYPE_CHECKING:
    import zipfile

_DIST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Kernel:
    def __init__(
        self,
        host: PluginHost,
        state_dir: Path,
        status: Callable[[], dict[str, Any]] | None = None,
        on_change: Callable[[], object] | None = None,
    ) -> None:
        """:param on_change: called after plugins were enabled, disabled, installed
        or rolled back (the agent re-reads resident declarations then)."""
        self.host = host
        self._on_change = on_change
        self.state_dir = state_dir
        self.packages = state_dir / "packages"
        self._status = status
        self._settings_path = state_dir / "plugins.json"
        settings = self._settings()
        host.disabled |= set(current_plugin_names(settings.get("disabled", []), f"{self._settings_path} disabled"))
        for dist, version in settings.get("active", {}).items():
            self._add_path(self.packages / dist / version)
        host.rescan()

    # -- persisted settings -------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._settings_path.read_text())
            return data
        except (OSError, ValueError):
            return {}

    def _save(self, data: dict[str, Any]) -> None:
        tmp = self._settings_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(self._settings_path)

    def package_paths(self) -> list[str]:
        """The active third-party package directories (on ``sys.path``)."""
        active = self._settings().get("active", {})
        return [str(self.packages / dist / version) for dist, version in sorted(active.items())]

    # -- listing and switching --------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self._status() if self._status else {}

    def plugins(self) -> list[dict[str, Any]]:
        out = []
        for plugin in self.host.load_all():
            d = plugin.describe()
            d["enabled"] = plugin.name not in self.host.disabled
            out.append(d)
        return out

    def set_enabled(self, names: list[str], enabled: bool) -> list[str]:
        names = current_plugin_names(names, "agent.enable/agent.disable")
        known = set(self.host.names())
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ActionError(f"no such plugin(s): {', '.join(unknown)}", code=ErrorCode.A017)
        if enabled:
            self.host.disabled -= set(names)
        else:
            self.host.disabled |= set(names)
        data = self._settings()
        data["disabled"] = sorted(self.host.disabled)
        self._save(data)
        self._changed()
        return sorted(self.host.disabled)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    # -- packages ---------------------------------------------------------------------

    @staticmethod
    def dist_key(name: str) -> str:
        """A distribution name as installed (PEP 503 normalised, ``_`` for ``-``):
        ``Starling-Hello`` and ``starling_hello`` are the same package."""
        return re.sub(r"[-_.]+", "_", name).lower()

    def _claimed_names(self, zf: zipfile.ZipFile, dist: str) -> None:
        """Refuse (A025) a wheel whose plugins are named like a plugin another distribution provides."""
        # Both only here (installing a wheel): an idle agent never imports them.
        import configparser
        from importlib.metadata import entry_points

        eps = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/entry_points.txt")]
        if not eps:
            return
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(zf.read(eps[0]).decode("utf-8", "replace"))
        except configparser.Error as exc:
            raise ActionError(f"wheel entry_points.txt unreadable: {exc}", code=ErrorCode.A002) from exc
        wanted = set(parser[self.host.group]) if parser.has_section(self.host.group) else set()
        for name in sorted(wanted):
            # A built-in plugin's old name stays reserved: a package may not take over
            # the name (and so the old action names) that rules and scopes still match.
            new = renamed_plugin(name)
            if new is not None:
                raise ActionError(
                    f"plugin name {name!r} is a built-in plugin's former name (now {new!r}); {dist} may not take it",
                    code=ErrorCode.A025,
                )
        for ep in entry_points(group=self.host.group):
            owner = self.dist_key(ep.dist.name) if ep.dist is not None else ""
            if ep.name in wanted and owner != dist:
                provider = ep.dist.name if ep.dist is not None else ep.value
                raise ActionError(
                    f"plugin name {ep.name!r} is already provided by {provider}; {dist} may not replace it",
                    code=ErrorCode.A025,
                )

    def _installed(self, dist: str) -> tuple[str, dict[str, Any]]:
        """``(normalised name, settings)`` of an installed package, else A017 naming what is installed."""
        key = self.dist_key(dist)
        data = self._settings()
        if key not in data.get("active", {}):
            have = ", ".join(sorted(data.get("active", {}))) or "none"
            raise ActionError(f"no plugin package {dist!r} is installed (installed: {have})", code=ErrorCode.A017)
        return key, data

    @staticmethod
    def _wheel_identity(zf: zipfile.ZipFile) -> tuple[str, str]:
        meta = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if len(meta) != 1:
            raise ActionError("not a wheel: no single .dist-info/METADATA", code=ErrorCode.A002)
        import email.parser  # installing a wheel only: an idle agent does not import email

        msg = email.parser.Parser().parsestr(zf.read(meta[0]).decode("utf-8", "replace"))
        name, version = msg.get("Name", ""), msg.get("Version", "")
        if not (_DIST_RE.match(name) and _DIST_RE.match(version)):
            raise ActionError(f"wheel metadata has a bad name/version: {name!r} {version!r}", code=ErrorCode.A002)
        return Kernel.dist_key(name), version

    def install_wheel(self, data: bytes, sha256: str) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        if sha256 and digest != sha256.lower():
            raise ActionError(f"wheel sha256 {digest} does not match {sha256}", code=ErrorCode.A015)
        import zipfile

        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise ActionError(f"not a wheel: {exc}", code=ErrorCode.A002) from exc
        with zf:
            dist, version = self._wheel_identity(zf)
            self._claimed_names(zf, dist)
            target = self.packages / dist / version
            staging = target.with_name(version + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            root = staging.resolve()
            for member in zf.infolist():
                dest = (staging / member.filename).resolve()
                if not dest.is_relative_to(root) or member.filename.startswith("/"):
                    shutil.rmtree(staging, ignore_errors=True)
                    raise ActionError(f"wheel member escapes its directory: {member.filename}", code=ErrorCode.A002)
                if ".data/scripts/" in member.filename:
                    continue  # no scripts: a plugin package is importable code only
            zf.extractall(staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        data_ = self._settings()
        active = data_.setdefault("active", {})
        history = data_.setdefault("history", {}).setdefault(dist, [])
        previous = active.get(dist)
        if previous and previous != version:
            history.append(previous)
        self._switch(dist, previous, version)
        active[dist] = version
        self._save(data_)
        self._changed()
        return {"dist": dist, "version": version, "previous": previous or "", "sha256": digest, "plugins": self._plugins_of(dist), "installed": time.time()}

    def rollback(self, dist: str) -> dict[str, Any]:
        """Switch an installed package back to its previous version.

        :param dist: the distribution name as ``install`` and ``plugins`` report it
            (any spelling: ``starling-hello`` or ``starling_hello``).
        """
        dist, data = self._installed(dist)
        history = data.get("history", {}).get(dist, [])
        current = data["active"][dist]
        if not history:
            raise ActionError(f"{dist} {current} is its only installed version: nothing to roll back to", code=ErrorCode.A014)
        previous = history.pop()
        self._switch(dist, current, previous)
        data["active"][dist] = previous
        self._save(data)
        self._changed()
        return {"dist": dist, "version": previous, "previous": current, "plugins": self._plugins_of(dist)}

    def uninstall(self, dist: str) -> dict[str, Any]:
        """Remove an installed package (every version of it) and forget its plugins."""
        dist, data = self._installed(dist)
        current = data["active"].pop(dist)
        data.get("history", {}).pop(dist, None)
        plugins = self._plugins_of(dist)
        for name in plugins:
            self.host.unload(name)
        path = str(self.packages / dist / current)
        if path in sys.path:
            sys.path.remove(path)
        for top in self._top_levels(self.packages / dist / current):
            for mod in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
                del sys.modules[mod]
        self._save(data)
        shutil.rmtree(self.packages / dist, ignore_errors=True)
        self.host.rescan()
        self._changed()
        return {"dist": dist, "version": current, "plugins": plugins}

    def _switch(self, dist: str, old: str | None, new: str) -> None:
        # Forget the plugins of this distribution so their next use imports the
        # new code; swap the version directory on sys.path.
        for name in self._plugins_of(dist):
            self.host.unload(name)
        if old:
            old_path = str(self.packages / dist / old)
            if old_path in sys.path:
                sys.path.remove(old_path)
        for top in self._top_levels(self.packages / dist / new):
            for mod in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
                del sys.modules[mod]
        self._add_path(self.packages / dist / new)
        self.host.rescan()

    @staticmethod
    def _add_path(path: Path) -> None:
        if path.is_dir() and str(path) not in sys.path:
            sys.path.insert(0, str(path))

    @staticmethod
    def _top_levels(path: Path) -> set[str]:
        return {p.name.removesuffix(".py") for p in path.iterdir() if not p.name.endswith((".dist-info", ".data")) and (p.is_dir() or p.suffix == ".py")} if path.is_dir() else set()

    def _plugins_of(self, dist: str) -> list[str]:
        from importlib.metadata import entry_points

        out = []
        for ep in entry_points(group=self.host.group):
            if ep.dist is not None and self.dist_key(ep.dist.name) == dist:
                out.append(ep.name)
        return sorted(out)


def kernel_of(ctx: ActionContext) -> Kernel:
    """The running agent's kernel, for the built-in ``agent`` plugin only.

    Raises :class:`ActionError` ``A003`` outside a running agent or for any other plugin.
    """
    kernel = ctx._kernel
    if kernel is None:
        raise ActionError("agent.* actions need a running agent", code=ErrorCode.A003)
    return kernel
