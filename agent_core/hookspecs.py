"""Every hook a Starling plugin can implement, in one place.

pluggy is synchronous: hooks are cheap functions that return data (or an async
callable the kernel runs in its own nursery). Never return a bare coroutine.
Hooks are grouped by phase; each is named ``starling_<area>_<event>``.
Implement them in your plugin module with ``@agent_core.hookimpl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ._context import AgentInfo, TaskInfo
    from ._resident import Resident

hookspec = pluggy.HookspecMarker("starling")
hookimpl = pluggy.HookimplMarker("starling")

# ---------------------------------------------------------------------------------
# Residents: long-running processes a plugin asks the agent to keep alive.
# (A plugin's declaration is data, not a hook: its module's ``PLUGIN`` and
# ``@action`` functions, see :class:`~agent_core.Plugin`.)
# ---------------------------------------------------------------------------------


@hookspec
def starling_residents(config: dict[str, Any]) -> list[Resident]:
    """Return long-running processes this plugin wants the agent to keep alive.

    Each :class:`~agent_core.Resident` names a command, a health check and
    resource limits; the agent starts it, restarts it with backoff when it dies
    or fails its check, and reports its status in the health summary.

    Only plugins also registered in the ``starling.residents`` entry-point group
    are asked (they are imported when the agent starts; every other plugin
    stays lazy). ``config`` is this plugin's section of the agent's
    ``plugin_config`` (``{}`` when absent); declare the parameter only if you
    need it. Return ``[]`` to run nothing, e.g. until the operator enables it.
    """


# ---------------------------------------------------------------------------------
# Agent lifecycle.
# ---------------------------------------------------------------------------------


@hookspec
def starling_agent_started(agent: AgentInfo) -> None:
    """Called once the agent has its identity and before it connects.

    ``agent`` carries the agent id, hostname, IDC and the state directory. Keep it
    quick: the agent does not connect until every implementation returns.
    """


@hookspec
def starling_agent_stopping(agent: AgentInfo) -> None:
    """Called when the agent is shutting down cleanly (not after a crash)."""


# ---------------------------------------------------------------------------------
# Tasks: called around every action the kernel runs.
# ---------------------------------------------------------------------------------


@hookspec
def starling_task_before(task: TaskInfo) -> str | None:
    """Called before a task's action runs, after its params were validated.

    Return ``None`` to let it run, or a string to refuse it: the task then fails
    with code ``A016`` and that string as the message. Use it for local policy
    (e.g. a host that must never reboot during business hours).
    """


@hookspec
def starling_task_after(task: TaskInfo, state: str, code: str) -> None:
    """Called after a task finished with its final ``state`` and ``code``.

    For metrics and local logging; it cannot change the result.
    """


# ---------------------------------------------------------------------------------
# Health: what the agent reports with its heartbeat.
# ---------------------------------------------------------------------------------


@hookspec
def starling_health_collect() -> dict[str, Any] | None:
    """Return extra key/values to add to the agent's health report, or ``None``.

    Called on every heartbeat (every few seconds): it must be cheap and must not
    block. Keys should be prefixed with the plugin name.
    """
