"""The proxy's one lifecycle line per task (structured fields, one line)."""

from __future__ import annotations

import logging

from transports import Result


def log_result(log: logging.Logger, proxy_id: str, agent_id: str, result: Result) -> None:
    """One INFO line when an agent's result for a task passes this proxy."""
    log.info(
        "task %s %s from %s%s",
        result.task_id,
        result.state,
        agent_id,
        f" ({result.code})" if result.code else "",
        extra={
            "task_id": result.task_id, "job_id": result.task_id.rsplit("-", 1)[0], "agent_id": agent_id,
            "proxy_id": proxy_id, "state": result.state, "code": result.code or None,
        },
    )
