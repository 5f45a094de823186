"""Starling's built-in plugins, one module per plugin, grouped by folder.

An action's name follows its folder and module: an action defined in
``plugins/<folder>/<module>.py`` is named ``<prefix>.<rest>``, where
``<prefix>`` is :data:`FOLDER_PREFIX` ``[<folder>]`` and ``<rest>``, with dots
read as underscores, starts with the module's stem (the module name with a
leading ``<prefix>_`` removed) as a whole word. A module named like the prefix
(``files/file.py``, ``system/sys.py``) may name its actions freely. So
``kernel/sysctl_get.py`` holds ``kernel.sysctl.get`` and ``containers/docker_ps.py``
holds ``container.docker.ps``. ``tests/plugins/test_contract.py`` enforces it;
actions renamed to fit are listed in ``transports/renamed.toml``.
"""

from __future__ import annotations

__all__ = ["FOLDER_PREFIX", "action_name_problem"]

#: The one action-name prefix of each folder under ``plugins/``.
FOLDER_PREFIX: dict[str, str] = {
    "agent": "agent",
    "containers": "container",
    "disk": "disk",
    "exec": "exec",
    "files": "file",
    "hardware": "hw",
    "kernel": "kernel",
    "logs": "log",
    "network": "net",
    "packages": "pkg",
    "processes": "proc",
    "scheduling": "sched",
    "security": "sec",
    "services": "svc",
    "state": "state",
    "system": "sys",
    "users": "user",
}


def action_name_problem(folder: str, module: str, action: str) -> str | None:
    """Why ``action``, defined in ``plugins/<folder>/<module>.py``, breaks the naming
    rule (see the module docstring), or ``None`` when it follows it."""
    prefix = FOLDER_PREFIX.get(folder)
    if prefix is None:
        return f"folder plugins/{folder}/ has no prefix in plugins.FOLDER_PREFIX"
    head, _, rest = action.partition(".")
    if head != prefix or not rest:
        return f"{action}: an action in plugins/{folder}/ is named {prefix}.<name>"
    stem = module.removeprefix(prefix + "_")
    if stem == prefix:
        return None
    words = rest.replace(".", "_")
    if words != stem and not words.startswith(stem + "_"):
        return f"{action}: an action in plugins/{folder}/{module}.py is named {prefix}.{stem}[.<more>]"
    return None
